//! What happens in Stripe when a buyer pays, a period ends or a subscriber changes their plan:
//! the objects change and the events Stripe sends are emitted, in Stripe's order.
//!
//! Every flow answers with [`ApiError`](crate::error::ApiError), so the API, the control routes
//! and the hosted pages report a refusal the same way: the API as Stripe's error JSON (naming
//! the request's parameter with `ApiError::for_param`), the pages as the message.

mod cards;
mod checkout;
mod clock;
mod invoicing;
mod payments;
mod price_change;
mod schedules;
mod start;
mod subscriptions;

pub use cards::{card_outcome, CardOutcome};
pub use checkout::complete_checkout;
pub use clock::{advance, renew_now};
pub use invoicing::pay_invoice;
pub use payments::{
    close_dispute, dispute_checkout, fail_refund, move_dispute, open_dispute, refund,
    OPENING_STATUSES,
};
pub use price_change::{
    change_price, preview_change, PreviewMode, PriceChange, Proration, TrialEnd,
};
pub use schedules::{
    cancel as cancel_schedule, change_at_period_end, create_from_subscription,
    release as release_schedule, update as update_schedule, PhaseSpec,
};
pub use start::{check_anchor, start_subscription, NewSubscription};
pub use subscriptions::{
    cancel_now, fail_next_renewal, set_cancel_at, set_cancel_at_period_end, set_pause_collection,
};

use crate::objects::SubscriptionItem;
use crate::store::Store;

const DAY: i64 = 24 * 60 * 60;

pub fn interval_seconds(interval: &str, count: i64) -> i64 {
    let unit = match interval {
        "day" => DAY,
        "week" => 7 * DAY,
        "month" => 30 * DAY,
        "year" => 365 * DAY,
        _ => 30 * DAY,
    };
    unit * count.max(1)
}

/// The length of a subscription's billing period: its first item's price's interval.
fn period_of(store: &Store, items: &[SubscriptionItem]) -> i64 {
    items
        .first()
        .and_then(|i| store.prices.get(&i.price))
        .and_then(|p| p.recurring.as_ref())
        .map(|r| interval_seconds(&r.interval, r.interval_count))
        .unwrap_or(30 * DAY)
}
