//! The log holds no secret (#8): the real binary, logging at debug, goes through sign-up,
//! sign-in (a wrong password too), API calls with a bearer token, checkout paid by card,
//! webhooks, the success, billing and portal pages and a mail server that wants a password;
//! then everything it printed is searched for every secret, token, password and card number.

use std::time::Duration;

use serde_json::json;

use crate::harness::{
    base_env, free_port, link_in, open_db, pay_at, session_cookie, Backend, ServerProcess,
    SmtpSink, TestDatabase, JWT_SECRET, STRIPE_KEY, WEBHOOK_SECRET,
};

const PASSWORD: &str = "correct horse battery staple 42";
const WRONG_PASSWORD: &str = "not my password at all 17";
const SMTP_PASSWORD: &str = "smtp-pass-Zq8VwK2m";
const CARD: &str = "4242424242424242";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_holds_no_secret_token_password_or_card_number() {
    check_the_log("text").await;
}

/// `LOG_FORMAT=json`: every line is one JSON object, requests carry their id, route, status and
/// latency, and webhooks their event id; and still no secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line_with_request_and_event_fields() {
    let log = check_the_log("json").await;
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let answered = lines
        .iter()
        .find(|l| l["message"] == "finished processing request" && l["span"]["route"] == "/api/me")
        .unwrap_or_else(|| panic!("no answered /api/me in {log}"));
    assert!(answered["status"].is_u64(), "{answered}");
    assert!(answered["latency"].is_string(), "{answered}");
    let id = answered["span"]["request_id"].as_str().unwrap();
    assert!(id.len() > 8, "{answered}");
    let ids: std::collections::HashSet<&str> = lines
        .iter()
        .filter(|l| l["message"] == "finished processing request")
        .filter_map(|l| l["span"]["request_id"].as_str())
        .collect();
    assert!(ids.len() > 5, "each request has its own id: {ids:?}");
    let webhook = lines
        .iter()
        .find(|l| l["span"]["route"] == "/api/stripe/webhook" && l["event"].is_string())
        .unwrap_or_else(|| panic!("no webhook line with its event in {log}"));
    assert!(
        webhook["event"].as_str().unwrap().starts_with("evt_"),
        "{webhook}"
    );
}

