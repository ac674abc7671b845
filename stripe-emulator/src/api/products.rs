//! `/v1/products`.

use serde_json::Value;

use super::params::{boolean, get, merge_metadata, metadata, required, string};
use super::ApiResult;
use crate::error::ApiError;
use crate::portal_config;
use crate::store::{self, Product, Store};

pub(super) fn route(
    store: &mut Store,
    method: &str,
    path: &[&str],
    p: &Value,
) -> Option<ApiResult> {
    Some(match (method, path) {
        ("POST", []) => create(store, p),
        ("GET", []) => Ok(list(store)),
        ("GET", [id]) => get(&store.products, "product", id).map(Product::json),
        ("POST", [id]) => update(store, id, p),
        _ => return None,
    })
}

/// Also how a price's `product_data` creates its product.
pub(super) fn create(store: &mut Store, p: &Value) -> ApiResult {
    let name = required(p, "name")?;
    let now = store.now();
    let product = Product {
        id: string(p, "id").unwrap_or_else(|| store::new_id("prod")),
        name,
        active: boolean(p, "active")?.unwrap_or(true),
        metadata: metadata(p),
        created: now,
        updated: now,
        seq: store.next_seq(),
    };
    if store.products.contains_key(&product.id) {
        return Err(ApiError::invalid_param(
            "id",
            format!("Product already exists with ID: {}", product.id),
        ));
    }
    let json = product.json();
    store.products.insert(product.id.clone(), product);
    store.emit("product.created", json.clone(), None);
    Ok(json)
}

fn update(store: &mut Store, id: &str, p: &Value) -> ApiResult {
    let active = boolean(p, "active")?;
    let now = store.now();
    let product = store
        .products
        .get_mut(id)
        .ok_or_else(|| ApiError::not_found("product", id))?;
    let before = product.json();
    if let Some(name) = string(p, "name").filter(|n| !n.is_empty()) {
        product.name = name;
    }
    if let Some(active) = active {
        product.active = active;
    }
    merge_metadata(&mut product.metadata, p);
    product.updated = now;
    let json = product.json();
    store.emit(
        "product.updated",
        json.clone(),
        Some(portal_config::changed(&before, &json)),
    );
    Ok(json)
}

fn list(store: &Store) -> Value {
    store::list(
        "/v1/products",
        store.products.values().map(|p| (p.seq, p.json())).collect(),
    )
}
