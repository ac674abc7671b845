//! Supabase's asymmetric signing keys, end to end: a local stand-in for a project's
//! `/auth/v1/.well-known/jwks.json`, the app configured with `SUPABASE_JWKS_URL`, and ES256
//! tokens through `/api/me`. The key set is fetched once, fetched again when a token names a
//! `kid` it lacks (at most every 10 s), and a key no longer published stops working.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use landing::server::db::Table;
use serde_json::{json, Value};

use crate::support::{on_both_databases, Backend, TestApp};

on_both_databases!(
    backend;
    supabase_signing_keys_are_fetched_rotated_and_unknown_kids_refused,
);

/// PKCS#8 DER of a P-256 private key up to its 32-byte scalar (RFC 5208 around RFC 5915,
/// public key left out).
const P256_PKCS8_HEAD: [u8; 35] = [
    0x30, 0x41, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x27, 0x30, 0x25, 0x02, 0x01,
    0x01, 0x04, 0x20,
];

/// One signing key of the stand-in project.
pub struct SigningKey {
    pub kid: String,
    key: EncodingKey,
}

impl SigningKey {
    /// A P-256 key whose scalar is 32 times `byte` (any byte from 1 to 0x7f makes a valid one).
    pub fn p256(byte: u8, kid: &str) -> SigningKey {
        let mut der = P256_PKCS8_HEAD.to_vec();
        der.extend([byte; 32]);
        SigningKey {
            kid: kid.into(),
            key: EncodingKey::from_ec_der(&der),
        }
    }

    /// Its public half as a project publishes it.
    pub fn public(&self) -> Jwk {
        let mut jwk = Jwk::from_encoding_key(&self.key, Algorithm::ES256).unwrap();
        jwk.common.key_id = Some(self.kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk
    }

    /// A token signed with this key, naming `kid` in its header.
    pub fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.into());
        encode(&header, claims, &self.key).unwrap()
    }

    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(&self.kid, claims)
    }
}

/// A project's JWKS, served on 127.0.0.1, its keys changed at will.
#[derive(Clone)]
pub struct Project {
    pub url: String,
    published: Arc<Mutex<String>>,
    fetches: Arc<AtomicUsize>,
}

impl Project {
    pub async fn start(keys: &[&SigningKey]) -> Project {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let project = Project {
            url: format!("http://{}", listener.local_addr().unwrap()),
            published: Arc::default(),
            fetches: Arc::default(),
        };
        project.publish(keys);
        let router = Router::new()
            .route(
                "/auth/v1/.well-known/jwks.json",
                get(|State(p): State<Project>| async move {
                    p.fetches.fetch_add(1, Ordering::SeqCst);
                    p.published.lock().unwrap().clone()
                }),
            )
            .with_state(project.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        project
    }

    /// Publishes exactly these keys from now on.
    pub fn publish(&self, keys: &[&SigningKey]) {
        let set = JwkSet {
            keys: keys.iter().map(|k| k.public()).collect(),
        };
        *self.published.lock().unwrap() = serde_json::to_string(&set).unwrap();
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// The variables that make the app trust this project's keys.
    pub fn env(&self) -> [(&'static str, String); 2] {
        [
            ("SUPABASE_URL", self.url.clone()),
            (
                "SUPABASE_JWKS_URL",
                format!("{}/auth/v1/.well-known/jwks.json", self.url),
            ),
        ]
    }

    /// An access token's claims as Supabase Auth writes them for an email user.
    pub fn claims(&self, sub: &str, email: &str) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({ "iss": format!("{}/auth/v1", self.url), "sub": sub, "email": email,
            "aud": "authenticated", "role": "authenticated", "iat": now - 2, "exp": now + 3600,
            "session_id": uuid::Uuid::new_v4().to_string(), "is_anonymous": false,
            "app_metadata": {"provider": "email"}, "user_metadata": {} })
    }
}

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
