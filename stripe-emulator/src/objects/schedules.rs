//! Subscription schedules: a subscription's future as phases, each a span of time with the
//! items the subscription bills during it. The emulator keeps what a schedule made from a
//! subscription needs: items (price, quantity), dates, `proration_behavior`, `end_behavior`.

use serde_json::{json, Value};

use crate::store::Store;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseItem {
    pub price: String,
    pub quantity: i64,
}

#[derive(Debug, Clone)]
pub struct Phase {
    pub items: Vec<PhaseItem>,
    pub start_date: i64,
    pub end_date: i64,
    /// `create_prorations` (Stripe's default), `none` or `always_invoice`.
    pub proration_behavior: String,
}

#[derive(Debug, Clone)]
pub struct SubscriptionSchedule {
    pub id: String,
    pub customer: String,
    /// The subscription it manages; `None` once released.
    pub subscription: Option<String>,
    pub released_subscription: Option<String>,
    /// `not_started`, `active`, `completed`, `released` or `canceled`.
    pub status: String,
    pub phases: Vec<Phase>,
    /// `release` (Stripe's default) or `cancel`: what the subscription does after the last phase.
    pub end_behavior: String,
    pub created: i64,
    pub canceled_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub released_at: Option<i64>,
    pub seq: u64,
}

impl SubscriptionSchedule {
    /// Still managing its subscription: `not_started` or `active`.
    pub fn is_live(&self) -> bool {
        matches!(self.status.as_str(), "not_started" | "active")
    }

    /// The phase in force at `now`, while the schedule is active.
    pub fn current_phase(&self, now: i64) -> Option<&Phase> {
        if self.status != "active" {
            return None;
        }
        self.phases
            .iter()
            .find(|p| p.start_date <= now && now < p.end_date)
            .or_else(|| self.phases.iter().rev().find(|p| p.start_date <= now))
    }

    pub fn json(&self, store: &Store) -> Value {
        let now = store.now();
        let currency = |items: &[PhaseItem]| {
            items
                .first()
                .and_then(|i| store.prices.get(&i.price))
                .map_or_else(|| "usd".to_string(), |p| p.currency.clone())
        };
        let phases: Vec<Value> = self
            .phases
            .iter()
            .map(|phase| {
                json!({
                    "add_invoice_items": [],
                    "application_fee_percent": null,
                    "automatic_tax": { "disabled_reason": null, "enabled": false, "liability": null },
                    "billing_cycle_anchor": null,
                    "collection_method": null,
                    "currency": currency(&phase.items),
                    "default_payment_method": null,
                    "default_tax_rates": [],
                    "description": null,
                    "discounts": [],
                    "end_date": phase.end_date,
                    "invoice_settings": null,
                    "items": phase.items.iter().map(|item| json!({
                        "discounts": [],
                        "metadata": {},
                        "plan": item.price,
                        "price": item.price,
                        "quantity": item.quantity,
                        "tax_rates": [],
                    })).collect::<Vec<_>>(),
                    "metadata": {},
                    "on_behalf_of": null,
                    "proration_behavior": phase.proration_behavior,
                    "start_date": phase.start_date,
                    "transfer_data": null,
                    "trial_end": null,
                })
            })
            .collect();
        json!({
            "id": self.id,
            "object": "subscription_schedule",
            "application": null,
            "billing_mode": { "type": "classic" },
            "canceled_at": self.canceled_at,
            "completed_at": self.completed_at,
            "created": self.created,
            "current_phase": self.current_phase(now).map(|p| json!({
                "end_date": p.end_date,
                "start_date": p.start_date,
            })),
            "customer": self.customer,
            "customer_account": null,
            "default_settings": {
                "application_fee_percent": null,
                "automatic_tax": { "disabled_reason": null, "enabled": false, "liability": null },
                "billing_cycle_anchor": "automatic",
                "billing_thresholds": null,
                "collection_method": "charge_automatically",
                "default_payment_method": null,
                "description": null,
                "invoice_settings": {
                    "account_tax_ids": null, "custom_fields": null, "days_until_due": null,
                    "description": null, "footer": null, "issuer": { "type": "self" },
                },
                "on_behalf_of": null,
                "transfer_data": null,
            },
            "end_behavior": self.end_behavior,
            "livemode": false,
            "metadata": {},
            "phases": phases,
            "released_at": self.released_at,
            "released_subscription": self.released_subscription,
            "status": self.status,
            "subscription": self.subscription,
            "test_clock": null,
        })
    }
}

impl Store {
    /// The schedule managing a subscription now, if any (its `schedule` field).
    pub fn schedule_of(&self, sub_id: &str) -> Option<&SubscriptionSchedule> {
        self.subscription_schedules
            .values()
            .find(|s| s.is_live() && s.subscription.as_deref() == Some(sub_id))
    }
}
