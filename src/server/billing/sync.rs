//! Applying what Stripe says to our storage, in the caller's transaction, idempotently: the
//! result is the same however often and in whatever order it is applied. The webhook, the
//! success page and `landing resync` all store Stripe's objects through here.

use super::objects::{
    Charge, CheckoutSession, Customer, Dispute, Expandable, Invoice, Subscription,
    SubscriptionSchedule,
};
use crate::server::auth::email::Email;
use crate::server::db::billing::{self, InvoiceRow, NewPurchase, SubscriptionRow};
use crate::server::db::schedules::{self, ScheduleRow};
use crate::server::db::{accounts, customers, profiles, subscription_holds, DbError, DbUuid, Tx};
use crate::server::error::{Context, ServerError};

/// Who asks for a Checkout Session to be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Stripe itself (a verified webhook, or a read by `landing resync`): the session's
    /// `client_reference_id` names its owner.
    Stripe,
    /// A success page, seen by this user (or nobody): a session naming someone else is left to
    /// the webhook, so a session id never attaches a purchase to whoever holds the link.
    Viewer(Option<DbUuid>),
}

/// What applying a Checkout Session came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Stored (or already stored: applying again changes nothing), for this profile.
    Yes { owner: Option<DbUuid> },
    /// Not ours to apply: not complete yet, or another person's purchase.
    Skipped,
}

/// The email a completed session was paid with.
pub fn checkout_email(session: &CheckoutSession) -> Option<Email> {
    session
        .customer_details
        .as_ref()
        .and_then(|d| d.email.as_deref())
        .or(session.customer_email.as_deref())
        .and_then(|e| Email::parse(e).ok())
}

/// Whose a completed session is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    /// The buyer was signed in: the session names them (`client_reference_id`).
    Named(DbUuid),
    /// Bought signed out under an email whose owner has proven it.
    ProvenEmail(DbUuid),
    /// Bought signed out under an email nobody has proven: it waits for its proof.
    Unclaimed(Email),
    Nobody,
}

impl Owner {
    fn user(&self) -> Option<DbUuid> {
        match self {
            Owner::Named(id) | Owner::ProvenEmail(id) => Some(*id),
            Owner::Unclaimed(_) | Owner::Nobody => None,
        }
    }
}

/// The profile a completed session belongs to: its `client_reference_id`, else the profile that
/// has proven the checkout's email. An email alone proves nothing: anyone can type any address
/// at Checkout.
async fn owner(tx: &mut Tx, session: &CheckoutSession) -> Result<Owner, ServerError> {
    if let Some(id) = session
        .client_reference_id
        .as_deref()
        .and_then(|r| uuid::Uuid::parse_str(r).ok())
        .map(DbUuid)
    {
        if profiles::email_of(tx, id)
            .await
            .context("sync: owner by id")?
            .is_some()
        {
            return Ok(Owner::Named(id));
        }
    }
    let Some(email) = checkout_email(session) else {
        return Ok(Owner::Nobody);
    };
    Ok(
        match profiles::verified_owner_of(tx, email.as_str())
            .await
            .context("sync: owner by proven email")?
        {
            Some(id) => Owner::ProvenEmail(id),
            None => Owner::Unclaimed(email),
        },
    )
}

/// The profile a completed session belongs to, when known: its `client_reference_id`, else the
/// profile that has proven the checkout's email (the same rule that stores it).
pub async fn owner_id(
    tx: &mut Tx,
    session: &CheckoutSession,
) -> Result<Option<DbUuid>, ServerError> {
    Ok(owner(tx, session).await?.user())
}

/// Links a customer to a profile and hands the profile what the customer bought before the
/// link existed. A customer that belongs to someone else stays theirs; with `replace` false, a
/// profile that has a customer keeps it.
async fn link_customer(
    tx: &mut Tx,
    user: DbUuid,
    customer: &str,
    replace: bool,
) -> Result<(), ServerError> {
    match customers::link(tx, user, customer, replace).await {
        Ok(_) => billing::claim_for_user(tx, customer, user)
            .await
            .context("sync: claim customer's rows"),
        Err(DbError::CustomerTaken) => {
            tracing::warn!(
                customer,
                "a checkout's customer already belongs to another profile; not relinked"
            );
            Ok(())
        }
        Err(e) => Err(ServerError::db("sync: link customer", e)),
    }
}

/// Once `user` has proven `email`: the customers and one-time purchases that waited under it
/// become theirs. Idempotent: what is claimed once is not claimed again.
pub async fn claim_email(tx: &mut Tx, user: DbUuid, email: &Email) -> Result<(), ServerError> {
    let waiting = accounts::claim_email_customers(tx, email.as_str(), user)
        .await
        .context("claim: customers under the email")?;
    for customer in &waiting {
        link_customer(tx, user, customer, false).await?;
    }
    billing::claim_purchases_by_email(tx, email.as_str(), user)
        .await
        .context("claim: purchases under the email")?;
    Ok(())
}

