//! Reading Stripe's current state of an object. Webhooks do not apply the (possibly stale)
//! object inside an event: they read the object again and store what Stripe says now, stamped
//! with when the read was sent. Every change in Stripe emits an event and every event causes a
//! read, so the read sent last, after the last change, sees the final state and carries the
//! largest stamp: whatever the order of deliveries, the stored rows end at Stripe's state.

use stripe_billing::invoice::{ListInvoice, RetrieveInvoice};
use stripe_billing::subscription::{
    ListSubscription, ListSubscriptionStatus, RetrieveSubscription,
};
use stripe_checkout::checkout_session::{ListCheckoutSession, RetrieveCheckoutSession};

use super::client::{Call, Stripe, StripeError};
use super::objects::{
    Charge, CheckoutSession, Customer, Dispute, Expandable, Invoice, InvoicePayment, List, Refund,
    Subscription, SubscriptionSchedule,
};

/// An object as Stripe returned it, and when (unix ms) the read was sent.
#[derive(Debug, Clone)]
pub struct Read<T> {
    pub object: T,
    pub at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// Stripe does not know the object: reading again will not help.
    #[error("Stripe has no such object")]
    NotFound,
    /// Stripe's answer was an error, or none came; shown as the words a client may see.
    #[error("{}", .0.describe())]
    Stripe(StripeError),
}

