//! Hostile input (#8): thousands of generated malformed requests against the server functions,
//! the JSON routes, the webhook and sign-in, and raw bytes that are not HTTP at all. Every one
//! must get a 4xx with a message (a browser form may instead be sent back to its page with the
//! error), none a 5xx, none may crash a connection, and nothing may be stored.
//!
//! The cases come from proptest strategies with a fixed seed, so a failure names a case that
//! comes back on the next run. `RELIABILITY=full` (scripts/reliability.sh) runs 12,000 on
//! SQLite and 3,000 on PostgreSQL; the normal test run 1,600 and 400. The strategies that make
//! the cases are in `cases`; this file sends them and judges the answers.

mod cases;

use std::collections::BTreeMap;
use std::sync::Arc;

use landing::server::db::Table;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{
    on_both_databases, scale, Backend, Project, Scale, SigningKey, TestApp, JWT_SECRET,
};
use cases::{attempt, raw_bytes, Attempt};

on_both_databases!(
    backend;
    thousands_of_malformed_requests_get_a_4xx_with_a_message_and_store_nothing,
);

/// What became of one attempt, or why it is not acceptable.
fn judge(
    attempt: &Attempt,
    status: u16,
    location: Option<&str>,
    body: &[u8],
) -> Result<(), String> {
    if attempt.browser_form && status == 303 {
        return match location {
            Some(l) if l.contains("error=") => Ok(()),
            other => Err(format!(
                "a browser form redirected without an error: {other:?}"
            )),
        };
    }
    if !(400..500).contains(&status) {
        return Err(format!("status {status}"));
    }
    let text = String::from_utf8_lossy(body);
    if text.trim().is_empty() {
        return Err(format!("{status} with an empty body"));
    }
    // The JSON routes answer in their contract's shape (`{"error": …}`).
    if attempt.path.starts_with("/api/stripe/") || attempt.path == "/api/me" {
        let message = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string));
        let plain_413 = status == 413;
        if message.as_deref().is_none_or(str::is_empty) && !plain_413 {
            return Err(format!("{status} without a JSON error message: {text}"));
        }
    }
    Ok(())
}

async fn send(
    client: &reqwest::Client,
    base: &str,
    session: &str,
    a: &Attempt,
) -> Result<u16, String> {
    let mut request = client.request(a.method.clone(), format!("{base}{}", a.path));
    if a.signed_in {
        request = request.header("cookie", session).header("origin", base);
    }
    for (name, value) in &a.headers {
        let value = reqwest::header::HeaderValue::from_bytes(value)
            .map_err(|e| format!("the generator made an unsendable header: {e}"))?;
        request = request.header(name.as_str(), value);
    }
    let response = request
        .body(a.body.clone())
        .send()
        .await
        .map_err(|e| format!("no answer (crashed or dropped?): {e}"))?;
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("body cut off: {e}"))?;
    judge(a, status, location.as_deref(), &body).map(|()| status)
}

/// Bytes that are not HTTP, on a raw connection: the server must answer 4xx or close, never 5xx.
async fn send_raw(addr: &str, bytes: &[u8]) -> Result<(), String> {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.write_all(bytes).await;
    let _ = stream.shutdown().await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(15),
        stream.read_to_end(&mut answer),
    )
    .await;
    if read.is_err() {
        return Err("the connection was neither answered nor closed".into());
    }
    let head = String::from_utf8_lossy(&answer[..answer.len().min(12)]).into_owned();
    if head.starts_with("HTTP/1.1 5") || head.starts_with("HTTP/1.0 5") {
        return Err(format!("answered {head}"));
    }
    Ok(())
}

