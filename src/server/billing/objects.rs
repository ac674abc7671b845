//! Stripe's objects as we read them: only the fields we store or show. Everything else in
//! Stripe's answer is skipped unread, so an object of another API version still parses as long
//! as these fields mean what they meant; enumerations are kept as Stripe's strings for the same
//! reason (a new status is stored, not refused).

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// One page of a Stripe list.
#[derive(Debug, Clone, Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
pub struct List<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub has_more: bool,
}

impl<T> Default for List<T> {
    fn default() -> Self {
        List {
            data: Vec::new(),
            has_more: false,
        }
    }
}

/// A reference Stripe may expand: `"sub_123"`, or the object itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Expandable<T> {
    Id(String),
    Object(Box<T>),
}

/// What every Stripe object has.
pub trait HasId {
    fn id(&self) -> &str;
}

impl<T: HasId> Expandable<T> {
    pub fn id(&self) -> &str {
        match self {
            Expandable::Id(id) => id,
            Expandable::Object(o) => o.id(),
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Expandable<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ExpandableVisitor<T>(PhantomData<T>);
        impl<'de, T: DeserializeOwned> Visitor<'de> for ExpandableVisitor<T> {
            type Value = Expandable<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object id or an expanded object")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Expandable::Id(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|o| Expandable::Object(Box::new(o)))
            }
        }
        deserializer.deserialize_any(ExpandableVisitor(PhantomData))
    }
}

/// An object we only need the id of, whether Stripe sent the id or the whole object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref(pub String);

