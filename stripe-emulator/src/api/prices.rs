//! `/v1/prices`.

use serde_json::Value;

use super::params::{boolean, expands, get, integer, required, string};
use super::{products, ApiResult};
use crate::error::ApiError;
use crate::portal_config;
use crate::store::{self, Price, Recurring, Store};

pub(super) fn route(
    store: &mut Store,
    method: &str,
    path: &[&str],
    p: &Value,
) -> Option<ApiResult> {
    Some(match (method, path) {
        ("POST", []) => create(store, p),
        ("GET", []) => Ok(list(store, p)),
        ("GET", [id]) => get(&store.prices, "price", id)
            .map(|price| json(store, price, expands(p).contains(&"product"))),
        ("POST", [id]) => update(store, id, p),
        _ => return None,
    })
}

fn create(store: &mut Store, p: &Value) -> ApiResult {
    let currency = required(p, "currency")?.to_ascii_lowercase();
    let unit_amount = integer(p, "unit_amount")?.ok_or_else(|| ApiError::missing("unit_amount"))?;
    if unit_amount < 0 {
        return Err(ApiError::invalid_param(
            "unit_amount",
            "This value must be greater than or equal to 0.",
        ));
    }
    let product = match (string(p, "product"), p.get("product_data")) {
        (Some(id), _) => {
            if !store.products.contains_key(&id) {
                return Err(ApiError::no_such_param("product", &id, "product"));
            }
            id
        }
        (None, Some(data)) => {
            let created = products::create(store, data)?;
            created["id"].as_str().unwrap_or_default().to_string()
        }
        (None, None) => return Err(ApiError::missing("product")),
    };
    let recurring = match p.get("recurring") {
        None => None,
        Some(r) => {
            let interval =
                required(r, "interval").map_err(|_| ApiError::missing("recurring[interval]"))?;
            if !matches!(interval.as_str(), "day" | "week" | "month" | "year") {
                return Err(ApiError::invalid_param(
                    "recurring[interval]",
                    "Invalid recurring[interval]: must be one of day, week, month, or year",
                ));
            }
            let interval_count = integer(r, "interval_count")?.unwrap_or(1);
            Some(Recurring {
                interval,
                interval_count,
            })
        }
    };
    let lookup_key = string(p, "lookup_key");
    if let Some(key) = &lookup_key {
        if let Some(existing) = store.price_by_lookup_key(key) {
            if boolean(p, "transfer_lookup_key")? != Some(true) {
                return Err(ApiError::invalid_param(
                    "lookup_key",
                    format!("A price (`{}`) already uses that lookup key.", existing.id),
                ));
            }
            let existing = existing.id.clone();
            if let Some(old) = store.prices.get_mut(&existing) {
                old.lookup_key = None;
            }
        }
    }
    let price = Price {
        id: store::new_id("price"),
        product,
        lookup_key,
        unit_amount,
        currency,
        recurring,
        active: boolean(p, "active")?.unwrap_or(true),
        created: store.now(),
        seq: store.next_seq(),
    };
    let json = price.json();
    store.prices.insert(price.id.clone(), price);
    store.emit("price.created", json.clone(), None);
    Ok(json)
}

fn update(store: &mut Store, id: &str, p: &Value) -> ApiResult {
    let active = boolean(p, "active")?;
    let price = store
        .prices
        .get_mut(id)
        .ok_or_else(|| ApiError::not_found("price", id))?;
    let before = price.json();
    if let Some(active) = active {
        price.active = active;
    }
    let json = price.json();
    if json != before {
        store.emit(
            "price.updated",
            json.clone(),
            Some(portal_config::changed(&before, &json)),
        );
    }
    Ok(json)
}

/// A price, with its product expanded when asked (`expand[]=product`, or `data.product` on a
/// list), as Stripe does.
fn json(store: &Store, price: &Price, expand_product: bool) -> Value {
    let mut json = price.json();
    if let (true, Some(product)) = (expand_product, store.products.get(&price.product)) {
        json["product"] = product.json();
    }
    json
}

fn list(store: &Store, p: &Value) -> Value {
    let expand_product = expands(p).contains(&"data.product");
    let keys: Option<Vec<&str>> = p
        .get("lookup_keys")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect());
    let active = p.get("active").and_then(Value::as_str).map(|a| a == "true");
    let product = p.get("product").and_then(Value::as_str);
    let items = store
        .prices
        .values()
        .filter(|price| {
            keys.as_ref().is_none_or(|keys| {
                price
                    .lookup_key
                    .as_deref()
                    .is_some_and(|k| keys.contains(&k))
            })
        })
        .filter(|price| active.is_none_or(|a| price.active == a))
        .filter(|price| product.is_none_or(|id| price.product == id))
        .map(|price| (price.seq, json(store, price, expand_product)))
        .collect();
    store::list("/v1/prices", items)
}
