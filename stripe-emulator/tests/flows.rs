//! The money flows end to end: the hosted Checkout page with the seed's test cards, the events
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

#[tokio::test]
async fn card_4242_pays_a_one_time_price_and_stripes_events_follow_in_order() {
    let s = setup().await;
    let id = s
        .session("lifetime_once", |r| {
            r.customer_creation(
                stripe_checkout::checkout_session::CreateCheckoutSessionCustomerCreation::Always,
            )
        })
        .await;
    let page = s
        .http
        .get(format!("{}/c/pay/{id}", s.emulator.base_url))
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Lifetime") && html.contains("299.00 USD"),
        "{html}"
    );

    let res = s.pay(&id, "4242 4242 4242 4242").await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        location(&res),
        format!("https://shop.test/success?session_id={id}")
    );

    let events = s.events(4).await;
    assert_eq!(
        types(&events),
        [
            "customer.created",
            "payment_intent.created",
            "payment_intent.succeeded",
            "checkout.session.completed"
        ]
    );
    let completed = &events[3].1["data"]["object"];
    assert_eq!(completed["customer_details"]["email"], "buyer@example.com");
    let session = RetrieveCheckoutSession::new(id.as_str())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(session.status, Some(CheckoutSessionStatus::Complete));
    assert_eq!(session.payment_status, CheckoutSessionPaymentStatus::Paid);
    assert!(session.payment_intent.is_some());
}

#[tokio::test]
async fn card_4242_starts_a_subscription_with_its_first_paid_invoice() {
    let s = setup().await;
    let id = s
        .session("pro_monthly", |r| r.client_reference_id("user-7"))
        .await;
    assert_eq!(s.pay(&id, "4242424242424242").await.status(), 303);
    let events = s.events(7).await;
    assert_eq!(
        types(&events),
        [
            "customer.created",
            "customer.subscription.created",
            "invoice.created",
            "invoice.finalized",
            "invoice.paid",
            "invoice.payment_succeeded",
            "checkout.session.completed",
        ]
    );
    let session = &events[6].1["data"]["object"];
    assert_eq!(session["client_reference_id"], "user-7");
    let sub_id = session["subscription"].as_str().unwrap();
    let sub = RetrieveSubscription::new(sub_id)
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(sub.status.as_str(), "active");
    assert_eq!(
        sub.items.data[0].price.lookup_key.as_deref(),
        Some("pro_monthly")
    );
    let invoice = &events[4].1["data"]["object"];
    assert_eq!(invoice["amount_paid"], 2900);
    assert_eq!(
        invoice["parent"]["subscription_details"]["subscription"],
        sub_id
    );
    let hosted = invoice["hosted_invoice_url"].as_str().unwrap();
    assert_eq!(s.http.get(hosted).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn declined_and_insufficient_funds_cards_stay_on_the_page_with_stripes_words() {
    let s = setup().await;
    let id = s.session("starter_monthly", |r| r).await;
    for (card, message) in [
        ("4000 0000 0000 0002", "Your card was declined."),
        ("4000 0000 0000 9995", "Your card has insufficient funds."),
        ("4242 4242 4242 4241", "Your card number is incorrect."),
    ] {
        let res = s.pay(&id, card).await;
        assert_eq!(res.status(), 402, "{card}");
        let html = res.text().await.unwrap();
        assert!(html.contains(message), "{card}: {html}");
        assert!(html.contains("buyer@example.com"), "what was typed is kept");
    }
    let session = RetrieveCheckoutSession::new(id.as_str())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(session.status, Some(CheckoutSessionStatus::Open));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        s.hook.received.lock().unwrap().is_empty(),
        "no event for a failed payment"
    );
}

#[tokio::test]
async fn card_3155_asks_for_authentication_which_can_pass_or_fail() {
    let s = setup().await;
    let id = s.session("lifetime_once", |r| r).await;
    let res = s.pay(&id, "4000 0025 0000 3155").await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("/c/3ds/{id}"));
    let page = s
        .http
        .get(format!("{}/c/3ds/{id}", s.emulator.base_url))
        .send()
        .await
        .unwrap();
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("Complete authentication"));

    let failed = s
        .post_form(&format!("/c/3ds/{id}"), &[("action", "fail")])
        .await;
    assert_eq!(failed.status(), 402);
    assert!(failed
        .text()
        .await
        .unwrap()
        .contains("unable to authenticate"));

    s.pay(&id, "4000 0025 0000 3155").await;
    let passed = s
        .post_form(&format!("/c/3ds/{id}"), &[("action", "complete")])
        .await;
    assert_eq!(passed.status(), 303);
    assert!(location(&passed).starts_with("https://shop.test/success"));
    let events = s.events(3).await;
    assert_eq!(types(&events).last(), Some(&"checkout.session.completed"));
}

