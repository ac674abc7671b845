//! Hardening (#8): the headers every response carries (a Content-Security-Policy the hydrated
//! site runs under, no framing, no sniffing, a same-origin referrer, HSTS on https), body limits,
//! a client that never finishes its headers, and what a wrong method gets.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{on_both_databases, Backend, TestApp};

on_both_databases!(
    billing;
    every_response_carries_the_security_headers_and_the_csp_admits_only_our_scripts,
    request_bodies_past_the_limits_are_refused_with_a_4xx,
);

fn sha256_base64(text: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(text.as_bytes()))
}

async fn every_response_carries_the_security_headers_and_the_csp_admits_only_our_scripts(
    app: TestApp,
) {
    let cookie = app
        .subscriber("headers@example.com", "pro_monthly", "subscription")
        .await;
    let session = app.stripe_session_ids().pop().expect("a checkout");
    let success = format!("/success?session_id={session}");
    for (path, signed_in) in [
        ("/pricing", false),
        ("/pricing", false),
        ("/", false),
        ("/sign-in", false),
        ("/no/such/page", false),
        ("/api/me", false),
        ("/healthz", false),
        ("/pricing", true),
        ("/pricing", true),
        ("/billing", true),
        ("/app", true),
        (success.as_str(), true),
    ] {
        let mut req = app.client.get(app.url(path));
        if signed_in {
            req = req.header("cookie", &cookie);
        }
        let res = req.send().await.unwrap();
        let h = res.headers().clone();
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        assert!(
            h.get("strict-transport-security").is_none(),
            "no HSTS on http"
        );
        let csp = h["content-security-policy"].to_str().unwrap().to_string();
        for directive in [
            "default-src 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
            "base-uri 'none'",
            "'wasm-unsafe-eval'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("'unsafe-inline'"), "{csp}");
        // The buy and billing forms redirect to the (emulated) Stripe's pages.
        assert!(
            csp.contains(&format!("form-action 'self' {}", app.stripe_base())),
            "{csp}"
        );
        let body = res.text().await.unwrap();
        // Every inline script the page carries is admitted by its hash, and only those.
        let scripts: Vec<&str> = landing::server::security::inline_scripts(&body).collect();
        if path != "/api/me" && path != "/healthz" {
            assert!(!scripts.is_empty(), "{path}: the islands loader is inline");
        }
        for script in scripts {
            assert!(
                csp.contains(&format!("'sha256-{}'", sha256_base64(script))),
                "{path}: an inline script the CSP does not admit: {script}"
            );
        }
    }
}

#[tokio::test]
async fn an_https_site_sends_hsts() {
    let app =
        TestApp::spawn_with(Backend::Sqlite, &[("SITE_URL", "https://shop.example.com")]).await;
    let res = app.get("/").await;
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=63072000; includeSubDomains"
    );
}

async fn request_bodies_past_the_limits_are_refused_with_a_4xx(app: TestApp) {
    let post = |path: &'static str, body: Vec<u8>, content_type: &'static str| {
        let req = app
            .client
            .post(app.url(path))
            .header("content-type", content_type)
            .header("accept", "application/json")
            .body(body);
        async move {
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.text().await.unwrap())
        }
    };
    let big = |n: usize| vec![b'a'; n];
    // The JSON API and the forms: 64 KB.
    let (status, text) = post(
        "/api/stripe/create-checkout",
        big(64 * 1024 + 1),
        "application/json",
    )
    .await;
    assert_eq!(status, 413, "{text}");
    assert!(!text.is_empty());
    let (status, text) = post(
        "/api/checkout",
        format!("price={}", "a".repeat(64 * 1024)).into_bytes(),
        "application/x-www-form-urlencoded",
    )
    .await;
    assert!((400..500).contains(&status), "{status} {text}");
    assert!(text.contains("limit"), "{text}");
    // Stripe's events may be larger: 1 MB.
    let (status, text) = post("/api/stripe/webhook", big(512 * 1024), "application/json").await;
    assert_eq!(
        (status, text.as_str()),
        (400, r#"{"error":"Invalid signature"}"#)
    );
    let (status, text) = post(
        "/api/stripe/webhook",
        big(1024 * 1024 + 1),
        "application/json",
    )
    .await;
    assert_eq!(status, 413, "{text}");
    // A wrong method says so.
    let res = app
        .client
        .get(app.url("/api/stripe/webhook"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "GET is not allowed here");
}

/// Slowloris: a connection that never finishes its request head is closed, not kept forever.
#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(b"GET /pricing HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(
        landing::server::infra::http::HEADER_TIMEOUT + Duration::from_secs(5),
        stream.read_to_end(&mut buf),
    )
    .await;
    assert!(
        read.is_ok(),
        "the connection was still open after the header timeout"
    );
    assert!(
        started.elapsed() >= landing::server::infra::http::HEADER_TIMEOUT - Duration::from_secs(1)
    );
    // Meanwhile everyone else was served.
    assert_eq!(app.get_text("/healthz").await.0, 200);
}
