//! The money flows end to end: the hosted Checkout page with Stripe's test cards, the events
//! Stripe sends (in Stripe's order, signed so async-stripe verifies and parses them), retries,
//! the portal's actions, time travel and the shuffled replay.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::Value;
use stripe::{Client, ClientBuilder};
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::subscription::RetrieveSubscription;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
    RetrieveCheckoutSession,
};
use stripe_emulator::webhooks::RetryPolicy;
use stripe_emulator::{spawn, Emulator, Options};
use stripe_product::price::ListPrice;
use stripe_shared::{CheckoutSessionMode, CheckoutSessionPaymentStatus, CheckoutSessionStatus};
use stripe_webhook::Webhook;

mod anchor;
mod api;
mod checkout;
mod clock;
mod credit;
mod deliveries;
mod money;
mod portal;
mod schedules;
mod trials;

const SECRET: &str = "whsec_flowtests0123456789";

/// A webhook endpoint on loopback that records what it receives and can fail on purpose.
#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<(String, String)>>>,
    fail_next: Arc<AtomicUsize>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if r.fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let sig = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    r.received
        .lock()
        .unwrap()
        .push((sig, String::from_utf8_lossy(&body).into_owned()));
    StatusCode::OK
}

struct Setup {
    emulator: Emulator,
    client: Client,
    http: reqwest::Client,
    hook: Receiver,
}

async fn setup() -> Setup {
    let hook = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(hook.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let emulator = spawn(Options {
        catalog: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plans.toml")),
        webhook: Some((hook_url, SECRET.into())),
        retry: RetryPolicy {
            max_attempts: 4,
            first_backoff: Duration::from_millis(20),
            timeout: Duration::from_secs(5),
        },
        ..Options::default()
    })
    .await
    .unwrap();
    let client = ClientBuilder::new("sk_test_flows")
        .url(emulator.base_url.clone())
        .build()
        .unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Setup {
        emulator,
        client,
        http,
        hook,
    }
}

impl Setup {
    async fn price(&self, lookup_key: &str) -> String {
        ListPrice::new()
            .lookup_keys(vec![lookup_key.to_string()])
            .send(&self.client)
            .await
            .unwrap()
            .data[0]
            .id
            .to_string()
    }

    async fn session(
        &self,
        lookup_key: &str,
        tweak: impl FnOnce(CreateCheckoutSession) -> CreateCheckoutSession,
    ) -> String {
        let price = self.price(lookup_key).await;
        let mode = if lookup_key.ends_with("_once") {
            CheckoutSessionMode::Payment
        } else {
            CheckoutSessionMode::Subscription
        };
        let request = CreateCheckoutSession::new()
            .mode(mode)
            .line_items(vec![CreateCheckoutSessionLineItems {
                price: Some(price),
                quantity: Some(1),
                ..Default::default()
            }])
            .success_url("https://shop.test/success?session_id={CHECKOUT_SESSION_ID}")
            .cancel_url("https://shop.test/pricing?canceled=1");
        tweak(request)
            .send(&self.client)
            .await
            .unwrap()
            .id
            .to_string()
    }

    async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.http
            .post(format!("{}{path}", self.emulator.base_url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// The text of a page (a hosted page's URL).
    async fn page_text(&self, url: &str) -> String {
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn pay(&self, session: &str, card: &str) -> reqwest::Response {
        self.post_form(
            &format!("/c/pay/{session}"),
            &[
                ("email", "buyer@example.com"),
                ("name", "Ada Buyer"),
                ("card_number", card),
                ("expiry", "12 / 34"),
                ("cvc", "123"),
            ],
        )
        .await
    }

    async fn control(&self, path: &str, fields: &[(&str, &str)]) -> Value {
        let res = self.post_form(path, fields).await;
        assert!(res.status().is_success(), "{path}: {}", res.status());
        serde_json::from_str(&res.text().await.unwrap()).unwrap()
    }

    /// Waits for at least `n` deliveries, verifies every signature with async-stripe (which also
    /// parses the object into its typed event) and returns the event types in arrival order.
    async fn events(&self, n: usize) -> Vec<(String, Value)> {
        for _ in 0..200 {
            if self.hook.received.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let received = self.hook.received.lock().unwrap().clone();
        assert!(
            received.len() >= n,
            "only {} of {n} deliveries arrived",
            received.len()
        );
        received
            .iter()
            .map(|(sig, body)| {
                let event = Webhook::construct_event(body, sig, SECRET)
                    .unwrap_or_else(|e| panic!("{e:?} for {body}"));
                (
                    event.type_.as_str().to_string(),
                    serde_json::from_str(body).unwrap(),
                )
            })
            .collect()
    }
}

fn types(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(t, _)| t.as_str()).collect()
}

fn location(res: &reqwest::Response) -> String {
    res.headers()["location"].to_str().unwrap().to_string()
}

impl Setup {
    async fn control_api(&self, path: &str, fields: &[(&str, &str)]) -> Value {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let res = self
            .http
            .post(format!("{}{path}", self.emulator.base_url))
            .bearer_auth("sk_test_flows")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
        serde_json::from_str(&res.text().await.unwrap()).unwrap()
    }

    /// An API call that may be refused: its status and JSON answer.
    async fn post_form_api(&self, path: &str, fields: &[(&str, &str)]) -> (u16, Value) {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let res = self
            .http
            .post(format!("{}{path}", self.emulator.base_url))
            .bearer_auth("sk_test_flows")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (
            status,
            serde_json::from_str(&res.text().await.unwrap()).unwrap(),
        )
    }

    /// Subscribes with 4242 and returns (customer, subscription) once its events have arrived.
    async fn subscribe(&self, lookup_key: &str) -> (String, String) {
        let id = self.session(lookup_key, |r| r).await;
        assert_eq!(self.pay(&id, "4242424242424242").await.status(), 303);
        let events = self.events(7).await;
        let session = &events[6].1["data"]["object"];
        (
            session["customer"].as_str().unwrap().to_string(),
            session["subscription"].as_str().unwrap().to_string(),
        )
    }

    fn clear(&self) {
        self.hook.received.lock().unwrap().clear();
    }
}
