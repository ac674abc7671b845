//! `/v1/coupons`.

use serde_json::Value;

use super::params::{get, integer, string};
use super::ApiResult;
use crate::error::ApiError;
use crate::store::{self, Coupon, Store};

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
    let coupon = Coupon {
        id: string(p, "id").unwrap_or_else(|| store::new_id("co")),
        percent_off,
        amount_off,
        currency,
        valid: true,
        created: store.now(),
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
