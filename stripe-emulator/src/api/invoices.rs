//! `/v1/invoices`: read, list, and preview the invoice a price change would bring.

use serde_json::Value;

use super::params::{expands, get, required, string};
use super::subscriptions::price_change;
use super::{Api, ApiResult};
use crate::error::ApiError;
use crate::flows;
use crate::objects::invoice_payment_json;
use crate::store::{self, Store};

pub(super) fn route(
    api: &Api,
    store: &mut Store,
    method: &str,
    path: &[&str],
    p: &Value,
) -> Option<ApiResult> {
    Some(match (method, path) {
        ("GET", []) => Ok(list(api, store, p)),
        ("POST", ["create_preview"]) => preview(api, store, p),
        ("GET", [id]) => get(&store.invoices, "invoice", id).map(|i| i.json(&api.base_url)),
        _ => return None,
    })
}

/// `GET /v1/invoice_payments`: the payments of subscription invoices, by `invoice` or by the
/// payment intent that paid (`payment[type]=payment_intent&payment[payment_intent]=pi_…`), the
/// way this API version links a charge to its invoice. `expand[]=data.invoice` gives the
/// invoice itself.
pub(super) fn route_payments(
    api: &Api,
    store: &Store,
    method: &str,
    path: &[&str],
    p: &Value,
) -> Option<ApiResult> {
    if (method, path) != ("GET", &[][..]) {
        return None;
    }
    let invoice = p.get("invoice").and_then(Value::as_str);
    let payment = p.get("payment");
    let kind = payment.and_then(|q| q.get("type")).and_then(Value::as_str);
    let intent = payment
        .and_then(|q| q.get("payment_intent"))
        .and_then(Value::as_str);
    if kind.is_some_and(|k| k != "payment_intent") {
        return Some(Err(ApiError::invalid_param(
            "payment[type]",
            "This emulator lists payments of type payment_intent only.",
        )));
    }
    if intent.is_some() && kind.is_none() {
        return Some(Err(ApiError::invalid_param(
            "payment[type]",
            "Missing required param: payment[type].",
        )));
    }
    let expand_invoice = expands(p).contains(&"data.invoice");
    let items = store
        .charges
        .values()
        .filter_map(|c| Some((c, store.invoices.get(c.invoice.as_deref()?)?)))
        .filter(|(_, i)| invoice.is_none_or(|id| i.id == id))
        .filter(|(c, _)| intent.is_none_or(|pi| c.payment_intent == pi))
        .map(|(c, i)| {
            let mut json = invoice_payment_json(c, &i.id, i.paid_at.unwrap_or(c.created));
            if expand_invoice {
                json["invoice"] = i.json(&api.base_url);
            }
            (i.seq, json)
        })
        .collect();
    Some(Ok(store::list("/v1/invoice_payments", items)))
}

fn list(api: &Api, store: &Store, p: &Value) -> Value {
    let customer = p.get("customer").and_then(Value::as_str);
    let subscription = p.get("subscription").and_then(Value::as_str);
    let items = store
        .invoices
        .values()
        .filter(|i| customer.is_none_or(|c| i.customer == c))
        .filter(|i| subscription.is_none_or(|s| i.subscription.as_deref() == Some(s)))
        .map(|i| (i.seq, i.json(&api.base_url)))
        .collect();
    store::list("/v1/invoices", items)
}

/// `POST /v1/invoices/create_preview` for a subscription's price change
/// (`subscription_details[items][0][…]`, `[proration_behavior]`, `[proration_date]`,
/// `[trial_end]`), showing the next invoice or (`preview_mode=recurring`) the first renewal
/// after the change.
fn preview(api: &Api, store: &Store, p: &Value) -> ApiResult {
    let sub_id = required(p, "subscription")?;
    let sub = get(&store.subscriptions, "subscription", &sub_id)?;
    if let Some(customer) = string(p, "customer").filter(|c| *c != sub.customer) {
        return Err(ApiError::invalid_param(
            "customer",
            format!("Subscription `{sub_id}` does not belong to customer `{customer}`."),
        ));
    }
    let details = p
        .get("subscription_details")
        .cloned()
        .unwrap_or(Value::Null);
    let Some(item) = details
        .get("items")
        .and_then(Value::as_array)
        .and_then(|items| items.first())
    else {
        return Err(ApiError::invalid_param(
            "subscription_details[items]",
            "This emulator previews price changes only: give subscription_details[items][0][price].",
        ));
    };
    let mode = match string(p, "preview_mode").as_deref() {
        None | Some("next") => flows::PreviewMode::Next,
        Some("recurring") => flows::PreviewMode::Recurring,
        Some(other) => {
            return Err(ApiError::invalid_param(
                "preview_mode",
                format!("Invalid preview_mode: must be one of next or recurring (got `{other}`)."),
            ))
        }
    };
    let change = price_change(store, &sub_id, item, &details)?;
    flows::preview_change(store, &api.base_url, &change, mode).map_err(|e| {
        match e.param.as_deref() {
            Some("trial_end") => e.for_param("subscription_details[trial_end]"),
            _ => e.for_param("subscription_details[items][0][price]"),
        }
    })
}
