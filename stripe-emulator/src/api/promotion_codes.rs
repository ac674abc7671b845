//! `/v1/promotion_codes`: the codes a buyer types on the Checkout page, each for a coupon.

use serde_json::Value;

use super::params::{boolean, required, string};
use super::ApiResult;
use crate::error::ApiError;
use crate::objects::PromotionCode;
use crate::store::{self, Store};

pub(super) fn route(
    store: &mut Store,
    method: &str,
    path: &[&str],
    p: &Value,
) -> Option<ApiResult> {
    Some(match (method, path) {
        ("POST", []) => create(store, p),
        ("GET", []) => Ok(list(store, p)),
        _ => return None,
    })
}

fn create(store: &mut Store, p: &Value) -> ApiResult {
    let promotion = p.get("promotion").cloned().unwrap_or(Value::Null);
    let kind = required(&promotion, "type").map_err(|_| ApiError::missing("promotion[type]"))?;
    if kind != "coupon" {
        return Err(ApiError::invalid_param(
            "promotion[type]",
            format!("Invalid promotion[type]: must be one of coupon (got `{kind}`)"),
        ));
    }
    let coupon =
        required(&promotion, "coupon").map_err(|_| ApiError::missing("promotion[coupon]"))?;
    if !store.coupons.contains_key(&coupon) {
        return Err(ApiError::no_such_param(
            "coupon",
            &coupon,
            "promotion[coupon]",
        ));
    }
    let code = string(p, "code").unwrap_or_else(|| store::new_id("PROMO").to_uppercase());
    if store
        .promotion_codes
        .values()
        .any(|c| c.active && c.code.eq_ignore_ascii_case(&code))
    {
        return Err(ApiError::invalid_param(
            "code",
            "An active promotion code with `code` already exists.",
        ));
    }
    let promo = PromotionCode {
        id: store::new_id("promo"),
        code,
        coupon,
        active: boolean(p, "active")?.unwrap_or(true),
        created: store.now(),
    };
    let json = promo.json(store);
    store.promotion_codes.insert(promo.id.clone(), promo);
    store.emit("promotion_code.created", json.clone(), None);
    Ok(json)
}

fn list(store: &Store, p: &Value) -> Value {
    let code = p.get("code").and_then(Value::as_str);
    let items = store
        .promotion_codes
        .values()
        .filter(|c| code.is_none_or(|x| c.code.eq_ignore_ascii_case(x)))
        .map(|c| (c.created as u64, c.json(store)))
        .collect();
    store::list("/v1/promotion_codes", items)
}
