//! `/v1/subscriptions`: read, cancel, and change the price, the trial or the cancellation of one.
//! Subscriptions are created by Checkout (see `flows::complete_checkout`) or here, for a
//! customer, with an optional `billing_cycle_anchor`.

use serde_json::Value;

use super::params::{boolean, get, integer, string};
use super::{Api, ApiResult};
use crate::error::ApiError;
use crate::flows;
use crate::store::{self, Store};

/// Stripe's `payment_behavior` values for an update.
const PAYMENT_BEHAVIORS: [&str; 4] = [
    "allow_incomplete",
    "default_incomplete",
    "error_if_incomplete",
    "pending_if_incomplete",
];

pub(super) fn route(
    api: &Api,
    store: &mut Store,
    method: &str,
    path: &[&str],
    p: &Value,
) -> Option<ApiResult> {
    Some(match (method, path) {
        ("GET", []) => Ok(list(store, p)),
        ("POST", []) => create(store, &api.base_url, p),
        ("GET", [id]) => get(&store.subscriptions, "subscription", id).map(|s| s.json(store)),
        ("POST", [id]) => update(store, &api.base_url, id, p),
        ("DELETE", [id]) => cancel(store, id),
        _ => return None,
    })
}

fn list(store: &Store, p: &Value) -> Value {
    let customer = p.get("customer").and_then(Value::as_str);
    let status = p.get("status").and_then(Value::as_str);
    let items = store
        .subscriptions
        .values()
        .filter(|s| customer.is_none_or(|c| s.customer == c))
        .filter(|s| match status {
            None => s.status != "canceled",
            Some("all") => true,
            Some(wanted) => s.status == wanted,
        })
        .map(|s| (s.seq, s.json(store)))
        .collect();
    store::list("/v1/subscriptions", items)
}

/// `POST /v1/subscriptions`: `customer`, `items[n][price]` (active, recurring) with
/// `items[n][quantity]`, and optionally `billing_cycle_anchor` with `proration_behavior`
/// (`create_prorations` or `always_invoice`: the first invoice charges the share of the price up
/// to the anchor; `none`: that first period is free). The first invoice is charged at once to
/// the customer's card.
fn create(store: &mut Store, base_url: &str, p: &Value) -> ApiResult {
    let customer = string(p, "customer").ok_or_else(|| ApiError::missing("customer"))?;
    get(&store.customers, "customer", &customer).map_err(|e| e.for_param("customer"))?;
    let wanted = p
        .get("items")
        .and_then(Value::as_array)
        .filter(|items| !items.is_empty())
        .ok_or_else(|| ApiError::missing("items"))?;
    let mut items = Vec::new();
    for (n, item) in wanted.iter().enumerate() {
        let param = format!("items[{n}][price]");
        let price = item
            .get("price")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::missing(&param))?;
        match store.prices.get(price) {
            Some(found) if found.active && found.recurring.is_some() => {}
            Some(_) => {
                return Err(ApiError::invalid_param(
                    &param,
                    format!("The price `{price}` is not an active recurring price."),
                ))
            }
            None => return Err(ApiError::no_such_param("price", price, &param)),
        }
        let quantity = integer(item, "quantity")
            .map_err(|e| e.for_param(&format!("items[{n}][quantity]")))?
            .unwrap_or(1);
        if quantity < 1 {
            return Err(ApiError::invalid_param(
                &format!("items[{n}][quantity]"),
                "Quantity must be at least 1.",
            ));
        }
        items.push((price.to_string(), quantity));
    }
    let prorated = match string(p, "proration_behavior").as_deref() {
        None | Some("create_prorations") | Some("always_invoice") => true,
        Some("none") => false,
        Some(other) => {
            return Err(ApiError::invalid_param(
                "proration_behavior",
                format!("Invalid proration_behavior: must be one of always_invoice, create_prorations, or none (got `{other}`)."),
            ))
        }
    };
    let anchor = match integer(p, "billing_cycle_anchor")? {
        Some(at) => Some(flows::check_anchor(
            store,
            at,
            prorated,
            &items[0].0,
            "billing_cycle_anchor",
        )?),
        None => None,
    };
    let id = flows::start_subscription(
        store,
        base_url,
        flows::NewSubscription {
            customer,
            items,
            trial_days: None,
            anchor,
            first_charge: None,
            paid_at_checkout: false,
            discount: None,
        },
    );
    Ok(store.subscriptions[&id].json(store))
}

fn cancel(store: &mut Store, id: &str) -> ApiResult {
    get(&store.subscriptions, "subscription", id)?;
    flows::cancel_now(store, id)
}