/// Runs the binary through every flow with `LOG_FORMAT=format`, checks that nothing secret was
/// logged, and gives back what it printed.
async fn check_the_log(format: &str) -> String {
    let port = free_port();
    let site = format!("http://127.0.0.1:{port}");
    let stripe = stripe_emulator::spawn(stripe_emulator::Options {
        catalog: Some(crate::harness::manifest_path("plans.toml")),
        webhook: Some((format!("{site}/api/stripe/webhook"), WEBHOOK_SECRET.into())),
        ..Default::default()
    })
    .await
    .unwrap();
    let smtp = SmtpSink::start().await;
    let database = TestDatabase::create(Backend::Sqlite).await;
    let mut env = base_env(&database.url(), &site);
    env.insert("RUST_LOG".into(), "debug".into());
    env.insert("LOG_FORMAT".into(), format.into());
    env.insert("STRIPE_SECRET_KEY".into(), STRIPE_KEY.into());
    env.insert("STRIPE_API_BASE".into(), stripe.base_url.clone());
    env.insert("STRIPE_WEBHOOK_SECRET".into(), WEBHOOK_SECRET.into());
    env.insert(
        "SMTP_URL".into(),
        format!("smtp://billing:{SMTP_PASSWORD}@127.0.0.1:{}", smtp.port),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(env.into_iter().collect(), dir.path(), port).await;

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = |path: &str, fields: &[(&str, &str)]| {
        http.post(format!("{site}{path}"))
            .header("accept", "application/json")
            .header("origin", &site)
            .form(fields)
    };
    let email = "logs@example.com";
    let res = form(
        "/api/auth/sign_up",
        &[("email", email), ("password", PASSWORD)],
    )
    .send()
    .await
    .unwrap();
    assert!(res.status().is_success());
    let wrong = form(
        "/api/auth/sign_in",
        &[("email", email), ("password", WRONG_PASSWORD)],
    )
    .send()
    .await
    .unwrap();
    assert_eq!(wrong.status(), 401);
    let res = form(
        "/api/auth/sign_in",
        &[("email", email), ("password", PASSWORD)],
    )
    .send()
    .await
    .unwrap();
    let cookie = session_cookie(&res);
    let token = cookie.trim_start_matches("landing_session=").to_string();
    let me = http
        .get(format!("{site}/api/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let bad_bearer = http
        .get(format!("{site}/api/me"))
        .bearer_auth(format!("{token}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_bearer.status(), 401);
    let checkout: serde_json::Value = http
        .post(format!("{site}/api/stripe/create-checkout"))
        .header("cookie", &cookie)
        .header("origin", &site)
        .json(&json!({
            "priceId": "pro_monthly", "mode": "subscription",
            "successUrl": format!("{site}/success?session_id={{CHECKOUT_SESSION_ID}}"),
            "cancelUrl": format!("{site}/pricing"),
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let success = pay_at(checkout["url"].as_str().unwrap(), email).await;
    for path in [success.trim_start_matches(&site), "/billing", "/app"] {
        let res = http
            .get(format!("{site}{path}"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
    let portal = http
        .post(format!("{site}/api/stripe/create-portal"))
        .header("cookie", &cookie)
        .header("origin", &site)
        .json(&json!({"returnUrl": format!("{site}/billing")}))
        .send()
        .await
        .unwrap();
    assert_eq!(portal.status(), 200);
    // Live links: the mail server refuses them, so they wait in the outbox, from where this
    // test reads them as only the inbox's owner could. Their pages are opened, and forms sent
    // back to them with a problem, so their addresses pass through the request log.
    let db = open_db(&database.url()).await;
    let verify = link_waiting(&db, "/verify-email").await;
    let browser_form = |path: &str, fields: &[(&str, &str)]| {
        http.post(format!("{site}{path}"))
            .header("accept", "text/html")
            .header("origin", &site)
            .form(fields)
    };
    let res = http.get(format!("{site}{verify}")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let verify_token = token_in(&verify);
    let res = browser_form(
        "/api/auth/verify_email",
        &[("token", &verify_token), ("password", WRONG_PASSWORD)],
    )
    .send()
    .await
    .unwrap();
    let back = res.headers()["location"].to_str().unwrap().to_string();
    assert!(
        back.contains(&verify_token),
        "sent back to the same link: {back}"
    );
    http.get(format!("{site}{back}")).send().await.unwrap();
    let res = form("/api/auth/forgot_password", &[("email", email)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let reset = link_waiting(&db, "/reset-password").await;
    let reset_token = token_in(&reset);
    http.get(format!("{site}{reset}")).send().await.unwrap();
    let res = browser_form(
        "/api/auth/reset_password",
        &[("token", &reset_token), ("password", "short")],
    )
    .send()
    .await
    .unwrap();
    let back = res.headers()["location"].to_str().unwrap().to_string();
    assert!(
        back.contains(&reset_token),
        "sent back to the same link: {back}"
    );
    http.get(format!("{site}{back}")).send().await.unwrap();

    // Webhooks arrive and the receipt is tried on a server that will not take the password.
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.stop().await;

    let log = server.output.lock().unwrap().clone();
    assert!(log.contains("webhook"), "the log is the real one: {log}");
    assert!(log.lines().count() > 20, "debug logging was on");
    let spaced_card = "4242 4242 4242 4242";
    for (what, secret) in [
        ("the JWT secret", JWT_SECRET),
        ("the Stripe key", STRIPE_KEY),
        ("the webhook secret", WEBHOOK_SECRET),
        ("the SMTP password", SMTP_PASSWORD),
        ("the session token", token.as_str()),
        ("the password", PASSWORD),
        ("the wrong password", WRONG_PASSWORD),
        ("the card number", CARD),
        ("the card number, spaced", spaced_card),
        ("a live verification link", verify_token.as_str()),
        ("a live reset link", reset_token.as_str()),
    ] {
        assert!(!log.contains(secret), "{what} is in the log");
    }
    // The success page's address is logged without the Checkout Session id it carries.
    let session_id = success.rsplit("session_id=").next().unwrap();
    assert!(session_id.starts_with("cs_"), "{success}");
    assert!(
        !log.contains(&format!("session_id={session_id}")),
        "the Checkout Session id is in the log"
    );
    assert!(log.contains("/success?session_id=[redacted]"), "{log}");
    assert!(log.contains("/reset-password?token=[redacted]"), "{log}");
    assert!(log.contains("/verify-email?token=[redacted]"), "{log}");
    // Nor any part of a token: its signature is the secret part.
    let signature = token.rsplit('.').next().unwrap();
    assert!(
        !log.contains(signature),
        "a token's signature is in the log"
    );
    log
}

/// The newest link to `path` waiting in the outbox (the mail server refuses it).
async fn link_waiting(db: &landing::server::db::Db, path: &str) -> String {
    for _ in 0..200 {
        let mails = landing::server::db::outbox::all(db).await.unwrap();
        if let Some(link) = mails.iter().rev().find_map(|m| link_in(&m.body, path)) {
            return link;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {path} link in the outbox");
}

fn token_in(link: &str) -> String {
    link.rsplit("token=").next().unwrap().to_string()
}
