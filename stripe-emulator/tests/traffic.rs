//! The traffic controls: the request count, idempotency keys as Stripe keeps them, faults on
//! demand and the optional rate limit.

use std::time::{Duration, Instant};

use serde_json::Value;
use stripe_emulator::{spawn, Emulator, Options};

async fn emulator() -> Emulator {
    spawn(Options::default()).await.expect("emulator starts")
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn call(
    e: &Emulator,
    method: reqwest::Method,
    path: &str,
    form: &[(&str, &str)],
    key: Option<&str>,
) -> Result<Answer, reqwest::Error> {
    let url = format!("{}{path}", e.base_url);
    let mut request = reqwest::Client::new()
        .request(method.clone(), url)
        .bearer_auth("sk_test_traffic");
    request = if method == reqwest::Method::GET {
        request.query(form)
    } else {
        request.form(form)
    };
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

async fn post(e: &Emulator, path: &str, form: &[(&str, &str)], key: Option<&str>) -> Answer {
    call(e, reqwest::Method::POST, path, form, key)
        .await
        .expect("an answer")
}

async fn get(e: &Emulator, path: &str) -> Answer {
    call(e, reqwest::Method::GET, path, &[], None)
        .await
        .expect("an answer")
}

async fn control(e: &Emulator, path: &str, form: &[(&str, &str)]) -> Value {
    reqwest::Client::new()
        .post(format!("{}{path}", e.base_url))
        .form(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn customers(e: &Emulator) -> usize {
    get(e, "/v1/customers").await.body["data"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_replayed_answer_says_so_and_a_key_is_forgotten_after_a_day() {
    let e = emulator().await;
    let first = post(
        &e,
        "/v1/customers",
        &[("email", "a@example.com")],
        Some("k1"),
    )
    .await;
    assert_eq!(first.status, 200);
    assert!(first.headers.get("idempotent-replayed").is_none());
    assert!(first.headers["request-id"]
        .to_str()
        .unwrap()
        .starts_with("req_"));
    let again = post(
        &e,
        "/v1/customers",
        &[("email", "a@example.com")],
        Some("k1"),
    )
    .await;
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body["id"], first.body["id"]);
    let other = post(
        &e,
        "/v1/customers",
        &[("email", "b@example.com")],
        Some("k1"),
    )
    .await;
    assert_eq!(other.status, 400);
    assert_eq!(other.body["error"]["type"], "idempotency_error");

    control(&e, "/_emulator/advance", &[("days", "1")]).await;
    let later = post(
        &e,
        "/v1/customers",
        &[("email", "b@example.com")],
        Some("k1"),
    )
    .await;
    assert_eq!(later.status, 200, "a day later the key is free again");
    assert_ne!(later.body["id"], first.body["id"]);
    assert_eq!(customers(&e).await, 2);
}

#[tokio::test]
async fn a_planned_fault_answers_the_matching_requests_only_then_stops() {
    let e = emulator().await;
    let planned = control(
        &e,
        "/_emulator/faults",
        &[
            ("kind", "rate_limit"),
            ("method", "POST"),
            ("path", "/v1/customers"),
            ("count", "2"),
        ],
    )
    .await;
    assert_eq!(planned["kind"], "rate_limit");
    assert_eq!(
        get(&e, "/v1/customers").await.status,
        200,
        "GET is not matched"
    );
    for _ in 0..2 {
        let refused = post(&e, "/v1/customers", &[], None).await;
        assert_eq!(refused.status, 429);
        assert_eq!(refused.body["error"]["code"], "rate_limit");
        assert_eq!(refused.headers["stripe-should-retry"], "true");
    }
    assert_eq!(post(&e, "/v1/customers", &[], None).await.status, 200);
    assert_eq!(customers(&e).await, 1, "refused requests did nothing");

    for (kind, status, code) in [
        ("error", 500, None),
        ("lock_timeout", 409, Some("lock_timeout")),
    ] {
        control(
            &e,
            "/_emulator/faults",
            &[("kind", kind), ("path", "/v1/customers")],
        )
        .await;
        let refused = post(&e, "/v1/customers", &[], None).await;
        assert_eq!(refused.status, status, "{kind}");
        assert_eq!(refused.body["error"]["code"].as_str(), code, "{kind}");
    }
    assert_eq!(customers(&e).await, 1);
}

#[tokio::test]
async fn a_fault_can_hit_one_request_in_five() {
    let e = emulator().await;
    control(
        &e,
        "/_emulator/faults",
        &[
            ("kind", "rate_limit"),
            ("path", "/v1/customers"),
            ("every", "5"),
            ("count", "1000"),
        ],
    )
    .await;
    let mut refused = 0;
    for _ in 0..20 {
        if get(&e, "/v1/customers").await.status == 429 {
            refused += 1;
        }
    }
    assert_eq!(refused, 4);
    let listed: Value = reqwest::get(format!("{}/_emulator/faults", e.base_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["faults"][0]["remaining"], 996);
    let cleared: Value = reqwest::Client::new()
        .delete(format!("{}/_emulator/faults", e.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cleared["faults"], serde_json::json!([]));
}

#[tokio::test]
async fn a_dropped_answer_leaves_the_work_done_and_its_key_replays_it() {
    let e = emulator().await;
    control(
        &e,
        "/_emulator/faults",
        &[("kind", "drop"), ("path", "/v1/customers")],
    )
    .await;
    let dropped = call(
        &e,
        reqwest::Method::POST,
        "/v1/customers",
        &[("email", "c@example.com")],
        Some("k-drop"),
    )
    .await;
    assert!(dropped.is_err(), "no answer reaches the client");
    assert_eq!(customers(&e).await, 1, "the work was done");
    let retried = post(
        &e,
        "/v1/customers",
        &[("email", "c@example.com")],
        Some("k-drop"),
    )
    .await;
    assert_eq!(retried.headers["idempotent-replayed"], "true");
    assert_eq!(customers(&e).await, 1, "the retry did not do it twice");
}

#[tokio::test]
async fn a_hung_request_is_answered_late() {
    let e = emulator().await;
    control(
        &e,
        "/_emulator/faults",
        &[
            ("kind", "hang"),
            ("path", "/v1/customers"),
            ("seconds", "0.5"),
        ],
    )
    .await;
    let started = Instant::now();
    assert_eq!(get(&e, "/v1/customers").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(500));
}

#[tokio::test]
async fn the_rate_limit_refuses_a_key_past_its_requests_per_second() {
    let e = emulator().await;
    control(&e, "/_emulator/rate_limit", &[("per_second", "3")]).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(get(&e, "/v1/customers").await.status);
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    tokio::time::sleep(Duration::from_millis(1_050)).await;
    assert_eq!(get(&e, "/v1/customers").await.status, 200);
    control(&e, "/_emulator/rate_limit", &[("per_second", "0")]).await;
    for _ in 0..5 {
        assert_eq!(get(&e, "/v1/customers").await.status, 200);
    }
}

#[tokio::test]
async fn every_api_request_is_counted() {
    let e = emulator().await;
    get(&e, "/v1/customers").await;
    post(&e, "/v1/customers", &[], None).await;
    get(&e, "/v1/prices").await;
    let seen: Value = reqwest::get(format!(
        "{}/_emulator/requests?method=GET&path=/v1/customers",
        e.base_url
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(seen["total"], 3);
    assert_eq!(seen["count"], 1);
    assert_eq!(e.traffic.requests(None, "/v1/")["count"], 3);
}
