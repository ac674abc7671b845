//! Loads `plans.toml`, the catalog as code, and checks it before the site serves a page.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use serde::Deserialize;

use super::client::{Call, Stripe, StripeError};
use super::objects::{self, List};
use super::setup::PLAN_KEY;
use crate::model::catalog::{Catalog, Coupon, Interval, Plan, Price, Product};
use crate::model::checkout::is_coupon_code;

/// The file's shape. Kept apart from the wire types so the file can offer defaults (a catalog-wide
/// currency) without the pages having to know.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default = "default_currency")]
    currency: String,
    product: Product,
    plans: Vec<PlanFile>,
    #[serde(default)]
    coupons: Vec<CouponFile>,
    #[serde(default)]
    business: BusinessFile,
}

/// `[business]`: the pages the customer portal links to.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct BusinessFile {
    terms_of_service_url: Option<String>,
    privacy_policy_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    id: String,
    name: String,
    #[serde(default)]
    tagline: String,
    #[serde(default)]
    features: Vec<String>,
    #[serde(default)]
    highlighted: bool,
    prices: Vec<PriceFile>,
    /// `[plans.entitlements]`: what the plan lets a customer use, by name (`monitors = 100`).
    #[serde(default)]
    entitlements: BTreeMap<String, i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceFile {
    lookup_key: String,
    interval: Interval,
    amount: i64,
    currency: Option<String>,
    /// Days of free trial for a first subscription to this (recurring) price.
    trial_days: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CouponFile {
    id: String,
    description: String,
}

fn default_currency() -> String {
    "usd".into()
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{path}: cannot be read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

pub fn load(path: &Path) -> Result<Catalog, CatalogError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
        path: shown.clone(),
        source,
    })?;
    parse(&text).map_err(|e| match e {
        ParseError::Toml(message) => CatalogError::Parse {
            path: shown.clone(),
            message,
        },
        ParseError::Invalid(message) => CatalogError::Invalid {
            path: shown,
            message,
        },
    })
}

#[derive(Debug)]
enum ParseError {
    Toml(String),
    Invalid(String),
}

