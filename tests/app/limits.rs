//! Per-client limits, keyed by who the client is: the TCP peer, or behind a trusted proxy the
//! address it names in `X-Forwarded-For`; a header from anyone else is ignored.

use reqwest::header::SET_COOKIE;

use crate::harness::{on_both_databases, Backend, TestApp};

on_both_databases!(
    backend;
    a_thousand_guesses_from_one_48_reach_at_most_a_hundred_checks_and_others_sign_in,
    behind_a_trusted_proxy_each_client_has_its_own_checkout_and_sign_in_limits,
    without_a_trusted_proxy_forwarded_for_changes_nothing,
);

const PASSWORD: &str = "correct horse battery";

async fn behind_a_trusted_proxy_each_client_has_its_own_checkout_and_sign_in_limits(
    backend: Backend,
) {
    let app = TestApp::spawn_billing_with(
        backend,
        &[
            ("TRUSTED_PROXIES", "127.0.0.1"),
            ("CHECKOUTS_PER_ADDRESS", "2"),
        ],
    )
    .await;
    let (ann, bob) = ("198.51.100.7", "198.51.100.8");

    // Checkout: two per client, then a 429 that says when to come back, and Stripe is spared.
    for _ in 0..2 {
        let (status, _, body) = app.checkout_from(ann).await;
        assert_eq!(status, 200, "{body}");
    }
    let created = app.checkout_sessions();
    let (status, retry_after, body) = app.checkout_from(ann).await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("Too many checkouts from your address"),
        "{body}"
    );
    let wait: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=600).contains(&wait), "{wait}");
    // What Ann writes left of the proxy's own hop is hers to invent: still Ann.
    let (status, _, _) = app.checkout_from(&format!("{bob}, {ann}")).await;
    assert_eq!(status, 429);
    assert_eq!(app.checkout_sessions(), created, "no call reached Stripe");
    // Bob, behind the same proxy, is another client.
    let (status, _, body) = app.checkout_from(bob).await;
    assert_eq!(status, 200, "{body}");

    // Sign-in: a stranger's wrong passwords lock the stranger out, not the owner.
    let email = "owner@example.com";
    app.member(email).await;
    for _ in 0..5 {
        assert_eq!(app.sign_in_from(ann, email, "wrong password!").await, 401);
    }
    assert_eq!(app.sign_in_from(ann, email, PASSWORD).await, 429);
    assert_eq!(app.sign_in_from(bob, email, PASSWORD).await, 200);
}

