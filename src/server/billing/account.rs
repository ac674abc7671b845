//! Billing when it is on, as the shared state holds it: the Stripe client, the catalog's prices
//! as Stripe has them, and the customer-portal configuration `landing stripe setup` saved.
//!
//! The prices are read again while the site runs, so that what `landing stripe setup` changes
//! (a price replaced, its lookup key moved, the old one archived) reaches every instance without
//! a restart:
//! - on their own, every [`REFRESH_EVERY`], by a task beside the server rather than a TTL
//!   checked per request: the pages and Checkout only clone the index they find, and no request
//!   waits for Stripe because the index grew old;
//! - at once, when a webhook names a price the index does not know ([`Billing::reread`]), before
//!   the event is called not ours, or Stripe refuses a Checkout for a price archived since: at
//!   most one read per [`REREAD_AT_MOST_EVERY`], however many such events arrive, so a flood of
//!   them cannot spend the API budget. (A price of another business's product needs no read at
//!   all: see `PriceIndex::may_be_ours`.)

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::{Mutex, RwLock};
use tokio::time::Instant;

use super::catalog::{self, PriceIndex};
use super::client::{Patience, Stripe, StripeError};
use crate::model::catalog::Catalog;

/// How often a running instance reads the catalog's prices again on its own.
pub const REFRESH_EVERY: Duration = Duration::from_secs(60);
/// The least time between two reads asked for by unknown prices. A webhook waits out the rest
/// of it rather than calling its price foreign from a read made before the event arrived.
pub const REREAD_AT_MOST_EVERY: Duration = Duration::from_secs(5);

/// Billing when it is on: the client and the catalog's prices as Stripe has them.
pub struct Billing {
    /// For calls a buyer or subscriber waits on.
    pub client: Stripe,
    /// The same connections, for a webhook's reads (and the index's): fewer tries, since a
    /// failed event is delivered again by Stripe, and a failed refresh is made again.
    pub webhook_client: Stripe,
    /// The catalog as `plans.toml` says it: what the prices are looked up by.
    catalog: Arc<Catalog>,
    /// Shared, not copied, by every request that needs a price; replaced whole by a read.
    prices: RwLock<Option<Arc<PriceIndex>>>,
    /// Held through a read of the prices, so that reads queue and each waiter can tell whether
    /// the read before it already answers it.
    reads: Mutex<Reads>,
    /// The customer-portal configuration `landing stripe setup` saved, once found.
    portal_configuration: RwLock<Option<String>>,
}

/// When the reads of the prices began.
#[derive(Default)]
struct Reads {
    /// The last one tried, whatever came of it: what the rate limit counts.
    tried: Option<Instant>,
    /// The last one that succeeded: the index is at least as new as this.
    read: Option<Instant>,
}

impl std::fmt::Debug for Billing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Billing { .. }")
    }
}

impl Billing {
    pub fn new(client: Stripe, catalog: Arc<Catalog>, prices: Option<PriceIndex>) -> Self {
        let read = prices.as_ref().map(|_| Instant::now());
        Billing {
            webhook_client: client.patient(Patience::Webhook),
            client,
            catalog,
            prices: RwLock::new(prices.map(Arc::new)),
            reads: Mutex::new(Reads { tried: read, read }),
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
    pub async fn prices(&self) -> Result<Arc<PriceIndex>, StripeError> {
        if let Some(index) = self.prices.read().await.as_ref() {
            return Ok(index.clone());
        }
        let index = Arc::new(catalog::resolve(&self.client, &self.catalog).await?);
        *self.prices.write().await = Some(index.clone());
        Ok(index)
    }

    /// The price index as Stripe has it after `seen`, the moment a price was found missing
    /// from it: the index itself when a read began since, else a new read, no sooner than
    /// [`REREAD_AT_MOST_EVERY`] after the last one tried (a failed read counts: a Stripe that
    /// refuses is not asked faster).
    pub async fn reread(&self, seen: Instant) -> Result<Arc<PriceIndex>, StripeError> {
        let mut reads = self.reads.lock().await;
        if reads.read.is_some_and(|began| began >= seen) {
            if let Some(index) = self.prices.read().await.as_ref() {
                return Ok(index.clone());
            }
        }
        if let Some(tried) = reads.tried {
            tokio::time::sleep_until(tried + REREAD_AT_MOST_EVERY).await;
        }
        self.read(&mut reads).await
    }

    /// Reads the prices now, and keeps them.
    async fn read(&self, reads: &mut Reads) -> Result<Arc<PriceIndex>, StripeError> {
        let began = Instant::now();
        reads.tried = Some(began);
        let index = Arc::new(catalog::resolve(&self.webhook_client, &self.catalog).await?);
        *self.prices.write().await = Some(index.clone());
        reads.read = Some(began);
        Ok(index)
    }

    /// Reads the prices every [`REFRESH_EVERY`] until the billing is dropped.
    pub fn spawn_refresh(this: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Self> = Arc::downgrade(this);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(Instant::now() + REFRESH_EVERY, REFRESH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(billing) = weak.upgrade() else {
                    return;
                };
                let mut reads = billing.reads.lock().await;
                if let Err(e) = billing.read(&mut reads).await {
                    tracing::warn!(error = %e, "cannot read the catalog's prices again; keeping the last ones");
                }
            }
        })
    }
}
