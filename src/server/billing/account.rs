//! Billing when it is on, as the shared state holds it: the Stripe client, the catalog's prices
//! as Stripe has them (looked up again if Stripe could not be reached at start-up), and the
//! customer-portal configuration `landing stripe setup` saved.

use std::sync::Arc;

use tokio::sync::RwLock;

use super::catalog::{self, PriceIndex};
use super::client::{Patience, Stripe, StripeError};
use crate::model::catalog::Catalog;

/// Billing when it is on: the client and the catalog's prices as Stripe has them.
pub struct Billing {
    /// For calls a buyer or subscriber waits on.
    pub client: Stripe,
    /// The same connections, for a webhook's reads: fewer tries, since a failed event is
    /// delivered again by Stripe.
    pub webhook_client: Stripe,
    /// Shared, not copied, by every request that needs a price.
    prices: RwLock<Option<Arc<PriceIndex>>>,
    /// The customer-portal configuration `landing stripe setup` saved, once found.
    portal_configuration: RwLock<Option<String>>,
}

impl std::fmt::Debug for Billing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Billing { .. }")
    }
}

impl Billing {
    pub fn new(client: Stripe, prices: Option<PriceIndex>) -> Self {
        Billing {
            webhook_client: client.patient(Patience::Webhook),
            client,
            prices: RwLock::new(prices.map(Arc::new)),
            portal_configuration: RwLock::new(None),
        }
    }

    /// Our portal configuration's id, looked up until found; `None` leaves Stripe to use the
    /// account's default.
    pub async fn portal_configuration(&self) -> Result<Option<String>, StripeError> {
        if let Some(id) = self.portal_configuration.read().await.as_ref() {
            return Ok(Some(id.clone()));
        }
        let found = super::setup::find_portal(&self.client).await?;
        if let Some(id) = &found {
            *self.portal_configuration.write().await = Some(id.clone());
        }
        Ok(found)
    }

    /// The price index, looked up again if Stripe could not be reached at start-up.
    pub async fn prices(&self, catalog: &Catalog) -> Result<Arc<PriceIndex>, StripeError> {
        if let Some(index) = self.prices.read().await.as_ref() {
            return Ok(index.clone());
        }
        let index = Arc::new(catalog::resolve(&self.client, catalog).await?);
        *self.prices.write().await = Some(index.clone());
        Ok(index)
    }
}
