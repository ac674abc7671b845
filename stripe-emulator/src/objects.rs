//! Stripe's billing objects (subscriptions, invoices, payment intents, events, …) and their JSON
//! in the API version async-stripe is pinned to (2026-09-30: periods live on subscription items,
//! an invoice names its subscription under `parent.subscription_details`).

use serde_json::{json, Value};

use crate::store::{self, Store};

pub const API_VERSION: &str = "2026-09-30.endive";

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
    pub cancel_at_period_end: bool,
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
}

impl Subscription {
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
            "billing_cycle_anchor": self.created,
            "billing_mode": { "type": "classic" },
            "billing_schedules": [],
            "cancel_at": if self.cancel_at_period_end { Some(self.current_period_end) } else { None },
            "cancel_at_period_end": self.cancel_at_period_end,
            "canceled_at": self.canceled_at,
            "collection_method": "charge_automatically",
            "created": self.created,
            "currency": currency,
            "customer": self.customer,
            "discounts": [],
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
            "metadata": {},
            "start_date": self.created,
            "status": self.status,
            "trial_end": self.trial_end,
            "trial_start": self.trial_start,
        })
    }
}

#[derive(Debug, Clone)]
pub struct InvoiceLine {
    pub price: String,
    pub description: String,
    pub amount: i64,
    pub quantity: i64,
}

#[derive(Debug, Clone)]
pub struct Invoice {
    pub id: String,
    pub number: String,
    pub customer: String,
    pub customer_email: Option<String>,
    pub subscription: Option<String>,
    pub status: String,
    pub billing_reason: String,
    pub currency: String,
    pub lines: Vec<InvoiceLine>,
    pub total: i64,
    pub amount_paid: i64,
    pub attempt_count: i64,
    pub period_start: i64,
    pub period_end: i64,
    pub created: i64,
    pub finalized_at: Option<i64>,
    pub paid_at: Option<i64>,
    pub seq: u64,
}

impl Invoice {
    pub fn json(&self, base_url: &str) -> Value {
        let lines: Vec<Value> = self
            .lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                json!({
                    "id": format!("il_{}_{i}", &self.id[3..]),
                    "object": "line_item",
                    "amount": line.amount,
                    "currency": self.currency,
                    "description": line.description,
                    "discountable": true,
                    "discounts": [],
                    "livemode": false,
                    "metadata": {},
                    "period": { "start": self.period_start, "end": self.period_end },
                    "pricing": { "type": "price_details", "price_details": { "price": line.price, "product": "" } },
                    "quantity": line.quantity,
                    "subtotal": line.amount,
                })
            })
            .collect();
        let parent = self.subscription.as_ref().map(|sub| {
            json!({
                "type": "subscription_details",
                "subscription_details": { "subscription": sub, "metadata": {} },
            })
        });
        json!({
            "id": self.id,
            "object": "invoice",
            // A credit (a negative total) goes to the customer's balance: nothing is due.
            "amount_due": self.total.max(0),
            "amount_overpaid": 0,
            "amount_paid": self.amount_paid,
            "amount_remaining": self.total.max(0) - self.amount_paid,
            "amount_shipping": 0,
            "attempt_count": self.attempt_count,
            "amount_paid_off_stripe": 0,
            "attempted": self.attempt_count > 0,
            // Finalised and collected by Stripe on its own, as a subscription's invoices are.
            "auto_advance": self.status != "paid" && self.status != "void",
            "automatic_tax": { "enabled": false },
            "billing_reason": self.billing_reason,
            "collection_method": "charge_automatically",
            "created": self.created,
            "currency": self.currency,
            "customer": self.customer,
            "customer_email": self.customer_email,
            "default_tax_rates": [],
            "discounts": [],
            "hosted_invoice_url": format!("{base_url}/i/{}", self.id),
            "issuer": { "type": "self" },
            "lines": {
                "object": "list",
                "data": lines,
                "has_more": false,
                "url": format!("/v1/invoices/{}/lines", self.id),
            },
            "livemode": false,
            "metadata": {},
            "number": self.number,
            "parent": parent,
            "payment_settings": {},
            "period_end": self.period_end,
            "period_start": self.period_start,
            "post_payment_credit_notes_amount": 0,
            "pre_payment_credit_notes_amount": 0,
            "starting_balance": 0,
            "status": self.status,
            "status_transitions": { "finalized_at": self.finalized_at, "paid_at": self.paid_at },
            "subtotal": self.total,
            "total": self.total,
        })
    }
}

