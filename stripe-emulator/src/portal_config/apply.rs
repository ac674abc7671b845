//! The parameters a configuration is created and updated with, checked as Stripe checks them.

use serde_json::Value;

use super::{Configuration, Product};
use crate::error::ApiError;
use crate::params::{boolean, string};
use crate::store::Store;

impl Configuration {
    /// Applies the parameters Stripe takes on create and update.
    pub(super) fn apply(&mut self, store: &Store, p: &Value) -> Result<(), ApiError> {
        if let Some(active) = boolean(p, "active")? {
            self.active = active;
        }
        if let Some(bp) = p.get("business_profile") {
            let url = |key: &str| -> Result<Option<Option<String>>, ApiError> {
                match string(bp, key) {
                    None => Ok(None),
                    Some(s) if s.is_empty() => Ok(Some(None)),
                    Some(s) => {
                        valid_url(&s, &format!("business_profile[{key}]")).map(|u| Some(Some(u)))
                    }
                }
            };
            if let Some(h) = string(bp, "headline") {
                self.headline = Some(h).filter(|h| !h.is_empty());
            }
            if let Some(u) = url("privacy_policy_url")? {
                self.privacy_policy_url = u;
            }
            if let Some(u) = url("terms_of_service_url")? {
                self.terms_of_service_url = u;
            }
        }
        if let Some(url) = string(p, "default_return_url") {
            self.default_return_url = match url.as_str() {
                "" => None,
                _ => Some(valid_url(&url, "default_return_url")?),
            };
        }
        for (k, v) in p
            .get("metadata")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if v.as_str() == Some("") {
                self.metadata.remove(k);
            } else {
                self.metadata.insert(k.clone(), v.clone());
            }
        }
        let Some(f) = p.get("features") else {
            return Ok(());
        };
        let enabled = |node: &Value, name: &str| -> Result<Option<bool>, ApiError> {
            boolean(node, "enabled").map_err(|_| {
                ApiError::invalid_param(
                    &format!("features[{name}][enabled]"),
                    "Invalid boolean".to_string(),
                )
            })
        };
        if let Some(cu) = f.get("customer_update") {
            if let Some(e) = enabled(cu, "customer_update")? {
                self.customer_update = e;
            }
            if let Some(list) = strings(cu, "allowed_updates") {
                check_all(
                    &list,
                    &["email", "address", "shipping", "phone", "tax_id", "name"],
                    "features[customer_update][allowed_updates]",
                )?;
                self.allowed_updates = list;
            }
        }
        if let Some(ih) = f.get("invoice_history") {
            if let Some(e) = enabled(ih, "invoice_history")? {
                self.invoice_history = e;
            }
        }
        if let Some(pm) = f.get("payment_method_update") {
            if let Some(e) = enabled(pm, "payment_method_update")? {
                self.payment_method_update = e;
            }
        }
        if let Some(sc) = f.get("subscription_cancel") {
            if let Some(e) = enabled(sc, "subscription_cancel")? {
                self.cancel = e;
            }
            if let Some(mode) = string(sc, "mode") {
                check_all(
                    std::slice::from_ref(&mode),
                    &["at_period_end", "immediately"],
                    "features[subscription_cancel][mode]",
                )?;
                self.cancel_mode = mode;
            }
            if let Some(pb) = string(sc, "proration_behavior") {
                check_all(
                    std::slice::from_ref(&pb),
                    &["none", "create_prorations"],
                    "features[subscription_cancel][proration_behavior]",
                )?;
                self.cancel_proration = pb;
            }
            if let Some(cr) = sc.get("cancellation_reason") {
                if let Some(e) = boolean(cr, "enabled")? {
                    self.cancellation_reason = e;
                }
                if let Some(list) = strings(cr, "options") {
                    check_all(
                        &list,
                        &[
                            "customer_service",
                            "low_quality",
                            "missing_features",
                            "other",
                            "switched_service",
                            "too_complex",
                            "too_expensive",
                            "unused",
                        ],
                        "features[subscription_cancel][cancellation_reason][options]",
                    )?;
                    self.reasons = list;
                }
            }
        }
        if let Some(su) = f.get("subscription_update") {
            if let Some(e) = enabled(su, "subscription_update")? {
                self.update = e;
            }
            if let Some(list) = strings(su, "default_allowed_updates") {
                check_all(
                    &list,
                    &["price", "quantity", "promotion_code"],
                    "features[subscription_update][default_allowed_updates]",
                )?;
                self.default_allowed_updates = list;
            }
            if let Some(pb) = string(su, "proration_behavior") {
                check_all(
                    std::slice::from_ref(&pb),
                    &["none", "create_prorations", "always_invoice"],
                    "features[subscription_update][proration_behavior]",
                )?;
                self.update_proration = pb;
            }
            // Read here, not with the API's helpers: the API layer depends on this module.
            if let Some(behavior) = su.get("trial_update_behavior").and_then(Value::as_str) {
                check_all(
                    &[behavior.to_string()],
                    &["end_trial", "continue_trial"],
                    "features[subscription_update][trial_update_behavior]",
                )?;
                self.trial_update = behavior.to_string();
            }
            if let Some(schedule) = su.get("schedule_at_period_end") {
                let conditions = schedule
                    .get("conditions")
                    .and_then(Value::as_array)
                    .map(|list| {
                        list.iter()
                            .map(|c| {
                                c.get("type")
                                    .and_then(Value::as_str)
                                    .unwrap_or("")
                                    .to_string()
                            })
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                check_all(
                    &conditions,
                    &["decreasing_item_amount", "shortening_interval"],
                    "features[subscription_update][schedule_at_period_end][conditions][][type]",
                )?;
                self.schedule_conditions = conditions;
            }
            if let Some(products) = su.get("products") {
                self.products = parse_products(store, products)?;
            }
        }
        if self.update && self.products.is_empty() {
            return Err(ApiError::invalid_param(
                "features[subscription_update][products]",
                "You must provide at least one product when subscription updates are enabled.",
            ));
        }
        Ok(())
    }
}

fn valid_url(raw: &str, param: &str) -> Result<String, ApiError> {
    match url::Url::parse(raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            Ok(raw.to_string())
        }
        _ => Err(ApiError::invalid_param(param, "Not a valid URL")),
    }
}

