//! Applying one claimed event inside the webhook writer's transaction: what was read from
//! Stripe is stored, and the mail the event causes is queued. Nothing here talks to Stripe or
//! reads the shared state: the writer (`infra::group_commit`) runs this step for each event.

use super::super::emails::{self, Mail};
use super::super::fetch::Read;
use super::super::objects::{
    Charge, CheckoutSession, Customer, Dispute, Invoice, Subscription, SubscriptionSchedule,
};
use super::super::overlap::{Outcome as Settlement, Settled};
use super::super::sync::{self, Applied, Source};
use crate::server::db::events::{self, NewEvent};
use crate::server::db::outbox::{self, NewMail};
use crate::server::db::{customers, profiles, DbUuid, Tx};
use crate::server::error::{Context, ServerError};
use crate::server::infra::group_commit::Step;

/// An event as the log keeps it, owned so it can wait in the writer's queue.
#[derive(Debug, Clone)]
pub struct EventRecord {
    pub id: String,
    pub type_: String,
    pub stripe_created: i64,
    pub livemode: bool,
    pub payload: String,
}

impl EventRecord {
    pub fn as_new(&self) -> NewEvent<'_> {
        NewEvent {
            id: &self.id,
            type_: &self.type_,
            stripe_created: self.stripe_created,
            livemode: self.livemode,
            payload: &self.payload,
        }
    }
}

/// One delivery's work for the writer: the event, and what was read for it.
#[derive(Debug)]
pub struct EventJob {
    pub record: EventRecord,
    pub fresh: Fresh,
}

/// The writer's step for webhooks: claim the event's id, and if this is the first claim, apply
/// it. A claim that loses (applied by an earlier batch, another process, or a copy earlier in
/// this batch) is a duplicate.
#[derive(Debug)]
pub struct ApplyEvents {
    pub mail: MailContext,
}

impl Step for ApplyEvents {
    type Job = EventJob;
    type Outcome = Outcome;

    fn key(job: &EventJob) -> &str {
        &job.record.id
    }

    async fn run(&self, tx: &mut Tx, job: &EventJob) -> Result<(Outcome, bool), ServerError> {
        // Known before the transaction, so the claim records it in the same statement; and a
        // subscription's new state is stored with the claim (one round trip on SQLite).
        let storing = match &job.fresh {
            Fresh::Subscription(read, _) => Some(sync::subscription_row(&read.object, read.at_ms)),
            _ => None,
        };
        let claimed = events::claim(tx, &job.record.as_new(), job.fresh.note(), storing.as_ref())
            .await
            .context("webhook: claim")?;
        if !claimed {
            return Ok((Outcome::Duplicate, false));
        }
        let applied = apply_claimed(tx, &self.mail, &job.record.type_, &job.fresh).await?;
        Ok((applied.outcome, applied.mailed))
    }
}

/// What an event is about, read fresh from Stripe.
#[derive(Debug)]
pub enum Fresh {
    /// With what settling it with the buyer's earlier billing did (`billing::overlap`).
    Session(Box<Read<CheckoutSession>>, Option<Box<Settled>>),
    /// With, for a trial warning, the email Stripe has for the customer: the warning may
    /// arrive before the checkout that links the customer to a profile.
    Subscription(Box<Read<Subscription>>, Option<String>),
    Invoice(Box<Read<Invoice>>, Option<Box<Read<Subscription>>>),
    /// A charge's refunds, and (for a dispute's events) its dispute.
    Charge(Box<Read<Charge>>, Option<Box<Read<Dispute>>>),
    /// A subscription schedule: the change its subscription makes at the period's end.
    Schedule(Box<Read<SubscriptionSchedule>>),
    /// A dispute of a subscription's payment: the charge, its dispute, and the subscription as
    /// it is once held (or released) for the dispute (`billing::dispute_holds`).
    DisputedSubscription(
        Box<Read<Charge>>,
        Box<Read<Dispute>>,
        Box<Read<Subscription>>,
    ),
    /// A customer, for its balance.
    Customer(Box<Read<Customer>>),
    /// A type we do not act on: recorded, answered 2xx.
    Nothing,
    /// Stripe no longer has the object (or the event names none): nothing to apply.
    Missing,
    /// About a price the catalog does not sell and nothing we store (`stripe trigger`'s own
    /// products, or another product on the same account): recorded, never applied.
    NotOurs,
    /// A live event reached a site with a test key, or a test event one with a live key (an
    /// endpoint secret shared between modes): recorded, never applied.
    OtherMode,
}