#[tokio::test]
async fn a_promotion_code_typed_at_checkout_discounts_the_total() {
    let s = setup().await;
    s.control_api("/v1/coupons", &[("id", "HALF"), ("percent_off", "50")])
        .await;
    s.control_api(
        "/v1/promotion_codes",
        &[("promotion[coupon]", "HALF"), ("code", "LAUNCH")],
    )
    .await;
    let id = s
        .session("lifetime_once", |r| r.allow_promotion_codes(true))
        .await;
    let html = s
        .http
        .get(format!("{}/c/pay/{id}", s.emulator.base_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Promotion code"));
    let bad = s
        .post_form(
            &format!("/c/pay/{id}"),
            &[
                ("email", "a@b.co"),
                ("card_number", "4242424242424242"),
                ("expiry", "1234"),
                ("cvc", "123"),
                ("promotion_code", "NOPE"),
            ],
        )
        .await;
    assert!(bad.text().await.unwrap().contains("This code is invalid."));
    let ok = s
        .post_form(
            &format!("/c/pay/{id}"),
            &[
                ("email", "a@b.co"),
                ("card_number", "4242424242424242"),
                ("expiry", "1234"),
                ("cvc", "123"),
                ("promotion_code", "launch"),
            ],
        )
        .await;
    assert_eq!(ok.status(), 303);
    let session = RetrieveCheckoutSession::new(id.as_str())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(session.amount_total, Some(14950));
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

#[tokio::test]
async fn the_portal_cancels_at_period_end_resumes_switches_and_cancels_now() {
    let s = setup().await;
    let (customer, sub) = s.subscribe("starter_monthly").await;
    let portal = CreateBillingPortalSession::new()
        .customer(customer.as_str())
        .return_url("https://shop.test/billing")
        .send(&s.client)
        .await
        .unwrap();
    assert!(portal.url.starts_with(&s.emulator.base_url));
    let html = s.page_text(&portal.url).await;
    assert!(
        html.contains("Starter")
            && html.contains("Renews on")
            && html.contains("https://shop.test/billing")
    );
    let path = format!("/p/session/{}/subscriptions/{sub}", portal.id);

    s.clear();
    assert_eq!(
        s.post_form(&path, &[("action", "cancel_at_period_end")])
            .await
            .status(),
        303
    );
    let e = s.events(1).await;
    assert_eq!(types(&e), ["customer.subscription.updated"]);
    assert_eq!(e[0].1["data"]["object"]["cancel_at_period_end"], true);
    assert_eq!(
        e[0].1["data"]["previous_attributes"]["cancel_at_period_end"],
        false
    );
    assert!(s.page_text(&portal.url).await.contains("Cancels on"));

    s.clear();
    s.post_form(&path, &[("action", "resume")]).await;
    assert_eq!(
        s.events(1).await[0].1["data"]["object"]["cancel_at_period_end"],
        false
    );

    s.clear();
    let pro = s.price("pro_yearly").await;
    s.post_form(&path, &[("action", "switch"), ("price", &pro)])
        .await;
    // Monthly to yearly starts a yearly cycle now and invoices it at once, as Stripe does.
    let e = s.events(5).await;
    assert_eq!(
        e[0].1["data"]["object"]["items"]["data"][0]["price"]["lookup_key"],
        "pro_yearly"
    );
    assert_eq!(types(&e)[1..3], ["invoice.created", "invoice.finalized"]);
    assert_eq!(e[3].1["data"]["object"]["amount_paid"], 29_000);

    // The default configuration cancels at the period's end only; the portal follows it.
    s.clear();
    assert_eq!(
        s.post_form(&path, &[("action", "cancel_now")])
            .await
            .status(),
        400
    );
    let config = {
        let store = s.emulator.store.lock().unwrap();
        store.portal_configurations.keys().next().unwrap().clone()
    };
    let res = s
        .http
        .post(format!(
            "{}/v1/billing_portal/configurations/{config}",
            s.emulator.base_url
        ))
        .basic_auth("sk_test_flows", Some(""))
        .form(&[("features[subscription_cancel][mode]", "immediately")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page = s.page_text(&portal.url).await;
    assert!(page.contains("Cancel now") && !page.contains("Cancel at period end"));
    s.clear();
    s.post_form(&path, &[("action", "cancel_now")]).await;
    let e = s.events(1).await;
    assert_eq!(types(&e), ["customer.subscription.deleted"]);
    assert_eq!(e[0].1["data"]["object"]["status"], "canceled");

    let other = s
        .post_form(
            &format!("/p/session/{}/subscriptions/sub_of_someone_else", portal.id),
            &[("action", "cancel_now")],
        )
        .await;
    assert_eq!(other.status(), 404);
}

#[tokio::test]
async fn advancing_time_renews_and_a_failed_renewal_makes_the_subscription_past_due() {
    let s = setup().await;
    let (_customer, sub) = s.subscribe("starter_monthly").await;
    s.clear();
    let out = s.control("/_emulator/advance", &[("days", "31")]).await;
    let renewal: Vec<&str> = out["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        renewal,
        [
            "invoice.created",
            "invoice.finalized",
            "invoice.paid",
            "invoice.payment_succeeded",
            "customer.subscription.updated"
        ]
    );
    s.events(5).await;

    s.clear();
    s.control(
        &format!("/_emulator/subscriptions/{sub}/fail_next_renewal"),
        &[],
    )
    .await;
    s.control("/_emulator/advance", &[("days", "30")]).await;
    let e = s.events(4).await;
    assert_eq!(
        types(&e),
        [
            "invoice.created",
            "invoice.finalized",
            "invoice.payment_failed",
            "customer.subscription.updated"
        ]
    );
    assert_eq!(e[3].1["data"]["object"]["status"], "past_due");
    assert_eq!(e[3].1["data"]["previous_attributes"]["status"], "active");
    let failed_invoice = e[2].1["data"]["object"]["id"].as_str().unwrap().to_string();

    s.clear();
    s.control(&format!("/_emulator/invoices/{failed_invoice}/pay"), &[])
        .await;
    let e = s.events(3).await;
    assert_eq!(
        types(&e),
        [
            "invoice.paid",
            "invoice.payment_succeeded",
            "customer.subscription.updated"
        ]
    );

    // One subscription's clock: renewed now, failing, without moving anyone else's.
    s.clear();
    s.control(
        &format!("/_emulator/subscriptions/{sub}/fail_next_renewal"),
        &[],
    )
    .await;
    s.control(&format!("/_emulator/subscriptions/{sub}/renew"), &[])
        .await;
    let e = s.events(4).await;
    assert_eq!(e[2].0, "invoice.payment_failed");
    assert_eq!(e[3].1["data"]["object"]["status"], "past_due");
    let failed_invoice = e[2].1["data"]["object"]["id"].as_str().unwrap().to_string();
    s.clear();
    s.control(&format!("/_emulator/invoices/{failed_invoice}/pay"), &[])
        .await;
    let e = s.events(3).await;
    assert_eq!(
        types(&e),
        [
            "invoice.paid",
            "invoice.payment_succeeded",
            "customer.subscription.updated"
        ]
    );
    let sub = RetrieveSubscription::new(sub.as_str())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(sub.status.as_str(), "active");
}

#[tokio::test]
async fn a_trial_warns_three_days_ahead_then_bills() {
    let s = setup().await;
    let id = s
        .session("pro_monthly", |r| {
            r.subscription_data(CreateCheckoutSessionSubscriptionData {
                trial_period_days: Some(7),
                ..CreateCheckoutSessionSubscriptionData::new()
            })
        })
        .await;
    s.pay(&id, "4242424242424242").await;
    let events = s.events(7).await;
    assert_eq!(events[1].1["data"]["object"]["status"], "trialing");
    assert_eq!(events[4].1["data"]["object"]["amount_paid"], 0);
    let out = s.control("/_emulator/advance", &[("days", "5")]).await;
    assert_eq!(
        out["events"][0]["type"],
        "customer.subscription.trial_will_end"
    );
    let out = s.control("/_emulator/advance", &[("days", "3")]).await;
    let last = out["events"].as_array().unwrap().last().unwrap()["type"].clone();
    assert_eq!(last, "customer.subscription.updated");
    let sub_id = events[1].1["data"]["object"]["id"].as_str().unwrap();
    let sub = RetrieveSubscription::new(sub_id)
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(sub.status.as_str(), "active");
}

#[tokio::test]
async fn a_failed_delivery_is_retried_with_backoff_and_logged() {
    let s = setup().await;
    s.hook.fail_next.store(2, Ordering::SeqCst);
    let id = s.session("lifetime_once", |r| r).await;
    s.pay(&id, "4242424242424242").await;
    // payment_intent.created, payment_intent.succeeded, checkout.session.completed: the first
    // two answers are 500s, and whatever they were for is retried until it gets through.
    let events = s.events(3).await;
    let mut got = types(&events);
    got.sort();
    assert_eq!(
        got,
        [
            "checkout.session.completed",
            "payment_intent.created",
            "payment_intent.succeeded"
        ]
    );
    let log = s
        .http
        .get(format!("{}/_emulator/deliveries", s.emulator.base_url))
        .send()
        .await
        .unwrap();
    let log: Value = serde_json::from_str(&log.text().await.unwrap()).unwrap();
    let log = log["deliveries"].as_array().unwrap();
    assert_eq!(log.iter().filter(|d| d["status"] == 500).count(), 2);
    assert!(log
        .iter()
        .any(|d| d["attempt"].as_u64() > Some(1) && d["status"] == 200));
    for event in [
        "payment_intent.created",
        "payment_intent.succeeded",
        "checkout.session.completed",
    ] {
        let attempts: Vec<(u64, u64)> = log
            .iter()
            .filter(|d| d["event_type"] == event)
            .map(|d| {
                (
                    d["attempt"].as_u64().unwrap(),
                    d["status"].as_u64().unwrap(),
                )
            })
            .collect();
        let (last, failures) = attempts.split_last().unwrap();
        assert_eq!(last.1, 200, "{event} got through: {attempts:?}");
        assert_eq!(
            last.0 as usize,
            attempts.len(),
            "{event} attempts are numbered"
        );
        assert!(failures.iter().all(|a| a.1 == 500));
    }
}

#[tokio::test]
async fn replay_delivers_every_event_the_asked_number_of_times_in_a_seeded_order() {
    let s = setup().await;
    s.subscribe("starter_monthly").await;
    s.clear();
    let first = s
        .control(
            "/_emulator/replay",
            &[("times", "3"), ("seed", "42"), ("concurrency", "1")],
        )
        .await;
    let received = s.events(21).await;
    assert_eq!(received.len(), 21);
    let order: Vec<&str> = first["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let ids: Vec<String> = received
        .iter()
        .map(|(_, v)| v["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ids, order,
        "one at a time, deliveries follow the planned order"
    );
    for id in &ids {
        assert_eq!(ids.iter().filter(|x| *x == id).count(), 3);
    }
    assert_eq!(first["delivered"], 21);

    s.clear();
    let again = s
        .control("/_emulator/replay", &[("times", "3"), ("seed", "42")])
        .await;
    assert_eq!(again["order"], first["order"], "same seed, same order");
    let other = s
        .control("/_emulator/replay", &[("times", "3"), ("seed", "7")])
        .await;
    assert_ne!(other["order"], first["order"]);
}

#[tokio::test]
async fn resending_an_event_delivers_it_again_with_a_fresh_signature() {
    let s = setup().await;
    let id = s.session("lifetime_once", |r| r).await;
    s.pay(&id, "4242424242424242").await;
    let events = s.events(3).await;
    let event_id = events[2].1["id"].as_str().unwrap().to_string();
    let out = s
        .control(&format!("/_emulator/events/{event_id}/resend"), &[])
        .await;
    assert_eq!(out["delivered"], 1);
    let events = s.events(4).await;
    assert_eq!(events[3].1["id"], event_id.as_str());
    let missing = s
        .post_form("/_emulator/events/evt_missing/resend", &[])
        .await;
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn the_billing_api_reads_back_and_changes_what_the_flows_made() {
    use stripe_billing::invoice::{ListInvoice, RetrieveInvoice};
    use stripe_billing::subscription::{CancelSubscription, ListSubscription, UpdateSubscription};
    use stripe_core::event::{ListEvent, RetrieveEvent};

    let s = setup().await;
    let (customer, sub) = s.subscribe("starter_yearly").await;

    let subs = ListSubscription::new()
        .customer(customer.as_str())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(subs.data.len(), 1);
    assert_eq!(subs.data[0].id.as_str(), sub);
    let item = &subs.data[0].items.data[0];
    assert_eq!(
        item.current_period_end - item.current_period_start,
        365 * 86_400
    );

    let updated = UpdateSubscription::new(sub.as_str())
        .cancel_at_period_end(true)
        .send(&s.client)
        .await
        .unwrap();
    assert!(updated.cancel_at_period_end);

    let invoices = ListInvoice::new()
        .customer(customer.as_str())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(invoices.data.len(), 1);
    let invoice = RetrieveInvoice::new(invoices.data[0].id.clone().unwrap())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(invoice.amount_paid, 9000);
    assert!(invoice.hosted_invoice_url.is_some());

    let events = ListEvent::new()
        .type_("checkout.session.completed")
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(events.data.len(), 1);
    let event = RetrieveEvent::new(events.data[0].id.clone())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(event.type_.as_str(), "checkout.session.completed");

    let canceled = CancelSubscription::new(sub.as_str())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(canceled.status.as_str(), "canceled");
    let again = CancelSubscription::new(sub.as_str()).send(&s.client).await;
    assert!(
        again.is_err(),
        "a canceled subscription cannot be canceled again"
    );
    let live = ListSubscription::new()
        .customer(customer.as_str())
        .send(&s.client)
        .await
        .unwrap();
    assert!(
        live.data.is_empty(),
        "canceled subscriptions are not listed by default"
    );
}

#[tokio::test]
async fn webhook_endpoints_coupons_and_promotion_codes_are_managed_through_the_api() {
    use stripe_misc::webhook_endpoint::{
        CreateWebhookEndpoint, CreateWebhookEndpointEnabledEvents, DeleteWebhookEndpoint,
        ListWebhookEndpoint,
    };
    use stripe_product::coupon::CreateCoupon;
    use stripe_product::promotion_code::{
        CreatePromotionCode, CreatePromotionCodePromotion, CreatePromotionCodePromotionType,
        ListPromotionCode,
    };

    let s = setup().await;
    let endpoint = CreateWebhookEndpoint::new(
        vec![CreateWebhookEndpointEnabledEvents::All],
        "https://shop.test/api/stripe/webhook",
    )
    .send(&s.client)
    .await
    .unwrap();
    assert!(endpoint
        .secret
        .as_deref()
        .is_some_and(|x| x.starts_with("whsec_")));
    let listed = ListWebhookEndpoint::new().send(&s.client).await.unwrap();
    assert_eq!(
        listed.data.len(),
        2,
        "the configured endpoint and the new one"
    );
    assert!(
        listed.data.iter().all(|e| e.secret.is_none()),
        "secrets are shown only at creation"
    );
    DeleteWebhookEndpoint::new(endpoint.id.clone())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(
        ListWebhookEndpoint::new()
            .send(&s.client)
            .await
            .unwrap()
            .data
            .len(),
        1
    );

    let coupon = CreateCoupon::new()
        .id("TENOFF")
        .percent_off(10.0)
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(coupon.percent_off, Some(10.0));
    CreatePromotionCode::new(CreatePromotionCodePromotion {
        coupon: Some("TENOFF".into()),
        type_: CreatePromotionCodePromotionType::Coupon,
    })
    .code("SPRING")
    .send(&s.client)
    .await
    .unwrap();
    let found = ListPromotionCode::new()
        .code("SPRING")
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(found.data.len(), 1);
    assert!(found.data[0].active);
}

#[tokio::test]
async fn reset_forgets_everything_but_the_catalog_and_the_configured_endpoint() {
    use stripe_core::customer::{CreateCustomer, ListCustomer};
    use stripe_misc::webhook_endpoint::ListWebhookEndpoint;

    let s = setup().await;
    CreateCustomer::new()
        .email("x@example.com")
        .send(&s.client)
        .await
        .unwrap();
    s.control("/_emulator/reset", &[]).await;
    assert!(ListCustomer::new()
        .send(&s.client)
        .await
        .unwrap()
        .data
        .is_empty());
    assert!(!s.price("pro_monthly").await.is_empty());
    assert_eq!(
        ListWebhookEndpoint::new()
            .send(&s.client)
            .await
            .unwrap()
            .data
            .len(),
        1
    );
}

/// The preview of a price change, and the change itself at the preview's `proration_date`:
/// an upgrade invoiced at once for the prorated difference, a downgrade without proration that
/// the next renewal bills, and a change of interval that starts a new cycle and invoices now.
#[tokio::test]
async fn price_changes_are_previewed_and_billed_with_stripes_proration() {
    use stripe_billing::invoice::{
        CreatePreviewInvoice, CreatePreviewInvoiceSubscriptionDetails,
        CreatePreviewInvoiceSubscriptionDetailsItems,
        CreatePreviewInvoiceSubscriptionDetailsProrationBehavior as PreviewProration,
        RetrieveInvoice,
    };
    use stripe_billing::subscription::{
        UpdateSubscription, UpdateSubscriptionItems, UpdateSubscriptionProrationBehavior,
    };

    let s = setup().await;
    let (customer, sub) = s.subscribe("starter_monthly").await;
    let current = RetrieveSubscription::new(sub.as_str())
        .send(&s.client)
        .await
        .unwrap();
    let item = current.items.data[0].clone();
    // Half-way through the 30-day period.
    let at = item.current_period_start + 15 * 86_400;
    let preview = |price: String, proration: PreviewProration| {
        CreatePreviewInvoice::new()
            .customer(customer.as_str())
            .subscription(sub.as_str())
            .subscription_details(CreatePreviewInvoiceSubscriptionDetails {
                items: Some(vec![CreatePreviewInvoiceSubscriptionDetailsItems {
                    id: Some(item.id.to_string()),
                    price: Some(price),
                    ..CreatePreviewInvoiceSubscriptionDetailsItems::new()
                }]),
                proration_behavior: Some(proration),
                proration_date: Some(at),
                ..CreatePreviewInvoiceSubscriptionDetails::new()
            })
    };
    let change = |price: String, proration: UpdateSubscriptionProrationBehavior| {
        UpdateSubscription::new(sub.as_str())
            .items(vec![UpdateSubscriptionItems {
                id: Some(item.id.to_string()),
                price: Some(price),
                ..UpdateSubscriptionItems::new()
            }])
            .proration_behavior(proration)
            .proration_date(at)
    };

    // Upgrade: $9 → $29 a month, half the month left: −$4.50 + $14.50 = $10.00 now.
    let pro = s.price("pro_monthly").await;
    let shown = preview(pro.clone(), PreviewProration::AlwaysInvoice)
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(shown.amount_due, 1000);
    assert!(shown.id.is_none(), "a preview is not an invoice yet");
    let lines: Vec<i64> = shown.lines.data.iter().map(|l| l.amount).collect();
    assert_eq!(lines, [-450, 1450]);
    s.clear();
    let upgraded = change(
        pro.clone(),
        UpdateSubscriptionProrationBehavior::AlwaysInvoice,
    )
    .send(&s.client)
    .await
    .unwrap();
    assert_eq!(
        upgraded.items.data[0].current_period_end, item.current_period_end,
        "same interval: same cycle"
    );
    let invoice_id = upgraded.latest_invoice.unwrap().id().clone().unwrap();
    let charged = RetrieveInvoice::new(invoice_id)
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(charged.amount_paid, shown.amount_due);
    let e = s.events(5).await;
    assert_eq!(
        types(&e),
        [
            "customer.subscription.updated",
            "invoice.created",
            "invoice.finalized",
            "invoice.paid",
            "invoice.payment_succeeded"
        ]
    );
    assert_eq!(
        e[0].1["data"]["previous_attributes"]["items"]["data"][0]["price"]["id"],
        item.price.id.as_str()
    );

    // Downgrade without proration: nothing now, the renewal charges $9.
    let starter = s.price("starter_monthly").await;
    let next = preview(starter.clone(), PreviewProration::None)
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(next.amount_due, 900);
    assert_eq!(next.billing_reason.unwrap().as_str(), "subscription_cycle");
    s.clear();
    change(starter, UpdateSubscriptionProrationBehavior::None)
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(types(&s.events(1).await), ["customer.subscription.updated"]);
    let renewed = s
        .control(&format!("/_emulator/subscriptions/{sub}/renew"), &[])
        .await;
    let renewal = RetrieveInvoice::new(renewed["latest_invoice"].as_str().unwrap())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(renewal.amount_paid, next.amount_due);

    // Monthly → yearly: a new yearly cycle from now, with the unused month credited.
    let renewed_item = RetrieveSubscription::new(sub.as_str())
        .send(&s.client)
        .await
        .unwrap()
        .items
        .data[0]
        .clone();
    let yearly = s.price("pro_yearly").await;
    let now = renewed_item.current_period_start;
    let to_yearly = UpdateSubscription::new(sub.as_str())
        .items(vec![UpdateSubscriptionItems {
            id: Some(item.id.to_string()),
            price: Some(yearly),
            ..UpdateSubscriptionItems::new()
        }])
        .proration_behavior(UpdateSubscriptionProrationBehavior::AlwaysInvoice)
        .proration_date(now)
        .send(&s.client)
        .await
        .unwrap();
    let yearly_item = &to_yearly.items.data[0];
    assert_eq!(yearly_item.current_period_start, now);
    assert_eq!(yearly_item.current_period_end, now + 365 * 86_400);
    let invoice = RetrieveInvoice::new(to_yearly.latest_invoice.unwrap().id().clone().unwrap())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(
        invoice.amount_paid,
        29_000 - 900,
        "a full unused month credited"
    );

    // A price outside the subscription's reach is refused with Stripe's words.
    let refused = preview("price_nope".into(), PreviewProration::AlwaysInvoice)
        .send(&s.client)
        .await;
    assert!(refused.is_err());
}

/// Money going back: partial and full refunds with `charge.refunded`, and the dispute card
/// 0259 paying, then disputed, then the dispute closed by the bank.
#[tokio::test]
async fn refunds_and_disputes_emit_stripes_charge_events() {
    use stripe_core::charge::RetrieveCharge;
    use stripe_core::refund::CreateRefund;

    let s = setup().await;
    let id = s.session("lifetime_once", |r| r).await;
    assert_eq!(s.pay(&id, "4242 4242 4242 4242").await.status(), 303);
    let session = RetrieveCheckoutSession::new(id.as_str())
        .send(&s.client)
        .await
        .unwrap();
    let pi = session.payment_intent.unwrap().id().to_string();
    s.events(3).await;
    s.clear();

    let partial = CreateRefund::new()
        .payment_intent(pi.as_str())
        .amount(10_000)
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(partial.amount, 10_000);
    let charge = partial.charge.unwrap().id().clone();
    let e = s.events(2).await;
    assert_eq!(types(&e), ["refund.created", "charge.refunded"]);
    assert_eq!(e[1].1["data"]["object"]["amount_refunded"], 10_000);
    assert_eq!(e[1].1["data"]["object"]["refunded"], false);
    let rest = CreateRefund::new()
        .charge(charge.as_str())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(rest.amount, 29_900 - 10_000, "the rest of the charge");
    let read = RetrieveCharge::new(charge.clone())
        .send(&s.client)
        .await
        .unwrap();
    assert!(read.refunded);
    let again = CreateRefund::new()
        .charge(charge.as_str())
        .send(&s.client)
        .await;
    assert!(again.is_err(), "nothing left to refund");

    // 0259: paid, then disputed; the bank then decides.
    let id = s.session("lifetime_once", |r| r).await;
    s.clear();
    assert_eq!(s.pay(&id, "4000 0000 0000 0259").await.status(), 303);
    let e = s.events(3).await;
    let created = e
        .iter()
        .find(|(t, _)| t == "charge.dispute.created")
        .expect("a dispute")
        .1["data"]["object"]
        .clone();
    assert_eq!(created["status"], "needs_response");
    let dispute = created["id"].as_str().unwrap().to_string();
    s.clear();
    let closed = s
        .control(
            &format!("/_emulator/disputes/{dispute}/close"),
            &[("outcome", "won")],
        )
        .await;
    assert_eq!(closed["status"], "won");
    let e = s.events(1).await;
    assert_eq!(types(&e), ["charge.dispute.closed"]);
    let twice = s
        .post_form(
            &format!("/_emulator/disputes/{dispute}/close"),
            &[("outcome", "lost")],
        )
        .await;
    assert_eq!(twice.status(), 400);
}

/// Card 3184: authenticated at checkout, and asked again on every renewal, which waits on the
/// hosted invoice page (`invoice.payment_action_required`, past due) until the customer pays.
#[tokio::test]
async fn card_3184_asks_for_authentication_on_every_renewal() {
    let s = setup().await;
    let id = s.session("starter_monthly", |r| r).await;
    assert_eq!(s.pay(&id, "4000 0027 6000 3184").await.status(), 303);
    let passed = s
        .post_form(&format!("/c/3ds/{id}"), &[("action", "complete")])
        .await;
    assert_eq!(passed.status(), 303);
    let events = s.events(7).await;
    let sub = events[6].1["data"]["object"]["subscription"]
        .as_str()
        .unwrap()
        .to_string();
    s.clear();
    let renewed = s
        .control(&format!("/_emulator/subscriptions/{sub}/renew"), &[])
        .await;
    assert_eq!(renewed["status"], "past_due");
    let e = s.events(4).await;
    assert_eq!(
        types(&e),
        [
            "invoice.created",
            "invoice.finalized",
            "invoice.payment_action_required",
            "customer.subscription.updated"
        ]
    );
    let invoice = e[2].1["data"]["object"].clone();
    let hosted = invoice["hosted_invoice_url"].as_str().unwrap().to_string();
    let page = s.page_text(&hosted).await;
    assert!(page.contains("Authenticate and pay"), "{page}");
    s.clear();
    let paid = s
        .post_form(&format!("/i/{}/pay", invoice["id"].as_str().unwrap()), &[])
        .await;
    assert_eq!(paid.status(), 303);
    let e = s.events(3).await;
    assert_eq!(
        types(&e),
        [
            "invoice.paid",
            "invoice.payment_succeeded",
            "customer.subscription.updated"
        ]
    );
    assert_eq!(e[2].1["data"]["object"]["status"], "active");
}

/// A portal session follows its configuration: only the prices it lists can be picked, and a
/// form naming another is refused; without a configuration or a default, no session is made.
#[tokio::test]
async fn the_portal_offers_only_the_prices_its_configuration_lists() {
    let s = setup().await;
    let (customer, sub) = s.subscribe("starter_monthly").await;
    let (pro, pro_yearly) = (s.price("pro_monthly").await, s.price("pro_yearly").await);
    let product = {
        let store = s.emulator.store.lock().unwrap();
        store.prices[&pro].product.clone()
    };
    let api = |path: &str, form: Vec<(&str, String)>| {
        s.http
            .post(format!("{}{path}", s.emulator.base_url))
            .basic_auth("sk_test_flows", Some(""))
            .form(&form)
            .send()
    };
    let config: Value = serde_json::from_str(
        &api(
            "/v1/billing_portal/configurations",
            vec![
                ("features[subscription_update][enabled]", "true".into()),
                (
                    "features[subscription_update][products][0][product]",
                    product,
                ),
                (
                    "features[subscription_update][products][0][prices][0]",
                    pro.clone(),
                ),
                (
                    "features[subscription_update][proration_behavior]",
                    "always_invoice".into(),
                ),
            ],
        )
        .await
        .unwrap()
        .text()
        .await
        .unwrap(),
    )
    .unwrap();
    assert_eq!(config["is_default"], false);
    let session: Value = serde_json::from_str(
        &api(
            "/v1/billing_portal/sessions",
            vec![
                ("customer", customer.clone()),
                ("configuration", config["id"].as_str().unwrap().into()),
            ],
        )
        .await
        .unwrap()
        .text()
        .await
        .unwrap(),
    )
    .unwrap();
    assert_eq!(session["configuration"], config["id"]);
    let url = session["url"].as_str().unwrap();
    let html = s.page_text(url).await;
    assert!(html.contains(&pro) && !html.contains(&pro_yearly), "{html}");
    assert!(
        !html.contains("Cancel"),
        "cancelling is off in this configuration"
    );
    let path = format!(
        "/p/session/{}/subscriptions/{sub}",
        session["id"].as_str().unwrap()
    );
    let refused = s
        .post_form(&path, &[("action", "switch"), ("price", &pro_yearly)])
        .await;
    assert_eq!(refused.status(), 400);
    assert_eq!(
        s.post_form(&path, &[("action", "switch"), ("price", &pro)])
            .await
            .status(),
        303
    );
    let read = RetrieveSubscription::new(sub.as_str())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(read.items.data[0].price.id.as_str(), pro);

    // No default configuration and none named: Stripe refuses the session.
    s.emulator
        .store
        .lock()
        .unwrap()
        .portal_configurations
        .clear();
    let res = api("/v1/billing_portal/sessions", vec![("customer", customer)])
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("default configuration"));
}
