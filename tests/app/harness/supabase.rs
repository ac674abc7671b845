//! A stand-in Supabase project: its signing keys and the JWKS it publishes on 127.0.0.1.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

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
