//! A local Stripe: a stateful HTTP server speaking the part of Stripe's API that landing uses,
//! with Stripe's shapes, errors and parameter rules, so the whole money flow runs (and is tested)
//! with no Stripe account and no network.
//!
//! Start it in a test with [`spawn`] (port 0), or run the `stripe-emulator` binary beside the site.

pub mod api;
pub mod catalog;
mod control;
pub mod error;
pub mod flows;
pub mod form;
pub mod objects;
pub mod pages;
pub mod params;
pub mod portal_config;
pub mod signing;
pub mod store;
pub mod traffic;
pub mod webhooks;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::{FromRef, State};
use axum::http::{Method, Uri};
use axum::response::IntoResponse;
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::api::Api;
use crate::error::ApiError;
use crate::store::Store;
use crate::traffic::{Traffic, Verdict};
use crate::webhooks::{Deliverer, RetryPolicy};

#[derive(Debug, Clone)]
pub struct Options {
    /// Where to listen; 127.0.0.1 only unless told otherwise.
    pub addr: SocketAddr,
    /// A `plans.toml` whose products and prices are created at start (and on reset).
    pub catalog: Option<PathBuf>,
    /// Accept only this secret key; by default any `sk_test_…` key is accepted.
    pub secret_key: Option<String>,
    /// A webhook endpoint to create at start (and after a reset), with its signing secret.
    pub webhook: Option<(String, String)>,
    /// How deliveries are retried.
    pub retry: RetryPolicy,
    /// API requests per second allowed per key, answered 429 past it as Stripe does; `None`:
    /// no limit (Stripe allows about 25 in test mode, 100 live).
    pub rate_limit: Option<u32>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            catalog: None,
            secret_key: None,
            webhook: None,
            retry: RetryPolicy::default(),
            rate_limit: None,
        }
    }
}

/// A running emulator. Dropping it stops the server.
pub struct Emulator {
    pub base_url: String,
    pub store: Arc<Mutex<Store>>,
    /// The request log, the rate limit and the planned faults.
    pub traffic: Traffic,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("catalog {path}: {message}")]
    Catalog { path: String, message: String },
}

#[derive(Clone)]
struct AppState {
    api: Api,
    catalog: Option<PathBuf>,
    webhook: Option<(String, String)>,
    deliverer: Deliverer,
    traffic: Traffic,
}

impl FromRef<AppState> for Api {
    fn from_ref(state: &AppState) -> Api {
        state.api.clone()
    }
}

