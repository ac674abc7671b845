//! `/v1/subscription_schedules`: made from a subscription (`from_subscription`), read, given
//! phases and an `end_behavior`, released or canceled.

use serde_json::Value;

use super::params::{get, integer, string};
use super::ApiResult;
use crate::error::ApiError;
use crate::flows::{self, PhaseSpec};
use crate::objects::PhaseItem;
use crate::store::Store;

pub(super) fn route(
    store: &mut Store,
    method: &str,
    path: &[&str],
    p: &Value,
) -> Option<ApiResult> {
    Some(match (method, path) {
        ("POST", []) => create(store, p),
        ("GET", [id]) => {
            get(&store.subscription_schedules, "subscription_schedule", id).map(|s| s.json(store))
        }
        ("POST", [id]) => update(store, id, p),
        ("POST", [id, "release"]) => flows::release_schedule(store, id),
        ("POST", [id, "cancel"]) => flows::cancel_schedule(store, id),
        _ => return None,
    })
}

/// Only `from_subscription` is emulated: the schedule starts as the subscription is now.
fn create(store: &mut Store, p: &Value) -> ApiResult {
    let sub = string(p, "from_subscription")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::missing("from_subscription"))?;
    flows::create_from_subscription(store, &sub)
}

fn update(store: &mut Store, id: &str, p: &Value) -> ApiResult {
    get(&store.subscription_schedules, "subscription_schedule", id)?;
    let phases = match p.get("phases") {
        None => None,
        Some(Value::Array(phases)) => Some(
            phases
                .iter()
                .enumerate()
                .map(|(i, phase)| phase_of(i, phase))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => {
            return Err(ApiError::invalid_param(
                "phases",
                "Invalid array: phases must be a list (phases[0][items][0][price]=…).",
            ))
        }
    };
    flows::update_schedule(store, id, phases, string(p, "end_behavior"))
}

fn phase_of(i: usize, phase: &Value) -> Result<PhaseSpec, ApiError> {
    let param = |name: &str| format!("phases[{i}][{name}]");
    let items = phase
        .get("items")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let items = items
        .iter()
        .enumerate()
        .map(|(j, item)| {
            let price = string(item, "price")
                .filter(|s| !s.is_empty())
                .ok_or_else(|| ApiError::missing(&format!("phases[{i}][items][{j}][price]")))?;
            let quantity = integer(item, "quantity")
                .map_err(|e| e.for_param(&format!("phases[{i}][items][{j}][quantity]")))?
                .unwrap_or(1);
            Ok(PhaseItem { price, quantity })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let start_date = match string(phase, "start_date").as_deref() {
        None => None,
        Some("now") => Some(None),
        Some(_) => {
            Some(integer(phase, "start_date").map_err(|e| e.for_param(&param("start_date")))?)
        }
    };
    let end_date = match string(phase, "end_date").as_deref() {
        Some("now") => {
            return Err(ApiError::invalid_param(
                &param("end_date"),
                "This emulator takes a phase's end_date as a timestamp.",
            ))
        }
        _ => integer(phase, "end_date").map_err(|e| e.for_param(&param("end_date")))?,
    };
    Ok(PhaseSpec {
        items,
        start_date,
        end_date,
        proration_behavior: string(phase, "proration_behavior"),
    })
}