#[derive(Debug, Clone)]
pub struct PaymentIntent {
    pub id: String,
    pub latest_charge: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub customer: Option<String>,
    pub status: String,
    pub setup_future_usage: Option<String>,
    pub created: i64,
}

impl PaymentIntent {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "payment_intent",
            "latest_charge": self.latest_charge,
            "amount": self.amount,
            "amount_capturable": 0,
            "amount_received": if self.status == "succeeded" { self.amount } else { 0 },
            "capture_method": "automatic_async",
            "confirmation_method": "automatic",
            "created": self.created,
            "currency": self.currency,
            "customer": self.customer,
            "livemode": false,
            "metadata": {},
            "payment_method_types": ["card"],
            "setup_future_usage": self.setup_future_usage,
            "status": self.status,
        })
    }
}

/// A payment on a card; refunds and disputes are about charges.
#[derive(Debug, Clone)]
pub struct Charge {
    pub id: String,
    pub amount: i64,
    pub amount_refunded: i64,
    pub currency: String,
    pub customer: Option<String>,
    pub payment_intent: String,
    pub dispute: Option<String>,
    pub created: i64,
}

impl Charge {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "charge",
            "amount": self.amount,
            "amount_captured": self.amount,
            "amount_refunded": self.amount_refunded,
            "billing_details": { "address": null, "email": null, "name": null, "phone": null, "tax_id": null },
            "captured": true,
            "created": self.created,
            "currency": self.currency,
            "customer": self.customer,
            "disputed": self.dispute.is_some(),
            "livemode": false,
            "metadata": {},
            "paid": true,
            "payment_intent": self.payment_intent,
            "refunded": self.amount_refunded >= self.amount,
            "status": "succeeded",
        })
    }
}

#[derive(Debug, Clone)]
pub struct Refund {
    pub id: String,
    pub amount: i64,
    pub charge: String,
    pub currency: String,
    pub payment_intent: String,
    pub created: i64,
}

impl Refund {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "refund",
            "amount": self.amount,
            "charge": self.charge,
            "created": self.created,
            "currency": self.currency,
            "metadata": {},
            "payment_intent": self.payment_intent,
            "status": "succeeded",
        })
    }
}

#[derive(Debug, Clone)]
pub struct Dispute {
    pub id: String,
    pub amount: i64,
    pub charge: String,
    pub currency: String,
    pub payment_intent: String,
    /// `needs_response`, then `won` or `lost`.
    pub status: String,
    pub created: i64,
}

impl Dispute {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "dispute",
            "amount": self.amount,
            "balance_transactions": [],
            "charge": self.charge,
            "created": self.created,
            "currency": self.currency,
            "enhanced_eligibility_types": [],
            "evidence": { "enhanced_evidence": {} },
            "evidence_details": {
                "due_by": null,
                "enhanced_eligibility": {},
                "has_evidence": false,
                "past_due": false,
                "submission_count": 0,
            },
            "is_charge_refundable": false,
            "livemode": false,
            "metadata": {},
            "payment_intent": self.payment_intent,
            "reason": "fraudulent",
            "status": self.status,
        })
    }
}

#[derive(Debug, Clone)]
pub struct PortalSession {
    pub id: String,
    pub customer: String,
    pub return_url: Option<String>,
    pub configuration: String,
    pub created: i64,
}

impl PortalSession {
    pub fn json(&self, base_url: &str) -> Value {
        json!({
            "id": self.id,
            "object": "billing_portal.session",
            "configuration": self.configuration,
            "flow": null,
            "locale": null,
            "on_behalf_of": null,
            "created": self.created,
            "customer": self.customer,
            "livemode": false,
            "return_url": self.return_url,
            "url": format!("{base_url}/p/session/{}", self.id),
        })
    }
}

