//! Time passing, as Stripe's test clocks move it: trial warnings and ends, renewals (paid, or
//! failed when asked), and cancellations at the period's end.

use serde_json::{json, Value};

use super::invoicing::{bill, Payment};
use super::price_change::expire_pending_updates;
use super::schedules::{at_period_end, AtPeriodEnd};
use super::subscriptions::{change_subscription, ensure_live};
use super::{period_of, DAY};
use crate::error::ApiError;
use crate::store::Store;

/// Stripe sends `trial_will_end` three days before a trial ends.
const TRIAL_WARNING: i64 = 3 * DAY;

/// Moves the clock forward and lets every subscription live through it: trial warnings and
/// ends, renewals (paid, or failed when asked), and cancellations at period end.
pub fn advance(store: &mut Store, base_url: &str, seconds: i64) {
    store.clock_offset += seconds.max(0);
    let now = store.now();
    expire_pending_updates(store, base_url);
    let mut ids: Vec<(u64, String)> = store
        .subscriptions
        .values()
        .map(|s| (s.seq, s.id.clone()))
        .collect();
    ids.sort();
    for (_, id) in ids {
        // A period at a time, so a long jump renews as many times as Stripe would.
        for _ in 0..1000 {
            let sub = store.subscriptions[&id].clone();
            if !matches!(sub.status.as_str(), "active" | "trialing") {
                break;
            }
            if sub.status == "trialing" && !sub.trial_will_end_sent {
                if let Some(end) = sub.trial_end {
                    if now >= end - TRIAL_WARNING {
                        if let Some(s) = store.subscriptions.get_mut(&id) {
                            s.trial_will_end_sent = true;
                        }
                        let json = store.subscriptions[&id].json(store);
                        store.emit("customer.subscription.trial_will_end", json, None);
                    }
                }
            }
            // A date set for the cancellation, within this period, ends it then.
            if let Some(at) = sub.cancel_at.filter(|at| *at <= sub.current_period_end) {
                if now >= at {
                    end_at(store, &id, at);
                }
                break;
            }
            if sub.current_period_end > now {
                break;
            }
            if sub.cancel_at_period_end
                || at_period_end(store, &id, sub.current_period_end, now) == AtPeriodEnd::Cancel
            {
                end_at_period_end(store, &id);
                break;
            }
            renew(store, base_url, &id);
        }
    }
}

/// Renews one subscription now, ending its current period early: a clock for one subscription
/// (as Stripe's test clocks are per customer), so tests running side by side do not move each
/// other's subscriptions the way `advance` moves everyone's.
pub fn renew_now(store: &mut Store, base_url: &str, sub_id: &str) -> Result<Value, ApiError> {
    ensure_live(store, sub_id)?;
    let now = store.now();
    let sub = &store.subscriptions[sub_id];
    if !matches!(sub.status.as_str(), "active" | "trialing") {
        return Err(ApiError::invalid_param(
            "subscription",
            format!("A {} subscription does not renew.", sub.status),
        ));
    }
    let (boundary, cancels) = (sub.current_period_end, sub.cancel_at_period_end);
    // A schedule's phase ending with this period gives way to the next one now.
    let ends = cancels || at_period_end(store, sub_id, boundary, now) == AtPeriodEnd::Cancel;
    if let Some(sub) = store.subscriptions.get_mut(sub_id) {
        sub.current_period_end = now;
    }
    // A subscription set to cancel at the period's end ends, as it would on Stripe's clock.
    if ends {
        end_at_period_end(store, sub_id);
    } else {
        renew(store, base_url, sub_id);
    }
    Ok(store.subscriptions[sub_id].json(store))
}

/// The period ended on a subscription set to cancel then: it is canceled.
fn end_at_period_end(store: &mut Store, id: &str) {
    let end = store.subscriptions[id].current_period_end;
    end_at(store, id, end);
}

/// The subscription ends, as of `at`.
fn end_at(store: &mut Store, id: &str, at: i64) {
    let _ = change_subscription(store, id, |s, _| {
        let previous = json!({ "status": s.status });
        s.status = "canceled".into();
        s.ended_at = Some(at);
        previous
    });
}

fn renew(store: &mut Store, base_url: &str, sub_id: &str) {
    let sub = store.subscriptions[sub_id].clone();
    let period = period_of(store, &sub.items);
    {
        let s = store.subscriptions.get_mut(sub_id).expect("exists");
        s.current_period_start = sub.current_period_end;
        s.current_period_end = sub.current_period_end + period;
    }
    let payment = match sub.pause_collection {
        Some(_) => Payment::Voided,
        None => Payment::of(store, &sub.customer, sub.fail_next_renewal),
    };
    let invoice = bill(
        store,
        base_url,
        sub_id,
        "subscription_cycle",
        false,
        payment,
    );
    // A declined card, or one whose bank wants the customer first: past due until paid. What
    // the balance's credit paid needs no card; a paused subscription's invoice is voided.
    let fails = matches!(payment, Payment::Declined | Payment::NeedsAction)
        && store.invoices[&invoice].amount_due > 0;
    let _ = change_subscription(store, sub_id, |s, _| {
        let previous = json!({
            "status": sub.status,
            "items": { "object": "list", "data": [{ "current_period_start": sub.current_period_start, "current_period_end": sub.current_period_end }] },
        });
        s.fail_next_renewal = false;
        s.status = if fails { "past_due" } else { "active" }.into();
        if sub.status == "trialing" {
            s.trial_end = Some(sub.current_period_end);
        }
        previous
    });
}
