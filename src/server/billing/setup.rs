//! `landing stripe setup`: makes a Stripe account (the emulator, a test or a live account) what
//! the site needs, idempotently. It reads what the account has, prints a plan of the changes,
//! then applies them:
//! - the products and prices of `plans.toml`, found by lookup key (a price whose amount,
//!   currency or interval changed is replaced by a new one that takes over the lookup key, since
//!   Stripe's prices cannot change);
//! - the customer-portal configuration the site's portal sessions use (ours carries
//!   `metadata[landing]=site`);
//! - the webhook endpoint `SITE_URL/api/stripe/webhook`, subscribed to exactly the events the
//!   handler acts on. Never a second endpoint for the same URL.
//!
//! `landing doctor` compares with the same wanted state, so the two never disagree.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use super::client::{Call, Stripe, StripeError};
use super::objects::{List, PortalConfiguration, Price, Product, WebhookEndpoint};
use super::webhook::events as webhook;
use crate::model::catalog::{Catalog, Interval, Plan};

/// The portal configuration that is ours carries this metadata.
pub const PORTAL_TAG: (&str, &str) = ("landing", "site");
/// Products made for a plan carry its id under this metadata key.
const PLAN_KEY: &str = "landing_plan";
/// The webhook route, under `SITE_URL`.
pub const WEBHOOK_PATH: &str = "/api/stripe/webhook";
/// What a customer may update in the portal.
const CUSTOMER_UPDATES: [&str; 3] = ["email", "address", "tax_id"];
const CANCEL_REASONS: [&str; 6] = [
    "too_expensive",
    "missing_features",
    "switched_service",
    "unused",
    "too_complex",
    "other",
];
/// The site's change-plan rule charges an upgrade's difference at once (`always_invoice`); the
/// portal takes one behaviour for every change, and this one never gives a plan away unpaid.
const PORTAL_PRORATION: &str = "always_invoice";
/// Stripe's limit for the portal's headline.
const HEADLINE_MAX: usize = 60;

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

fn interval_name(i: Interval) -> Option<&'static str> {
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

    fn lookup_key_of(&self, price_id: &str) -> Option<&str> {
        self.prices
            .iter()
            .find(|p| p.id == price_id)
            .and_then(|p| p.lookup_key.as_deref())
    }

    /// The product a plan's prices live on: the one tagged with the plan, else the product of
    /// one of its prices.
    fn product_of(&self, plan: &Plan) -> Option<&Product> {
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

/// The portal the site wants, by lookup key (ids are known only once the prices exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedPortal {
    pub return_url: String,
    /// The product's headline, when it fits Stripe's 60 characters.
    pub headline: Option<String>,
    pub terms: Option<String>,
    pub privacy: Option<String>,
    /// (plan id, recurring lookup keys), in catalog order.
    pub products: Vec<(String, Vec<String>)>,
}

impl WantedPortal {
    pub fn new(catalog: &Catalog, site_url: &str) -> WantedPortal {
        WantedPortal {
            return_url: format!("{}/billing", site_url.trim_end_matches('/')),
            headline: Some(catalog.product.headline.clone())
                .filter(|h| h.chars().count() <= HEADLINE_MAX),
            terms: catalog.business.terms_of_service_url.clone(),
            privacy: catalog.business.privacy_policy_url.clone(),
            products: catalog
                .plans
                .iter()
                .map(|plan| {
                    (
                        plan.id.clone(),
                        plan.prices
                            .iter()
                            .filter(|p| p.interval != Interval::OneTime)
                            .map(|p| p.lookup_key.clone())
                            .collect::<Vec<_>>(),
                    )
                })
                .filter(|(_, keys)| !keys.is_empty())
                .collect(),
        }
    }

