//! `landing stripe setup`: makes a Stripe account (the emulator, a test or a live account) what
//! the site needs, idempotently. It reads what the account has, prints a plan of the changes,
//! then applies them:
//! - the products and prices of `plans.toml`, found by lookup key (a price whose amount,
//!   currency or interval changed is replaced by a new one that takes over the lookup key, since
//!   Stripe's prices cannot change, and the old one is archived so that Checkout sells it no
//!   more; its subscribers keep it, and keep their plan, which the site finds through the
//!   price's product);
//! - the customer-portal configuration the site's portal sessions use (ours carries
//!   `metadata[landing]=site`);
//! - the webhook endpoint `SITE_URL/api/stripe/webhook`, subscribed to exactly the events the
//!   handler acts on. Never a second endpoint for the same URL.
//!
//! `landing doctor` compares with the same wanted state, so the two never disagree.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use super::client::{Call, Stripe, StripeError};
use super::objects::{PortalConfiguration, Price, Product, WebhookEndpoint};
use super::webhook::events as webhook;
use crate::model::catalog::Catalog;

/// The portal configuration that is ours carries this metadata.
pub const PORTAL_TAG: (&str, &str) = ("landing", "site");
/// Products made for a plan carry its id under this metadata key.
pub const PLAN_KEY: &str = "landing_plan";
/// The webhook route, under `SITE_URL`.
pub const WEBHOOK_PATH: &str = "/api/stripe/webhook";

mod account;
mod portal;

use account::interval_name;
pub use account::{find_portal, price_difference, read_account, Account};
pub use portal::WantedPortal;

/// One change to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    CreateProduct {
        plan: String,
        name: String,
    },
    RenameProduct {
        id: String,
        plan: String,
        name: String,
    },
    CreatePrice {
        plan: String,
        lookup_key: String,
        /// The price it replaces, and why.
        replaces: Option<(String, String)>,
    },
    ActivatePrice {
        id: String,
        lookup_key: String,
    },
    CreatePortal,
    UpdatePortal {
        id: String,
        why: Vec<String>,
    },
    CreateEndpoint {
        url: String,
    },
    UpdateEndpoint {
        id: String,
        why: Vec<String>,
    },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::CreateProduct { plan, name } => {
                write!(f, "+ product \"{name}\" for plan {plan}")
            }
            Step::RenameProduct { id, plan, name } => write!(
                f,
                "~ product {id}: named \"{name}\" and tagged as plan {plan}'s ({PLAN_KEY}={plan})"
            ),
            Step::CreatePrice {
                lookup_key,
                replaces: None,
                ..
            } => write!(f, "+ price {lookup_key}"),
            Step::CreatePrice {
                lookup_key,
                replaces: Some((old, why)),
                ..
            } => write!(
                f,
                "+ price {lookup_key}, replacing {old} ({why}); the lookup key moves to the new \
                 price and the old one is archived: Checkout sells it no more, subscriptions on \
                 it keep it"
            ),
            Step::ActivatePrice { id, lookup_key } => {
                write!(f, "~ price {lookup_key} ({id}): activate")
            }
            Step::CreatePortal => write!(f, "+ customer-portal configuration"),
            Step::UpdatePortal { id, why } => write!(
                f,
                "~ customer-portal configuration {id}: so that it {}",
                why.join("; ")
            ),
            Step::CreateEndpoint { url } => write!(
                f,
                "+ webhook endpoint {url} for {} event types",
                webhook::handled_event_types().count()
            ),
            Step::UpdateEndpoint { id, why } => {
                write!(f, "~ webhook endpoint {id}: {}", why.join("; "))
            }
        }
    }
}

/// The webhook endpoint's URL for this site.
pub fn webhook_url(site_url: &str) -> String {
    format!("{}{WEBHOOK_PATH}", site_url.trim_end_matches('/'))
}

/// How an endpoint's event list differs from the handled one: (missing, extra).
pub fn event_difference(endpoint: &WebhookEndpoint) -> (Vec<&'static str>, Vec<String>) {
    let have: BTreeSet<&str> = endpoint.enabled_events.iter().map(String::as_str).collect();
    if have.contains("*") {
        return (Vec::new(), vec!["*".to_string()]);
    }
    let wanted: BTreeSet<&'static str> = webhook::handled_event_types().collect();
    (
        wanted
            .iter()
            .filter(|e| !have.contains(*e))
            .copied()
            .collect(),
        have.iter()
            .filter(|e| !wanted.contains(*e))
            .map(|s| s.to_string())
            .collect(),
    )
}

