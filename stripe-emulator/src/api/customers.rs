//! `/v1/customers`.

use serde_json::Value;

use super::params::{get, merge_metadata, metadata, string};
use super::ApiResult;
use crate::error::ApiError;
use crate::portal_config;
use crate::store::{self, Customer, Store};

pub(super) fn route(
    store: &mut Store,
    method: &str,
    path: &[&str],
    p: &Value,
) -> Option<ApiResult> {
    Some(match (method, path) {
        ("POST", []) => create(store, p),
        ("GET", []) => Ok(list(store, p)),
        ("GET", [id]) => get(&store.customers, "customer", id).map(Customer::json),
        ("POST", [id]) => update(store, id, p),
        _ => return None,
    })
}

fn create(store: &mut Store, p: &Value) -> ApiResult {
    let customer = Customer {
        id: store::new_id("cus"),
        email: string(p, "email"),
        name: string(p, "name"),
        metadata: metadata(p),
        created: store.now(),
        seq: store.next_seq(),
        authenticates_every_payment: false,
        disputes_payments: false,
    };
    let json = customer.json();
    store.customers.insert(customer.id.clone(), customer);
    store.emit("customer.created", json.clone(), None);
    Ok(json)
}

fn update(store: &mut Store, id: &str, p: &Value) -> ApiResult {
    let customer = store
        .customers
        .get_mut(id)
        .ok_or_else(|| ApiError::not_found("customer", id))?;
    let before = customer.json();
    if let Some(email) = string(p, "email") {
        customer.email = Some(email).filter(|e| !e.is_empty());
    }
    if let Some(name) = string(p, "name") {
        customer.name = Some(name).filter(|n| !n.is_empty());
    }
    merge_metadata(&mut customer.metadata, p);
    let json = customer.json();
    // Stripe sends `customer.updated` only when something changed.
    if json != before {
        store.emit(
            "customer.updated",
            json.clone(),
            Some(portal_config::changed(&before, &json)),
        );
    }
    Ok(json)
}

fn list(store: &Store, p: &Value) -> Value {
    let email = p.get("email").and_then(Value::as_str);
    let items = store
        .customers
        .values()
        .filter(|c| email.is_none_or(|e| c.email.as_deref() == Some(e)))
        .map(|c| (c.seq, c.json()))
        .collect();
    store::list("/v1/customers", items)
}