    /// What differs between this and a saved configuration, one phrase each.
    pub fn differences(&self, have: &PortalConfiguration, account: &Account) -> Vec<String> {
        let f = &have.features;
        let mut out = Vec::new();
        let mut check = |ok: bool, what: &str| {
            if !ok {
                out.push(what.to_string());
            }
        };
        check(have.active, "is not active");
        check(
            have.default_return_url.as_deref() == Some(self.return_url.as_str()),
            &format!("returns to {}", self.return_url),
        );
        let bp = &have.business_profile;
        check(bp.headline == self.headline, "shows the product's headline");
        check(
            bp.terms_of_service_url == self.terms,
            "links plans.toml's terms of service",
        );
        check(
            bp.privacy_policy_url == self.privacy,
            "links plans.toml's privacy policy",
        );
        check(f.invoice_history.enabled, "shows invoice history");
        check(
            f.payment_method_update.enabled,
            "lets customers update their card",
        );
        let updates: BTreeSet<&str> = f
            .customer_update
            .allowed_updates
            .iter()
            .map(String::as_str)
            .collect();
        check(
            f.customer_update.enabled && updates == CUSTOMER_UPDATES.into_iter().collect(),
            "lets customers update their email, address and tax id",
        );
        let cancel = &f.subscription_cancel;
        check(
            cancel.enabled && cancel.mode == "at_period_end",
            "cancels at the period's end",
        );
        let reasons: BTreeSet<&str> = cancel
            .cancellation_reason
            .options
            .iter()
            .map(String::as_str)
            .collect();
        check(
            cancel.cancellation_reason.enabled && reasons == CANCEL_REASONS.into_iter().collect(),
            "asks for a reason when cancelling",
        );
        let update = &f.subscription_update;
        check(
            update.enabled && update.default_allowed_updates == ["price"],
            "lets customers switch plans",
        );
        check(
            update.proration_behavior == PORTAL_PRORATION,
            &format!("prorates plan switches with {PORTAL_PRORATION}"),
        );
        let offered: BTreeSet<&str> = update
            .products
            .iter()
            .flatten()
            .flat_map(|p| p.prices.iter())
            .map(|id| account.lookup_key_of(id).unwrap_or(id.as_str()))
            .collect();
        let wanted: BTreeSet<&str> = self
            .products
            .iter()
            .flat_map(|(_, keys)| keys.iter().map(String::as_str))
            .collect();
        if offered != wanted {
            let missing: Vec<&str> = wanted.difference(&offered).copied().collect();
            let extra: Vec<&str> = offered.difference(&wanted).copied().collect();
            let mut what = String::from("offers exactly the catalog's recurring prices");
            if !missing.is_empty() {
                what.push_str(&format!(" (missing {})", missing.join(", ")));
            }
            if !extra.is_empty() {
                what.push_str(&format!(" (also offers {})", extra.join(", ")));
            }
            out.push(what);
        }
        out
    }

    /// The parameters that save this configuration, with the prices' ids.
    fn call(&self, call: Call, account: &Account, catalog: &Catalog) -> Call {
        let mut call = call
            .param("default_return_url", self.return_url.as_str())
            .param(
                "business_profile[headline]",
                self.headline.clone().unwrap_or_default(),
            )
            .param(
                "business_profile[terms_of_service_url]",
                self.terms.clone().unwrap_or_default(),
            )
            .param(
                "business_profile[privacy_policy_url]",
                self.privacy.clone().unwrap_or_default(),
            )
            .param(format!("metadata[{}]", PORTAL_TAG.0), PORTAL_TAG.1)
            .param("features[invoice_history][enabled]", "true")
            .param("features[payment_method_update][enabled]", "true")
            .param("features[customer_update][enabled]", "true")
            .list(
                "features[customer_update][allowed_updates]",
                &CUSTOMER_UPDATES,
            )
            .param("features[subscription_cancel][enabled]", "true")
            .param("features[subscription_cancel][mode]", "at_period_end")
            .param(
                "features[subscription_cancel][cancellation_reason][enabled]",
                "true",
            )
            .list(
                "features[subscription_cancel][cancellation_reason][options]",
                &CANCEL_REASONS,
            )
            .param("features[subscription_update][enabled]", "true")
            .list(
                "features[subscription_update][default_allowed_updates]",
                &["price"],
            )
            .param(
                "features[subscription_update][proration_behavior]",
                PORTAL_PRORATION,
            );
        let mut i = 0;
        for (plan_id, keys) in &self.products {
            let Some(plan) = catalog.plans.iter().find(|p| &p.id == plan_id) else {
                continue;
            };
            let ids: Vec<&str> = keys
                .iter()
                .filter_map(|k| account.price(k))
                .map(|p| p.id.as_str())
                .collect();
            let Some(product) = account.product_of(plan) else {
                continue;
            };
            if ids.is_empty() {
                continue;
            }
            call = call
                .param(
                    format!("features[subscription_update][products][{i}][product]"),
                    product.id.as_str(),
                )
                .list(
                    &format!("features[subscription_update][products][{i}][prices]"),
                    &ids,
                );
            i += 1;
        }
        call
    }
}

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
                 price, subscriptions on the old one keep it"
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