/// Applies a Checkout Session read (with `line_items` and `subscription` expanded) at `at_ms`.
/// `failed` marks an asynchronous payment that did not go through.
pub async fn apply_checkout_session(
    tx: &mut Tx,
    session: &CheckoutSession,
    at_ms: i64,
    source: Source,
    failed: bool,
) -> Result<Applied, ServerError> {
    if !session.is_complete() {
        return Ok(Applied::Skipped);
    }
    if let (Source::Viewer(viewer), Some(reference)) =
        (source, session.client_reference_id.as_deref())
    {
        if viewer.map(|v| v.to_string()).as_deref() != Some(reference) {
            return Ok(Applied::Skipped);
        }
    }
    let owner = owner(tx, session).await?;
    let user = owner.user();
    let customer = session.customer.as_ref().map(|c| c.id().to_string());
    if let Some(customer) = customer.as_deref() {
        match &owner {
            Owner::Named(user) => link_customer(tx, *user, customer, true).await?,
            Owner::ProvenEmail(user) => link_customer(tx, *user, customer, false).await?,
            Owner::Unclaimed(email) => {
                accounts::remember_email_customer(tx, customer, email.as_str())
                    .await
                    .context("sync: remember the email's customer")?
            }
            Owner::Nobody => {}
        }
    }
    match session.mode.as_str() {
        "payment" => {
            let item = session.line_items.as_ref().and_then(|l| l.data.first());
            let price = item
                .and_then(|i| i.price.as_ref())
                .map(|p| p.id().to_string())
                .unwrap_or_default();
            let status = if session.is_paid() {
                "paid"
            } else if failed {
                "failed"
            } else {
                "unpaid"
            };
            let payment_intent = session.payment_intent.as_ref().map(|p| p.id().to_string());
            let currency = session.currency.as_deref().unwrap_or("usd");
            let email = checkout_email(session);
            billing::record_purchase(
                tx,
                &NewPurchase {
                    checkout_session_id: session.id.as_str(),
                    payment_intent_id: payment_intent.as_deref(),
                    user_id: user,
                    stripe_customer_id: customer.as_deref(),
                    price_id: &price,
                    amount_total: session.amount_total.unwrap_or(0),
                    currency,
                    status,
                    email: email.as_ref().map(Email::as_str),
                },
            )
            .await
            .context("sync: record purchase")?;
        }
        "subscription" => {
            if let Some(Expandable::Object(sub)) = session.subscription.as_ref() {
                store_subscription(tx, sub, at_ms, user).await?;
            }
        }
        _ => return Ok(Applied::Skipped),
    }
    Ok(Applied::Yes { owner: user })
}

/// Applies a Checkout Session in a transaction of its own (the success page's path).
pub async fn store_checkout_session(
    db: &crate::server::db::Db,
    read: &super::fetch::Read<CheckoutSession>,
    source: Source,
) -> Result<Applied, ServerError> {
    let mut tx = db.begin().await.context("sync: begin")?;
    let applied = apply_checkout_session(&mut tx, &read.object, read.at_ms, source, false).await?;
    tx.commit().await.context("sync: commit")?;
    Ok(applied)
}

/// The stored form of a subscription read at `at_ms`, owned by whoever its customer is linked to.
pub fn subscription_row(sub: &Subscription, at_ms: i64) -> SubscriptionRow {
    owned_subscription_row(sub, at_ms, None)
}

fn owned_subscription_row(sub: &Subscription, at_ms: i64, user: Option<DbUuid>) -> SubscriptionRow {
    // Since API version 2025-03-31 periods live on the items; we sell one item per subscription.
    let item = sub.items.data.first();
    // The price a pending update moves the item to once its invoice is paid.
    let pending = sub.pending_update.as_ref();
    let pending_price = pending
        .and_then(|p| p.subscription_items.as_ref())
        .and_then(|items| items.first())
        .map(|item| item.price.id().to_string());
    SubscriptionRow {
        id: sub.id.clone(),
        user_id: user,
        stripe_customer_id: sub.customer.id().to_string(),
        status: sub.status.clone(),
        price_id: item.map(|i| i.price.id().to_string()).unwrap_or_default(),
        quantity: item.and_then(|i| i.quantity).map(|q| q as i64).unwrap_or(1),
        current_period_start: item.map(|i| i.current_period_start),
        current_period_end: item.map(|i| i.current_period_end),
        cancel_at_period_end: sub.cancel_at_period_end,
        cancel_at: sub.cancel_at,
        canceled_at: sub.canceled_at,
        trial_end: sub.trial_end,
        stripe_created: sub.created,
        synced_at_ms: at_ms,
        pending_invoice_id: pending_price
            .as_ref()
            .and(sub.latest_invoice.as_ref().map(|i| i.id().to_string())),
        pending_expires_at: pending_price.as_ref().and(pending.map(|p| p.expires_at)),
        pending_price_id: pending_price,
    }
}

