//! `/v1/coupons`.

use serde_json::Value;

use super::params::{get, integer, string};
use super::ApiResult;
use crate::error::ApiError;
use crate::store::{self, Coupon, Duration, Store};

pub(super) fn route(
    store: &mut Store,
    method: &str,
    path: &[&str],
    p: &Value,
) -> Option<ApiResult> {
    Some(match (method, path) {
        ("POST", []) => create(store, p),
        ("GET", [id]) => get(&store.coupons, "coupon", id).map(Coupon::json),
        _ => return None,
    })
}

fn create(store: &mut Store, p: &Value) -> ApiResult {
    let percent_off = match p.get("percent_off").and_then(Value::as_str) {
        None => None,
        Some(raw) => Some(
            raw.parse::<f64>()
                .ok()
                .filter(|v| *v > 0.0 && *v <= 100.0)
                .ok_or_else(|| {
                    ApiError::invalid_param("percent_off", "percent_off must be between 0 and 100.")
                })?,
        ),
    };
    let amount_off = integer(p, "amount_off")?;
    if percent_off.is_some() == amount_off.is_some() {
        return Err(ApiError::invalid_param(
            "percent_off",
            "You must pass exactly one of percent_off or amount_off.",
        ));
    }
    let currency = string(p, "currency");
    if amount_off.is_some() && currency.is_none() {
        return Err(ApiError::missing("currency"));
    }
    let coupon_duration = duration(p)?;
    let coupon = Coupon {
        id: string(p, "id").unwrap_or_else(|| store::new_id("co")),
        percent_off,
        amount_off,
        currency,
        valid: true,
        created: store.now(),
        duration: coupon_duration,
    };
    if store.coupons.contains_key(&coupon.id) {
        return Err(ApiError::invalid_param(
            "id",
            format!("Coupon already exists with ID: {}", coupon.id),
        ));
    }
    let json = coupon.json();
    store.coupons.insert(coupon.id.clone(), coupon);
    store.emit("coupon.created", json.clone(), None);
    Ok(json)
}

/// `duration` (`once` unless given) and, for `repeating` only, `duration_in_months`.
fn duration(p: &Value) -> Result<Duration, ApiError> {
    let months = integer(p, "duration_in_months")?;
    match (string(p, "duration").as_deref(), months) {
        (None | Some("once"), None) => Ok(Duration::Once),
        (Some("forever"), None) => Ok(Duration::Forever),
        (Some("repeating"), Some(m)) if m > 0 => Ok(Duration::Repeating(m)),
        (Some("repeating"), Some(_)) => Err(ApiError::invalid_param(
            "duration_in_months",
            "duration_in_months must be a positive integer.",
        )),
        (Some("repeating"), None) => Err(ApiError::invalid_param(
            "duration_in_months",
            "You must specify duration_in_months when duration is repeating.",
        )),
        (None | Some("once" | "forever"), Some(_)) => Err(ApiError::invalid_param(
            "duration_in_months",
            "duration_in_months can only be set when duration is repeating.",
        )),
        (Some(other), _) => Err(ApiError::invalid_param(
            "duration",
            format!(
                "Invalid duration: must be one of forever, once, or repeating (got `{other}`)."
            ),
        )),
    }
}
