//! Converging on Stripe without waiting for webhooks: read everything Stripe holds for a
//! customer and store it through the same sync as the webhook (`landing resync`, the portal's
//! fallback for a payer whose webhooks have not arrived, the billing page after the portal).

use super::client::{Patience, Stripe};
use super::fetch::{self, FetchError};
use super::objects::{Customer, List};
use super::sync::{self, Source};
use crate::server::db::customers;
use crate::server::error::{Context, ServerError};
use crate::server::state::AppState;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub customers: usize,
    pub sessions: usize,
    pub subscriptions: usize,
    pub invoices: usize,
}

impl std::ops::AddAssign for Report {
    fn add_assign(&mut self, other: Report) {
        self.customers += other.customers;
        self.sessions += other.sessions;
        self.subscriptions += other.subscriptions;
        self.invoices += other.invoices;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResyncError {
    #[error("billing is off: no STRIPE_SECRET_KEY")]
    BillingOff,
    /// Stripe stayed busy, slow or out of reach through every try.
    #[error("Stripe is busy: {0}")]
    Busy(String),
    #[error("Stripe: {0}")]
    Stripe(String),
    #[error(transparent)]
    Server(#[from] ServerError),
}

impl From<FetchError> for ResyncError {
    fn from(e: FetchError) -> Self {
        match e {
            FetchError::Stripe(e) if e.is_transient() => ResyncError::Busy(e.to_string()),
            other => ResyncError::Stripe(other.to_string()),
        }
    }
}

/// The client for whoever waits: a page, or an operator's `landing resync`.
fn client(state: &AppState, patience: Patience) -> Result<Stripe, ResyncError> {
    state
        .billing
        .as_ref()
        .map(|b| b.client.patient(patience))
        .ok_or(ResyncError::BillingOff)
}

/// Reads one customer from Stripe and stores it, in one transaction: completed checkouts first
/// (they link the customer to its profile), then subscriptions and invoices.
pub async fn customer(
    state: &AppState,
    customer: &str,
    patience: Patience,
) -> Result<Report, ResyncError> {
    let read = fetch::customer(&client(state, patience)?, customer).await?;
    let mut tx = state.db.begin().await.context("resync: begin")?;
    if let Some(customer) = &read.customer {
        sync::apply_customer(&mut tx, customer, read.at_ms).await?;
    }
    for session in &read.sessions {
        sync::apply_checkout_session(&mut tx, session, read.at_ms, Source::Stripe, false).await?;
    }
    for sub in &read.subscriptions {
        sync::apply_subscription(&mut tx, sub, read.at_ms).await?;
    }
    for invoice in &read.invoices {
        sync::apply_invoice(&mut tx, invoice, read.at_ms).await?;
    }
    for schedule in &read.schedules {
        sync::apply_schedule(&mut tx, schedule, read.at_ms).await?;
    }
    tx.commit().await.context("resync: commit")?;
    Ok(Report {
        customers: 1,
        sessions: read.sessions.len(),
        subscriptions: read.subscriptions.len(),
        invoices: read.invoices.len(),
    })
}

/// Every customer Stripe has and every customer we have stored: an operator's command, which
/// waits out Stripe's rate limit and goes on.
pub async fn all(state: &AppState) -> Result<Report, ResyncError> {
    let mut ids = fetch::customer_ids(&client(state, Patience::Operator)?).await?;
    ids.extend(
        customers::all_customer_ids(&state.db)
            .await
            .context("resync: our customers")?,
    );
    ids.sort();
    ids.dedup();
    let mut report = Report::default();
    for id in ids {
        report += customer(state, &id, Patience::Operator).await?;
    }
    Ok(report)
}

/// The customers Stripe has under `email`, stored (for a payer whose webhooks are late; a
/// buyer waits on it).
pub async fn by_email(state: &AppState, email: &str) -> Result<Report, ResyncError> {
    let client = client(state, Patience::Buyer)?;
    let listed: List<Customer> = client
        .send(
            &stripe_core::customer::ListCustomer::new()
                .email(email)
                .limit(10),
        )
        .await
        .map_err(FetchError::from)?;
    let mut report = Report::default();
    for c in listed.data {
        report += customer(state, &c.id, Patience::Buyer).await?;
    }
    Ok(report)
}
