//! `/v1/events`: every event emitted so far, as Stripe keeps them for retrieval.

use serde_json::Value;

use super::ApiResult;
use crate::error::ApiError;
use crate::store::{self, Store};

pub(super) fn route(
    store: &mut Store,
    method: &str,
    path: &[&str],
    p: &Value,
) -> Option<ApiResult> {
    Some(match (method, path) {
        ("GET", []) => Ok(list(store, p)),
        ("GET", [id]) => store
            .event(id)
            .map(|e| e.json(store.pending_webhooks(&e.type_)))
            .ok_or_else(|| ApiError::not_found("event", id)),
        _ => return None,
    })
}

fn list(store: &Store, p: &Value) -> Value {
    let type_ = p.get("type").and_then(Value::as_str);
    let items = store
        .events
        .iter()
        .filter(|e| type_.is_none_or(|t| e.type_ == t))
        .map(|e| (e.seq, e.json(store.pending_webhooks(&e.type_))))
        .collect();
    store::list("/v1/events", items)
}
