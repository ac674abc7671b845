//! The emulator's state: Stripe's objects as plain structs, rendered to Stripe's JSON shapes.
//! All in memory; one lock, never held across an await.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Map, Value};

pub fn new_id(prefix: &str) -> String {
    let raw = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_{}", &raw[..24])
}

#[derive(Debug, Clone)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub active: bool,
    pub metadata: Map<String, Value>,
    pub created: i64,
    pub updated: i64,
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recurring {
    pub interval: String,
    pub interval_count: i64,
}

#[derive(Debug, Clone)]
pub struct Price {
    pub id: String,
    pub product: String,
    pub lookup_key: Option<String>,
    pub unit_amount: i64,
    pub currency: String,
    pub recurring: Option<Recurring>,
    pub active: bool,
    pub created: i64,
    pub seq: u64,
}

#[derive(Debug, Clone)]
pub struct Customer {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub metadata: Map<String, Value>,
    pub created: i64,
    pub seq: u64,
    /// Its card's bank asks for authentication on every payment: renewals and plan changes
    /// wait on the invoice's page (`invoice.payment_action_required`).
    pub authenticates_every_payment: bool,
    /// Its card's holder disputes every payment (Stripe's 4000 0000 0000 0259): each invoice
    /// it pays is disputed at once.
    pub disputes_payments: bool,
    /// Stripe's customer balance, in the smallest unit: negative is credit the next invoices
    /// use up before anything is charged, positive is owed and added to the next invoice.
    pub balance: i64,
    /// The currency its balance is in, set by the first movement of the balance.
    pub currency: Option<String>,
}

#[derive(Debug, Clone)]
pub struct LineItem {
    pub price: String,
    pub quantity: i64,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub mode: String,
    pub status: String,
    pub payment_status: String,
    pub customer: Option<String>,
    pub customer_email: Option<String>,
    pub customer_creation: Option<String>,
    pub client_reference_id: Option<String>,
    pub line_items: Vec<LineItem>,
    pub success_url: String,
    pub cancel_url: String,
    pub allow_promotion_codes: bool,
    pub coupons: Vec<String>,
    pub tax_id_collection: bool,
    pub setup_future_usage: Option<String>,
    pub amount_subtotal: i64,
    pub amount_total: i64,
    pub currency: String,
    pub subscription: Option<String>,
    pub payment_intent: Option<String>,
    pub metadata: Map<String, Value>,
    pub created: i64,
    pub expires_at: i64,
    pub seq: u64,
    pub invoice: Option<String>,
    /// `invoice_creation[enabled]` (payment mode): the purchase gets a paid invoice.
    pub invoice_creation: bool,
    /// `subscription_data[trial_period_days]`.
    pub trial_period_days: Option<i64>,
    /// `subscription_data[billing_cycle_anchor]` (with `subscription_data[proration_behavior]`).
    pub billing_cycle_anchor: Option<crate::objects::Anchor>,
    /// What the buyer typed on the hosted page, once completed.
    pub customer_details: Option<CustomerDetails>,
    /// A 3D Secure card is waiting for the buyer's answer.
    pub awaiting_authentication: bool,
    /// Paid with a card whose bank asks for authentication on every payment (4000 0027 6000 3184).
    pub card_authenticates_every_payment: bool,
}

#[derive(Debug, Clone)]
pub struct CustomerDetails {
    pub email: String,
    pub name: Option<String>,
    pub tax_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Coupon {
    pub id: String,
    pub percent_off: Option<f64>,
    pub amount_off: Option<i64>,
    pub currency: Option<String>,
    pub valid: bool,
    pub created: i64,
    /// Stripe's `duration`: how many of a subscription's invoices it takes off.
    pub duration: Duration,
}

/// How long a coupon keeps discounting a subscription (Stripe's `duration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duration {
    /// The first invoice only.
    Once,
    /// Every invoice issued within this many months of the discount's start.
    Repeating(i64),
    Forever,
}

/// A change of a customer's balance (Stripe's `customer_balance_transaction`).
#[derive(Debug, Clone)]
pub struct BalanceTransaction {
    pub id: String,
    pub customer: String,
    /// Negative credits the customer, positive debits them.
    pub amount: i64,
    pub currency: String,
    pub description: Option<String>,
    pub ending_balance: i64,
    /// `adjustment` (given by hand or through the API) or `applied_to_invoice`.
    pub kind: &'static str,
    pub invoice: Option<String>,
    pub metadata: Map<String, Value>,
    pub created: i64,
    pub seq: u64,
}