fn update(store: &mut Store, base_url: &str, id: &str, p: &Value) -> ApiResult {
    get(&store.subscriptions, "subscription", id)?;
    // `pending_if_incomplete` is emulated (see `flows::change_price`); the others apply the
    // change at once, and an invoice that needs the customer waits on its page.
    if let Some(behavior) = string(p, "payment_behavior") {
        if !PAYMENT_BEHAVIORS.contains(&behavior.as_str()) {
            return Err(ApiError::invalid_param(
                "payment_behavior",
                format!(
                    "Invalid payment_behavior: must be one of {} (got `{behavior}`).",
                    PAYMENT_BEHAVIORS.join(", ")
                ),
            ));
        }
    }
    let mut result = None;
    match p.get("cancel_at").and_then(Value::as_str) {
        Some(_) if p.get("cancel_at_period_end").is_some() => {
            return Err(ApiError::exclusive("cancel_at", "cancel_at_period_end"))
        }
        Some("") => result = Some(flows::set_cancel_at(store, id, None)?),
        Some(_) => {
            let at = integer(p, "cancel_at")?;
            result = Some(flows::set_cancel_at(store, id, at)?);
        }
        None => {}
    }
    if let Some(cancel) = boolean(p, "cancel_at_period_end")? {
        result = Some(
            flows::set_cancel_at_period_end(store, id, cancel)
                .map_err(|e| e.for_param("cancel_at_period_end"))?,
        );
    }
    // `pause_collection[behavior]=void` pauses; `pause_collection=` (empty) resumes.
    match p.get("pause_collection") {
        None => {}
        Some(Value::String(empty)) if empty.is_empty() => {
            result = Some(flows::set_pause_collection(store, id, None, p)?)
        }
        Some(pause) => {
            let behavior = pause.get("behavior").and_then(Value::as_str);
            match behavior {
                Some("void") => {
                    result = Some(flows::set_pause_collection(store, id, Some("void"), p)?)
                }
                Some("keep_as_draft" | "mark_uncollectible") => {
                    return Err(ApiError::invalid_param(
                        "pause_collection[behavior]",
                        "This emulator pauses collection with behavior=void only.",
                    ))
                }
                _ => {
                    return Err(ApiError::invalid_param(
                        "pause_collection[behavior]",
                        "Invalid pause_collection[behavior]: must be one of keep_as_draft, mark_uncollectible, or void.",
                    ))
                }
            }
        }
    }
    if p.get("metadata").is_some() && p.get("pause_collection").is_none() {
        return Err(ApiError::invalid_param(
            "metadata",
            "This emulator updates a subscription's metadata only with pause_collection.",
        ));
    }
    let item = p
        .get("items")
        .and_then(Value::as_array)
        .and_then(|items| items.first());
    if item.is_none() && p.get("trial_end").is_some() {
        // The trial's end alone, as Stripe takes it: `now` ends the trial and bills the price
        // from now; a future time moves the end. Emulated as a change to the same price.
        let price = store.subscriptions[id]
            .items
            .first()
            .map(|i| i.price.clone())
            .ok_or_else(|| {
                ApiError::invalid_param("trial_end", "This subscription has no items.")
            })?;
        let change = flows::PriceChange {
            sub_id: id.to_string(),
            price_id: price,
            proration: flows::Proration::parse(
                p.get("proration_behavior").and_then(Value::as_str),
            )?,
            at: None,
            pending_if_incomplete: false,
            trial_end: trial_end(p)?,
        };
        result = Some(flows::change_price(store, base_url, &change)?);
    }
    if let Some(item) = item {
        let change = price_change(store, id, item, p)?;
        result =
            Some(flows::change_price(store, base_url, &change).map_err(
                |e| match e.param.as_deref() {
                    // The flow's refusal of the trial's end names it already.
                    Some("trial_end") => e,
                    _ => e.for_param("items[0][price]"),
                },
            )?);
    }
    match result {
        Some(json) => Ok(json),
        None => Ok(store.subscriptions[id].json(store)),
    }
}

/// A subscription item's new price (`items[0][price]`, with `items[0][id]` naming the item if
/// given) and how to bill it (`proration_behavior`, `proration_date`, `trial_end`), as the
/// update and the invoice preview take them.
pub(super) fn price_change(
    store: &Store,
    sub_id: &str,
    item: &Value,
    p: &Value,
) -> Result<flows::PriceChange, ApiError> {
    let sub = get(&store.subscriptions, "subscription", sub_id)?;
    if let Some(item_id) = item.get("id").and_then(Value::as_str) {
        if !sub.items.iter().any(|i| i.id == item_id) {
            return Err(ApiError::invalid_param(
                "items[0][id]",
                format!("Subscription item `{item_id}` is not part of subscription `{sub_id}`."),
            ));
        }
    }
    let price_id = item.get("price").and_then(Value::as_str).ok_or_else(|| {
        ApiError::invalid_param(
            "items[0][price]",
            "Missing required param: items[0][price].",
        )
    })?;
    let proration = flows::Proration::parse(p.get("proration_behavior").and_then(Value::as_str))?;
    Ok(flows::PriceChange {
        sub_id: sub_id.to_string(),
        price_id: price_id.to_string(),
        proration,
        at: integer(p, "proration_date")?,
        pending_if_incomplete: string(p, "payment_behavior").as_deref()
            == Some("pending_if_incomplete"),
        trial_end: trial_end(p)?,
    })
}

/// `trial_end`: `now`, or a timestamp.
fn trial_end(p: &Value) -> Result<Option<flows::TrialEnd>, ApiError> {
    match string(p, "trial_end").as_deref() {
        Some("now") => Ok(Some(flows::TrialEnd::Now)),
        _ => Ok(integer(p, "trial_end")?.map(flows::TrialEnd::At)),
    }
}
