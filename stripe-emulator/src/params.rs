//! Reading Stripe's form parameters (already decoded into JSON by `form`): every value arrives
//! as a string, so booleans and integers are parsed here, with Stripe's error when they are not.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::ApiError;

/// The object `id` names, or Stripe's 404 for the path.
pub(crate) fn get<'a, T>(
    map: &'a BTreeMap<String, T>,
    object: &str,
    id: &str,
) -> Result<&'a T, ApiError> {
    map.get(id).ok_or_else(|| ApiError::not_found(object, id))
}

pub(crate) fn string(p: &Value, key: &str) -> Option<String> {
    p.get(key).and_then(Value::as_str).map(str::to_string)
}

pub(crate) fn required(p: &Value, key: &str) -> Result<String, ApiError> {
    string(p, key)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::missing(key))
}

pub(crate) fn boolean(p: &Value, key: &str) -> Result<Option<bool>, ApiError> {
    match p.get(key).and_then(Value::as_str) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(ApiError::invalid_param(
            key,
            format!("Invalid boolean: {other}"),
        )),
    }
}

pub(crate) fn integer(p: &Value, key: &str) -> Result<Option<i64>, ApiError> {
    match p.get(key).and_then(Value::as_str) {
        None => Ok(None),
        Some(raw) => raw
            .parse()
            .map(Some)
            .map_err(|_| ApiError::invalid_param(key, format!("Invalid integer: {raw}"))),
    }
}

pub(crate) fn metadata(p: &Value) -> Map<String, Value> {
    p.get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// Stripe's metadata update: keys given are set, keys given empty are removed.
pub(crate) fn merge_metadata(into: &mut Map<String, Value>, p: &Value) {
    for (k, v) in metadata(p) {
        if v.as_str() == Some("") {
            into.remove(&k);
        } else {
            into.insert(k, v);
        }
    }
}

/// The `expand[]` paths a request asks for.
pub(crate) fn expands(p: &Value) -> Vec<&str> {
    p.get("expand")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// A URL the buyer's browser will be sent to: Stripe takes only absolute http(s) ones.
pub(crate) fn absolute_url(p: &Value, key: &str) -> Result<String, ApiError> {
    let raw = required(p, key)?;
    match url::Url::parse(&raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(raw),
        _ => Err(ApiError::invalid_param(key, "Not a valid URL")),
    }
}

/// One page of a list answer (already newest first): at most `limit` items (1 to 100, Stripe's
/// default 10) after the one `starting_after` names, and whether more follow.
pub(crate) fn page(mut list: Value, p: &Value) -> Result<Value, ApiError> {
    let limit = integer(p, "limit")?.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid_param(
            "limit",
            "This value must be between 1 and 100.",
        ));
    }
    let Some(Value::Array(items)) = list.get_mut("data").map(Value::take) else {
        return Ok(list);
    };
    let start = match string(p, "starting_after") {
        None => 0,
        Some(id) => {
            items
                .iter()
                .position(|item| item["id"] == *id)
                .ok_or_else(|| ApiError::no_such_param("object", &id, "starting_after"))?
                + 1
        }
    };
    let rest: Vec<Value> = items.into_iter().skip(start).collect();
    list["has_more"] = Value::Bool(rest.len() as i64 > limit);
    list["data"] = Value::Array(rest.into_iter().take(limit as usize).collect());
    Ok(list)
}
