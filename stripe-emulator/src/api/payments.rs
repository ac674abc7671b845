//! The money of a purchase: `/v1/payment_intents`, `/v1/charges` and `/v1/disputes` (read
//! only: Checkout and the cardholder make them) and `/v1/refunds`.

use serde_json::Value;

use super::params::{get, integer, string};
use super::ApiResult;
use crate::error::ApiError;
use crate::flows;
use crate::objects::PaymentIntent;
use crate::store::Store;

/// `resource` is the path's first segment (`payment_intents`, `charges`, `disputes` or
/// `refunds`), `path` what follows it.
pub(super) fn route(
    store: &mut Store,
    method: &str,
    resource: &str,
    path: &[&str],
    p: &Value,
) -> Option<ApiResult> {
    Some(match (method, resource, path) {
        ("GET", "payment_intents", [id]) => {
            get(&store.payment_intents, "payment_intent", id).map(PaymentIntent::json)
        }
        ("GET", "charges", [id]) => get(&store.charges, "charge", id).map(|c| c.json()),
        ("GET", "disputes", [id]) => get(&store.disputes, "dispute", id).map(|d| d.json()),
        ("GET", "refunds", [id]) => get(&store.refunds, "refund", id).map(|r| r.json()),
        ("POST", "refunds", []) => create_refund(store, p),
        _ => return None,
    })
}

/// `POST /v1/refunds` with `charge` or `payment_intent`, and an optional `amount`.
fn create_refund(store: &mut Store, p: &Value) -> ApiResult {
    let charge = match (string(p, "charge"), string(p, "payment_intent")) {
        (Some(charge), _) => charge,
        (None, Some(pi)) => get(&store.payment_intents, "payment_intent", &pi)?
            .latest_charge
            .clone()
            .ok_or_else(|| {
                ApiError::invalid_param(
                    "payment_intent",
                    "This PaymentIntent has no charge to refund.",
                )
            })?,
        (None, None) => {
            return Err(ApiError::invalid_param(
                "charge",
                "One of `charge` or `payment_intent` is required.",
            ))
        }
    };
    get(&store.charges, "charge", &charge)?;
    flows::refund(store, &charge, integer(p, "amount")?).map_err(|e| e.for_param("amount"))
}
