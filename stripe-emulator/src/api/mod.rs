//! The `/v1` API: authentication, body decoding, idempotency, then the resource's module.
//!
//! Each Stripe resource has its own module with a `route` that answers the requests under its
//! path (`None` when the method and path are not one of its routes), so this file only knows
//! which resource a path names.

mod billing_portal;
mod checkout_sessions;
mod coupons;
mod customers;
mod events;
mod invoices;
mod known;
mod payments;
mod prices;
mod products;
mod promotion_codes;
mod subscription_schedules;
mod subscriptions;
mod webhook_endpoints;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde_json::Value;

use crate::error::ApiError;
use crate::form;
use crate::store::{self, Store};

#[derive(Clone)]
pub struct Api {
    pub store: Arc<Mutex<Store>>,
    /// The emulator's own origin, for the hosted pages' URLs.
    pub base_url: Arc<str>,
    /// When set, only this key is accepted; otherwise any `sk_test_…` key is.
    pub secret_key: Option<Arc<str>>,
}

pub(crate) use crate::error::ApiResult;
/// The parameter readers every resource's module uses, as `super::params`.
pub(crate) use crate::params;

pub async fn handle(
    State(api): State<Api>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match respond(&api, &method, &uri, &headers, &body) {
        Ok(Answer::Fresh(status, value)) => (status, Json(value)).into_response(),
        Ok(Answer::Replayed(status, value)) => {
            (status, [("idempotent-replayed", "true")], Json(value)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// An answer made now, or the first answer to an idempotency key, given again.
enum Answer {
    Fresh(StatusCode, Value),
    Replayed(StatusCode, Value),
}

/// How long Stripe keeps an idempotency key (by the emulator's clock).
const IDEMPOTENCY_KEY_SECONDS: i64 = 24 * 60 * 60;

fn respond(
    api: &Api,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Answer, ApiError> {
    authenticate(api, headers)?;
    let params = if *method == Method::GET || *method == Method::DELETE {
        form::parse(uri.query().unwrap_or("").as_bytes())
    } else {
        form::parse(body)
    }
    .map_err(|e| ApiError::invalid_param("body", e.to_string()))?;
    // Before the idempotency lookup: Stripe saves no idempotent result for a request that fails
    // validation, so the key stays free for the corrected request.
    known::check(method, uri.path(), &params)?;

    let idempotency_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|_| *method == Method::POST)
        .map(str::to_string);
    let fingerprint = format!("{method} {} {}", uri.path(), String::from_utf8_lossy(body));
    let mut store = api.store.lock().expect("store lock");
    if let Some(key) = &idempotency_key {
        let now = store.now();
        let kept = store
            .idempotency
            .get(key)
            .filter(|reply| now - reply.created < IDEMPOTENCY_KEY_SECONDS);
        if let Some(reply) = kept {
            if reply.fingerprint != fingerprint {
                return Err(ApiError::idempotency(format!(
                    "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
                )));
            }
            let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
            return Ok(Answer::Replayed(status, reply.body.clone()));
        }
    }

    let result = route(api, &mut store, method, uri.path(), &params);
    let (status, value) = match &result {
        Ok(v) => (StatusCode::OK, v.clone()),
        Err(e) => (e.status, e.body()),
    };
    // Stripe stores the outcome of every request that reached the API, errors included.
    if let Some(key) = idempotency_key {
        let created = store.now();
        store.idempotency.insert(
            key,
            store::IdempotentReply {
                created,
                fingerprint,
                status: status.as_u16(),
                body: value.clone(),
            },
        );
    }
    result.map(|v| Answer::Fresh(StatusCode::OK, v))
}

fn authenticate(api: &Api, headers: &HeaderMap) -> Result<(), ApiError> {
    let raw = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::unauthorized(
                "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            )
        })?;
    let key = if let Some(token) = raw.strip_prefix("Bearer ") {
        token.trim().to_string()
    } else if let Some(basic) = raw.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        decoded.split(':').next().unwrap_or_default().to_string()
    } else {
        String::new()
    };
    let accepted = match &api.secret_key {
        Some(expected) => key == **expected,
        None => key.starts_with("sk_test_") && key.len() > "sk_test_".len(),
    };
    if accepted {
        Ok(())
    } else {
        let tail: String = key
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        Err(ApiError::unauthorized(format!(
            "Invalid API Key provided: sk_test_****{tail}"
        )))
    }
}

/// Hands the request to the module of the resource its path names, with the rest of the path.
fn route(api: &Api, store: &mut Store, method: &Method, path: &str, p: &Value) -> ApiResult {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let m = method.as_str();
    let routed = match segments.as_slice() {
        ["v1", "products", rest @ ..] => products::route(store, m, rest, p),
        ["v1", "prices", rest @ ..] => prices::route(store, m, rest, p),
        ["v1", "customers", rest @ ..] => customers::route(store, m, rest, p),
        ["v1", "coupons", rest @ ..] => coupons::route(store, m, rest, p),
        ["v1", "promotion_codes", rest @ ..] => promotion_codes::route(store, m, rest, p),
        ["v1", "checkout", "sessions", rest @ ..] => {
            checkout_sessions::route(api, store, m, rest, p)
        }
        ["v1", "billing_portal", rest @ ..] => billing_portal::route(api, store, m, rest, p),
        ["v1", "subscriptions", rest @ ..] => subscriptions::route(api, store, m, rest, p),
        ["v1", "subscription_schedules", rest @ ..] => {
            subscription_schedules::route(store, m, rest, p)
        }
        ["v1", "invoices", rest @ ..] => invoices::route(api, store, m, rest, p),
        ["v1", "invoice_payments", rest @ ..] => invoices::route_payments(api, store, m, rest, p),
        ["v1", resource @ ("payment_intents" | "charges" | "disputes" | "refunds"), rest @ ..] => {
            payments::route(store, m, resource, rest, p)
        }
        ["v1", "events", rest @ ..] => events::route(store, m, rest, p),
        ["v1", "webhook_endpoints", rest @ ..] => webhook_endpoints::route(store, m, rest, p),
        _ => None,
    };
    let answer = routed.unwrap_or_else(|| Err(ApiError::unknown_route(m, path)))?;
    // Every list endpoint pages alike, so its answer is cut to the page asked for here.
    if answer["object"] == "list" {
        return params::page(answer, p);
    }
    Ok(answer)
}
