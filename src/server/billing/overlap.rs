//! What a completed Checkout does to what its buyer already has. Settled with Stripe by the
//! webhook before it stores the event, so a call that fails answers 5xx and Stripe delivers the
//! event again; every call is keyed by what it settles, so a redelivery repeats nothing.
//!
//! - **One trial per person.** A trialing subscription that lands on a person (the signed-in
//!   buyer, or the owner of the proven checkout email) who had a subscription before loses its
//!   trial: `trial_end=now`, so Stripe bills the price from now.
//! - **One live subscription per person.** A second live subscription arriving for someone who
//!   already has one (bought signed out: the signed-in path refuses it) is cancelled at once.
//! - **A one-time plan replaces a smaller subscription.** A paid one-time plan that entitles to
//!   at least as much as the buyer's live subscription (`model::entitlements::compare`) sets
//!   that subscription to cancel at its period's end (`cancel_at_period_end=true`): it is not
//!   renewed, and nothing more is charged for it.
//!
//! Each outcome is mailed to the buyer once, in the transaction that stores the event.

use std::cmp::Ordering;

use stripe_billing::subscription::{
    CancelSubscription, UpdateSubscription, UpdateSubscriptionTrialEnd,
};

use super::account::Billing;
use super::fetch::{self, FetchError, Read};
use super::objects::{CheckoutSession, Expandable, Subscription};
use super::sync;
use crate::model::entitlements::compare;
use crate::server::db::billing::{self as db_billing, SubscriptionRow};
use crate::server::db::DbUuid;
use crate::server::error::{Context, ServerError};
use crate::server::state::AppState;

/// What settling a Checkout came to: the buyer is told, and Stripe's new state of the
/// subscription it changed is stored.
#[derive(Debug, Clone)]
pub struct Settled {
    /// Who is mailed.
    pub owner: DbUuid,
    pub outcome: Outcome,
    /// The subscription as Stripe answered the change (or read it, if already changed).
    pub subscription: Read<Subscription>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The new subscription's trial was ended: its owner had a subscription before.
    TrialEnded,
    /// The new subscription was cancelled at once: its owner subscribes to `kept` already.
    /// `paid` is what its first invoice took, if anything: the operators refund it.
    SecondCancelled { kept: String, paid: Option<Paid> },
    /// The owner's `plan` subscription ends at its period's end (`at`), replaced by `bought`.
    EndsAtPeriodEnd {
        plan: String,
        bought: String,
        at: i64,
    },
}

/// A payment the operators are asked to refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paid {
    pub invoice: String,
    pub amount: i64,
    pub currency: String,
}

fn is_live(status: &str) -> bool {
    matches!(status, "active" | "trialing" | "past_due")
}

/// Settles a completed Checkout Session (read with its subscription expanded) with what its
/// buyer already had. Nothing to settle (nobody known, nothing before): `None`.
pub async fn settle(
    state: &AppState,
    billing: &Billing,
    session: &CheckoutSession,
) -> Result<Option<Settled>, ServerError> {
    if !session.is_complete() {
        return Ok(None);
    }
    let owner = {
        let mut tx = state.db.begin().await.context("overlap: begin")?;
        sync::owner_id(&mut tx, session).await?
        // Read only: dropped, so rolled back.
    };
    let Some(owner) = owner else {
        return Ok(None);
    };
    let rows = db_billing::subscriptions_for_user(&state.db, owner)
        .await
        .context("overlap: the owner's subscriptions")?;
    match session.mode.as_str() {
        "subscription" => match session.subscription.as_ref() {
            Some(Expandable::Object(sub)) => subscribed(state, billing, owner, sub, &rows).await,
            _ => Ok(None),
        },
        "payment" if session.is_paid() => bought(state, billing, owner, session, &rows).await,
        _ => Ok(None),
    }
}

/// A new subscription for `owner`, who had `rows` before (this one may be among them).
async fn subscribed(
    state: &AppState,
    billing: &Billing,
    owner: DbUuid,
    sub: &Subscription,
    rows: &[SubscriptionRow],
) -> Result<Option<Settled>, ServerError> {
    // Only what came before this one counts: a late redelivery of an old Checkout's event is
    // not judged by subscriptions made since.
    let earlier: Vec<&SubscriptionRow> = rows
        .iter()
        .filter(|r| r.id != sub.id && r.stripe_created <= sub.created)
        .collect();
    if earlier.is_empty() {
        return Ok(None);
    }
    if let Some(kept) = earlier.iter().find(|r| is_live(&r.status)) {
        let kept = plan_name(state, billing, &kept.price_id).await;
        let read = if sub.status == "canceled" {
            reread(billing, &sub.id).await?
        } else {
            cancel_now(billing, &sub.id).await?
        };
        let paid = match sub.latest_invoice.as_ref() {
            Some(invoice) => match fetch::invoice(&billing.webhook_client, invoice.id()).await {
                Ok(read) => Some(read.object)
                    .filter(|i| i.amount_paid > 0)
                    .map(|i| Paid {
                        invoice: invoice.id().to_string(),
                        amount: i.amount_paid,
                        currency: i.currency,
                    }),
                Err(FetchError::NotFound) => None,
                Err(FetchError::Stripe(e)) => {
                    return Err(ServerError::stripe(
                        "overlap: the second subscription's invoice",
                        e,
                    ))
                }
            },
            None => None,
        };
        return Ok(Some(Settled {
            owner,
            outcome: Outcome::SecondCancelled { kept, paid },
            subscription: read,
        }));
    }
    // A subscription that has (or had) a trial, for someone who subscribed before.
    if sub.trial_end.is_none() {
        return Ok(None);
    }
    let read = if sub.status == "trialing" {
        let request =
            UpdateSubscription::new(sub.id.as_str()).trial_end(UpdateSubscriptionTrialEnd::Now);
        let at_ms = fetch::now_ms();
        let object = billing
            .webhook_client
            .send_as(&request, &format!("one-trial-per-person:{}", sub.id))
            .await
            .map_err(|e| ServerError::stripe("overlap: end a second trial", e))?;
        Read { object, at_ms }
    } else {
        reread(billing, &sub.id).await?
    };
    Ok(Some(Settled {
        owner,
        outcome: Outcome::TrialEnded,
        subscription: read,
    }))
}