/// Distributed guessing: 1,000 guesses at one account, each from its own /64 of one IPv6 /48,
/// sent 100 at a time. The /48's limit and the account's one-check-at-a-time turn refuse all
/// but a few before any password is checked (429, never 503), and another account's owner
/// signs in meanwhile, at once.
async fn a_thousand_guesses_from_one_48_reach_at_most_a_hundred_checks_and_others_sign_in(
    backend: Backend,
) {
    use std::sync::Arc;
    let app = TestApp::spawn_with(backend, &[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    app.member("victim@example.com").await;
    app.member("bystander@example.com").await;
    let app = Arc::new(app);
    let flood = {
        let app = app.clone();
        tokio::spawn(async move {
            let at_once = Arc::new(tokio::sync::Semaphore::new(100));
            let mut guesses = tokio::task::JoinSet::new();
            for i in 0..1000u32 {
                let permit = at_once.clone().acquire_owned().await.unwrap();
                let app = app.clone();
                guesses.spawn(async move {
                    let _permit = permit;
                    let from = format!("2001:db8:7:{i:x}::1");
                    app.sign_in_from(&from, "victim@example.com", &format!("guess {i:04}!"))
                        .await
                });
            }
            guesses.join_all().await
        })
    };
    // The bystander signs in during the flood, from elsewhere, and is not refused or kept busy.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let started = std::time::Instant::now();
    assert_eq!(
        app.sign_in_from("198.51.100.20", "bystander@example.com", PASSWORD)
            .await,
        200
    );
    let bystander_took = started.elapsed();
    let answers = flood.await.unwrap();
    let checked = answers.iter().filter(|s| **s == 401).count();
    let refused = answers.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + refused, 1000, "401 or 429 only: {answers:?}");
    assert!(checked <= 100, "{checked} guesses reached a password check");
    assert!(
        bystander_took < std::time::Duration::from_secs(5),
        "the bystander waited {bystander_took:?}"
    );
    // The victim, from home, still gets in (after the delay the failures earned).
    assert_eq!(
        app.sign_in_from("203.0.113.5", "victim@example.com", PASSWORD)
            .await,
        200
    );
}

async fn without_a_trusted_proxy_forwarded_for_changes_nothing(backend: Backend) {
    let app = TestApp::spawn_billing_with(backend, &[("CHECKOUTS_PER_ADDRESS", "2")]).await;
    // Every request comes from 127.0.0.1, whatever the header claims.
    for forged in ["198.51.100.1", "198.51.100.2"] {
        let (status, _, body) = app.checkout_from(forged).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, _, _) = app.checkout_from("198.51.100.3").await;
    assert_eq!(status, 429);

    let email = "owner@example.com";
    app.member(email).await;
    for i in 0..5 {
        let forged = format!("203.0.113.{i}");
        assert_eq!(
            app.sign_in_from(&forged, email, "wrong password!").await,
            401
        );
    }
    assert_eq!(app.sign_in_from("203.0.113.99", email, PASSWORD).await, 429);
    // The refusal sets no cookie: no session was started.
    let res = app
        .client
        .post(app.url("/api/auth/sign_in"))
        .header("accept", "application/json")
        .header("origin", &app.base)
        .form(&[("email", email), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 429);
    assert!(res.headers().get(SET_COOKIE).is_none());
}

/// Instances behind one balancer on one PostgreSQL count into the same rows: the 31st sign-in
/// from one client in ten minutes is refused whichever instance it reaches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_on_one_postgres_share_their_limits() {
    let one = TestApp::spawn(Backend::Postgres).await;
    let two = one.second_instance(&[]).await;
    let sign_in = |app: &TestApp, email: String| {
        app.client
            .post(app.url("/api/auth/sign_in"))
            .header("accept", "application/json")
            // The site's one address, whichever instance the balancer picked.
            .header("origin", &one.base)
            .form(&[("email", email.as_str()), ("password", "wrong password!")])
            .send()
    };
    for i in 0..30 {
        let app = if i % 2 == 0 { &one } else { &two };
        // A new email each time: only the per-client limit counts them.
        let res = sign_in(app, format!("u{i}@example.com")).await.unwrap();
        assert_eq!(res.status(), 401, "attempt {i}");
    }
    for app in [&one, &two] {
        let res = sign_in(app, "u99@example.com".into()).await.unwrap();
        assert_eq!(res.status(), 429, "the 31st, at {}", app.base);
    }
}

/// The shared store: one row per limiter, key and bucket; a refund gives one hit back; ended
/// buckets are swept and live ones kept.
#[tokio::test]
async fn the_shared_limits_count_refund_and_sweep() {
    use landing::server::db::limits;
    let app = TestApp::spawn(Backend::Postgres).await;
    let landing::server::db::Db::Postgres(pool) = &app.state.db else {
        unreachable!("a PostgreSQL app");
    };
    let hour = 3600.0;
    assert_eq!(
        limits::hit(pool, "test", b"ann", hour, 1).await.unwrap(),
        Some(1)
    );
    assert_eq!(
        limits::hit(pool, "test", b"ann", hour, 1).await.unwrap(),
        None,
        "past the limit"
    );
    assert_eq!(
        limits::hit(pool, "test", b"bob", hour, 1).await.unwrap(),
        Some(1),
        "another key"
    );
    limits::refund(pool, "test", b"ann", hour).await.unwrap();
    assert_eq!(
        limits::hit(pool, "test", b"ann", hour, 1).await.unwrap(),
        Some(1),
        "given back"
    );
    assert_eq!(
        limits::hit(pool, "count", b"ann", hour, i32::MAX)
            .await
            .unwrap(),
        Some(1)
    );
    assert_eq!(
        limits::hit(pool, "count", b"ann", hour, i32::MAX)
            .await
            .unwrap(),
        Some(2),
        "a counter answers its count"
    );

    assert!(limits::hit(pool, "brief", b"ann", 1.0, 5)
        .await
        .unwrap()
        .is_some());
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        limits::sweep(pool).await.unwrap(),
        1,
        "the ended bucket goes"
    );
    let left: Vec<String> = sqlx::query_scalar("SELECT limiter FROM rate_limits ORDER BY limiter")
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(left, ["count", "test", "test"], "the live buckets stay");
}
