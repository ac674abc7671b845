//! The money of a purchase: payment intents, the charges on the card, refunds and disputes.

use serde_json::{json, Value};

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
    /// The subscription invoice this charge paid, if any. This API version no longer names it
    /// on the charge: `/v1/invoice_payments` links the two.
    pub invoice: Option<String>,
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
    /// `succeeded`, or `failed` when the bank could not return the money (a closed card).
    pub status: String,
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
            "status": self.status,
            "failure_reason": (self.status == "failed").then_some("expired_or_canceled_card"),
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
    /// Stripe's statuses: an inquiry (`warning_needs_response`, `warning_under_review`,
    /// `warning_closed`) takes no money; a chargeback (`needs_response`, `under_review`) has
    /// taken it until it is `won` (given back) or `lost`. `prevented`: settled before any
    /// chargeback.
    pub status: String,
    pub created: i64,
}

impl Dispute {
    /// A chargeback took the money (`charge.dispute.funds_withdrawn`); an inquiry did not.
    pub fn is_chargeback(&self) -> bool {
        matches!(
            self.status.as_str(),
            "needs_response" | "under_review" | "won" | "lost"
        )
    }
}

/// A payment of an invoice, as `/v1/invoice_payments` lists it: which invoice a payment
/// intent paid.
pub fn invoice_payment_json(charge: &Charge, invoice: &str, paid_at: i64) -> Value {
    json!({
        "id": format!("inpay_{}", &charge.id[3..]),
        "object": "invoice_payment",
        "amount_paid": charge.amount,
        "amount_requested": charge.amount,
        "created": charge.created,
        "currency": charge.currency,
        "invoice": invoice,
        "is_default": true,
        "livemode": false,
        "payment": { "type": "payment_intent", "payment_intent": charge.payment_intent },
        "status": "paid",
        "status_transitions": { "canceled_at": null, "paid_at": paid_at },
    })
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