/// A paid one-time purchase for `owner`: a live subscription whose plan entitles to no more than
/// the purchase's is set to cancel at its period's end.
async fn bought(
    state: &AppState,
    billing: &Billing,
    owner: DbUuid,
    session: &CheckoutSession,
    rows: &[SubscriptionRow],
) -> Result<Option<Settled>, ServerError> {
    // A subscription made after this purchase is the buyer's choice, not one it replaces.
    let Some(live) = rows
        .iter()
        .find(|r| is_live(&r.status) && session.created.is_none_or(|at| r.stripe_created <= at))
    else {
        return Ok(None);
    };
    let Some(price) = session
        .line_items
        .as_ref()
        .and_then(|l| l.data.first())
        .and_then(|i| i.price.as_ref())
    else {
        return Ok(None);
    };
    let index = billing
        .prices()
        .await
        .map_err(|e| ServerError::stripe("overlap: the catalog's prices", e))?;
    let plan_of = |price_id: &str| {
        index
            .plan_price(price_id)
            .and_then(|p| state.catalog.plans.iter().find(|plan| plan.id == p.plan))
    };
    let (Some(bought), Some(current)) = (plan_of(price.id()), plan_of(&live.price_id)) else {
        return Ok(None);
    };
    if bought.id == current.id
        || compare(&bought.entitlements, &current.entitlements) == Ordering::Less
    {
        return Ok(None);
    }
    let request = UpdateSubscription::new(live.id.as_str()).cancel_at_period_end(true);
    let at_ms = fetch::now_ms();
    let object: Subscription = billing
        .webhook_client
        .send_as(
            &request,
            &format!("replaced-by-purchase:{}:{}", live.id, session.id),
        )
        .await
        .map_err(|e| ServerError::stripe("overlap: end a subscription a purchase replaces", e))?;
    let at = object
        .cancel_at
        .or(object.items.data.first().map(|i| i.current_period_end))
        .unwrap_or_default();
    Ok(Some(Settled {
        owner,
        outcome: Outcome::EndsAtPeriodEnd {
            plan: current.name.clone(),
            bought: bought.name.clone(),
            at,
        },
        subscription: Read { object, at_ms },
    }))
}

/// Cancels a subscription now. A cancellation Stripe refuses because it already happened (a
/// delivery racing this one) is read back instead.
async fn cancel_now(billing: &Billing, id: &str) -> Result<Read<Subscription>, ServerError> {
    let at_ms = fetch::now_ms();
    match billing
        .webhook_client
        .send::<Subscription>(&CancelSubscription::new(id))
        .await
    {
        Ok(object) => Ok(Read { object, at_ms }),
        Err(e) if e.is_transient() => Err(ServerError::stripe(
            "overlap: cancel a second subscription",
            e,
        )),
        Err(e) => {
            let read = reread(billing, id).await?;
            if read.object.status == "canceled" {
                Ok(read)
            } else {
                Err(ServerError::stripe(
                    "overlap: cancel a second subscription",
                    e,
                ))
            }
        }
    }
}

async fn reread(billing: &Billing, id: &str) -> Result<Read<Subscription>, ServerError> {
    match fetch::subscription(&billing.webhook_client, id).await {
        Ok(read) => Ok(read),
        Err(FetchError::NotFound) => Err(ServerError::internal(
            "overlap: read a subscription back",
            format!("Stripe has no subscription {id}"),
        )),
        Err(FetchError::Stripe(e)) => {
            Err(ServerError::stripe("overlap: read a subscription back", e))
        }
    }
}

/// The catalog plan's name of a Stripe price, else "a plan".
async fn plan_name(state: &AppState, billing: &Billing, price_id: &str) -> String {
    let Ok(index) = billing.prices().await else {
        return "a plan".into();
    };
    index
        .plan_price(price_id)
        .and_then(|p| state.catalog.plans.iter().find(|plan| plan.id == p.plan))
        .map_or_else(|| "a plan".into(), |plan| plan.name.clone())
}
