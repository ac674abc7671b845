//! What happens to a request before the API sees it: it is counted, it may be refused by the
//! optional rate limit, and it may meet a fault planned by a test. Real Stripe fails in these
//! ways now and then; a client proves it survives them only if they can be made to happen.
//!
//! A fault is planned with `POST /_emulator/faults` and fires on the next matching requests:
//! - `error`: 500 `api_error`, nothing done;
//! - `rate_limit`: 429 `rate_limit` with `Stripe-Should-Retry` (`should_retry=false` to forbid);
//! - `lock_timeout`: 409 `lock_timeout`, nothing done;
//! - `hang`: the answer comes `seconds` late (past the client's timeout), the work done then;
//! - `drop`: the work is done, then the connection is dropped before any answer: the case only
//!   an idempotency key makes safe to retry.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::ApiError;

/// How many requests the log keeps; the count goes on past it.
const LOG_LIMIT: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    Error,
    RateLimit,
    LockTimeout,
    Hang,
    Drop,
}

impl FaultKind {
    fn parse(raw: &str) -> Option<FaultKind> {
        Some(match raw {
            "error" => FaultKind::Error,
            "rate_limit" => FaultKind::RateLimit,
            "lock_timeout" => FaultKind::LockTimeout,
            "hang" => FaultKind::Hang,
            "drop" => FaultKind::Drop,
            _ => return None,
        })
    }
}

/// A fault waiting for its requests.
#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    pub kind: FaultKind,
    /// `GET`, `POST`, `DELETE`, or `*` for any.
    pub method: String,
    /// Matches a request whose path starts with it (`/v1/checkout/sessions`).
    pub path: String,
    /// How many more times it fires.
    pub remaining: u32,
    /// It fires on every `every`-th matching request (1: each one).
    pub every: u32,
    /// Matching requests seen so far.
    seen: u32,
    /// For `hang`: how late the answer comes.
    pub seconds: f64,
    /// For `rate_limit`: the `Stripe-Should-Retry` header's value.
    pub should_retry: bool,
}

impl Fault {
    /// Reads a fault from the control's form parameters.
    pub fn from_params(p: &Value) -> Result<Fault, ApiError> {
        let text = |key: &str| p.get(key).and_then(Value::as_str);
        let kind = text("kind").and_then(FaultKind::parse).ok_or_else(|| {
            ApiError::invalid_param(
                "kind",
                "Give kind=error, rate_limit, lock_timeout, hang or drop.",
            )
        })?;
        let path = text("path")
            .filter(|p| p.starts_with("/v1/"))
            .ok_or_else(|| ApiError::invalid_param("path", "Give a path under /v1/."))?;
        let number = |key: &str, default: f64| -> Result<f64, ApiError> {
            match text(key) {
                None => Ok(default),
                Some(raw) => raw
                    .parse::<f64>()
                    .ok()
                    .filter(|n| *n >= 0.0 && n.is_finite())
                    .ok_or_else(|| ApiError::invalid_param(key, format!("Invalid number: {raw}"))),
            }
        };
        Ok(Fault {
            kind,
            method: text("method").unwrap_or("*").to_ascii_uppercase(),
            path: path.to_string(),
            remaining: number("count", 1.0)?.max(1.0) as u32,
            every: number("every", 1.0)?.max(1.0) as u32,
            seen: 0,
            seconds: number("seconds", 30.0)?,
            should_retry: text("should_retry") != Some("false"),
        })
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        (self.method == "*" || self.method == method.as_str()) && path.starts_with(&self.path)
    }
}

/// One request as it reached the API.
#[derive(Debug, Clone, Serialize)]
pub struct Seen {
    pub method: String,
    pub path: String,
}

#[derive(Debug, Default)]
struct Inner {
    faults: Vec<Fault>,
    log: Vec<Seen>,
    count: u64,
    /// Requests per second allowed per API key; `None`: no limit.
    rate_limit: Option<u32>,
    /// Per key, when its recent requests arrived (within the last second).
    recent: std::collections::HashMap<String, VecDeque<Instant>>,
}

/// The emulator's traffic controls, shared by every request.
#[derive(Debug, Clone, Default)]
pub struct Traffic(Arc<Mutex<Inner>>);

/// What to do with a request.
pub enum Verdict {
    /// Hand it to the API.
    Serve,
    /// Refuse it with this answer.
    Refuse(Response),
    /// Wait, then serve it.
    Late(Duration),
    /// Serve it, then drop the connection.
    Drop,
}