async fn thousands_of_malformed_requests_get_a_4xx_with_a_message_and_store_nothing(
    backend: Backend,
) {
    let supabase = Project::start(&[&SigningKey::p256(0x11, "published")]).await;
    let env = supabase.env();
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn_billing_with(backend, &vars).await;
    let n = match (scale(), backend) {
        (Scale::Full, Backend::Sqlite) => 12_000,
        (Scale::Full, Backend::Postgres) => 3_000,
        (Scale::Short, Backend::Sqlite) => 1_600,
        (Scale::Short, Backend::Postgres) => 400,
    };
    let raw = n / 20;
    let session = Arc::new(app.subscriber_without_purchase("fuzzer@example.com").await);
    let tokens = bad_tokens(&app, &supabase).await;
    let before = counts(&app).await;

    let mut runner = TestRunner::deterministic();
    let strategy = attempt(tokens);
    let attempts: Vec<Attempt> = (0..n)
        .map(|_| strategy.new_tree(&mut runner).expect("a case").current())
        .collect();
    let raw_strategy = raw_bytes();
    let raws: Vec<Vec<u8>> = (0..raw)
        .map(|_| {
            raw_strategy
                .new_tree(&mut runner)
                .expect("a case")
                .current()
        })
        .collect();

    // From 253 loopback addresses, so the per-address rate limits (30 sign-ins, 10 sign-ups)
    // leave most attempts to reach the code that reads them.
    let clients: Vec<reqwest::Client> = (2..=254u8)
        .map(|last| {
            reqwest::Client::builder()
                .local_address(std::net::IpAddr::from([127, 0, 0, last]))
                .redirect(reqwest::redirect::Policy::none())
                .timeout(std::time::Duration::from_secs(45))
                .build()
                .unwrap()
        })
        .collect();
    let base = Arc::new(app.base.clone());
    let limit = Arc::new(tokio::sync::Semaphore::new(8));
    let mut tasks = Vec::with_capacity(attempts.len());
    for (i, a) in attempts.into_iter().enumerate() {
        let (client, base, session, permit) = (
            clients[i % clients.len()].clone(),
            base.clone(),
            session.clone(),
            limit.clone().acquire_owned().await.unwrap(),
        );
        tasks.push(tokio::spawn(async move {
            let result = send(&client, &base, &session, &a).await;
            drop(permit);
            (a, result)
        }));
    }
    // Per target: how many answers of each status, and how many were unacceptable.
    let mut outcomes: BTreeMap<&'static str, (BTreeMap<u16, usize>, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    for task in tasks {
        let (a, result) = task.await.unwrap();
        let entry = outcomes.entry(a.target).or_default();
        match result {
            Ok(status) => *entry.0.entry(status).or_default() += 1,
            Err(why) => {
                entry.1 += 1;
                failures.push(format!("{a:?}: {why}"));
            }
        }
    }
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut raw_failures = 0;
    for bytes in &raws {
        if let Err(why) = send_raw(&addr, bytes).await {
            raw_failures += 1;
            failures.push(format!(
                "raw {:?}: {why}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(80)])
            ));
        }
    }
    eprintln!(
        "hostile input on {backend:?}: {n} requests and {raw} raw connections; per target ({{status: count}}, unacceptable): {outcomes:?}; raw unacceptable: {raw_failures}"
    );
    assert!(
        failures.is_empty(),
        "{} of {} unacceptable, first ones:\n{}",
        failures.len(),
        n + raw,
        failures
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(counts(&app).await, before, "nothing may be stored");
    // The site still works.
    let (status, _) = app.get_text("/pricing").await;
    assert_eq!(status, 200);
}

/// Tokens that look right and must still be refused: ours with another issuer, `nbf` in the
/// future, no session, or a session signed out; Supabase's signed by a key the project does not
/// publish (an unknown `kid`, or a known `kid` over another key), not yet valid, from another
/// project, or anonymous.
async fn bad_tokens(app: &TestApp, supabase: &Project) -> Vec<String> {
    let now = chrono::Utc::now().timestamp();
    let ours = |claims: Value| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
        )
        .unwrap()
    };
    let claims = |iss: &str, nbf: i64, sid: Option<&str>| {
        let mut c = json!({ "iss": iss, "sub": uuid::Uuid::new_v4().to_string(),
            "email": "x@example.com", "aud": "authenticated", "role": "authenticated",
            "iat": now, "nbf": nbf, "exp": now + 3600 });
        if let Some(sid) = sid {
            c["sid"] = json!(sid);
        }
        c
    };
    // A real session, signed out: its token is well signed and refused.
    let cookie = app.member("signed-out@example.com").await;
    let res = app
        .post_form("/api/auth/sign_out", &[], Some(&cookie))
        .await;
    assert!(res.status().is_success(), "sign-out: {}", res.status());
    let revoked = cookie.trim_start_matches("landing_session=").to_string();

    let unpublished = SigningKey::p256(0x44, "never-published");
    let published = |key_byte: u8| SigningKey::p256(key_byte, "published");
    let theirs = supabase.claims(&uuid::Uuid::new_v4().to_string(), "sb@example.com");
    let mut not_yet = theirs.clone();
    not_yet["nbf"] = json!(now + 600);
    let mut elsewhere = theirs.clone();
    elsewhere["iss"] = json!("https://other.supabase.co/auth/v1");
    let mut anonymous = theirs.clone();
    anonymous["is_anonymous"] = json!(true);
    vec![
        ours(claims("https://evil.example", now, Some("s1"))),
        ours(claims(&app.base, now + 600, Some("s1"))),
        ours(claims(&app.base, now, None)),
        revoked,
        unpublished.sign(&theirs),
        published(0x55).sign(&theirs),
        published(0x11).sign(&not_yet),
        published(0x11).sign(&elsewhere),
        published(0x11).sign(&anonymous),
    ]
}

async fn counts(app: &TestApp) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in Table::ALL {
        counts.push(app.rows(table).await);
    }
    counts
}
