//! `/v1/webhook_endpoints`: where events are delivered, each with its signing secret.

use serde_json::{json, Value};

use super::params::{absolute_url, boolean, get, string};
use super::ApiResult;
use crate::error::ApiError;
use crate::objects::Endpoint;
use crate::store::{self, Store};

pub(super) fn route(
    store: &mut Store,
    method: &str,
    path: &[&str],
    p: &Value,
) -> Option<ApiResult> {
    Some(match (method, path) {
        ("POST", []) => create(store, p),
        ("GET", []) => Ok(store::list(
            "/v1/webhook_endpoints",
            store
                .endpoints
                .values()
                .map(|e| (e.created as u64, e.json(false)))
                .collect(),
        )),
        ("GET", [id]) => get(&store.endpoints, "webhook_endpoint", id).map(|e| e.json(false)),
        ("POST", [id]) => update(store, id, p),
        ("DELETE", [id]) => delete(store, id),
        _ => return None,
    })
}

/// `enabled_events[]`: at least one, each a type Stripe sends or `*`.
fn enabled_events(p: &Value) -> Result<Option<Vec<String>>, ApiError> {
    let Some(list) = p.get("enabled_events") else {
        return Ok(None);
    };
    let events: Vec<String> = list
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if events.is_empty() {
        return Err(ApiError::missing("enabled_events"));
    }
    if let Some(bad) = events.iter().find(|e| {
        *e != "*"
            && !(e.contains('.')
                && e.bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_'))
    }) {
        return Err(ApiError::invalid_param(
            "enabled_events",
            format!("Invalid enabled_events: `{bad}` is not an event type."),
        ));
    }
    Ok(Some(events))
}

fn create(store: &mut Store, p: &Value) -> ApiResult {
    let url = absolute_url(p, "url")?;
    let enabled_events = enabled_events(p)?.ok_or_else(|| ApiError::missing("enabled_events"))?;
    let endpoint = Endpoint {
        id: store::new_id("we"),
        url,
        secret: store::new_id("whsec"),
        enabled_events,
        created: store.now(),
        disabled: false,
        api_version: string(p, "api_version"),
        description: string(p, "description").filter(|d| !d.is_empty()),
    };
    let json = endpoint.json(true);
    store.endpoints.insert(endpoint.id.clone(), endpoint);
    Ok(json)
}

fn update(store: &mut Store, id: &str, p: &Value) -> ApiResult {
    let events = enabled_events(p)?;
    let url = match p.get("url") {
        Some(_) => Some(absolute_url(p, "url")?),
        None => None,
    };
    let disabled = boolean(p, "disabled")?;
    let endpoint = store
        .endpoints
        .get_mut(id)
        .ok_or_else(|| ApiError::not_found("webhook_endpoint", id))?;
    if let Some(events) = events {
        endpoint.enabled_events = events;
    }
    if let Some(url) = url {
        endpoint.url = url;
    }
    if let Some(disabled) = disabled {
        endpoint.disabled = disabled;
    }
    if let Some(d) = string(p, "description") {
        endpoint.description = Some(d).filter(|d| !d.is_empty());
    }
    Ok(endpoint.json(false))
}

fn delete(store: &mut Store, id: &str) -> ApiResult {
    get(&store.endpoints, "webhook_endpoint", id)?;
    store.endpoints.remove(id);
    Ok(json!({ "id": id, "object": "webhook_endpoint", "deleted": true }))
}
