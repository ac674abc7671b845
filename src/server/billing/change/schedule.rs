//! Changes at the end of the paid period, through Stripe's subscription schedules: the
//! schedule bills the current price until the period's end and the new one after, then lets the
//! subscription go on by itself (`end_behavior=release`). Keeping the current plan releases the
//! schedule.
//!
//! Every call carries an Idempotency-Key derived from what the buyer confirmed (the
//! subscription, the new price and the preview's moment), so a confirmation sent twice, or
//! retried after a "try again", schedules once.

use super::super::client::{Call, StripeError};
use super::super::fetch::{self, now_ms};
use super::super::objects::SubscriptionSchedule;
use super::super::overview::date;
use super::super::sync;
use super::{describe, live_subscription, Change, ChangeError};
use crate::model::catalog::format_amount;
use crate::model::change::ChangePreview;
use crate::server::auth::session::AuthUser;
use crate::server::error::{Context, ServerError};
use crate::server::state::AppState;

/// What a change at the period's end does, in the buyer's words: nothing is charged, the
/// current plan stays until the period's end, and the renewal then bills the new price.
pub(super) fn preview(state: &AppState, change: &Change, at: i64) -> ChangePreview {
    let catalog = &state.source_catalog;
    let (from, to) = (
        describe(catalog, &change.from),
        describe(catalog, &change.to),
    );
    let when = date(change.period.1);
    let currency = &change.to.currency;
    ChangePreview {
        summary: format!(
            "Changes to {to} on {when}. You keep {from} until then, and nothing is charged now."
        ),
        from,
        to,
        price: change.to_key.clone(),
        charged_now: false,
        at_period_end: true,
        due_today: format_amount(0, currency),
        next_amount: format_amount(change.to.amount * change.quantity as i64, currency),
        next_date: when,
        proration_date: at,
    }
}

/// The idempotency key of one step of a confirmed change.
fn key(change: &Change, proration_date: i64, step: &str) -> String {
    format!(
        "plan-schedule:{}:{}:{proration_date}:{step}",
        change.subscription.id, change.to.id
    )
}

/// Stores a schedule Stripe just answered with, so `/billing` shows it before any webhook.
///
/// Stamped with when the answer arrived, not when the call was sent: the webhook of an earlier
/// call on the same schedule (`subscription_schedule.created`, for the `from_subscription`
/// that came first) may read the schedule between our calls, and that read, sent later than
/// our first call, would otherwise win over this newer answer and hide the change until the next
/// event. A read that saw the schedule before this change was answered before it arrived.
async fn store(state: &AppState, schedule: &SubscriptionSchedule) {
    let at_ms = now_ms();
    let stored: Result<(), ServerError> = async {
        let mut tx = state.db.begin().await.context("schedule: begin")?;
        sync::apply_schedule(&mut tx, schedule, at_ms).await?;
        tx.commit().await.context("schedule: commit")?;
        Ok(())
    }
    .await;
    if let Err(e) = stored {
        tracing::warn!(error = %e, schedule = %schedule.id, "stored schedule waits for the webhooks");
    }
}

fn refused(what: &'static str) -> impl Fn(StripeError) -> ChangeError {
    move |e| {
        tracing::error!(error = %e, "{what} refused by Stripe");
        ChangeError::from(e)
    }
}

/// Schedules `change` for the end of the current period: the subscription's schedule (made
/// from it when it has none) gets two phases, the current price until the period's end and the
/// new price after.
pub(super) async fn schedule(
    state: &AppState,
    change: &Change,
    proration_date: i64,
) -> Result<(), ChangeError> {
    let billing = state.billing.as_ref().ok_or(ChangeError::BillingOff)?;
    let existing = match change.subscription.schedule.as_ref() {
        Some(id) => Some(fetch::schedule(&billing.client, id.id()).await?.object),
        None => None,
    };
    let made = match existing.filter(SubscriptionSchedule::is_live) {
        Some(schedule) => schedule,
        None => {
            let create = Call::post("/subscription_schedules")
                .param("from_subscription", change.subscription.id.as_str());
            billing
                .client
                .send_as(&create, &key(change, proration_date, "create"))
                .await
                .map_err(refused("schedule"))?
        }
    };
    // The current phase keeps its start; it ends with the paid period.
    let start = made
        .current_phase
        .as_ref()
        .map(|p| p.start_date)
        .or_else(|| made.phases.first().map(|p| p.start_date))
        .unwrap_or(change.period.0);
    let quantity = change.quantity.to_string();
    let phases = Call::post(format!("/subscription_schedules/{}", made.id))
        .param("phases[0][items][0][price]", change.from.id.as_str())
        .param("phases[0][items][0][quantity]", quantity.as_str())
        .param("phases[0][start_date]", start.to_string())
        .param("phases[0][end_date]", change.period.1.to_string())
        .param("phases[1][items][0][price]", change.to.id.as_str())
        .param("phases[1][items][0][quantity]", quantity.as_str())
        .param("phases[1][proration_behavior]", "none")
        .param("end_behavior", "release");
    let scheduled: SubscriptionSchedule = billing
        .client
        .send_as(&phases, &key(change, proration_date, "phases"))
        .await
        .map_err(refused("schedule"))?;
    store(state, &scheduled).await;
    Ok(())
}

/// Releases the schedule the subscription has (a change made now replaces the one scheduled).
pub(super) async fn release_before_change(
    state: &AppState,
    change: &Change,
    proration_date: i64,
) -> Result<(), ChangeError> {
    match change.subscription.schedule.as_ref() {
        Some(id) => release(state, id.id(), &key(change, proration_date, "release")).await,
        None => Ok(()),
    }
}

/// Releases a schedule under `key`: the subscription goes on as it is. One already released
/// (by an earlier try, or in the Dashboard) is what was asked for.
async fn release(state: &AppState, id: &str, key: &str) -> Result<(), ChangeError> {
    let billing = state.billing.as_ref().ok_or(ChangeError::BillingOff)?;
    let call = Call::post(format!("/subscription_schedules/{id}/release"));
    let released: SubscriptionSchedule = match billing.client.send_as(&call, key).await {
        Ok(released) => released,
        Err(e) if e.status() == Some(400) => {
            let now = fetch::schedule(&billing.client, id).await?.object;
            if now.is_live() {
                return Err(refused("schedule release")(e));
            }
            now
        }
        Err(e) => return Err(refused("schedule release")(e)),
    };
    store(state, &released).await;
    Ok(())
}

/// **Keep** the current plan: the change scheduled for the period's end is dropped (its
/// schedule released), and the renewal bills the current price as before.
pub async fn keep(state: &AppState, user: &AuthUser) -> Result<(), ChangeError> {
    let billing = state.billing.as_ref().ok_or(ChangeError::BillingOff)?;
    let subscription = live_subscription(state, billing, user, "keep plan: subscriptions").await?;
    match subscription.schedule.as_ref() {
        // One key per schedule: keeping the plan twice releases it once.
        Some(id) => release(state, id.id(), &format!("plan-keep:{}", id.id())).await,
        // Nothing scheduled (released already, or applied): the plan is kept as it is.
        None => Ok(()),
    }
}
