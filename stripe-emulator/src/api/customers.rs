//! `/v1/customers`.

use serde_json::Value;

use super::params::{get, integer, merge_metadata, metadata, string};
use super::ApiResult;
use crate::error::ApiError;
use crate::portal_config;
use crate::store::{self, BalanceChange, Customer, Store};

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
        ("POST", [id, "balance_transactions"]) => credit(store, id, p),
        ("GET", [id, "balance_transactions"]) => balance_transactions(store, id),
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
        balance: 0,
        currency: None,
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

/// `POST /v1/customers/{id}/balance_transactions`: credit (negative `amount`) or debit a
/// customer's balance by hand, as the Dashboard does. The next invoices use it.
fn credit(store: &mut Store, id: &str, p: &Value) -> ApiResult {
    if !store.customers.contains_key(id) {
        return Err(ApiError::not_found("customer", id));
    }
    let amount = integer(p, "amount")?.ok_or_else(|| ApiError::missing("amount"))?;
    let currency = string(p, "currency").ok_or_else(|| ApiError::missing("currency"))?;
    let currency = currency.to_lowercase();
    if let Some(own) = store.customers[id]
        .currency
        .as_deref()
        .filter(|c| *c != currency)
    {
        return Err(ApiError::invalid_param(
            "currency",
            format!("The customer's balance is in `{own}`: a transaction in `{currency}` cannot change it."),
        ));
    }
    if amount == 0 {
        return Err(ApiError::invalid_param(
            "amount",
            "The amount must be a non-zero integer.",
        ));
    }
    let change = BalanceChange {
        amount,
        currency,
        kind: "adjustment",
        invoice: None,
        description: string(p, "description"),
        metadata: metadata(p),
    };
    store
        .move_balance(id, change)
        .map(|t| t.json())
        .ok_or_else(|| ApiError::not_found("customer", id))
}

fn balance_transactions(store: &Store, id: &str) -> ApiResult {
    if !store.customers.contains_key(id) {
        return Err(ApiError::not_found("customer", id));
    }
    let items = store
        .balance_transactions
        .values()
        .filter(|t| t.customer == id)
        .map(|t| (t.seq, t.json()))
        .collect();
    Ok(store::list(
        &format!("/v1/customers/{id}/balance_transactions"),
        items,
    ))
}