/// A POST answered under an `Idempotency-Key`: replayed as is for the same parameters.
#[derive(Debug, Clone)]
pub struct IdempotentReply {
    /// When the key was first used; Stripe forgets a key after 24 hours.
    pub created: i64,
    pub fingerprint: String,
    pub status: u16,
    pub body: Value,
}

#[derive(Debug, Default)]
pub struct Store {
    /// Seconds added to the wall clock (test-clock style time travel).
    pub clock_offset: i64,
    seq: u64,
    pub products: BTreeMap<String, Product>,
    pub prices: BTreeMap<String, Price>,
    pub customers: BTreeMap<String, Customer>,
    pub sessions: BTreeMap<String, Session>,
    pub coupons: BTreeMap<String, Coupon>,
    pub balance_transactions: BTreeMap<String, BalanceTransaction>,
    pub promotion_codes: BTreeMap<String, crate::objects::PromotionCode>,
    pub subscriptions: BTreeMap<String, crate::objects::Subscription>,
    pub subscription_schedules: BTreeMap<String, crate::objects::SubscriptionSchedule>,
    pub invoices: BTreeMap<String, crate::objects::Invoice>,
    pub payment_intents: BTreeMap<String, crate::objects::PaymentIntent>,
    pub charges: BTreeMap<String, crate::objects::Charge>,
    pub refunds: BTreeMap<String, crate::objects::Refund>,
    pub disputes: BTreeMap<String, crate::objects::Dispute>,
    pub portal_sessions: BTreeMap<String, crate::objects::PortalSession>,
    pub endpoints: BTreeMap<String, crate::objects::Endpoint>,
    pub portal_configurations: BTreeMap<String, crate::portal_config::Configuration>,
    /// Every event, oldest first.
    pub events: Vec<crate::objects::Event>,
    pub deliveries: Vec<crate::objects::Delivery>,
    pub idempotency: HashMap<String, IdempotentReply>,
    /// New events go here for the webhook worker.
    pub outbox: Option<tokio::sync::mpsc::UnboundedSender<String>>,
}

impl Store {
    pub fn now(&self) -> i64 {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        wall + self.clock_offset
    }

    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// The name of the product a price sells ("" when unknown).
    pub fn product_name(&self, price: &Price) -> String {
        self.products
            .get(&price.product)
            .map(|p| p.name.clone())
            .unwrap_or_default()
    }

    pub fn price_by_lookup_key(&self, key: &str) -> Option<&Price> {
        self.prices
            .values()
            .find(|p| p.lookup_key.as_deref() == Some(key))
    }
}

/// Stripe's list envelope, newest first as Stripe returns them.
pub fn list(url: &str, mut items: Vec<(u64, Value)>) -> Value {
    items.sort_by_key(|item| std::cmp::Reverse(item.0));
    json!({
        "object": "list",
        "url": url,
        "has_more": false,
        "data": items.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
    })
}

impl Product {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "product",
            "active": self.active,
            "created": self.created,
            "updated": self.updated,
            "images": [],
            "livemode": false,
            "marketing_features": [],
            "metadata": self.metadata,
            "name": self.name,
            "type": "service",
        })
    }
}

impl Price {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "price",
            "active": self.active,
            "billing_scheme": "per_unit",
            "created": self.created,
            "currency": self.currency,
            "livemode": false,
            "lookup_key": self.lookup_key,
            "metadata": {},
            "product": self.product,
            "recurring": self.recurring.as_ref().map(|r| json!({
                "interval": r.interval,
                "interval_count": r.interval_count,
                "usage_type": "licensed",
            })),
            "tax_behavior": "unspecified",
            "type": if self.recurring.is_some() { "recurring" } else { "one_time" },
            "unit_amount": self.unit_amount,
            "unit_amount_decimal": self.unit_amount.to_string(),
        })
    }
}

impl Customer {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "customer",
            "created": self.created,
            "balance": self.balance,
            "currency": self.currency,
            "email": self.email,
            "name": self.name,
            "livemode": false,
            "metadata": self.metadata,
        })
    }
}