impl From<StripeError> for FetchError {
    fn from(e: StripeError) -> Self {
        match e.status() {
            Some(404) => FetchError::NotFound,
            _ => FetchError::Stripe(e),
        }
    }
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Expansions the sync needs on a Checkout Session: what was bought, and the subscription made.
fn session_expand() -> Vec<String> {
    vec!["line_items".to_string(), "subscription".to_string()]
}

/// Sends one read, stamped with when it was sent.
async fn read<T: serde::de::DeserializeOwned>(
    client: &Stripe,
    request: &impl stripe_client_core::StripeRequest,
) -> Result<Read<T>, FetchError> {
    let at_ms = now_ms();
    let object = client.send(request).await?;
    Ok(Read { object, at_ms })
}

pub async fn session(client: &Stripe, id: &str) -> Result<Read<CheckoutSession>, FetchError> {
    read(
        client,
        &RetrieveCheckoutSession::new(id).expand(session_expand()),
    )
    .await
}

pub async fn subscription(client: &Stripe, id: &str) -> Result<Read<Subscription>, FetchError> {
    read(client, &RetrieveSubscription::new(id)).await
}

pub async fn invoice(client: &Stripe, id: &str) -> Result<Read<Invoice>, FetchError> {
    read(client, &RetrieveInvoice::new(id)).await
}

pub async fn charge(client: &Stripe, id: &str) -> Result<Read<Charge>, FetchError> {
    read(client, &stripe_core::charge::RetrieveCharge::new(id)).await
}

pub async fn dispute(client: &Stripe, id: &str) -> Result<Read<Dispute>, FetchError> {
    read(client, &stripe_core::dispute::RetrieveDispute::new(id)).await
}

pub async fn refund(client: &Stripe, id: &str) -> Result<Read<Refund>, FetchError> {
    read(client, &Call::get(format!("/refunds/{id}"))).await
}

pub async fn schedule(client: &Stripe, id: &str) -> Result<Read<SubscriptionSchedule>, FetchError> {
    read(client, &Call::get(format!("/subscription_schedules/{id}"))).await
}

/// The invoice a payment intent paid, if it paid one (a subscription's payment): this API
/// version names no invoice on the charge, so its invoice payment is listed, invoice expanded.
pub async fn invoice_paid_by(
    client: &Stripe,
    payment_intent: &str,
) -> Result<Option<Invoice>, FetchError> {
    let request = Call::get("/invoice_payments")
        .param("payment[type]", "payment_intent")
        .param("payment[payment_intent]", payment_intent)
        .param("expand[0]", "data.invoice");
    let page: List<InvoicePayment> = client.send(&request).await?;
    let invoice = match page.data.into_iter().next().map(|p| p.invoice) {
        Some(Expandable::Object(invoice)) => Some(*invoice),
        Some(Expandable::Id(id)) => Some(self::invoice(client, &id).await?.object),
        None => None,
    };
    Ok(invoice)
}

pub async fn customer_object(client: &Stripe, id: &str) -> Result<Read<Customer>, FetchError> {
    read(client, &stripe_core::customer::RetrieveCustomer::new(id)).await
}

/// The email Stripe has for a customer (none for a deleted one, or one Stripe does not know).
pub async fn customer_email(client: &Stripe, id: &str) -> Result<Option<String>, FetchError> {
    match client
        .send::<Customer>(&stripe_core::customer::RetrieveCustomer::new(id))
        .await
    {
        Ok(customer) => Ok(customer.email),
        Err(e) if e.status() == Some(404) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Every item of one of Stripe's lists, page by page (`$id` names an item for `starting_after`).
macro_rules! every_page {
    ($client:expr, $request:expr, $id:expr) => {{
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut request = $request.limit(100);
            if let Some(after) = after.take() {
                request = request.starting_after(after);
            }
            let page: List<_> = $client.send(&request).await?;
            all.extend(page.data);
            if !page.has_more {
                break;
            }
            match all.last().map($id) {
                Some(last) => after = Some(last),
                None => break,
            }
        }
        all
    }};
}

/// Everything Stripe holds for one customer: the customer (its balance), subscriptions
/// (canceled too) and their schedules, invoices, and the complete Checkout Sessions (each read
/// with its expansions), all stamped with one time.
pub struct CustomerState {
    /// `None` when Stripe has no such customer.
    pub customer: Option<Customer>,
    pub subscriptions: Vec<Subscription>,
    pub invoices: Vec<Invoice>,
    pub sessions: Vec<CheckoutSession>,
    /// The schedules managing its subscriptions (changes at the period's end).
    pub schedules: Vec<SubscriptionSchedule>,
    pub at_ms: i64,
}

pub async fn customer(client: &Stripe, customer: &str) -> Result<CustomerState, FetchError> {
    let at_ms = now_ms();
    let object = match client
        .send::<Customer>(&stripe_core::customer::RetrieveCustomer::new(customer))
        .await
    {
        Ok(object) => Some(object),
        Err(e) if e.status() == Some(404) => None,
        Err(e) => return Err(e.into()),
    };
    let subscriptions = every_page!(
        client,
        ListSubscription::new()
            .customer(customer)
            .status(ListSubscriptionStatus::All),
        |s: &Subscription| s.id.clone()
    );
    let invoices = every_page!(
        client,
        ListInvoice::new().customer(customer),
        |i: &Invoice| i.id.clone().unwrap_or_default()
    );
    let listed = every_page!(
        client,
        ListCheckoutSession::new()
            .customer(customer)
            .status(stripe_shared::CheckoutSessionStatus::Complete),
        |s: &CheckoutSession| s.id.clone()
    );
    let mut sessions = Vec::with_capacity(listed.len());
    for s in listed {
        sessions.push(
            client
                .send(&RetrieveCheckoutSession::new(s.id.as_str()).expand(session_expand()))
                .await?,
        );
    }
    let mut schedules = Vec::new();
    for id in subscriptions.iter().filter_map(|s| s.schedule.as_ref()) {
        schedules.push(
            client
                .send(&Call::get(format!("/subscription_schedules/{}", id.id())))
                .await?,
        );
    }
    Ok(CustomerState {
        customer: object,
        subscriptions,
        invoices,
        sessions,
        schedules,
        at_ms,
    })
}

/// Every customer id Stripe has, for `landing resync --all`.
pub async fn customer_ids(client: &Stripe) -> Result<Vec<String>, FetchError> {
    let customers = every_page!(
        client,
        stripe_core::customer::ListCustomer::new(),
        |c: &Customer| c.id.clone()
    );
    Ok(customers.into_iter().map(|c| c.id).collect())
}
