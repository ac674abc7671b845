//! Customer-portal configurations (`/v1/billing_portal/configurations`): what the hosted portal
//! lets a customer do. The portal page reads the session's configuration (or the account's
//! default) and offers only that: the prices it lists, the cancel mode it names.
//!
//! As on Stripe, a portal session needs a configuration: without one named and without a
//! default, creating the session is refused. A catalog seeded at start-up also saves a default
//! configuration, as an operator does once in the dashboard.

//!
//! `apply` reads the create and update parameters; this file holds the configuration itself,
//! its JSON, and the routes' bodies.

mod apply;

use serde_json::{json, Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::params::get;
use crate::store::{self, Store};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub product: String,
    pub prices: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Configuration {
    pub id: String,
    pub active: bool,
    pub is_default: bool,
    pub headline: Option<String>,
    pub privacy_policy_url: Option<String>,
    pub terms_of_service_url: Option<String>,
    pub default_return_url: Option<String>,
    pub customer_update: bool,
    pub allowed_updates: Vec<String>,
    pub invoice_history: bool,
    pub payment_method_update: bool,
    pub cancel: bool,
    /// `at_period_end` or `immediately`.
    pub cancel_mode: String,
    pub cancel_proration: String,
    pub cancellation_reason: bool,
    pub reasons: Vec<String>,
    pub update: bool,
    pub default_allowed_updates: Vec<String>,
    pub products: Vec<Product>,
    /// `none`, `create_prorations` or `always_invoice`.
    pub update_proration: String,
    /// What a switch does to a trial: `end_trial` (Stripe's default) or `continue_trial`.
    pub trial_update: String,
    /// `schedule_at_period_end[conditions]`: `decreasing_item_amount` and/or
    /// `shortening_interval`; a switch that meets one waits for the period's end (a schedule).
    pub schedule_conditions: Vec<String>,
    pub metadata: Map<String, Value>,
    pub created: i64,
    pub updated: i64,
}

impl Configuration {
    fn new(store: &mut Store) -> Configuration {
        let now = store.now();
        Configuration {
            id: store::new_id("bpc"),
            active: true,
            is_default: false,
            headline: None,
            privacy_policy_url: None,
            terms_of_service_url: None,
            default_return_url: None,
            customer_update: false,
            allowed_updates: Vec::new(),
            invoice_history: false,
            payment_method_update: false,
            cancel: false,
            cancel_mode: "at_period_end".into(),
            cancel_proration: "none".into(),
            cancellation_reason: false,
            reasons: Vec::new(),
            update: false,
            default_allowed_updates: Vec::new(),
            products: Vec::new(),
            update_proration: "none".into(),
            trial_update: "end_trial".into(),
            schedule_conditions: Vec::new(),
            metadata: Map::new(),
            created: now,
            updated: now,
        }
    }

    /// The default a catalog seeds: every recurring price of every product may be switched to,
    /// cancelling waits for the period's end, and nothing is prorated.
    pub fn seeded_default(store: &mut Store) -> Configuration {
        let mut c = Configuration::new(store);
        c.is_default = true;
        c.customer_update = true;
        c.allowed_updates = vec!["email".into(), "address".into()];
        c.invoice_history = true;
        c.payment_method_update = true;
        c.cancel = true;
        c.update = true;
        c.default_allowed_updates = vec!["price".into()];
        let mut products: Vec<Product> = Vec::new();
        let mut prices: Vec<_> = store
            .prices
            .values()
            .filter(|p| p.active && p.recurring.is_some())
            .collect();
        prices.sort_by_key(|p| p.seq);
        for price in prices {
            match products.iter_mut().find(|p| p.product == price.product) {
                Some(p) => p.prices.push(price.id.clone()),
                None => products.push(Product {
                    product: price.product.clone(),
                    prices: vec![price.id.clone()],
                }),
            }
        }
        c.products = products;
        c
    }

    /// May a customer switch to this price here?
    pub fn allows_price(&self, price: &str) -> bool {
        self.update
            && self
                .products
                .iter()
                .any(|p| p.prices.iter().any(|x| x == price))
    }

    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "billing_portal.configuration",
            "active": self.active,
            "application": null,
            "business_profile": {
                "headline": self.headline,
                "privacy_policy_url": self.privacy_policy_url,
                "terms_of_service_url": self.terms_of_service_url,
            },
            "created": self.created,
            "default_return_url": self.default_return_url,
            "features": {
                "customer_update": {
                    "allowed_updates": self.allowed_updates,
                    "enabled": self.customer_update,
                },
                "invoice_history": { "enabled": self.invoice_history },
                "payment_method_update": {
                    "enabled": self.payment_method_update,
                    "payment_method_configuration": null,
                },
                "subscription_cancel": {
                    "cancellation_reason": {
                        "enabled": self.cancellation_reason,
                        "options": self.reasons,
                    },
                    "enabled": self.cancel,
                    "mode": self.cancel_mode,
                    "proration_behavior": self.cancel_proration,
                },
                "subscription_update": {
                    "billing_cycle_anchor": null,
                    "default_allowed_updates": self.default_allowed_updates,
                    "enabled": self.update,
                    "products": self.products.iter().map(|p| json!({
                        "adjustable_quantity": { "enabled": false, "maximum": null, "minimum": 1 },
                        "prices": p.prices,
                        "product": p.product,
                    })).collect::<Vec<_>>(),
                    "proration_behavior": self.update_proration,
                    "schedule_at_period_end": {
                        "conditions": self.schedule_conditions.iter().map(|c| json!({ "type": c })).collect::<Vec<_>>(),
                    },
                    "trial_update_behavior": self.trial_update,
                },
            },
            "is_default": self.is_default,
            "livemode": false,
            "login_page": { "enabled": false, "url": null },
            "metadata": self.metadata,
            "name": null,
            "updated": self.updated,
        })
    }
}

