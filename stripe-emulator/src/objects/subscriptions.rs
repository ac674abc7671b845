//! Subscriptions and their items. In this API version the billing period lives on each item;
//! the emulator keeps one period per subscription and writes it on every item.

use serde_json::{json, Value};

use super::InvoiceLine;
use crate::store::{self, Store};

#[derive(Debug, Clone)]
pub struct SubscriptionItem {
    pub id: String,
    pub price: String,
    pub quantity: i64,
    pub created: i64,
}

#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    pub customer: String,
    pub status: String,
    pub items: Vec<SubscriptionItem>,
    pub current_period_start: i64,
    pub current_period_end: i64,
    /// Where full billing periods are counted from (Stripe's `billing_cycle_anchor`): the
    /// creation, a trial's end, or the anchor asked for at creation.
    pub billing_cycle_anchor: i64,
    pub cancel_at_period_end: bool,
    /// A date set for the cancellation (`cancel_at`, as the Dashboard sets it), other than the
    /// period's end.
    pub cancel_at: Option<i64>,
    pub canceled_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub trial_start: Option<i64>,
    pub trial_end: Option<i64>,
    pub latest_invoice: Option<String>,
    pub created: i64,
    pub seq: u64,
    /// Control: the next renewal's payment fails.
    pub fail_next_renewal: bool,
    pub trial_will_end_sent: bool,
    /// Proration lines of plan changes (`create_prorations`) that the next renewal invoices.
    pub pending_prorations: Vec<InvoiceLine>,
    /// A price change made with `payment_behavior=pending_if_incomplete` whose invoice is not
    /// paid yet: the items keep their price until it is.
    pub pending_update: Option<PendingUpdate>,
    /// `pause_collection[behavior]`: while set (`void` is the one emulated), renewals issue
    /// invoices that are voided at once, charging nothing.
    pub pause_collection: Option<String>,
    pub metadata: serde_json::Map<String, Value>,
    /// A coupon's discount on the subscription's invoices, while its duration lasts.
    pub discount: Option<Discount>,
}

/// A coupon applied to a subscription (Stripe's `discount` object).
#[derive(Debug, Clone)]
pub struct Discount {
    pub id: String,
    pub coupon: String,
    pub start: i64,
    /// When a `repeating` coupon stops discounting; `None` for `once` (removed after the
    /// first invoice it discounts) and `forever`.
    pub end: Option<i64>,
}

impl Discount {
    /// Does it take something off an invoice made at `at`?
    pub fn applies_at(&self, at: i64) -> bool {
        self.end.is_none_or(|end| at < end)
    }
}

/// A new subscription's `billing_cycle_anchor`, as Stripe takes it on creation. Until then the
/// subscription runs a short first period, invoiced at once: the share of the price from its
/// start to the anchor (`proration_behavior=create_prorations`, the default), or nothing
/// (`none`). Full periods start at the anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    pub at: i64,
    /// The first, short period is charged its share of the price.
    pub prorated: bool,
}

impl Anchor {
    /// What the first period from `now` to the anchor costs, of `full` for a whole period of
    /// `period` seconds: its share, rounded to the nearest minor unit (nothing unprorated).
    pub fn first_amount(&self, full: i64, now: i64, period: i64) -> i64 {
        if !self.prorated {
            return 0;
        }
        let left = (self.at - now).clamp(0, period.max(1)) as i128;
        let period = period.max(1) as i128;
        ((full as i128 * left * 2 + period) / (period * 2)) as i64
    }
}

#[derive(Debug, Clone)]
pub struct PendingUpdate {
    pub price: String,
    /// The new billing cycle, when the change starts one.
    pub new_period: Option<(i64, i64)>,
    /// The invoice whose payment applies the change.
    pub invoice: String,
    pub expires_at: i64,
}

impl Subscription {
    /// When it is set to end: its `cancel_at`, or its period's end when it cancels then.
    pub fn cancels_at(&self) -> Option<i64> {
        self.cancel_at
            .or(self.cancel_at_period_end.then_some(self.current_period_end))
    }

    pub fn json(&self, store: &Store) -> Value {
        let items: Vec<Value> = self
            .items
            .iter()
            .map(|item| {
                let price = store.prices.get(&item.price);
                let price_json = price.map(|p| p.json()).unwrap_or(Value::Null);
                let plan = price.map(|p| {
                    let recurring = p.recurring.clone().unwrap_or(store::Recurring {
                        interval: "month".into(),
                        interval_count: 1,
                    });
                    json!({
                        "id": p.id,
                        "object": "plan",
                        "active": p.active,
                        "amount": p.unit_amount,
                        "billing_scheme": "per_unit",
                        "created": p.created,
                        "currency": p.currency,
                        "interval": recurring.interval,
                        "interval_count": recurring.interval_count,
                        "livemode": false,
                        "product": p.product,
                        "usage_type": "licensed",
                    })
                });
                json!({
                    "id": item.id,
                    "object": "subscription_item",
                    "created": item.created,
                    "current_period_start": self.current_period_start,
                    "current_period_end": self.current_period_end,
                    "discounts": [],
                    "metadata": {},
                    "plan": plan,
                    "price": price_json,
                    "quantity": item.quantity,
                    "subscription": self.id,
                })
            })
            .collect();
        // Stripe shows the items as they will be once the update applies.
        let pending_update = self.pending_update.as_ref().map(|update| {
            let mut after = self.clone();
            after.pending_update = None;
            if let Some(item) = after.items.first_mut() {
                item.price = update.price.clone();
            }
            json!({
                "billing_cycle_anchor": update.new_period.map(|(start, _)| start),
                "expires_at": update.expires_at,
                "subscription_items": after.json(store)["items"]["data"],
                "trial_end": null,
                "trial_from_plan": null,
            })
        });
        let currency = self
            .items
            .first()
            .and_then(|i| store.prices.get(&i.price))
            .map(|p| p.currency.clone())
            .unwrap_or_else(|| "usd".into());
        json!({
            "id": self.id,
            "object": "subscription",
            "automatic_tax": { "enabled": false },
            "billing_cycle_anchor": self.billing_cycle_anchor,
            "billing_mode": { "type": "classic" },
            "billing_schedules": [],
            "cancel_at": self.cancels_at(),
            "cancel_at_period_end": self.cancel_at_period_end,
            "canceled_at": self.canceled_at,
            "collection_method": "charge_automatically",
            "created": self.created,
            "currency": currency,
            "customer": self.customer,
            "discounts": self.discount.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
            "ended_at": self.ended_at,
            "invoice_settings": { "issuer": { "type": "self" } },
            "items": {
                "object": "list",
                "data": items,
                "has_more": false,
                "url": format!("/v1/subscription_items?subscription={}", self.id),
            },
            "latest_invoice": self.latest_invoice,
            "livemode": false,
            "metadata": self.metadata,
            "pause_collection": self.pause_collection.as_ref().map(|behavior| json!({
                "behavior": behavior,
                "resumes_at": null,
            })),
            "pending_update": pending_update,
            "schedule": store.schedule_of(&self.id).map(|s| s.id.clone()),
            "start_date": self.created,
            "status": self.status,
            "trial_end": self.trial_end,
            "trial_start": self.trial_start,
        })
    }
}