/// The changes that make the account what the site needs.
pub fn plan(catalog: &Catalog, account: &Account, site_url: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    for plan in &catalog.plans {
        match account.product_of(plan) {
            None => steps.push(Step::CreateProduct {
                plan: plan.id.clone(),
                name: plan.name.clone(),
            }),
            Some(p) if p.name != plan.name || p.metadata.get(PLAN_KEY) != Some(&plan.id) => steps
                .push(Step::RenameProduct {
                    id: p.id.clone(),
                    plan: plan.id.clone(),
                    name: plan.name.clone(),
                }),
            Some(_) => {}
        }
        for price in &plan.prices {
            match account.price(&price.lookup_key) {
                None => steps.push(Step::CreatePrice {
                    plan: plan.id.clone(),
                    lookup_key: price.lookup_key.clone(),
                    replaces: None,
                }),
                Some(have) => match price_difference(price, have) {
                    Some(why) => steps.push(Step::CreatePrice {
                        plan: plan.id.clone(),
                        lookup_key: price.lookup_key.clone(),
                        replaces: Some((have.id.clone(), why)),
                    }),
                    None if !have.active => steps.push(Step::ActivatePrice {
                        id: have.id.clone(),
                        lookup_key: price.lookup_key.clone(),
                    }),
                    None => {}
                },
            }
        }
    }
    let catalog_changes = !steps.is_empty();
    let portal = WantedPortal::new(catalog, site_url);
    match account.our_portal() {
        None => steps.push(Step::CreatePortal),
        Some(have) => {
            let mut why = portal.differences(have, account);
            if why.is_empty() && catalog_changes {
                why.push("offers the new prices".into());
            }
            if !why.is_empty() {
                steps.push(Step::UpdatePortal {
                    id: have.id.clone(),
                    why,
                });
            }
        }
    }
    let url = webhook_url(site_url);
    match account.endpoints_for(&url).first() {
        None => steps.push(Step::CreateEndpoint { url }),
        Some(endpoint) => {
            let mut why = Vec::new();
            if endpoint.status != "enabled" {
                why.push(format!("enable it (it is {})", endpoint.status));
            }
            let (missing, extra) = event_difference(endpoint);
            if !missing.is_empty() || !extra.is_empty() {
                let mut what = String::from("subscribe to exactly the handled events");
                if !missing.is_empty() {
                    what.push_str(&format!(" (add {})", missing.join(", ")));
                }
                if !extra.is_empty() {
                    what.push_str(&format!(" (drop {})", extra.join(", ")));
                }
                why.push(what);
            }
            if !why.is_empty() {
                steps.push(Step::UpdateEndpoint {
                    id: endpoint.id.clone(),
                    why,
                });
            }
        }
    }
    steps
}

/// What applying a plan came to.
#[derive(Debug, Default)]
pub struct Applied {
    pub changes: usize,
    /// The signing secret of an endpoint created now: Stripe shows it only once.
    pub new_secret: Option<String>,
}

fn handled_events(call: Call) -> Call {
    let events: Vec<&str> = webhook::handled_event_types().collect();
    call.list("enabled_events", &events)
}

/// Applies `steps` in order: catalog first (the portal lists its prices), then the portal and
/// the endpoint.
pub async fn apply(
    client: &Stripe,
    catalog: &Catalog,
    site_url: &str,
    steps: &[Step],
) -> Result<Applied, StripeError> {
    let mut account = read_account(client, catalog).await?;
    let mut applied = Applied::default();
    let mut products: HashMap<String, String> = HashMap::new();
    for step in steps {
        match step {
            Step::CreateProduct { plan, name } => {
                let product: Product = client
                    .send(
                        &Call::post("/products")
                            .param("name", name.as_str())
                            .param(format!("metadata[{PLAN_KEY}]"), plan.as_str()),
                    )
                    .await?;
                products.insert(plan.clone(), product.id.clone());
                account.products.push(product);
            }
            Step::RenameProduct { id, plan, name } => {
                client
                    .send::<Product>(
                        &Call::post(format!("/products/{id}"))
                            .param("name", name.as_str())
                            .param(format!("metadata[{PLAN_KEY}]"), plan.as_str()),
                    )
                    .await?;
            }
            Step::CreatePrice {
                plan,
                lookup_key,
                replaces,
            } => {
                let Some(wanted) = catalog.price(lookup_key) else {
                    continue;
                };
                let product = match products.get(plan) {
                    Some(id) => id.clone(),
                    None => catalog
                        .plans
                        .iter()
                        .find(|p| &p.id == plan)
                        .and_then(|p| account.product_of(p))
                        .map(|p| p.id.clone())
                        .unwrap_or_default(),
                };
                let mut call = Call::post("/prices")
                    .param("product", product)
                    .param("currency", wanted.currency.as_str())
                    .param("unit_amount", wanted.amount.to_string())
                    .param("lookup_key", lookup_key.as_str());
                if replaces.is_some() {
                    call = call.param("transfer_lookup_key", "true");
                }
                if let Some(interval) = interval_name(wanted.interval) {
                    call = call.param("recurring[interval]", interval);
                }
                client.send::<Price>(&call).await?;
                // After the new price exists, so that the lookup key never names nothing.
                if let Some((old, _)) = replaces {
                    client
                        .send::<Price>(
                            &Call::post(format!("/prices/{old}")).param("active", "false"),
                        )
                        .await?;
                }
            }
            Step::ActivatePrice { id, .. } => {
                client
                    .send::<Price>(&Call::post(format!("/prices/{id}")).param("active", "true"))
                    .await?;
            }
            Step::CreatePortal | Step::UpdatePortal { .. } => {
                // The prices made above, by id.
                let fresh = read_account(client, catalog).await?;
                let path = match step {
                    Step::UpdatePortal { id, .. } => format!("/billing_portal/configurations/{id}"),
                    _ => "/billing_portal/configurations".into(),
                };
                let call =
                    WantedPortal::new(catalog, site_url).call(Call::post(path), &fresh, catalog);
                client.send::<PortalConfiguration>(&call).await?;
            }
            Step::CreateEndpoint { url } => {
                let created: WebhookEndpoint = client
                    .send(&handled_events(
                        Call::post("/webhook_endpoints")
                            .param("url", url.as_str())
                            .param("api_version", stripe_shared::version::VERSION.as_str())
                            .param("description", "landing: billing events"),
                    ))
                    .await?;
                applied.new_secret = created.secret;
            }
            Step::UpdateEndpoint { id, .. } => {
                client
                    .send::<WebhookEndpoint>(&handled_events(
                        Call::post(format!("/webhook_endpoints/{id}")).param("disabled", "false"),
                    ))
                    .await?;
            }
        }
        applied.changes += 1;
    }
    Ok(applied)
}