async fn store_subscription(
    tx: &mut Tx,
    sub: &Subscription,
    at_ms: i64,
    user: Option<DbUuid>,
) -> Result<(), ServerError> {
    // Without a known owner, the upsert takes its customer's (in the same statement).
    billing::upsert_subscription(tx, &owned_subscription_row(sub, at_ms, user))
        .await
        .context("sync: store subscription")?;
    Ok(())
}

/// Records that a disputed charge paid one of this subscription's invoices, so its dispute
/// holds the subscription's access.
pub async fn link_charge_to_subscription(
    tx: &mut Tx,
    charge: &Charge,
    sub: &Subscription,
) -> Result<(), ServerError> {
    subscription_holds::link_charge(tx, &charge.id, &sub.id)
        .await
        .context("sync: link charge to subscription")
}

/// Applies a subscription read at `at_ms`; its owner is whoever its customer belongs to (or
/// nobody yet, until the checkout that made it links the customer).
pub async fn apply_subscription(
    tx: &mut Tx,
    sub: &Subscription,
    at_ms: i64,
) -> Result<(), ServerError> {
    store_subscription(tx, sub, at_ms, None).await
}

/// Applies a subscription schedule read at `at_ms`: the change it makes next (price and
/// date), while it manages its subscription. A schedule of no subscription is not stored.
pub async fn apply_schedule(
    tx: &mut Tx,
    schedule: &SubscriptionSchedule,
    at_ms: i64,
) -> Result<(), ServerError> {
    let Some(subscription_id) = schedule.subscription_id() else {
        return Ok(());
    };
    let next = schedule.next_phase();
    let row = ScheduleRow {
        id: schedule.id.clone(),
        subscription_id: subscription_id.to_string(),
        status: schedule.status.clone(),
        next_price_id: next
            .and_then(|p| p.items.first())
            .map(|i| i.price.id().to_string()),
        next_starts_at: next.map(|p| p.start_date),
        synced_at_ms: at_ms,
    };
    schedules::upsert(tx, &row)
        .await
        .context("sync: store subscription schedule")?;
    Ok(())
}

/// Applies an invoice read at `at_ms`. Invoices without a customer are not ours to show.
pub async fn apply_invoice(tx: &mut Tx, invoice: &Invoice, at_ms: i64) -> Result<(), ServerError> {
    let (Some(id), Some(customer)) = (invoice.id.as_ref(), invoice.customer.as_ref()) else {
        return Ok(());
    };
    let row = InvoiceRow {
        id: id.clone(),
        stripe_customer_id: customer.id().to_string(),
        subscription_id: invoice.subscription().map(str::to_string),
        number: invoice.number.clone(),
        status: invoice.status.clone().unwrap_or_else(|| "draft".into()),
        amount_due: invoice.amount_due,
        amount_paid: invoice.amount_paid,
        currency: invoice.currency.clone(),
        hosted_invoice_url: invoice.hosted_invoice_url.clone(),
        stripe_created: invoice.created,
        synced_at_ms: at_ms,
    };
    billing::upsert_invoice(tx, &row)
        .await
        .context("sync: store invoice")?;
    Ok(())
}

/// Applies a charge read at `at_ms` (its refunds), and its dispute if the event was one.
pub async fn apply_charge(
    tx: &mut Tx,
    charge: &Charge,
    at_ms: i64,
    dispute: Option<(&Dispute, i64)>,
) -> Result<(), ServerError> {
    let row = billing::ChargeRow {
        id: &charge.id,
        payment_intent_id: charge.payment_intent.as_ref().map(|p| p.id()),
        amount: charge.amount,
        amount_refunded: charge.amount_refunded,
        currency: &charge.currency,
        synced_at_ms: at_ms,
    };
    billing::upsert_charge(tx, &row)
        .await
        .context("sync: store charge")?;
    if let Some((dispute, at_ms)) = dispute {
        billing::set_dispute(tx, &charge.id, &dispute.id, &dispute.status, at_ms)
            .await
            .context("sync: store dispute")?;
    }
    Ok(())
}

/// Stores a customer's balance as read at `at_ms` (a deleted customer has none: nothing is
/// stored). `/billing` shows credit from this, without reading Stripe.
pub async fn apply_customer(
    tx: &mut Tx,
    customer: &Customer,
    at_ms: i64,
) -> Result<(), ServerError> {
    let Some(balance) = customer.balance else {
        return Ok(());
    };
    let balance = customers::Balance {
        balance,
        currency: customer.currency.clone(),
    };
    customers::store_balance(tx, &customer.id, &balance, at_ms)
        .await
        .context("sync: customer balance")
}