fn parse(text: &str) -> Result<Catalog, ParseError> {
    let file: CatalogFile =
        toml::from_str(text).map_err(|e| ParseError::Toml(e.message().to_string()))?;
    let invalid = |m: String| Err(ParseError::Invalid(m));

    if file.plans.is_empty() {
        return invalid("the catalog has no plans".into());
    }
    if file.plans.iter().filter(|p| p.highlighted).count() > 1 {
        return invalid("more than one plan is highlighted".into());
    }
    let mut plan_ids = HashSet::new();
    let mut keys = HashSet::new();
    let mut plans = Vec::with_capacity(file.plans.len());
    for plan in file.plans {
        if !is_slug(&plan.id) {
            return invalid(format!(
                "plan id `{}` must be lower-case letters, digits, `-` or `_`",
                plan.id
            ));
        }
        if !plan_ids.insert(plan.id.clone()) {
            return invalid(format!("plan `{}` is listed twice", plan.id));
        }
        if plan.prices.is_empty() {
            return invalid(format!("plan `{}` has no prices", plan.id));
        }
        let mut intervals = HashSet::new();
        let mut prices = Vec::with_capacity(plan.prices.len());
        for price in plan.prices {
            if !is_slug(&price.lookup_key) {
                return invalid(format!(
                    "plan `{}`: lookup key `{}` must be lower-case letters, digits, `-` or `_`",
                    plan.id, price.lookup_key
                ));
            }
            if !keys.insert(price.lookup_key.clone()) {
                return invalid(format!("lookup key `{}` is used twice", price.lookup_key));
            }
            if !intervals.insert(price.interval) {
                return invalid(format!(
                    "plan `{}` has two {:?} prices",
                    plan.id, price.interval
                ));
            }
            if price.amount <= 0 {
                return invalid(format!(
                    "price `{}`: amount must be positive (in minor units, e.g. 900 for $9)",
                    price.lookup_key
                ));
            }
            let currency = price
                .currency
                .unwrap_or_else(|| file.currency.clone())
                .to_ascii_lowercase();
            if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_lowercase()) {
                return invalid(format!(
                    "price `{}`: currency `{currency}` is not an ISO 4217 code",
                    price.lookup_key
                ));
            }
            let trial_days = match price.trial_days {
                None => None,
                Some(days) if price.interval == Interval::OneTime => {
                    return invalid(format!(
                        "price `{}`: trial_days = {days} on a one-time price: only subscriptions have trials",
                        price.lookup_key
                    ))
                }
                // Stripe's limit for `trial_period_days`.
                Some(days @ 1..=730) => Some(days as u32),
                Some(days) => {
                    return invalid(format!(
                        "price `{}`: trial_days = {days} must be between 1 and 730",
                        price.lookup_key
                    ))
                }
            };
            prices.push(Price {
                trial_days,
                lookup_key: price.lookup_key,
                interval: price.interval,
                amount: price.amount,
                currency,
            });
        }
        for (name, value) in &plan.entitlements {
            if !is_slug(name) || *value < 0 {
                return invalid(format!(
                    "plan `{}`: entitlement `{name} = {value}` needs a lower-case name and a \
                     number of at least 0",
                    plan.id
                ));
            }
        }
        plans.push(Plan {
            id: plan.id,
            name: plan.name,
            tagline: plan.tagline,
            features: plan.features,
            highlighted: plan.highlighted,
            prices,
            entitlements: plan.entitlements,
        });
    }
    // The product asks every plan the same questions: each one answers all of them.
    if let Some(first) = plans.first() {
        let names: Vec<&String> = first.entitlements.keys().collect();
        if let Some(other) = plans
            .iter()
            .find(|p| p.entitlements.keys().collect::<Vec<_>>() != names)
        {
            return invalid(format!(
                "plans `{}` and `{}` list different entitlements: every plan names the same ones",
                first.id, other.id
            ));
        }
    }
    let mut coupons: Vec<Coupon> = Vec::with_capacity(file.coupons.len());
    for coupon in file.coupons {
        if !is_coupon_code(&coupon.id) {
            return invalid(format!(
                "coupon id `{}` must be letters, digits, `-` or `_` (at most 100)",
                coupon.id
            ));
        }
        if coupons.iter().any(|c| c.id == coupon.id) {
            return invalid(format!("coupon `{}` is listed twice", coupon.id));
        }
        if coupon.description.trim().is_empty() {
            return invalid(format!("coupon `{}` has no description", coupon.id));
        }
        coupons.push(Coupon {
            id: coupon.id,
            description: coupon.description,
        });
    }
    let BusinessFile {
        terms_of_service_url,
        privacy_policy_url,
    } = file.business;
    for (name, url) in [
        ("terms_of_service_url", &terms_of_service_url),
        ("privacy_policy_url", &privacy_policy_url),
    ] {
        let absolute = |u: &str| {
            url::Url::parse(u)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        };
        if let Some(u) = url.as_deref().filter(|u| !absolute(u)) {
            return invalid(format!(
                "[business] {name} = `{u}` must be an absolute http(s) URL"
            ));
        }
    }
    Ok(Catalog {
        product: file.product,
        plans,
        coupons,
        business: crate::model::catalog::Business {
            terms_of_service_url,
            privacy_policy_url,
        },
    })
}

/// A catalog price as Stripe sells it now: the price its lookup key names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StripePrice {
    pub id: String,
    pub lookup_key: String,
    pub amount: i64,
    pub currency: String,
    pub recurring: bool,
}

/// Any price of a plan's product, sold now or replaced by `landing stripe setup`: what a
/// subscriber on it has, with the amount and interval Stripe bills them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanPrice {
    pub id: String,
    /// The catalog plan whose product the price is on.
    pub plan: String,
    /// `None` for an interval the catalog does not speak of (weekly, every two months).
    pub interval: Option<Interval>,
    pub amount: i64,
    pub currency: String,
    /// Whether Checkout may still sell it: setup archives a price it replaces.
    pub active: bool,
    /// The catalog price it counts as: its own lookup key while sold, else its plan's price
    /// for the same interval (a subscriber on a replaced monthly Pro is on Pro, monthly).
    pub lookup_key: Option<String>,
}

