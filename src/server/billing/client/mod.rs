//! The Stripe client, built once from configuration: the only place that knows where Stripe is
//! and how to talk to it.
//!
//! Requests are described by async-stripe's request builders (Stripe's paths and parameter
//! encoding for our pinned API version); the transport and the answers are ours:
//! - connections are kept and reused: async-stripe's own client opens a new connection (a TLS
//!   handshake with real Stripe) for every request, which made each webhook's read-back cost a
//!   handshake;
//! - answers are parsed into the few fields we store (`objects`), not into async-stripe's full
//!   object graph, whose parsers and destructors were 13 MB of the server's 30 MB of code and
//!   most of a webhook's parsing time, and which refused objects of another API version;
//! - every call is safe to try again, and is tried again as long as its caller can wait
//!   (`retry`): each POST carries one Idempotency-Key for all its tries, so Stripe does the work
//!   at most once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use hyper::{Method, Request};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use stripe_client_core::{StripeMethod, StripeRequest};

use crate::server::config::Config;
use crate::server::metrics::{self, Metrics, StripeOutcome};
use crate::server::outbound::{self, Outbound};

mod call;
mod retry;

pub use call::Call;
use retry::Failure;
pub use retry::Patience;

/// Stripe closes idle connections after a while; ours go first.
const IDLE: Duration = Duration::from_secs(50);
const USER_AGENT_VALUE: &str = concat!("landing/", env!("CARGO_PKG_VERSION"));

#[derive(Clone)]
pub struct Stripe {
    http: Outbound<Full<Bytes>>,
    /// `https://api.stripe.com` or the emulator, without a trailing slash.
    base: String,
    /// `Bearer sk_…`, marked sensitive so no header dump shows it.
    auth: HeaderValue,
    version: HeaderValue,
    /// Each call's latency and outcome, and each retry, when `/metrics` is on.
    metrics: Option<Arc<Metrics>>,
    /// How long one try may take (`STRIPE_TIMEOUT_MS`).
    timeout: Duration,
    /// Who waits on this client's calls.
    patience: Patience,
}

impl std::fmt::Debug for Stripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stripe")
            .field("base", &self.base)
            .field("patience", &self.patience)
            .finish()
    }
}

/// Why a call to Stripe did not give an answer we can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripeError {
    /// Stripe refused the request (`{"error": {…}}` with a 4xx/5xx status).
    #[error("Stripe refused the request ({status}{}): {}", .code.as_deref().map(|c| format!(", {c}")).unwrap_or_default(), .message.as_deref().unwrap_or("no message"))]
    Api {
        status: u16,
        message: Option<String>,
        /// The parameter Stripe names as the cause, if any (`customer`, `price`, …).
        param: Option<String>,
        /// Stripe's error code (`rate_limit`, `lock_timeout`, `resource_missing`, …).
        code: Option<String>,
    },
    #[error("Stripe did not answer in time")]
    Timeout,
    #[error("Stripe could not be reached: {0}")]
    Unreachable(String),
    #[error("Stripe's answer could not be read: {0}")]
    BadAnswer(String),
}