/// Starts the emulator on `options.addr` (port 0 picks a free port) and returns at once.
pub async fn spawn(options: Options) -> Result<Emulator, StartError> {
    let listener = TcpListener::bind(options.addr)
        .await
        .map_err(|source| StartError::Bind {
            addr: options.addr,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: options.addr,
        source,
    })?;
    let base_url = format!("http://{addr}");
    let store = Arc::new(Mutex::new(Store::default()));
    let (tx, events) = tokio::sync::mpsc::unbounded_channel();
    let deliverer = Deliverer::new(store.clone(), options.retry.clone());
    let traffic = Traffic::with_rate_limit(options.rate_limit);
    let state = AppState {
        api: Api {
            store: store.clone(),
            base_url: base_url.clone().into(),
            secret_key: options.secret_key.map(Into::into),
        },
        catalog: options.catalog.clone(),
        webhook: options.webhook.clone(),
        deliverer: deliverer.clone(),
        traffic: traffic.clone(),
    };
    {
        let mut s = store.lock().expect("store lock");
        s.outbox = Some(tx);
        prepare(&mut s, &state)?;
    }
    tokio::spawn(deliverer.run(events));
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/c/pay/{id}",
            get(pages::checkout_page).post(pages::checkout_submit),
        )
        .route(
            "/c/3ds/{id}",
            get(pages::authentication_page).post(pages::authentication_submit),
        )
        .route("/p/session/{id}", get(pages::portal_page))
        .route(
            "/p/session/{id}/subscriptions/{sub}",
            post(pages::portal_action),
        )
        .route("/i/{id}", get(pages::invoice_page))
        .route("/i/{id}/pay", post(pages::invoice_pay))
        .route("/_emulator", get(pages::dashboard))
        .route("/_emulator/deliveries", get(control::deliveries))
        .route("/_emulator/reset", post(reset))
        .route("/_emulator/advance", post(control::advance))
        .route(
            "/_emulator/subscriptions/{id}/fail_next_renewal",
            post(control::fail_next_renewal),
        )
        .route(
            "/_emulator/subscriptions/{id}/renew",
            post(control::renew_now),
        )
        .route("/_emulator/invoices/{id}/pay", post(control::pay_invoice))
        .route(
            "/_emulator/disputes/{id}/close",
            post(control::close_dispute),
        )
        .route(
            "/_emulator/disputes/{id}/update",
            post(control::update_dispute),
        )
        .route(
            "/_emulator/charges/{id}/dispute",
            post(control::dispute_charge),
        )
        .route("/_emulator/refunds/{id}/fail", post(control::fail_refund))
        .route("/_emulator/events/{id}/resend", post(control::resend))
        .route("/_emulator/replay", post(control::replay))
        .route(
            "/_emulator/faults",
            get(control::faults)
                .post(control::plan_fault)
                .delete(control::clear_faults),
        )
        .route("/_emulator/rate_limit", post(control::rate_limit))
        .route("/_emulator/requests", get(control::requests))
        .route(
            "/_emulator/webhook_endpoints/{id}/test_event",
            post(control::test_event),
        )
        .route("/v1/{*rest}", any(api_entry))
        .fallback(unknown)
        .with_state(state);
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the emulator stopped");
        }
    });
    Ok(Emulator {
        base_url,
        store,
        traffic,
        shutdown: Some(tx),
    })
}

/// Seeds the catalog and creates the configured webhook endpoint in an empty store.
fn prepare(store: &mut Store, state: &AppState) -> Result<(), StartError> {
    if let Some(path) = &state.catalog {
        catalog::seed(store, path).map_err(|message| StartError::Catalog {
            path: path.display().to_string(),
            message,
        })?;
        // The portal settings an operator saves once in the dashboard.
        let config = portal_config::Configuration::seeded_default(store);
        store
            .portal_configurations
            .insert(config.id.clone(), config);
    }
    if let Some((url, secret)) = &state.webhook {
        let endpoint = objects::Endpoint {
            id: store::new_id("we"),
            url: url.clone(),
            secret: secret.clone(),
            enabled_events: vec!["*".into()],
            created: store.now(),
            disabled: false,
            api_version: None,
            description: None,
        };
        store.endpoints.insert(endpoint.id.clone(), endpoint);
    }
    Ok(())
}

/// Every API request: counted, limited and faulted by `traffic`, then answered by the API,
/// with the `Request-Id` Stripe puts on every answer.
async fn api_entry(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    let key = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut response = match state.traffic.admit(&method, uri.path(), key) {
        Verdict::Serve => api::handle(State(state.api), method, uri, headers, body).await,
        Verdict::Refuse(response) => response,
        Verdict::Late(wait) => {
            tokio::time::sleep(wait).await;
            api::handle(State(state.api), method, uri, headers, body).await
        }
        Verdict::Drop => {
            api::handle(State(state.api), method, uri, headers, body).await;
            return traffic::dropped();
        }
    };
    if let Ok(id) = axum::http::HeaderValue::try_from(store::new_id("req")) {
        response.headers_mut().insert("request-id", id);
    }
    response
}

/// Forgets every object and seeds the catalog again: a clean Stripe between tests.
async fn reset(State(state): State<AppState>) -> axum::response::Response {
    state.traffic.reset();
    let mut store = state.api.store.lock().expect("store lock");
    let outbox = store.outbox.take();
    *store = Store::default();
    store.outbox = outbox;
    if let Err(e) = prepare(&mut store, &state) {
        return ApiError::invalid_param("catalog", e.to_string()).into_response();
    }
    Json(json!({ "reset": true })).into_response()
}

async fn unknown(method: Method, uri: Uri) -> axum::response::Response {
    ApiError::unknown_route(method.as_str(), uri.path()).into_response()
}