#[derive(Debug, Clone)]
pub struct PromotionCode {
    pub id: String,
    pub code: String,
    pub coupon: String,
    pub active: bool,
    pub created: i64,
}

impl PromotionCode {
    pub fn json(&self, store: &Store) -> Value {
        json!({
            "id": self.id,
            "object": "promotion_code",
            "active": self.active,
            "code": self.code,
            "created": self.created,
            "livemode": false,
            "metadata": {},
            // An id, as Stripe sends it unless `expand[]=promotion.coupon` asks for the object.
            "promotion": { "type": "coupon", "coupon": store.coupons.get(&self.coupon).map(|c| c.id.clone()) },
            "restrictions": { "first_time_transaction": false },
            "times_redeemed": 0,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    pub secret: String,
    /// `*` for every type.
    pub enabled_events: Vec<String>,
    pub created: i64,
    /// A disabled endpoint is sent nothing.
    pub disabled: bool,
    /// The version its events are rendered in; `None` for the account's default.
    pub api_version: Option<String>,
    pub description: Option<String>,
}

impl Endpoint {
    pub fn wants(&self, event_type: &str) -> bool {
        !self.disabled
            && self
                .enabled_events
                .iter()
                .any(|e| e == "*" || e == event_type)
    }

    /// The secret is shown only when the endpoint is created, as Stripe does.
    pub fn json(&self, with_secret: bool) -> Value {
        let mut v = json!({
            "id": self.id,
            "object": "webhook_endpoint",
            "api_version": self.api_version,
            "application": null,
            "created": self.created,
            "description": self.description,
            "enabled_events": self.enabled_events,
            "livemode": false,
            "metadata": {},
            "status": if self.disabled { "disabled" } else { "enabled" },
            "url": self.url,
        });
        if with_secret {
            v["secret"] = json!(self.secret);
        }
        v
    }
}

#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub type_: String,
    pub created: i64,
    pub object: Value,
    pub previous_attributes: Option<Value>,
    pub seq: u64,
}

impl Event {
    pub fn json(&self, pending_webhooks: usize) -> Value {
        let mut data = json!({ "object": self.object });
        if let Some(prev) = &self.previous_attributes {
            data["previous_attributes"] = prev.clone();
        }
        json!({
            "id": self.id,
            "object": "event",
            "api_version": API_VERSION,
            "created": self.created,
            "data": data,
            "livemode": false,
            "pending_webhooks": pending_webhooks,
            "request": { "id": null, "idempotency_key": null },
            "type": self.type_,
        })
    }
}

/// One attempt to deliver one event to one endpoint.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Delivery {
    pub event_id: String,
    pub event_type: String,
    pub endpoint_url: String,
    pub attempt: u32,
    /// The endpoint's HTTP status, when it answered.
    pub status: Option<u16>,
    /// The start of the endpoint's answer (at most 200 bytes), as Stripe's dashboard shows it.
    pub response: Option<String>,
    pub error: Option<String>,
    /// Wall-clock unix seconds.
    pub at: i64,
}

impl Store {
    /// Records an event and hands it to the webhook worker.
    pub fn emit(
        &mut self,
        type_: &str,
        object: Value,
        previous_attributes: Option<Value>,
    ) -> String {
        let event = Event {
            id: store::new_id("evt"),
            type_: type_.to_string(),
            created: self.now(),
            object,
            previous_attributes,
            seq: self.next_seq(),
        };
        let id = event.id.clone();
        self.events.push(event);
        if let Some(tx) = &self.outbox {
            let _ = tx.send(id.clone());
        }
        id
    }

    pub fn event(&self, id: &str) -> Option<&Event> {
        self.events.iter().find(|e| e.id == id)
    }

    pub fn pending_webhooks(&self, type_: &str) -> usize {
        self.endpoints.values().filter(|e| e.wants(type_)).count()
    }
}