impl StripeError {
    pub fn status(&self) -> Option<u16> {
        match self {
            StripeError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A failure that says nothing about the request (Stripe busy, slow or out of reach): the
    /// same request may succeed in a moment. A buyer is told to try again, not that it failed.
    pub fn is_transient(&self) -> bool {
        match self {
            StripeError::Timeout | StripeError::Unreachable(_) => true,
            StripeError::Api { status, .. } => matches!(status, 409 | 429 | 500..=599),
            StripeError::BadAnswer(_) => false,
        }
    }

    /// Did Stripe refuse the request because of one of these parameters (or one nested under
    /// it, such as `discounts[0][coupon]`)?
    pub fn is_about(&self, params: &[&str]) -> bool {
        match self {
            StripeError::Api {
                status: 400..=499,
                param: Some(param),
                ..
            } => params.iter().any(|p| param.starts_with(p)),
            _ => false,
        }
    }

    /// Stripe's words for an error, safe to show: its message for a request Stripe refused, a
    /// short note otherwise (never the key or the request).
    pub fn describe(&self) -> String {
        match self {
            StripeError::Api {
                message: Some(m), ..
            } => m.clone(),
            StripeError::Api { status, .. } => format!("Stripe refused the request ({status})"),
            StripeError::Timeout => "Stripe did not answer in time".into(),
            StripeError::Unreachable(_) => "Stripe could not be reached".into(),
            StripeError::BadAnswer(_) => "Stripe's answer could not be read".into(),
        }
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    message: Option<String>,
    param: Option<String>,
    code: Option<String>,
}

impl Stripe {
    /// `None` when billing is off (no `STRIPE_SECRET_KEY`). Its calls are a buyer's: see
    /// [`Stripe::patient`] for the others.
    pub fn from_config(config: &Config) -> Option<Stripe> {
        let key = config.stripe_secret_key.as_ref()?;
        let mut auth = match HeaderValue::try_from(format!("Bearer {}", key.key.expose())) {
            Ok(v) => v,
            // The key's characters were checked at start-up; this cannot happen.
            Err(_) => {
                tracing::error!("STRIPE_SECRET_KEY is not a valid header value; billing is off");
                return None;
            }
        };
        auth.set_sensitive(true);
        // `https://` is enforced for live keys by the configuration; the emulator is plain http.
        let http = outbound::client(None, IDLE);
        Some(Stripe {
            http,
            base: config
                .stripe_api_base
                .as_str()
                .trim_end_matches('/')
                .to_string(),
            auth,
            version: HeaderValue::from_static(stripe_shared::version::VERSION.as_str()),
            metrics: None,
            timeout: config.stripe_timeout,
            patience: Patience::Buyer,
        })
    }

    /// Counts every call in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Stripe {
        self.metrics = Some(metrics);
        self
    }

    /// The same client (the same connections) for callers who wait otherwise.
    pub fn patient(&self, patience: Patience) -> Stripe {
        Stripe {
            patience,
            ..self.clone()
        }
    }

    /// Sends one of async-stripe's requests and reads the answer into `T`. A POST carries a new
    /// Idempotency-Key, the same for all of its tries.
    pub async fn send<T: DeserializeOwned>(
        &self,
        request: &impl StripeRequest,
    ) -> Result<T, StripeError> {
        self.send_keyed(request, None).await
    }

    /// As `send`, with the key of an operation its caller may repeat as a whole (a buyer who
    /// confirms the same plan change twice): Stripe does it once and answers the repeat with the
    /// first answer.
    pub async fn send_as<T: DeserializeOwned>(
        &self,
        request: &impl StripeRequest,
        key: &str,
    ) -> Result<T, StripeError> {
        self.send_keyed(request, Some(key)).await
    }

    async fn send_keyed<T: DeserializeOwned>(
        &self,
        request: &impl StripeRequest,
        key: Option<&str>,
    ) -> Result<T, StripeError> {
        let bytes = self.call(request, key).await?;
        serde_json::from_slice(&bytes).map_err(|e| StripeError::BadAnswer(e.to_string()))
    }

    /// Tries `request` until it succeeds, fails for good, or the caller's patience runs out.
    async fn call(
        &self,
        request: &impl StripeRequest,
        key: Option<&str>,
    ) -> Result<Bytes, StripeError> {
        let first = request.build();
        let method = http_method(first.method);
        let key = (method == Method::POST).then(|| match key {
            Some(k) => k.to_string(),
            None => uuid::Uuid::new_v4().to_string(),
        });
        // The operation's name (`GET /subscriptions/:id`) costs an allocation and a scan of the
        // path: made on the answer path only when metrics count it, otherwise when a try fails.
        let mut operation = self
            .metrics
            .as_ref()
            .map(|_| metrics::operation(method.as_str(), &first.path));
        let policy = self.patience.policy(self.timeout);
        let started = Instant::now();
        let mut built = Some(first);
        let mut tries = 1;
        loop {
            let left = policy.budget.saturating_sub(started.elapsed());
            let timeout = policy.timeout.min(left);
            let this = built.take().unwrap_or_else(|| request.build());
            let sent = Instant::now();
            let result = self.exchange(this, key.as_deref(), timeout).await;
            self.count(operation.as_deref(), &result, sent.elapsed());
            let failure = match result {
                Ok(bytes) => return Ok(bytes),
                Err(failure) => failure,
            };
            let operation = operation
                .get_or_insert_with(|| metrics::operation(method.as_str(), &request.build().path))
                .as_str();
            let delay = policy.delay(tries + 1);
            let out_of_time = started.elapsed() + delay >= policy.budget;
            if !failure.retryable() || tries >= policy.tries || out_of_time {
                if failure.retryable() && tries > 1 {
                    tracing::warn!(%operation, tries, request_id = failure.request_id.as_deref().unwrap_or("-"), error = %failure.error, "Stripe call given up");
                }
                return Err(failure.error);
            }
            tracing::warn!(%operation, try_ = tries, wait_ms = delay.as_millis() as u64, request_id = failure.request_id.as_deref().unwrap_or("-"), error = %failure.error, "Stripe call failed; trying again");
            if let Some(counts) = &self.metrics {
                counts.stripe_retry(operation.to_string(), failure.reason());
            }
            tokio::time::sleep(delay).await;
            tries += 1;
        }
    }

    fn count(&self, operation: Option<&str>, result: &Result<Bytes, Failure>, took: Duration) {
        let (Some(counts), Some(operation)) = (&self.metrics, operation) else {
            return;
        };
        let outcome = match result {
            Ok(_) => StripeOutcome::Ok,
            Err(f) => match &f.error {
                StripeError::Api { status, .. } if *status < 500 => StripeOutcome::Refused,
                StripeError::Api { .. } => StripeOutcome::Failed,
                StripeError::Timeout => StripeOutcome::Timeout,
                StripeError::Unreachable(_) | StripeError::BadAnswer(_) => {
                    StripeOutcome::Unreachable
                }
            },
        };
        counts.stripe_call(operation.to_string(), outcome, took);
    }

    /// One try: the request sent, the answer read, within `timeout`.
    async fn exchange(
        &self,
        built: stripe_client_core::RequestBuilder,
        key: Option<&str>,
        timeout: Duration,
    ) -> Result<Bytes, Failure> {
        let failed = |error| Failure {
            error,
            should_retry: None,
            request_id: None,
        };
        // The emulator's own controls sit beside its API, not under `/v1`.
        let version = if built.path.starts_with("/_emulator/") {
            ""
        } else {
            "/v1"
        };
        let mut uri = format!("{}{version}{}", self.base, built.path);
        if let Some(query) = built.query.as_deref().filter(|q| !q.is_empty()) {
            uri.push('?');
            uri.push_str(query);
        }
        let mut http_request = Request::builder()
            .method(http_method(built.method))
            .uri(uri)
            .header(AUTHORIZATION, self.auth.clone())
            .header(USER_AGENT, USER_AGENT_VALUE)
            .header("stripe-version", self.version.clone());
        if built.body.is_some() {
            http_request = http_request.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        if let Some(key) = key {
            http_request = http_request.header("idempotency-key", key);
        }
        let http_request = http_request
            .body(Full::new(Bytes::from(built.body.unwrap_or_default())))
            .map_err(|e| {
                failed(StripeError::Unreachable(format!(
                    "cannot build the request: {e}"
                )))
            })?;
        let exchange = async {
            let response = self
                .http
                .request(http_request)
                .await
                .map_err(|e| StripeError::Unreachable(e.to_string()))?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| StripeError::Unreachable(e.to_string()))?
                .to_bytes();
            Ok::<_, StripeError>((parts.status, parts.headers, body))
        };
        let (status, headers, body) = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| failed(StripeError::Timeout))?
            .map_err(failed)?;
        if status.is_success() {
            return Ok(body);
        }
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let detail = serde_json::from_slice::<ErrorBody>(&body)
            .ok()
            .map(|b| b.error);
        Err(Failure {
            error: StripeError::Api {
                status: status.as_u16(),
                message: detail.as_ref().and_then(|d| d.message.clone()),
                param: detail.as_ref().and_then(|d| d.param.clone()),
                code: detail.and_then(|d| d.code),
            },
            should_retry: header("stripe-should-retry").map(|v| v == "true"),
            request_id: header("request-id"),
        })
    }
}

fn http_method(method: StripeMethod) -> Method {
    match method {
        StripeMethod::Get => Method::GET,
        StripeMethod::Post => Method::POST,
        StripeMethod::Delete => Method::DELETE,
    }
}
