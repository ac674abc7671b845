//! The emulator's own controls, like the Stripe CLI's `trigger` and Stripe's test clocks:
//! move time, make a renewal fail, pay an invoice, resend or replay events; and the traffic
//! controls: faults on demand, a rate limit, the count of API requests.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::flows;
use crate::form;
use crate::traffic::Fault;
use crate::webhooks::{Outcome, SeededRng};
use crate::AppState;

fn params(body: &[u8]) -> Result<Value, ApiError> {
    form::parse(body).map_err(|e| ApiError::invalid_param("body", e.to_string()))
}

fn number(p: &Value, key: &str, default: i64) -> Result<i64, ApiError> {
    match p.get(key).and_then(Value::as_str) {
        None => Ok(default),
        Some(raw) => raw
            .parse()
            .map_err(|_| ApiError::invalid_param(key, format!("Invalid integer: {raw}"))),
    }
}

/// `seconds=` and/or `days=`: renews, ends trials and cancels what falls due meanwhile.
pub async fn advance(State(state): State<AppState>, body: Bytes) -> Response {
    let run = || -> Result<Value, ApiError> {
        let p = params(&body)?;
        let seconds = number(&p, "seconds", 0)? + number(&p, "days", 0)? * 86_400;
        if seconds <= 0 {
            return Err(ApiError::invalid_param(
                "seconds",
                "Give seconds= or days= greater than 0.",
            ));
        }
        let mut store = state.api.store.lock().expect("store lock");
        let before = store.events.len();
        flows::advance(&mut store, &state.api.base_url, seconds);
        Ok(json!({
            "now": store.now(),
            "events": store.events[before..].iter().map(|e| json!({"id": e.id, "type": e.type_})).collect::<Vec<_>>(),
        }))
    };
    reply(run())
}

pub async fn fail_next_renewal(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let mut store = state.api.store.lock().expect("store lock");
    reply(
        flows::fail_next_renewal(&mut store, &id)
            .map(|()| json!({ "subscription": id, "fail_next_renewal": true })),
    )
}

pub async fn renew_now(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let mut store = state.api.store.lock().expect("store lock");
    reply(flows::renew_now(&mut store, &state.api.base_url, &id))
}

pub async fn pay_invoice(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let mut store = state.api.store.lock().expect("store lock");
    reply(flows::pay_invoice(&mut store, &state.api.base_url, &id))
}

/// `outcome=won`, `lost` or `prevented`: the bank's decision on a dispute.
pub async fn close_dispute(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let run = || -> Result<Value, ApiError> {
        let p = params(&body)?;
        let outcome = match p.get("outcome").and_then(Value::as_str) {
            Some(o @ ("won" | "lost" | "prevented")) => o.to_string(),
            _ => {
                return Err(ApiError::invalid_param(
                    "outcome",
                    "Give outcome=won, outcome=lost or outcome=prevented.",
                ))
            }
        };
        let mut store = state.api.store.lock().expect("store lock");
        flows::close_dispute(&mut store, &id, &outcome)
    };
    reply(run())
}

/// `status=…`: the dispute moves on as Stripe moves it (see `flows::move_dispute`): an
/// inquiry to `warning_under_review`, `warning_closed` or `needs_response` (a chargeback); a
/// chargeback to `under_review`, `won`, `lost` or `prevented`.
pub async fn update_dispute(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let run = || -> Result<Value, ApiError> {
        let p = params(&body)?;
        let status = p
            .get("status")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::invalid_param("status", "Give status=…"))?;
        let mut store = state.api.store.lock().expect("store lock");
        flows::move_dispute(&mut store, &id, status)
    };
    reply(run())
}

/// The cardholder disputes a charge (a renewal's, say): `status=needs_response` (a
/// chargeback, the default) or `warning_needs_response` (an inquiry).
pub async fn dispute_charge(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let run = || -> Result<Value, ApiError> {
        let p = params(&body)?;
        let status = p
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("needs_response");
        let mut store = state.api.store.lock().expect("store lock");
        flows::open_dispute(&mut store, &id, status)
    };
    reply(run())
}

/// The bank could not complete a refund: `charge.refund.updated` with `status=failed`.
pub async fn fail_refund(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let mut store = state.api.store.lock().expect("store lock");
    reply(flows::fail_refund(&mut store, &id))
}

/// Delivers one event again to every endpoint, now, and answers with what happened.
pub async fn resend(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    if state
        .api
        .store
        .lock()
        .expect("store lock")
        .event(&id)
        .is_none()
    {
        return ApiError::not_found("event", &id).into_response();
    }
    let outcomes = state.deliverer.deliver_now(&id, None).await;
    Json(json!({
        "event": id,
        "delivered": outcomes.iter().filter(|o| **o == Outcome::Delivered).count(),
        "gave_up": outcomes.iter().filter(|o| **o == Outcome::GaveUp).count(),
    }))
    .into_response()
}