impl Traffic {
    pub fn with_rate_limit(per_second: Option<u32>) -> Traffic {
        let traffic = Traffic::default();
        traffic.lock().rate_limit = per_second.filter(|n| *n > 0);
        traffic
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().expect("traffic lock")
    }

    /// Counts the request and decides what happens to it (`key`: its API key).
    pub fn admit(&self, method: &Method, path: &str, key: &str) -> Verdict {
        let mut inner = self.lock();
        inner.count += 1;
        if inner.log.len() < LOG_LIMIT {
            inner.log.push(Seen {
                method: method.to_string(),
                path: path.to_string(),
            });
        }
        if let Some(limit) = inner.rate_limit {
            let now = Instant::now();
            let recent = inner.recent.entry(key.to_string()).or_default();
            while recent
                .front()
                .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
            {
                recent.pop_front();
            }
            if recent.len() >= limit as usize {
                return Verdict::Refuse(refusal(FaultKind::RateLimit, true));
            }
            recent.push_back(now);
        }
        let Some(index) = inner.faults.iter().position(|f| f.matches(method, path)) else {
            return Verdict::Serve;
        };
        let fault = &mut inner.faults[index];
        fault.seen += 1;
        if !fault.seen.is_multiple_of(fault.every) {
            return Verdict::Serve;
        }
        fault.remaining -= 1;
        let fired = fault.clone();
        if fault.remaining == 0 {
            inner.faults.remove(index);
        }
        match fired.kind {
            FaultKind::Hang => Verdict::Late(Duration::from_secs_f64(fired.seconds)),
            FaultKind::Drop => Verdict::Drop,
            kind => Verdict::Refuse(refusal(kind, fired.should_retry)),
        }
    }

    pub fn plan(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    pub fn clear(&self) {
        self.lock().faults.clear();
    }

    pub fn planned(&self) -> Vec<Fault> {
        self.lock().faults.clone()
    }

    pub fn set_rate_limit(&self, per_second: Option<u32>) {
        let mut inner = self.lock();
        inner.rate_limit = per_second.filter(|n| *n > 0);
        inner.recent.clear();
    }

    /// How many requests reached the API, and the latest ones whose path starts with `prefix`.
    pub fn requests(&self, method: Option<&str>, prefix: &str) -> Value {
        let inner = self.lock();
        let matching: Vec<&Seen> = inner
            .log
            .iter()
            .filter(|s| method.is_none_or(|m| s.method.eq_ignore_ascii_case(m)))
            .filter(|s| s.path.starts_with(prefix))
            .collect();
        json!({ "total": inner.count, "count": matching.len(), "requests": matching })
    }

    /// Forgets the log and the planned faults (the emulator's reset).
    pub fn reset(&self) {
        let mut inner = self.lock();
        inner.faults.clear();
        inner.log.clear();
        inner.count = 0;
        inner.recent.clear();
    }
}

/// Stripe's answer for a refused request of this kind.
fn refusal(kind: FaultKind, should_retry: bool) -> Response {
    let (status, error) = match kind {
        FaultKind::RateLimit => (
            StatusCode::TOO_MANY_REQUESTS,
            json!({
                "type": "invalid_request_error",
                "code": "rate_limit",
                "message": "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
            }),
        ),
        FaultKind::LockTimeout => (
            StatusCode::CONFLICT,
            json!({
                "type": "invalid_request_error",
                "code": "lock_timeout",
                "message": "This object cannot be accessed right now because another API request or Stripe process is currently accessing it. If you see this error intermittently, retry the request.",
            }),
        ),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({
                "type": "api_error",
                "message": "An unknown error occurred (planned by the emulator's faults).",
            }),
        ),
    };
    let mut response = (status, axum::Json(json!({ "error": error }))).into_response();
    if kind == FaultKind::RateLimit {
        response.headers_mut().insert(
            "stripe-should-retry",
            HeaderValue::from_static(if should_retry { "true" } else { "false" }),
        );
    }
    response
}

/// A response that drops the connection instead of answering: its body fails before a byte is
/// sent, and the server closes the connection.
pub fn dropped() -> Response {
    let failing = futures_util::stream::once(async {
        Err::<axum::body::Bytes, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "dropped by the emulator's faults",
        ))
    });
    Response::new(axum::body::Body::from_stream(failing))
}