fn strings(node: &Value, key: &str) -> Option<Vec<String>> {
    match node.get(key)? {
        Value::Array(a) => Some(
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
        ),
        // `key=` (an empty value) clears a list, as Stripe reads it.
        Value::String(s) if s.is_empty() => Some(Vec::new()),
        _ => None,
    }
}

fn check_all(values: &[String], allowed: &[&str], param: &str) -> Result<(), ApiError> {
    match values.iter().find(|v| !allowed.contains(&v.as_str())) {
        None => Ok(()),
        Some(bad) => Err(ApiError::invalid_param(
            param,
            format!(
                "Invalid {param}: must be one of {}; got {bad}",
                allowed.join(", ")
            ),
        )),
    }
}

fn parse_products(store: &Store, node: &Value) -> Result<Vec<Product>, ApiError> {
    let items = match node {
        Value::Array(a) => a.clone(),
        Value::String(s) if s.is_empty() => Vec::new(),
        _ => {
            return Err(ApiError::invalid_param(
                "features[subscription_update][products]",
                "Invalid array",
            ))
        }
    };
    let mut products = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let param = format!("features[subscription_update][products][{i}]");
        let product = string(item, "product")
            .ok_or_else(|| ApiError::missing(&format!("{param}[product]")))?;
        if !store.products.contains_key(&product) {
            return Err(ApiError::no_such_param(
                "product",
                &product,
                &format!("{param}[product]"),
            ));
        }
        let prices = strings(item, "prices")
            .filter(|p| !p.is_empty())
            .ok_or_else(|| ApiError::missing(&format!("{param}[prices]")))?;
        for price in &prices {
            let Some(found) = store.prices.get(price) else {
                return Err(ApiError::no_such_param(
                    "price",
                    price,
                    &format!("{param}[prices]"),
                ));
            };
            if found.product != product || found.recurring.is_none() {
                return Err(ApiError::invalid_param(
                    &format!("{param}[prices]"),
                    format!(
                        "The price `{price}` must be a recurring price of the product `{product}`."
                    ),
                ));
            }
        }
        products.push(Product { product, prices });
    }
    Ok(products)
}
