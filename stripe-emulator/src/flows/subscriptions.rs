//! Changes a subscriber asks for (cancel now, cancel at the period's end, resume), and the
//! one seam every subscription change goes through so its event says what changed.

use serde_json::{json, Value};

use crate::error::ApiError;
use crate::objects::Subscription;
use crate::store::Store;

/// Applies a change to a subscription and emits `customer.subscription.updated` (or `.deleted`)
/// with the changed fields' old values, as Stripe does.
pub(super) fn change_subscription(
    store: &mut Store,
    sub_id: &str,
    change: impl FnOnce(&mut Subscription, i64) -> Value,
) -> Result<Value, ApiError> {
    let now = store.now();
    let sub = store
        .subscriptions
        .get_mut(sub_id)
        .ok_or_else(|| ApiError::not_found("subscription", sub_id))?;
    let previous = change(sub, now);
    let deleted = sub.status == "canceled";
    let json = store.subscriptions[sub_id].json(store);
    let kind = if deleted {
        "customer.subscription.deleted"
    } else {
        "customer.subscription.updated"
    };
    store.emit(kind, json.clone(), (!deleted).then_some(previous));
    Ok(json)
}

/// A canceled subscription is final: Stripe refuses any change to it but its metadata.
pub(super) fn ensure_live(store: &Store, sub_id: &str) -> Result<(), ApiError> {
    match store.subscriptions.get(sub_id) {
        None => Err(ApiError::not_found("subscription", sub_id)),
        Some(s) if s.status == "canceled" => Err(ApiError::invalid_param(
            "subscription",
            "A canceled subscription can only update its cancellation_details and metadata.",
        )),
        Some(_) => Ok(()),
    }
}

pub fn set_cancel_at_period_end(
    store: &mut Store,
    sub_id: &str,
    cancel: bool,
) -> Result<Value, ApiError> {
    ensure_live(store, sub_id)?;
    change_subscription(store, sub_id, |sub, now| {
        let previous = json!({
            "cancel_at_period_end": sub.cancel_at_period_end,
            "cancel_at": sub.cancels_at(),
            "canceled_at": sub.canceled_at,
        });
        sub.cancel_at_period_end = cancel;
        sub.cancel_at = None;
        sub.canceled_at = cancel.then_some(now);
        previous
    })
}

/// `cancel_at`: the subscription ends at `at` (in the future), or, with `None`, no longer.
/// Stripe takes it instead of `cancel_at_period_end`, never with it.
pub fn set_cancel_at(store: &mut Store, sub_id: &str, at: Option<i64>) -> Result<Value, ApiError> {
    ensure_live(store, sub_id)?;
    if at.is_some_and(|at| at <= store.now()) {
        return Err(ApiError::invalid_param(
            "cancel_at",
            "cancel_at must be a timestamp in the future.",
        ));
    }
    change_subscription(store, sub_id, |sub, now| {
        let previous = json!({
            "cancel_at": sub.cancels_at(),
            "cancel_at_period_end": sub.cancel_at_period_end,
            "canceled_at": sub.canceled_at,
        });
        sub.cancel_at = at;
        sub.cancel_at_period_end = false;
        sub.canceled_at = at.map(|_| now);
        previous
    })
}

pub fn cancel_now(store: &mut Store, sub_id: &str) -> Result<Value, ApiError> {
    ensure_live(store, sub_id)?;
    change_subscription(store, sub_id, |sub, now| {
        let previous = json!({ "status": sub.status });
        sub.status = "canceled".into();
        sub.canceled_at = Some(now);
        sub.ended_at = Some(now);
        previous
    })
}

/// `pause_collection`: while paused (`Some("void")`), renewals void their invoices instead of
/// charging; `None` resumes collection. The status does not change, as on Stripe. The
/// update's `metadata` (keys set, or removed when empty) changes with it.
pub fn set_pause_collection(
    store: &mut Store,
    sub_id: &str,
    behavior: Option<&str>,
    metadata: &Value,
) -> Result<Value, ApiError> {
    ensure_live(store, sub_id)?;
    change_subscription(store, sub_id, |sub, _| {
        let previous = json!({
            "pause_collection": sub.pause_collection.as_ref().map(|b| json!({ "behavior": b, "resumes_at": null })),
            "metadata": sub.metadata,
        });
        sub.pause_collection = behavior.map(str::to_string);
        crate::params::merge_metadata(&mut sub.metadata, metadata);
        previous
    })
}

/// Marks a subscription's next renewal to fail (the test-clock way to see `past_due`).
pub fn fail_next_renewal(store: &mut Store, sub_id: &str) -> Result<(), ApiError> {
    let sub = store
        .subscriptions
        .get_mut(sub_id)
        .ok_or_else(|| ApiError::not_found("subscription", sub_id))?;
    sub.fail_next_renewal = true;
    Ok(())
}