impl Fresh {
    /// Why nothing was applied, for the event log.
    pub fn note(&self) -> Option<&'static str> {
        match self {
            Fresh::Missing => Some("Stripe has no such object"),
            Fresh::NotOurs => Some("about a price plans.toml does not sell; recorded, not applied"),
            Fresh::OtherMode => {
                Some("the event's mode (live or test) is not STRIPE_SECRET_KEY's; not applied")
            }
            _ => None,
        }
    }
}

/// What became of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Duplicate,
    /// Recorded without a change (an unknown type, or an object Stripe no longer has).
    Recorded,
}

/// What applying a claimed event came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effect {
    pub outcome: Outcome,
    /// It queued mail.
    pub mailed: bool,
}

/// What the webhook's mail needs to know: the origin its links point to, and the operators
/// (`ADMIN_EMAILS`) who are told of disputes.
#[derive(Debug, Clone, Default)]
pub struct MailContext {
    pub site: String,
    pub operators: Vec<String>,
}

/// Stores what Stripe says and queues the event's mail, in the transaction that claimed the
/// event. A subscription the event is about was stored by the claim itself.
pub async fn apply_claimed(
    tx: &mut Tx,
    context: &MailContext,
    event_type: &str,
    fresh: &Fresh,
) -> Result<Effect, ServerError> {
    let site = context.site.as_str();
    let mut mailed = false;
    match fresh {
        Fresh::Nothing | Fresh::Missing | Fresh::OtherMode | Fresh::NotOurs => {
            return Ok(Effect {
                outcome: Outcome::Recorded,
                mailed,
            })
        }
        Fresh::Session(read, settled) => {
            let failed = event_type == "checkout.session.async_payment_failed";
            let session = &read.object;
            let applied =
                sync::apply_checkout_session(tx, session, read.at_ms, Source::Stripe, failed)
                    .await?;
            if let (Applied::Yes { owner }, "checkout.session.completed") = (applied, event_type) {
                let to = match owner {
                    Some(owner) => recipient(tx, Some(owner), None).await?,
                    None => sync::checkout_email(session).map(|e| e.as_str().to_string()),
                };
                let mail = emails::checkout_completed(
                    &session.id,
                    session.amount_total.unwrap_or(0),
                    session.currency.as_deref().unwrap_or("usd"),
                    session.is_subscription(),
                    site,
                );
                mailed |= queue(tx, to.as_deref(), &mail).await?;
            }
            if let Some(settled) = settled {
                let sub = &settled.subscription;
                sync::apply_subscription(tx, &sub.object, sub.at_ms).await?;
                let to = recipient(tx, Some(settled.owner), None).await?;
                let mail = emails::settled(&sub.object.id, &settled.outcome, site);
                mailed |= queue(tx, to.as_deref(), &mail).await?;
                if let Settlement::SecondCancelled {
                    paid: Some(paid), ..
                } = &settled.outcome
                {
                    for operator in &context.operators {
                        let mail = emails::second_subscription_refund(
                            &sub.object.id,
                            paid,
                            operator,
                            site,
                        );
                        mailed |= queue(tx, Some(operator), &mail).await?;
                    }
                }
            }
        }
        // Stored by the claim (`ApplyEvents::run`).
        Fresh::Subscription(read, stripe_email) => {
            let sub = &read.object;
            if event_type == "customer.subscription.trial_will_end" {
                if let Some(trial_end) = sub.trial_end {
                    let to = recipient_of_customer(tx, sub.customer.id(), stripe_email.as_deref())
                        .await?;
                    let mail = emails::trial_will_end(&sub.id, trial_end, site);
                    mailed |= queue(tx, to.as_deref(), &mail).await?;
                }
            }
        }
        Fresh::Customer(read) => {
            sync::apply_customer(tx, &read.object, read.at_ms).await?;
        }
        Fresh::Charge(charge, dispute) => {
            let dispute = dispute.as_deref().map(|d| (&d.object, d.at_ms));
            sync::apply_charge(tx, &charge.object, charge.at_ms, dispute).await?;
            if let Some((dispute, _)) = dispute {
                mailed |= tell_operators(tx, context, event_type, dispute).await?;
            }
        }
        Fresh::Schedule(read) => {
            sync::apply_schedule(tx, &read.object, read.at_ms).await?;
        }
        Fresh::DisputedSubscription(charge, dispute, sub) => {
            let read = (&dispute.object, dispute.at_ms);
            sync::apply_charge(tx, &charge.object, charge.at_ms, Some(read)).await?;
            sync::apply_subscription(tx, &sub.object, sub.at_ms).await?;
            sync::link_charge_to_subscription(tx, &charge.object, &sub.object).await?;
            mailed |= tell_operators(tx, context, event_type, &dispute.object).await?;
        }
        Fresh::Invoice(read, sub) => {
            let invoice = &read.object;
            sync::apply_invoice(tx, invoice, read.at_ms).await?;
            if let Some(sub) = sub {
                sync::apply_subscription(tx, &sub.object, sub.at_ms).await?;
            }
            // A renewal the card declined, or one the bank wants confirmed: the customer has
            // to act, and is told how.
            let mail: Option<MailFor> = match event_type {
                "invoice.payment_failed" => Some(emails::payment_failed),
                "invoice.payment_action_required" => Some(emails::payment_action_required),
                _ => None,
            };
            if let (Some(mail), Some(id), Some(customer)) =
                (mail, invoice.id.as_ref(), invoice.customer.as_ref())
            {
                let to =
                    recipient_of_customer(tx, customer.id(), invoice.customer_email.as_deref())
                        .await?;
                let mail = mail(
                    id,
                    invoice.amount_due,
                    &invoice.currency,
                    invoice.hosted_invoice_url.as_deref(),
                    site,
                );
                mailed |= queue(tx, to.as_deref(), &mail).await?;
            }
        }
    }
    Ok(Effect {
        outcome: Outcome::Applied,
        mailed,
    })
}