/// The catalog's prices in the configured Stripe: those sold now, by lookup key, and every
/// price of the plans' products, by id.
#[derive(Clone, Debug, Default)]
pub struct PriceIndex {
    by_key: HashMap<String, StripePrice>,
    by_id: HashMap<String, PlanPrice>,
    /// The plans' products: product id → plan id.
    products: HashMap<String, String>,
    /// Every plan of the catalog has a product here.
    every_plan_has_a_product: bool,
}

impl PriceIndex {
    pub fn by_lookup_key(&self, key: &str) -> Option<&StripePrice> {
        self.by_key.get(key)
    }

    /// Finds a price the catalog sells now, named either way: by lookup key or by Stripe price
    /// id. A replaced price is not found: nothing sells it any more.
    pub fn find(&self, reference: &str) -> Option<&StripePrice> {
        self.by_key
            .get(reference)
            .or_else(|| self.by_key.values().find(|p| p.id == reference))
    }

    /// The plan a Stripe price belongs to, through its product, whether the catalog sells it
    /// now or a subscriber kept it after it was replaced.
    pub fn plan_price(&self, price_id: &str) -> Option<&PlanPrice> {
        self.by_id.get(price_id)
    }

    /// Could a price this index does not know, of `product`, be a plan's? Yes on a plan's
    /// product (a price made since the index was read), and on any product while some plan has
    /// none here (setup may have made it since). Otherwise the price is another business's
    /// on the same account, and reading the catalog again could not make it ours.
    pub fn may_be_ours(&self, product: Option<&str>) -> bool {
        match product {
            Some(product) => self.products.contains_key(product) || !self.every_plan_has_a_product,
            None => true,
        }
    }

    /// Active prices of the plans' products that no lookup key of the catalog names: Checkout
    /// can still sell them (a Payment Link, an old page), though the site does not.
    pub fn strays(&self) -> Vec<&PlanPrice> {
        let mut strays: Vec<&PlanPrice> = self
            .by_id
            .values()
            .filter(|p| p.active && !self.by_key.values().any(|sold| sold.id == p.id))
            .collect();
        strays.sort_by(|a, b| a.id.cmp(&b.id));
        strays
    }
}

fn interval_of(price: &objects::Price) -> Option<Interval> {
    match price.recurring.as_ref() {
        None => Some(Interval::OneTime),
        Some(r) if r.interval_count != 1 => None,
        Some(r) => match r.interval.as_str() {
            "month" => Some(Interval::Month),
            "year" => Some(Interval::Year),
            _ => None,
        },
    }
}

/// A difference between `plans.toml` and Stripe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Drift {
    Missing {
        lookup_key: String,
    },
    Amount {
        lookup_key: String,
        file: (i64, String),
        stripe: (i64, String),
    },
    Kind {
        lookup_key: String,
        file_recurring: bool,
    },
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Drift::Missing { lookup_key } => write!(f, "{lookup_key}: not in Stripe (run `landing stripe setup`)"),
            Drift::Amount { lookup_key, file, stripe } => write!(
                f,
                "{lookup_key}: plans.toml says {} {}, Stripe says {} {}; Stripe's amount is shown",
                file.0, file.1, stripe.0, stripe.1
            ),
            Drift::Kind { lookup_key, file_recurring } => write!(
                f,
                "{lookup_key}: plans.toml says {}, Stripe says {}; Stripe decides the checkout mode",
                if *file_recurring { "recurring" } else { "one-time" },
                if *file_recurring { "one-time" } else { "recurring" },
            ),
        }
    }
}

/// Stripe's lists, page by page.
async fn every_page<T: serde::de::DeserializeOwned + objects::HasId>(
    client: &Stripe,
    call: Call,
) -> Result<Vec<T>, StripeError> {
    let mut all: Vec<T> = Vec::new();
    loop {
        let mut page = call.clone().param("limit", "100");
        if let Some(last) = all.last() {
            page = page.param("starting_after", last.id());
        }
        let list: List<T> = client.send(&page).await?;
        let more = list.has_more && !list.data.is_empty();
        all.extend(list.data);
        if !more {
            return Ok(all);
        }
    }
}

