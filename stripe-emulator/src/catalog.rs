//! Seeds products and prices from the app's `plans.toml`, so every lookup key the site sells
//! exists in the emulator from the start.

use std::path::Path;

use serde::Deserialize;

use crate::store::{self, Price, Product, Recurring, Store};

#[derive(Deserialize)]
struct CatalogFile {
    #[serde(default = "usd")]
    currency: String,
    plans: Vec<PlanFile>,
}

#[derive(Deserialize)]
struct PlanFile {
    name: String,
    prices: Vec<PriceFile>,
}

#[derive(Deserialize)]
struct PriceFile {
    lookup_key: String,
    interval: String,
    amount: i64,
    currency: Option<String>,
}

fn usd() -> String {
    "usd".into()
}

pub fn seed(store: &mut Store, path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot be read: {e}"))?;
    let file: CatalogFile = toml::from_str(&text).map_err(|e| e.message().to_string())?;
    for plan in file.plans {
        let now = store.now();
        let product = Product {
            id: store::new_id("prod"),
            name: plan.name,
            active: true,
            metadata: Default::default(),
            created: now,
            updated: now,
            seq: store.next_seq(),
        };
        for price in plan.prices {
            let recurring = match price.interval.as_str() {
                "one_time" => None,
                "month" | "year" => Some(Recurring {
                    interval: price.interval.clone(),
                    interval_count: 1,
                }),
                other => {
                    return Err(format!(
                        "price `{}`: unknown interval `{other}`",
                        price.lookup_key
                    ))
                }
            };
            let seeded = Price {
                id: store::new_id("price"),
                product: product.id.clone(),
                lookup_key: Some(price.lookup_key),
                unit_amount: price.amount,
                currency: price
                    .currency
                    .unwrap_or_else(|| file.currency.clone())
                    .to_ascii_lowercase(),
                recurring,
                active: true,
                created: now,
                seq: store.next_seq(),
            };
            store.prices.insert(seeded.id.clone(), seeded);
        }
        store.products.insert(product.id.clone(), product);
    }
    Ok(())
}
