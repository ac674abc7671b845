//! Invoices and their lines. An invoice names its subscription under
//! `parent.subscription_details`, as this API version has it.

use serde_json::{json, Value};

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