impl Session {
    pub fn json(&self, base_url: &str) -> Value {
        json!({
            "id": self.id,
            "object": "checkout.session",
            "allow_promotion_codes": self.allow_promotion_codes,
            "amount_subtotal": self.amount_subtotal,
            "amount_total": self.amount_total,
            "automatic_tax": { "enabled": false },
            "cancel_url": self.cancel_url,
            "client_reference_id": self.client_reference_id,
            "created": self.created,
            "currency": self.currency,
            "custom_fields": [],
            "custom_text": {},
            "customer": self.customer,
            "customer_creation": self.customer_creation,
            "customer_email": self.customer_email,
            "discounts": self.coupons.iter().map(|c| json!({ "coupon": c })).collect::<Vec<_>>(),
            "expires_at": self.expires_at,
            "livemode": false,
            "metadata": self.metadata,
            "mode": self.mode,
            "payment_intent": self.payment_intent,
            "payment_method_types": ["card"],
            "payment_status": self.payment_status,
            "shipping_options": [],
            "status": self.status,
            "subscription": self.subscription,
            "success_url": self.success_url,
            "tax_id_collection": { "enabled": self.tax_id_collection, "required": "never" },
            "ui_mode": "hosted_page",
            "invoice": self.invoice,
            // Stripe has it on payment-mode sessions only.
            "invoice_creation": (self.mode == "payment").then(|| json!({
                "enabled": self.invoice_creation,
                "invoice_data": { "account_tax_ids": null, "custom_fields": null, "description": null,
                    "footer": null, "issuer": null, "metadata": {}, "rendering_options": null },
            })),
            "customer_details": self.customer_details.as_ref().map(|d| json!({
                "email": d.email,
                "name": d.name,
                "tax_exempt": "none",
                "tax_ids": d.tax_id.iter().map(|t| json!({"type": "eu_vat", "value": t})).collect::<Vec<_>>(),
            })),
            "url": (self.status == "open").then(|| format!("{base_url}/c/pay/{}", self.id)),
        })
    }
}

impl Coupon {
    /// What this coupon takes off `amount`.
    pub fn discount_on(&self, amount: i64) -> i64 {
        match (self.percent_off, self.amount_off) {
            (Some(pct), _) => (amount as f64 * pct / 100.0).round() as i64,
            (None, Some(off)) => off,
            _ => 0,
        }
    }

    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "coupon",
            "amount_off": self.amount_off,
            "created": self.created,
            "currency": self.currency,
            "duration": match self.duration {
                Duration::Once => "once",
                Duration::Repeating(_) => "repeating",
                Duration::Forever => "forever",
            },
            "duration_in_months": match self.duration {
                Duration::Repeating(months) => Some(months),
                _ => None,
            },
            "livemode": false,
            "metadata": {},
            "percent_off": self.percent_off,
            "times_redeemed": 0,
            "valid": self.valid,
        })
    }
}

impl BalanceTransaction {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "customer_balance_transaction",
            "amount": self.amount,
            "checkout_session": null,
            "created": self.created,
            "credit_note": null,
            "currency": self.currency,
            "customer": self.customer,
            "customer_account": null,
            "description": self.description,
            "ending_balance": self.ending_balance,
            "invoice": self.invoice,
            "livemode": false,
            "metadata": self.metadata,
            "type": self.kind,
        })
    }
}

/// What moves a customer's balance: see [`Store::move_balance`].
#[derive(Debug, Clone)]
pub struct BalanceChange {
    /// Negative credits the customer, positive debits them.
    pub amount: i64,
    pub currency: String,
    pub kind: &'static str,
    pub invoice: Option<String>,
    pub description: Option<String>,
    pub metadata: Map<String, Value>,
}

impl Store {
    /// Moves a customer's balance, records the transaction and sends `customer.updated` with
    /// the balance it had, as Stripe does. Nothing happens for a zero amount or a customer the
    /// store does not have.
    pub fn move_balance(
        &mut self,
        customer: &str,
        change: BalanceChange,
    ) -> Option<BalanceTransaction> {
        if change.amount == 0 || !self.customers.contains_key(customer) {
            return None;
        }
        let now = self.now();
        let seq = self.next_seq();
        let c = self.customers.get_mut(customer)?;
        let before = c.balance;
        c.balance += change.amount;
        c.currency.get_or_insert_with(|| change.currency.clone());
        let transaction = BalanceTransaction {
            id: new_id("cbtxn"),
            customer: customer.to_string(),
            amount: change.amount,
            currency: change.currency,
            description: change.description,
            ending_balance: c.balance,
            kind: change.kind,
            invoice: change.invoice,
            metadata: change.metadata,
            created: now,
            seq,
        };
        let json = c.json();
        self.balance_transactions
            .insert(transaction.id.clone(), transaction.clone());
        self.emit("customer.updated", json, Some(json!({ "balance": before })));
        Some(transaction)
    }
}