/// Looks the catalog up in Stripe: the prices its lookup keys name (ten keys per request,
/// Stripe's limit), then every price of each plan's product. A product is a plan's when
/// `landing stripe setup` tagged it so (`metadata[landing_plan]`) or when a price the plan
/// sells is on it, so a price keeps its plan after its lookup key moved to another.
pub async fn resolve(client: &Stripe, catalog: &Catalog) -> Result<PriceIndex, StripeError> {
    let keys: Vec<String> = catalog
        .plans
        .iter()
        .flat_map(|p| p.prices.iter().map(|price| price.lookup_key.clone()))
        .collect();
    let mut by_key = HashMap::new();
    let mut plan_of_product: HashMap<String, String> = HashMap::new();
    for chunk in keys.chunks(10) {
        let sold: Vec<objects::Price> = every_page(
            client,
            Call::get("/prices")
                .list("lookup_keys", chunk)
                .param("active", "true"),
        )
        .await?;
        for price in sold {
            let Some(key) = price.lookup_key.clone() else {
                continue;
            };
            if let (Some(plan), Some(product)) = (catalog.plan_of(&key), &price.product) {
                plan_of_product.insert(product.id().to_string(), plan.id.clone());
            }
            by_key.insert(
                key.clone(),
                StripePrice {
                    id: price.id,
                    lookup_key: key,
                    amount: price.unit_amount.unwrap_or(0),
                    currency: price.currency,
                    recurring: price.recurring.is_some(),
                },
            );
        }
    }
    let products: Vec<objects::Product> = every_page(client, Call::get("/products")).await?;
    for product in products {
        if let Some(plan) = product
            .metadata
            .get(PLAN_KEY)
            .filter(|id| catalog.plans.iter().any(|p| &p.id == *id))
        {
            plan_of_product.insert(product.id, plan.clone());
        }
    }
    let mut by_id = HashMap::new();
    for (product, plan_id) in &plan_of_product {
        let prices: Vec<objects::Price> = every_page(
            client,
            Call::get("/prices").param("product", product.as_str()),
        )
        .await?;
        let plan = catalog.plans.iter().find(|p| &p.id == plan_id);
        for price in prices {
            let interval = interval_of(&price);
            let lookup_key = match &price.lookup_key {
                Some(key) if by_key.contains_key(key) => Some(key.clone()),
                _ => plan
                    .and_then(|p| p.prices.iter().find(|p| Some(p.interval) == interval))
                    .map(|p| p.lookup_key.clone()),
            };
            by_id.insert(
                price.id.clone(),
                PlanPrice {
                    id: price.id,
                    plan: plan_id.clone(),
                    interval,
                    amount: price.unit_amount.unwrap_or(0),
                    currency: price.currency,
                    active: price.active,
                    lookup_key,
                },
            );
        }
    }
    let every_plan_has_a_product = catalog
        .plans
        .iter()
        .all(|plan| plan_of_product.values().any(|p| *p == plan.id));
    Ok(PriceIndex {
        by_key,
        by_id,
        products: plan_of_product,
        every_plan_has_a_product,
    })
}

/// Compares the file with Stripe, and returns the catalog as the page should show it (Stripe's
/// amounts where they differ).
pub fn reconcile(catalog: &Catalog, index: &PriceIndex) -> (Catalog, Vec<Drift>) {
    let mut shown = catalog.clone();
    let mut drift = Vec::new();
    for price in shown.plans.iter_mut().flat_map(|p| p.prices.iter_mut()) {
        let Some(stripe) = index.by_lookup_key(&price.lookup_key) else {
            drift.push(Drift::Missing {
                lookup_key: price.lookup_key.clone(),
            });
            continue;
        };
        if stripe.amount != price.amount || stripe.currency != price.currency {
            drift.push(Drift::Amount {
                lookup_key: price.lookup_key.clone(),
                file: (price.amount, price.currency.clone()),
                stripe: (stripe.amount, stripe.currency.clone()),
            });
            price.amount = stripe.amount;
            price.currency = stripe.currency.clone();
        }
        let file_recurring = price.interval != Interval::OneTime;
        if file_recurring != stripe.recurring {
            drift.push(Drift::Kind {
                lookup_key: price.lookup_key.clone(),
                file_recurring,
            });
        }
    }
    (shown, drift)
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests;
