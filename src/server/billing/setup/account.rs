//! What a Stripe account has now, as far as the site cares, and how its prices differ from
//! the catalog's.

use super::PLAN_KEY;
use super::PORTAL_TAG;
use crate::model::catalog::{Catalog, Interval, Plan};
use crate::server::billing::client::{Call, Stripe, StripeError};
use crate::server::billing::objects::{List, PortalConfiguration, Price, Product, WebhookEndpoint};

/// What the account has now, as far as the site cares.
#[derive(Debug, Clone, Default)]
pub struct Account {
    /// Every price under a catalog lookup key, active or not.
    pub prices: Vec<Price>,
    pub products: Vec<Product>,
    pub portal: Vec<PortalConfiguration>,
    pub endpoints: Vec<WebhookEndpoint>,
}

/// The id of the portal configuration this command saved, if the account has one.
pub async fn find_portal(client: &Stripe) -> Result<Option<String>, StripeError> {
    let list: List<PortalConfiguration> = client
        .send(
            &Call::get("/billing_portal/configurations")
                .param("active", "true")
                .param("limit", "100"),
        )
        .await?;
    Ok(Account {
        portal: list.data,
        ..Account::default()
    }
    .our_portal()
    .map(|c| c.id.clone()))
}

/// Reads what [`plan`] and `landing doctor` compare with.
pub async fn read_account(client: &Stripe, catalog: &Catalog) -> Result<Account, StripeError> {
    let keys: Vec<String> = catalog
        .plans
        .iter()
        .flat_map(|p| p.prices.iter().map(|price| price.lookup_key.clone()))
        .collect();
    let mut prices = Vec::new();
    for chunk in keys.chunks(10) {
        let list: List<Price> = client
            .send(
                &Call::get("/prices")
                    .list("lookup_keys", chunk)
                    .param("limit", "100"),
            )
            .await?;
        prices.extend(list.data);
    }
    let products: List<Product> = client
        .send(&Call::get("/products").param("limit", "100"))
        .await?;
    let portal: List<PortalConfiguration> = client
        .send(
            &Call::get("/billing_portal/configurations")
                .param("active", "true")
                .param("limit", "100"),
        )
        .await?;
    let endpoints: List<WebhookEndpoint> = client
        .send(&Call::get("/webhook_endpoints").param("limit", "100"))
        .await?;
    Ok(Account {
        prices,
        products: products.data,
        portal: portal.data,
        endpoints: endpoints.data,
    })
}

pub(super) fn interval_name(i: Interval) -> Option<&'static str> {
    match i {
        Interval::Month => Some("month"),
        Interval::Year => Some("year"),
        Interval::OneTime => None,
    }
}

/// How a catalog price differs from Stripe's, if it does.
pub fn price_difference(wanted: &crate::model::catalog::Price, have: &Price) -> Option<String> {
    let have_interval = have.recurring.as_ref().map(|r| r.interval.as_str());
    let wanted_interval = interval_name(wanted.interval);
    let shown = |amount: i64, currency: &str, interval: Option<&str>| {
        format!(
            "{amount} {currency}{}",
            interval.map(|i| format!(" / {i}")).unwrap_or_default()
        )
    };
    let same = have.unit_amount == Some(wanted.amount)
        && have.currency == wanted.currency
        && have_interval == wanted_interval
        && have
            .recurring
            .as_ref()
            .is_none_or(|r| r.interval_count == 1);
    (!same).then(|| {
        format!(
            "plans.toml says {}, Stripe says {}",
            shown(wanted.amount, &wanted.currency, wanted_interval),
            shown(have.unit_amount.unwrap_or(0), &have.currency, have_interval)
        )
    })
}

impl Account {
    pub fn price(&self, lookup_key: &str) -> Option<&Price> {
        // An active price first: Stripe moves a lookup key to one price at a time, but an old
        // one may still be listed.
        let mut found: Vec<&Price> = self
            .prices
            .iter()
            .filter(|p| p.lookup_key.as_deref() == Some(lookup_key))
            .collect();
        found.sort_by_key(|p| !p.active);
        found.first().copied()
    }

    pub(super) fn lookup_key_of(&self, price_id: &str) -> Option<&str> {
        self.prices
            .iter()
            .find(|p| p.id == price_id)
            .and_then(|p| p.lookup_key.as_deref())
    }

    /// The product a plan's prices live on: the one tagged with the plan, else the product of
    /// one of its prices.
    pub(super) fn product_of(&self, plan: &Plan) -> Option<&Product> {
        self.products
            .iter()
            .find(|p| p.metadata.get(PLAN_KEY) == Some(&plan.id))
            .or_else(|| {
                plan.prices
                    .iter()
                    .filter_map(|price| self.price(&price.lookup_key))
                    .filter_map(|price| price.product.as_ref())
                    .find_map(|r| self.products.iter().find(|p| p.id == r.id()))
            })
    }

    /// Our portal configuration (tagged), if the account has one.
    pub fn our_portal(&self) -> Option<&PortalConfiguration> {
        self.portal.iter().find(|c| {
            c.metadata
                .as_ref()
                .and_then(|m| m.get(PORTAL_TAG.0))
                .map(String::as_str)
                == Some(PORTAL_TAG.1)
        })
    }

    /// The endpoints for this URL, enabled ones first.
    pub fn endpoints_for(&self, url: &str) -> Vec<&WebhookEndpoint> {
        let mut found: Vec<&WebhookEndpoint> = self
            .endpoints
            .iter()
            .filter(|e| e.url.trim_end_matches('/') == url.trim_end_matches('/'))
            .collect();
        found.sort_by_key(|e| e.status != "enabled");
        found
    }
}
