//! Supabase's asymmetric signing keys, end to end: a local stand-in for a project's
//! `/auth/v1/.well-known/jwks.json`, the app configured with `SUPABASE_JWKS_URL`, and ES256
//! tokens through `/api/me`. The key set is fetched once, fetched again when a token names a
//! `kid` it lacks (at most every 10 s), and a key no longer published stops working.

use std::time::{Duration, Instant};

use landing::server::db::Table;
use serde_json::Value;

use crate::harness::{on_both_databases, Backend, Project, SigningKey, TestApp};

on_both_databases!(
    backend;
    supabase_signing_keys_are_fetched_rotated_and_unknown_kids_refused,
);

/// `GET /api/me` with a Bearer token: the status and the body.
async fn me(app: &TestApp, token: &str) -> (u16, Value) {
    let bearer = ("authorization", format!("Bearer {token}"));
    app.get_json("/api/me", bearer).await
}

async fn supabase_signing_keys_are_fetched_rotated_and_unknown_kids_refused(backend: Backend) {
    let (a, b, c) = (
        SigningKey::p256(0x11, "key-a"),
        SigningKey::p256(0x22, "key-b"),
        SigningKey::p256(0x33, "key-c"),
    );
    let project = Project::start(&[&a]).await;
    let env = project.env();
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn_with(backend, &vars).await;
    let sub = uuid::Uuid::new_v4().to_string();
    let claims = project.claims(&sub, "kim@example.com");

    // Fetched on first use, then kept.
    for _ in 0..3 {
        let (status, body) = me(&app, &a.sign(&claims)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["id"], sub.as_str());
    }
    let first_fetch = Instant::now();
    assert_eq!(project.fetches(), 1);
    assert_eq!(app.rows(Table::Profiles).await, 1);

    // A kid the project never published, and a token naming A but signed with C: refused, and
    // no flood of fetches (the set was fetched a moment ago).
    for token in [c.sign(&claims), c.sign_as("key-a", &claims)] {
        let (status, body) = me(&app, &token).await;
        assert_eq!(status, 401, "{body}");
    }
    assert_eq!(project.fetches(), 1);

    // The project rotates to B and stops publishing A. Within 10 s of the last fetch, B waits;
    // after it, the first token naming B makes the app fetch again.
    project.publish(&[&b]);
    assert_eq!(me(&app, &b.sign(&claims)).await.0, 401);
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(first_fetch.elapsed())).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, body) = me(&app, &b.sign(&claims)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["id"],
        sub.as_str(),
        "the same user, whatever key signed"
    );
    assert_eq!(project.fetches(), 2);
    // A, withdrawn, no longer opens anything.
    assert_eq!(me(&app, &a.sign(&claims)).await.0, 401);
    assert_eq!(app.rows(Table::Profiles).await, 1);
}