/// Every event so far, `times` times each, shuffled by `seed`, `concurrency` at a time (to one
/// endpoint `url`, or to all). The order is the same for the same seed; it is in the answer.
pub async fn replay(State(state): State<AppState>, body: Bytes) -> Response {
    let p = match params(&body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let (times, seed, concurrency) = match (
        number(&p, "times", 1),
        number(&p, "seed", 0),
        number(&p, "concurrency", 1),
    ) {
        (Ok(t), Ok(s), Ok(c)) => (t.clamp(1, 100) as usize, s as u64, c.clamp(1, 256) as usize),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return e.into_response(),
    };
    let url = p.get("url").and_then(Value::as_str).map(str::to_string);
    let mut order: Vec<String> = {
        let store = state.api.store.lock().expect("store lock");
        store
            .events
            .iter()
            .flat_map(|e| std::iter::repeat_n(e.id.clone(), times))
            .collect()
    };
    SeededRng::new(seed).shuffle(&mut order);

    let limit = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = Vec::with_capacity(order.len());
    for id in order.clone() {
        let permit = limit.clone().acquire_owned().await.expect("semaphore open");
        let deliverer = state.deliverer.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let outcomes = deliverer.deliver_now(&id, url.as_deref()).await;
            drop(permit);
            outcomes
        }));
    }
    let (mut delivered, mut gave_up) = (0, 0);
    for task in tasks {
        for outcome in task.await.unwrap_or_default() {
            match outcome {
                Outcome::Delivered => delivered += 1,
                Outcome::GaveUp => gave_up += 1,
            }
        }
    }
    Json(json!({ "order": order, "delivered": delivered, "gave_up": gave_up })).into_response()
}

pub async fn deliveries(State(state): State<AppState>) -> Response {
    let store = state.api.store.lock().expect("store lock");
    Json(json!({ "deliveries": store.deliveries })).into_response()
}

fn reply(result: Result<Value, ApiError>) -> Response {
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// A sample event signed with the endpoint's secret, handed back instead of delivered: how
/// `landing doctor` proves that its `STRIPE_WEBHOOK_SECRET` is this endpoint's without
/// touching the site. (Stripe's API has no such call; the dashboard shows the secret.)
pub async fn test_event(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let store = state.api.store.lock().expect("store lock");
    let Some(endpoint) = store.endpoints.get(&id) else {
        return ApiError::not_found("webhook_endpoint", &id).into_response();
    };
    let now = store.now();
    let payload = json!({
        "id": crate::store::new_id("evt_test"),
        "object": "event",
        "api_version": endpoint.api_version.as_deref().unwrap_or(crate::objects::API_VERSION),
        "created": now,
        "data": { "object": { "id": endpoint.id, "object": "webhook_endpoint" } },
        "livemode": false,
        "pending_webhooks": 0,
        "request": { "id": null, "idempotency_key": null },
        "type": "webhook_endpoint.test",
    })
    .to_string();
    let signature = crate::signing::header(&endpoint.secret, now, &payload);
    Json(json!({ "payload": payload, "signature": signature })).into_response()
}

/// Plans a fault (`kind`, `path`, and optionally `method`, `count`, `every`, `seconds`,
/// `should_retry`; see `traffic`) for the next matching API requests.
pub async fn plan_fault(State(state): State<AppState>, body: Bytes) -> Response {
    let run = || -> Result<Value, ApiError> {
        let fault = Fault::from_params(&params(&body)?)?;
        let planned = json!(fault);
        state.traffic.plan(fault);
        Ok(planned)
    };
    reply(run())
}

pub async fn faults(State(state): State<AppState>) -> Response {
    Json(json!({ "faults": state.traffic.planned() })).into_response()
}

pub async fn clear_faults(State(state): State<AppState>) -> Response {
    state.traffic.clear();
    Json(json!({ "faults": [] })).into_response()
}

/// `per_second=N` requests per API key, answered 429 past it; `per_second=0` lifts the limit.
pub async fn rate_limit(State(state): State<AppState>, body: Bytes) -> Response {
    let run = || -> Result<Value, ApiError> {
        let per_second = number(&params(&body)?, "per_second", 0)?;
        let limit = u32::try_from(per_second)
            .map_err(|_| ApiError::invalid_param("per_second", "Give a number from 0."))?;
        state.traffic.set_rate_limit(Some(limit));
        Ok(json!({ "per_second": limit }))
    };
    reply(run())
}

/// How many API requests arrived (`total`), and those matching `method` and a `path` prefix.
pub async fn requests(
    State(state): State<AppState>,
    Query(filter): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let method = filter.get("method").map(String::as_str);
    let prefix = filter.get("path").map(String::as_str).unwrap_or("/v1/");
    Json(state.traffic.requests(method, prefix)).into_response()
}
