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
//!   most of a webhook's parsing time, and which refused objects of another API version.

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

/// A buyer waits on these calls: a Stripe that does not answer is an error, not a hang.
const TIMEOUT: Duration = Duration::from_secs(20);
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
    /// Each call's latency and outcome, when `/metrics` is on.
    metrics: Option<Arc<Metrics>>,
}

impl std::fmt::Debug for Stripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stripe").field("base", &self.base).finish()
    }
}

/// Why a call to Stripe did not give an answer we can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripeError {
    /// Stripe refused the request (`{"error": {…}}` with a 4xx/5xx status).
    #[error("Stripe refused the request ({status}): {}", .message.as_deref().unwrap_or("no message"))]
    Api {
        status: u16,
        message: Option<String>,
        /// The parameter Stripe names as the cause, if any (`customer`, `price`, …).
        param: Option<String>,
    },
    #[error("Stripe did not answer within {} s", TIMEOUT.as_secs())]
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
}

impl Stripe {
    /// `None` when billing is off (no `STRIPE_SECRET_KEY`).
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
        })
    }

    /// Counts every call in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Stripe {
        self.metrics = Some(metrics);
        self
    }

    /// Sends one of async-stripe's requests and reads the answer into `T`.
    pub async fn send<T: DeserializeOwned>(
        &self,
        request: &impl StripeRequest,
    ) -> Result<T, StripeError> {
        let bytes = self.call(request).await?;
        serde_json::from_slice(&bytes).map_err(|e| StripeError::BadAnswer(e.to_string()))
    }

    async fn call(&self, request: &impl StripeRequest) -> Result<Bytes, StripeError> {
        let Some(counts) = &self.metrics else {
            return self.exchange(request.build()).await;
        };
        let built = request.build();
        let operation = metrics::operation(http_method(built.method).as_str(), &built.path);
        let started = Instant::now();
        let result = self.exchange(built).await;
        let outcome = match &result {
            Ok(_) => StripeOutcome::Ok,
            Err(StripeError::Api { status, .. }) if *status < 500 => StripeOutcome::Refused,
            Err(StripeError::Api { .. }) => StripeOutcome::Failed,
            Err(StripeError::Timeout) => StripeOutcome::Timeout,
            Err(StripeError::Unreachable(_) | StripeError::BadAnswer(_)) => {
                StripeOutcome::Unreachable
            }
        };
        counts.stripe_call(operation, outcome, started.elapsed());
        result
    }

    async fn exchange(
        &self,
        built: stripe_client_core::RequestBuilder,
    ) -> Result<Bytes, StripeError> {
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
        let http_request = http_request
            .body(Full::new(Bytes::from(built.body.unwrap_or_default())))
            .map_err(|e| StripeError::Unreachable(format!("cannot build the request: {e}")))?;
        let exchange = async {
            let response = self
                .http
                .request(http_request)
                .await
                .map_err(|e| StripeError::Unreachable(e.to_string()))?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| StripeError::Unreachable(e.to_string()))?
                .to_bytes();
            Ok::<_, StripeError>((status, body))
        };
        let (status, body) = tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| StripeError::Timeout)??;
        if status.is_success() {
            return Ok(body);
        }
        let detail = serde_json::from_slice::<ErrorBody>(&body)
            .ok()
            .map(|b| b.error);
        Err(StripeError::Api {
            status: status.as_u16(),
            message: detail.as_ref().and_then(|d| d.message.clone()),
            param: detail.and_then(|d| d.param),
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

/// A request described by its path and form parameters, for the set-up calls async-stripe's
/// builders make long-winded (portal configurations, webhook endpoints): the parameters are
/// Stripe's own names, encoded as Stripe reads them (`features[invoice_history][enabled]`).
#[derive(Debug, Clone)]
pub struct Call {
    method: StripeMethod,
    path: String,
    params: Vec<(String, String)>,
}

impl Call {
    pub fn get(path: impl Into<String>) -> Call {
        Call {
            method: StripeMethod::Get,
            path: path.into(),
            params: Vec::new(),
        }
    }

    pub fn post(path: impl Into<String>) -> Call {
        Call {
            method: StripeMethod::Post,
            path: path.into(),
            params: Vec::new(),
        }
    }

    pub fn param(mut self, key: impl Into<String>, value: impl Into<String>) -> Call {
        self.params.push((key.into(), value.into()));
        self
    }

    /// `key[0]=a&key[1]=b`.
    pub fn list<S: AsRef<str>>(mut self, key: &str, values: &[S]) -> Call {
        for (i, v) in values.iter().enumerate() {
            self.params
                .push((format!("{key}[{i}]"), v.as_ref().to_string()));
        }
        self
    }
}

impl StripeRequest for Call {
    type Output = serde_json::Value;

    fn build(&self) -> stripe_client_core::RequestBuilder {
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.params)
            .finish();
        let mut built = stripe_client_core::RequestBuilder::new(self.method, self.path.as_str());
        match self.method {
            StripeMethod::Get | StripeMethod::Delete => built.query = Some(encoded),
            StripeMethod::Post => built.body = Some(encoded),
        }
        built
    }
}