/// A dispute needs an answer (evidence) within days: on `charge.dispute.created` each operator
/// is told, once per dispute.
async fn tell_operators(
    tx: &mut Tx,
    context: &MailContext,
    event_type: &str,
    dispute: &Dispute,
) -> Result<bool, ServerError> {
    let mut mailed = false;
    if event_type == "charge.dispute.created" {
        for operator in &context.operators {
            let mail = emails::dispute_opened(dispute, operator, &context.site);
            mailed |= queue(tx, Some(operator), &mail).await?;
        }
    }
    Ok(mailed)
}

/// A mail about an invoice: its id, amount due, currency, hosted page and our site.
type MailFor = fn(&str, i64, &str, Option<&str>, &str) -> emails::Mail;

/// Where a mail goes: the profile's email, else the one Stripe has.
async fn recipient(
    tx: &mut Tx,
    user: Option<DbUuid>,
    fallback: Option<&str>,
) -> Result<Option<String>, ServerError> {
    let email = match user {
        Some(user) => profiles::email_of(tx, user)
            .await
            .context("webhook: recipient")?,
        None => None,
    };
    Ok(email.or_else(|| fallback.map(str::to_string)))
}

async fn recipient_of_customer(
    tx: &mut Tx,
    customer: &str,
    fallback: Option<&str>,
) -> Result<Option<String>, ServerError> {
    let user = customers::user_for_customer(tx, customer)
        .await
        .context("webhook: customer's profile")?;
    recipient(tx, user, fallback).await
}

/// Queues a mail once per cause; true when it was queued now.
async fn queue(tx: &mut Tx, to: Option<&str>, mail: &Mail) -> Result<bool, ServerError> {
    let Some(to) = to else {
        tracing::warn!(key = %mail.dedupe_key, "no address to mail; not queued");
        return Ok(false);
    };
    outbox::enqueue(
        tx,
        &NewMail {
            dedupe_key: &mail.dedupe_key,
            to_email: to,
            subject: &mail.subject,
            body: &mail.body,
            sensitive: false,
        },
    )
    .await
    .context("webhook: queue mail")
}