impl Ref {
    pub fn id(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Ref {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RefVisitor;
        impl<'de> Visitor<'de> for RefVisitor {
            type Value = Ref;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object id or an object with an id")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Ref, E> {
                Ok(Ref(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ref, A::Error> {
                let mut id = None;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == "id" && id.is_none() {
                        id = Some(map.next_value::<String>()?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                id.map(Ref).ok_or_else(|| de::Error::missing_field("id"))
            }
        }
        deserializer.deserialize_any(RefVisitor)
    }
}

/// A price where Stripe sends it whole (a checkout's line item, a subscription's item): its id,
/// and its product, which says whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceRef {
    id: String,
    product: Option<String>,
}

impl PriceRef {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `None` when Stripe sent only the price's id.
    pub fn product(&self) -> Option<&str> {
        self.product.as_deref()
    }
}

impl<'de> Deserialize<'de> for PriceRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PriceVisitor;
        impl<'de> Visitor<'de> for PriceVisitor {
            type Value = PriceRef;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a price id or a price")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PriceRef, E> {
                Ok(PriceRef {
                    id: v.to_string(),
                    product: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PriceRef, A::Error> {
                let (mut id, mut product) = (None, None);
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match key.as_ref() {
                        "id" if id.is_none() => id = Some(map.next_value::<String>()?),
                        "product" if product.is_none() => {
                            product = map.next_value::<Option<Ref>>()?.map(|r| r.0)
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                let id = id.ok_or_else(|| de::Error::missing_field("id"))?;
                Ok(PriceRef { id, product })
            }
        }
        deserializer.deserialize_any(PriceVisitor)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct CheckoutSession {
    pub id: String,
    /// `open`, `complete`, `expired`.
    pub status: Option<String>,
    /// `payment`, `subscription`, `setup`.
    pub mode: String,
    /// `paid`, `unpaid`, `no_payment_required`.
    pub payment_status: String,
    pub client_reference_id: Option<String>,
    pub customer: Option<Ref>,
    pub customer_details: Option<CustomerDetails>,
    pub customer_email: Option<String>,
    pub amount_total: Option<i64>,
    pub currency: Option<String>,
    pub payment_intent: Option<Ref>,
    /// Present when read with `expand[]=line_items`.
    pub line_items: Option<List<LineItem>>,
    pub subscription: Option<Expandable<Subscription>>,
    pub url: Option<String>,
    /// When it was created (unix seconds).
    #[serde(default)]
    pub created: Option<i64>,
}

impl HasId for CheckoutSession {
    fn id(&self) -> &str {
        &self.id
    }
}

impl CheckoutSession {
    pub fn is_complete(&self) -> bool {
        self.status.as_deref() == Some("complete")
    }

    /// Paid, or nothing to pay yet (a trial: `no_payment_required`).
    pub fn is_paid(&self) -> bool {
        matches!(self.payment_status.as_str(), "paid" | "no_payment_required")
    }

    /// A subscription whose first payment waits for the end of a free trial.
    pub fn is_trial(&self) -> bool {
        self.is_subscription() && self.payment_status == "no_payment_required"
    }

    pub fn is_subscription(&self) -> bool {
        self.mode == "subscription"
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct CustomerDetails {
    pub email: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LineItem {
    pub description: Option<String>,
    pub amount_total: i64,
    pub currency: String,
    pub price: Option<PriceRef>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub customer: Ref,
    pub status: String,
    pub items: List<SubscriptionItem>,
    #[serde(default)]
    pub cancel_at_period_end: bool,
    /// When it is set to end (its period's end when `cancel_at_period_end`, or a date set in
    /// the Dashboard or the API).
    #[serde(default)]
    pub cancel_at: Option<i64>,
    pub canceled_at: Option<i64>,
    pub trial_end: Option<i64>,
    pub created: i64,
    /// The newest invoice: a plan change's, right after it.
    #[serde(default)]
    pub latest_invoice: Option<Ref>,
    /// The subscription schedule managing it, while one does (a change at the period's end).
    #[serde(default)]
    pub schedule: Option<Ref>,
    /// A change made with `payment_behavior=pending_if_incomplete` that waits for
    /// `latest_invoice` to be paid; the items are the old ones until it is.
    #[serde(default)]
    pub pending_update: Option<PendingUpdate>,
    /// Set while collection is paused (the site pauses it while a payment is disputed).
    #[serde(default)]
    pub pause_collection: Option<PauseCollection>,
    /// Ours: `landing_disputed_charge` names the charge whose dispute paused collection.
    #[serde(default)]
    pub metadata: std::collections::HashMap<String, String>,
}

/// Stripe's `pending_update`: the items the subscription will have once its invoice is paid,
/// and when Stripe discards the change (voiding the invoice) if it is not.
#[derive(Debug, Clone, Deserialize)]
pub struct PendingUpdate {
    pub expires_at: i64,
    #[serde(default)]
    pub subscription_items: Option<Vec<SubscriptionItem>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PauseCollection {
    /// `keep_as_draft`, `mark_uncollectible` or `void`.
    pub behavior: String,
}

/// A payment of an invoice (`/v1/invoice_payments`): how this API version links a payment
/// intent, and so a charge, to the invoice it paid.
#[derive(Debug, Clone, Deserialize)]
pub struct InvoicePayment {
    pub invoice: Expandable<Invoice>,
}

impl HasId for Subscription {
    fn id(&self) -> &str {
        &self.id
    }
}

/// A subscription schedule: the subscription's phases, each billing its items from its start.
#[derive(Debug, Clone, Deserialize)]
pub struct SubscriptionSchedule {
    pub id: String,
    /// `not_started`, `active`, `completed`, `released` or `canceled`.
    pub status: String,
    /// The subscription it manages; `None` once released.
    pub subscription: Option<Ref>,
    #[serde(default)]
    pub released_subscription: Option<Ref>,
    pub current_phase: Option<SchedulePhaseDates>,
    #[serde(default)]
    pub phases: Vec<SchedulePhase>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SchedulePhaseDates {
    pub start_date: i64,
    pub end_date: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SchedulePhase {
    pub start_date: i64,
    pub end_date: i64,
    pub items: Vec<SchedulePhaseItem>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SchedulePhaseItem {
    pub price: PriceRef,
    pub quantity: Option<u64>,
}

impl SubscriptionSchedule {
    /// Still managing its subscription.
    pub fn is_live(&self) -> bool {
        matches!(self.status.as_str(), "not_started" | "active")
    }

    /// The subscription it manages or managed.
    pub fn subscription_id(&self) -> Option<&str> {
        self.subscription
            .as_ref()
            .or(self.released_subscription.as_ref())
            .map(Ref::id)
    }

    /// The phase after the current one (the change to come), while the schedule is live.
    pub fn next_phase(&self) -> Option<&SchedulePhase> {
        if !self.is_live() {
            return None;
        }
        let current_end = self.current_phase.as_ref().map(|p| p.end_date)?;
        self.phases.iter().find(|p| p.start_date >= current_end)
    }
}

/// Since API version 2025-03-31 a subscription's periods live on its items.
#[derive(Debug, Clone, Deserialize)]
pub struct SubscriptionItem {
    /// `si_…`: a plan change names the item whose price it replaces.
    #[serde(default)]
    pub id: Option<String>,
    pub price: PriceRef,
    pub quantity: Option<u64>,
    pub current_period_start: i64,
    pub current_period_end: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Invoice {
    /// Absent only on previews.
    pub id: Option<String>,
    pub customer: Option<Ref>,
    pub customer_email: Option<String>,
    pub number: Option<String>,
    /// `draft`, `open`, `paid`, `uncollectible`, `void`.
    pub status: Option<String>,
    pub amount_due: i64,
    pub amount_paid: i64,
    pub currency: String,
    pub hosted_invoice_url: Option<String>,
    pub created: i64,
    pub parent: Option<InvoiceParent>,
}

impl HasId for Invoice {
    fn id(&self) -> &str {
        self.id.as_deref().unwrap_or_default()
    }
}

impl Invoice {
    /// The subscription this invoice bills (API 2026-09-30 names it under `parent`).
    pub fn subscription(&self) -> Option<&str> {
        self.parent
            .as_ref()
            .and_then(|p| p.subscription_details.as_ref())
            .map(|d| d.subscription.id())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct InvoiceParent {
    pub subscription_details: Option<InvoiceSubscriptionDetails>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InvoiceSubscriptionDetails {
    pub subscription: Ref,
}

/// A card payment: its refunds so far.
#[derive(Debug, Clone, Deserialize)]
pub struct Charge {
    pub id: String,
    pub amount: i64,
    #[serde(default)]
    pub amount_refunded: i64,
    pub currency: String,
    pub payment_intent: Option<Ref>,
}

/// A cardholder's dispute of a charge.
#[derive(Debug, Clone, Deserialize)]
pub struct Dispute {
    pub id: String,
    pub charge: Ref,
    /// `warning_needs_response`, `needs_response`, `under_review`, `won`, `lost`, ….
    pub status: String,
    pub amount: i64,
    pub currency: String,
    pub reason: Option<String>,
}

/// A refund: what is read of it is the charge it belongs to, which then says how much went back.
#[derive(Debug, Clone, Deserialize)]
pub struct Refund {
    pub charge: Ref,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Price {
    pub id: String,
    #[serde(default = "yes")]
    pub active: bool,
    pub lookup_key: Option<String>,
    pub unit_amount: Option<i64>,
    pub currency: String,
    /// Set for recurring prices.
    pub recurring: Option<Recurring>,
    #[serde(default)]
    pub product: Option<Ref>,
}

impl HasId for Price {
    fn id(&self) -> &str {
        &self.id
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
pub struct Recurring {
    /// `day`, `week`, `month` or `year`.
    pub interval: String,
    #[serde(default = "one")]
    pub interval_count: i64,
}

fn one() -> i64 {
    1
}

#[derive(Debug, Clone, Deserialize)]
pub struct Customer {
    pub id: String,
    /// Absent on a deleted customer.
    #[serde(default)]
    pub email: Option<String>,
    /// What the customer's next invoices take first, in the smallest unit: negative is credit.
    /// Absent on a deleted customer.
    #[serde(default)]
    pub balance: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Product {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub metadata: std::collections::HashMap<String, String>,
}

impl HasId for Product {
    fn id(&self) -> &str {
        &self.id
    }
}

/// A customer-portal configuration, as `landing stripe setup` and `landing doctor` compare it.
#[derive(Debug, Clone, Deserialize)]
pub struct PortalConfiguration {
    pub id: String,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub is_default: bool,
    pub business_profile: PortalBusiness,
    pub default_return_url: Option<String>,
    pub features: PortalFeatures,
    #[serde(default)]
    pub metadata: Option<std::collections::HashMap<String, String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PortalBusiness {
    pub headline: Option<String>,
    pub privacy_policy_url: Option<String>,
    pub terms_of_service_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PortalFeatures {
    pub customer_update: PortalCustomerUpdate,
    pub invoice_history: Enabled,
    pub payment_method_update: Enabled,
    pub subscription_cancel: PortalCancel,
    pub subscription_update: PortalUpdate,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Enabled {
    pub enabled: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PortalCustomerUpdate {
    pub enabled: bool,
    #[serde(default)]
    pub allowed_updates: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PortalCancel {
    pub enabled: bool,
    pub mode: String,
    pub cancellation_reason: PortalCancelReason,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PortalCancelReason {
    pub enabled: bool,
    #[serde(default)]
    pub options: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PortalUpdate {
    pub enabled: bool,
    #[serde(default)]
    pub default_allowed_updates: Vec<String>,
    #[serde(default)]
    pub products: Option<Vec<PortalProduct>>,
    pub proration_behavior: String,
    /// `end_trial` (Stripe's default) or `continue_trial`.
    pub trial_update_behavior: String,
    /// Which switches wait for the period's end (a subscription schedule).
    #[serde(default)]
    pub schedule_at_period_end: Option<PortalScheduleAtPeriodEnd>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PortalScheduleAtPeriodEnd {
    #[serde(default)]
    pub conditions: Vec<PortalScheduleCondition>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PortalScheduleCondition {
    /// `decreasing_item_amount` or `shortening_interval`.
    #[serde(rename = "type")]
    pub type_: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PortalProduct {
    pub product: String,
    pub prices: Vec<String>,
}

/// A webhook endpoint; `secret` only in the answer that created it.
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: String,
    pub enabled_events: Vec<String>,
    pub status: String,
    pub api_version: Option<String>,
    #[serde(default)]
    pub livemode: bool,
    #[serde(default)]
    pub secret: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PortalSession {
    pub url: String,
}

#[cfg(test)]
mod tests;