pub fn create(store: &mut Store, p: &Value) -> ApiResult {
    if p.get("features").is_none() {
        return Err(ApiError::missing("features"));
    }
    let mut config = Configuration::new(store);
    config.apply(store, p)?;
    let json = config.json();
    store
        .portal_configurations
        .insert(config.id.clone(), config);
    store.emit("billing_portal.configuration.created", json.clone(), None);
    Ok(json)
}

pub fn update(store: &mut Store, id: &str, p: &Value) -> ApiResult {
    let mut config = get(
        &store.portal_configurations,
        "billing_portal.configuration",
        id,
    )?
    .clone();
    let before = config.json();
    config.apply(store, p)?;
    config.updated = store.now();
    let json = config.json();
    store
        .portal_configurations
        .insert(config.id.clone(), config);
    store.emit(
        "billing_portal.configuration.updated",
        json.clone(),
        Some(changed(&before, &json)),
    );
    Ok(json)
}

pub fn list(store: &Store, p: &Value) -> Value {
    let active = p.get("active").and_then(Value::as_str).map(|a| a == "true");
    let is_default = p
        .get("is_default")
        .and_then(Value::as_str)
        .map(|a| a == "true");
    store::list(
        "/v1/billing_portal/configurations",
        store
            .portal_configurations
            .values()
            .filter(|c| active.is_none_or(|a| c.active == a))
            .filter(|c| is_default.is_none_or(|d| c.is_default == d))
            .map(|c| (c.created as u64, c.json()))
            .collect(),
    )
}

/// The configuration a new portal session uses: the one named, else the account's default.
pub fn for_session(store: &Store, named: Option<&str>) -> Result<String, ApiError> {
    match named {
        Some(id) => match store.portal_configurations.get(id) {
            Some(c) if c.active => Ok(c.id.clone()),
            Some(_) => Err(ApiError::invalid_param(
                "configuration",
                format!("The configuration `{id}` is not active."),
            )),
            None => Err(ApiError::no_such_param(
                "billing_portal.configuration",
                id,
                "configuration",
            )),
        },
        None => store
            .portal_configurations
            .values()
            .find(|c| c.is_default)
            .map(|c| c.id.clone())
            .ok_or_else(|| {
                ApiError::invalid_param(
                    "configuration",
                    "No configuration provided and your test mode default configuration has not been created. Provide a configuration or create your default by saving your customer portal settings in test mode.",
                )
            }),
    }
}

/// The top-level fields whose values differ, with their old values (Stripe's
/// `previous_attributes`).
pub fn changed(before: &Value, after: &Value) -> Value {
    let mut prev = Map::new();
    if let (Some(b), Some(a)) = (before.as_object(), after.as_object()) {
        for (k, v) in b {
            if a.get(k) != Some(v) && k != "updated" {
                prev.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(prev)
}
