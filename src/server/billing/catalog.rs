//! Loads `plans.toml`, the catalog as code, and checks it before the site serves a page.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;

use crate::model::catalog::{Catalog, Interval, Plan, Price, Product};

/// The file's shape. Kept apart from the wire types so the file can offer defaults (a catalog-wide
/// currency) without the pages having to know.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default = "default_currency")]
    currency: String,
    product: Product,
    plans: Vec<PlanFile>,
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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceFile {
    lookup_key: String,
    interval: Interval,
    amount: i64,
    currency: Option<String>,
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
            prices.push(Price {
                lookup_key: price.lookup_key,
                interval: price.interval,
                amount: price.amount,
                currency,
            });
        }
        plans.push(Plan {
            id: plan.id,
            name: plan.name,
            tagline: plan.tagline,
            features: plan.features,
            highlighted: plan.highlighted,
            prices,
        });
    }
    Ok(Catalog {
        product: file.product,
        plans,
    })
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRODUCT: &str = r#"
        [product]
        name = "Acme"
        headline = "h"
        pitch = "p"
        highlights = []
    "#;

    fn with_plans(plans: &str) -> Result<Catalog, ParseError> {
        parse(&format!("{PRODUCT}\n{plans}"))
    }

    fn invalid_message(plans: &str) -> String {
        match with_plans(plans) {
            Err(ParseError::Invalid(m)) => m,
            other => panic!("expected an invalid catalog, got {other:?}"),
        }
    }

    #[test]
    fn the_repository_catalog_loads() {
        let catalog = load(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("plans.toml")
                .as_path(),
        )
        .expect("plans.toml is valid");
        assert!(catalog.plans.len() >= 2);
        assert_eq!(catalog.plans.iter().filter(|p| p.highlighted).count(), 1);
    }

    #[test]
    fn prices_take_the_catalog_currency_unless_they_name_their_own() {
        let c = parse(&format!(
            "currency = \"EUR\"\n{PRODUCT}\n{}",
            r#"
            [[plans]]
            id = "a"
            name = "A"
            prices = [
              { lookup_key = "a_m", interval = "month", amount = 900 },
              { lookup_key = "a_y", interval = "year", amount = 9000, currency = "gbp" },
            ]
            "#
        ))
        .unwrap();
        assert_eq!(c.plans[0].prices[0].currency, "eur");
        assert_eq!(c.plans[0].prices[1].currency, "gbp");
    }

    #[test]
    fn duplicate_lookup_keys_are_refused() {
        let m = invalid_message(
            r#"
            [[plans]]
            id = "a"
            name = "A"
            prices = [{ lookup_key = "k", interval = "month", amount = 1 }]
            [[plans]]
            id = "b"
            name = "B"
            prices = [{ lookup_key = "k", interval = "year", amount = 1 }]
            "#,
        );
        assert!(m.contains("`k` is used twice"), "{m}");
    }

    #[test]
    fn bad_amounts_intervals_and_ids_are_refused_with_the_culprit_named() {
        let m = invalid_message(
            r#"
            [[plans]]
            id = "a"
            name = "A"
            prices = [{ lookup_key = "k", interval = "month", amount = 0 }]
            "#,
        );
        assert!(m.contains("`k`") && m.contains("positive"), "{m}");
        let m = invalid_message(
            r#"
            [[plans]]
            id = "Not A Slug"
            name = "A"
            prices = [{ lookup_key = "k", interval = "month", amount = 1 }]
            "#,
        );
        assert!(m.contains("Not A Slug"), "{m}");
        let m = invalid_message(
            r#"
            [[plans]]
            id = "a"
            name = "A"
            prices = [
              { lookup_key = "k1", interval = "month", amount = 1 },
              { lookup_key = "k2", interval = "month", amount = 2 },
            ]
            "#,
        );
        assert!(m.contains("two Month prices"), "{m}");
    }

    #[test]
    fn unknown_fields_and_intervals_are_toml_errors() {
        let r = with_plans(
            r#"
            [[plans]]
            id = "a"
            name = "A"
            prices = [{ lookup_key = "k", interval = "week", amount = 1 }]
            "#,
        );
        assert!(matches!(r, Err(ParseError::Toml(_))));
        let r = with_plans(
            r#"
            [[plans]]
            id = "a"
            name = "A"
            colour = "red"
            prices = [{ lookup_key = "k", interval = "month", amount = 1 }]
            "#,
        );
        assert!(
            matches!(r, Err(ParseError::Toml(ref m)) if m.contains("colour")),
            "{r:?}"
        );
    }
}
