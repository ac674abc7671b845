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
    /// The lines' sum, before the discount.
    pub subtotal: i64,
    /// What a discount took off the subtotal, and that discount's id.
    pub discount: Option<(String, i64)>,
    /// The subtotal less the discount; a negative total is credit for the customer's balance.
    pub total: i64,
    /// The customer's balance before this invoice used it, and after (`None` until finalised).
    pub starting_balance: i64,
    pub ending_balance: Option<i64>,
    /// What is charged: the total, less the credit the balance held (or plus what it owed).
    pub amount_due: i64,
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
        let discounts: Vec<&String> = self.discount.iter().map(|(id, _)| id).collect();
        let discount_amounts: Vec<Value> = self
            .discount
            .iter()
            .map(|(id, amount)| json!({ "amount": amount, "discount": id }))
            .collect();
        json!({
            "id": self.id,
            "object": "invoice",
            "amount_due": self.amount_due,
            "amount_overpaid": 0,
            "amount_paid": self.amount_paid,
            "amount_remaining": self.amount_due - self.amount_paid,
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
            "discounts": discounts,
            "ending_balance": self.ending_balance,
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
            "starting_balance": self.starting_balance,
            "status": self.status,
            "status_transitions": { "finalized_at": self.finalized_at, "paid_at": self.paid_at },
            "subtotal": self.subtotal,
            "total": self.total,
            "total_discount_amounts": discount_amounts,
        })
    }
}

/// What an invoice with `total` charges from a customer whose balance is `balance`, and the
/// balance it leaves, as Stripe settles them at finalisation: credit (a negative balance) pays
/// what it can and a debt is added; a negative total is credit added to the balance.
pub fn settle(total: i64, balance: i64) -> (i64, i64) {
    if total <= 0 {
        return (0, balance + total);
    }
    let due = (total + balance).max(0);
    (due, balance + total - due)
}
