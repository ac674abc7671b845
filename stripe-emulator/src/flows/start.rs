//! A subscription starts: by Checkout or `POST /v1/subscriptions`, with a trial, a
//! `billing_cycle_anchor`, or a full first period, and its first invoice.

use super::invoicing::{bill, issue_invoice, Draft, Payment};
use crate::error::ApiError;
use crate::objects::{Anchor, Discount, InvoiceLine, Subscription, SubscriptionItem};
use crate::store::Store;

/// Checks a new subscription's `billing_cycle_anchor` (`at`) as Stripe does on creation: a
/// future time no later than the first period's natural end (now + the interval of
/// `price_id`). `param` names it in a refusal.
pub fn check_anchor(
    store: &Store,
    at: i64,
    prorated: bool,
    price_id: &str,
    param: &str,
) -> Result<Anchor, ApiError> {
    let now = store.now();
    if at <= now {
        return Err(ApiError::invalid_param(
            param,
            "billing_cycle_anchor must be a timestamp in the future.",
        ));
    }
    let period = store
        .prices
        .get(price_id)
        .and_then(|p| p.recurring.as_ref())
        .map(|r| super::interval_seconds(&r.interval, r.interval_count))
        .unwrap_or(30 * super::DAY);
    if at > now + period {
        return Err(ApiError::invalid_param(
            param,
            format!(
                "billing_cycle_anchor cannot be later than next natural billing date ({}) for plan",
                now + period
            ),
        ));
    }
    Ok(Anchor { at, prorated })
}

/// A subscription as it starts, by Checkout or `POST /v1/subscriptions`.
pub struct NewSubscription {
    pub customer: String,
    /// Prices and quantities; the first one's interval sets the billing period.
    pub items: Vec<(String, i64)>,
    pub trial_days: Option<i64>,
    pub anchor: Option<Anchor>,
    /// What the first invoice charges, as agreed already (a Checkout's total, after discounts
    /// and any proration); otherwise the prices, or their share up to the anchor.
    pub first_charge: Option<i64>,
    /// How the first invoice's payment goes (Checkout: paid on its page).
    pub paid_at_checkout: bool,
    /// A coupon's discount on its invoices (a Checkout's coupon), for the coupon's duration.
    pub discount: Option<Discount>,
}

/// Starts a subscription: `customer.subscription.created`, then its first invoice (nothing on
/// a trial; the share of the price up to a `billing_cycle_anchor`; else a full period). A first
/// payment that does not go through leaves it `incomplete`, as Stripe's default
/// `payment_behavior=allow_incomplete` does. Returns its id.
pub fn start_subscription(store: &mut Store, base_url: &str, new: NewSubscription) -> String {
    let now = store.now();
    let items: Vec<SubscriptionItem> = new
        .items
        .iter()
        .map(|(price, quantity)| SubscriptionItem {
            id: crate::store::new_id("si"),
            price: price.clone(),
            quantity: *quantity,
            created: now,
        })
        .collect();
    let period = super::period_of(store, &items);
    let trial_end = new.trial_days.map(|d| now + d * super::DAY);
    // An anchor that passed while a Checkout waited is no anchor: a full period from now.
    let anchor = new.anchor.filter(|a| trial_end.is_none() && a.at > now);
    let full: i64 = items
        .iter()
        .filter_map(|i| {
            store
                .prices
                .get(&i.price)
                .map(|p| p.unit_amount * i.quantity)
        })
        .sum();
    let charge = match (trial_end, anchor, new.first_charge) {
        (Some(_), _, _) => 0,
        (None, _, Some(agreed)) => agreed,
        (None, Some(anchor), None) => anchor.first_amount(full, now, period),
        (None, None, None) => full,
    };
    let payment = if new.paid_at_checkout {
        Payment::Paid
    } else {
        Payment::of(store, &new.customer, false)
    };
    let status = match (trial_end, payment) {
        (Some(_), _) => "trialing",
        (None, Payment::Paid) => "active",
        _ if charge <= 0 => "active",
        _ => "incomplete",
    };
    let period_end = trial_end.or(anchor.map(|a| a.at)).unwrap_or(now + period);
    let sub = Subscription {
        id: crate::store::new_id("sub"),
        customer: new.customer.clone(),
        status: status.into(),
        items,
        current_period_start: now,
        current_period_end: period_end,
        billing_cycle_anchor: if trial_end.is_some() || anchor.is_some() {
            period_end
        } else {
            now
        },
        cancel_at_period_end: false,
        cancel_at: None,
        canceled_at: None,
        ended_at: None,
        trial_start: trial_end.map(|_| now),
        trial_end,
        latest_invoice: None,
        created: now,
        seq: store.next_seq(),
        fail_next_renewal: false,
        trial_will_end_sent: false,
        pending_prorations: Vec::new(),
        pending_update: None,
        pause_collection: None,
        metadata: Default::default(),
        discount: new.discount,
    };
    let sub_id = sub.id.clone();
    store.subscriptions.insert(sub_id.clone(), sub);
    let sub_json = store.subscriptions[&sub_id].json(store);
    store.emit("customer.subscription.created", sub_json, None);
    match anchor {
        // The short first period, up to the anchor: one line per item, its share.
        Some(anchor) => {
            let items = store.subscriptions[&sub_id].items.clone();
            let mut left = charge;
            let lines: Vec<InvoiceLine> = items
                .iter()
                .enumerate()
                .filter_map(|(n, item)| {
                    let price = store.prices.get(&item.price)?;
                    let share = if n + 1 == items.len() {
                        left
                    } else {
                        anchor.first_amount(price.unit_amount * item.quantity, now, period)
                    };
                    left -= share;
                    Some(InvoiceLine {
                        price: price.id.clone(),
                        description: format!(
                            "Remaining time on {} × {} until the billing cycle anchor",
                            item.quantity,
                            store.product_name(price)
                        ),
                        amount: share,
                        quantity: item.quantity,
                    })
                })
                .collect();
            let draft = Draft {
                customer: new.customer,
                subscription: Some(sub_id.clone()),
                reason: "subscription_create",
                lines,
                // An agreed first charge has its discount taken off already.
                discount: None,
                period: (now, anchor.at),
                uses_balance: true,
            };
            let id = issue_invoice(store, base_url, draft, payment);
            if let Some(s) = store.subscriptions.get_mut(&sub_id) {
                s.latest_invoice = Some(id);
            }
        }
        None => {
            bill(
                store,
                base_url,
                &sub_id,
                "subscription_create",
                trial_end.is_some(),
                payment,
            );
        }
    }
    sub_id
}
