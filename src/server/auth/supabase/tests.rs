//! Verifying Supabase access tokens: the claims, the shared secret, and the configuration.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};
use sha2::Sha256;

use super::*;

const SECRET: &str = "supabase-test-secret-0123456789abcdef";
const PROJECT: &str = "https://abcd.supabase.co";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn config(url: &str) -> SupabaseConfig {
    SupabaseConfig {
        url: url.into(),
        jwt_secret: Some(Secret::new(SECRET)),
        jwks_url: None,
        emails_confirmed: false,
    }
}

/// Claims as Supabase issues them for an email user (docs: guides/auth/jwt-fields).
fn claims(url: &str, sub: &str) -> Value {
    json!({
        "iss": format!("{url}/auth/v1"),
        "sub": sub,
        "aud": "authenticated",
        "exp": now() + 3600,
        "iat": now(),
        "email": "ada@example.com",
        "phone": "",
        "app_metadata": {"provider": "email", "providers": ["email"]},
        "user_metadata": {"email_verified": true},
        "role": "authenticated",
        "aal": "aal1",
        "amr": [{"method": "password", "timestamp": now()}],
        "session_id": "6f1c2a8e-0000-4000-8000-000000000001",
        "is_anonymous": false,
    })
}

fn hs256(claims: &Value, secret: &str) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// A token with any header, HMAC-SHA256-signed with `secret` whatever `alg` says.
fn hmac_signed(header: &Value, claims: &Value, secret: &str) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(message.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{message}.{signature}")
}

fn user() -> (uuid::Uuid, String) {
    let id = uuid::Uuid::new_v4();
    (id, id.to_string())
}

#[tokio::test]
async fn an_hs256_token_with_supabase_claims_verifies() {
    let verifier = SupabaseVerifier::new(config(PROJECT), Duration::ZERO);
    let (id, sub) = user();
    let identity = verifier
        .verify(&hs256(&claims(PROJECT, &sub), SECRET))
        .await
        .unwrap();
    assert_eq!(identity.id, id);
    assert_eq!(identity.email, "ada@example.com");
    assert_eq!(verifier.issuer(), "https://abcd.supabase.co/auth/v1");
}

#[tokio::test]
async fn the_wrong_secret_issuer_audience_or_times_are_refused() {
    let verifier = SupabaseVerifier::new(config(PROJECT), Duration::ZERO);
    let (_, sub) = user();
    let good = claims(PROJECT, &sub);
    let refused = |c: Value| {
        let token = hs256(&c, SECRET);
        let verifier = &verifier;
        async move { verifier.verify(&token).await.unwrap_err() }
    };

    let other = hs256(&good, "another-secret-0123456789abcdef012345");
    assert_eq!(
        verifier.verify(&other).await.unwrap_err(),
        SupabaseError::BadSignature
    );

    let mut c = good.clone();
    c["iss"] = json!("https://other.supabase.co/auth/v1");
    assert_eq!(refused(c).await, SupabaseError::WrongIssuer);
    let mut c = good.clone();
    c["iss"] = json!("supabase"); // what the anon and service_role keys carry
    assert_eq!(refused(c).await, SupabaseError::WrongIssuer);
    let mut c = good.clone();
    c.as_object_mut().unwrap().remove("iss");
    assert_eq!(refused(c).await, SupabaseError::WrongIssuer);

    let mut c = good.clone();
    c["aud"] = json!("anon");
    assert_eq!(refused(c).await, SupabaseError::WrongAudience);

    let mut c = good.clone();
    c["exp"] = json!(now() - 60);
    assert_eq!(refused(c).await, SupabaseError::Expired);

    let mut c = good.clone();
    c["nbf"] = json!(now() + 60);
    assert_eq!(refused(c).await, SupabaseError::NotYetValid);
    // Within the 5 s leeway a clock a little behind is forgiven.
    let mut c = good.clone();
    c["nbf"] = json!(now() + 2);
    assert!(verifier.verify(&hs256(&c, SECRET)).await.is_ok());

    assert_eq!(
        verifier.verify("not.a.token").await.unwrap_err(),
        SupabaseError::Malformed
    );
}

#[tokio::test]
async fn subjects_anonymous_users_and_missing_emails_are_refused() {
    let verifier = SupabaseVerifier::new(config(PROJECT), Duration::ZERO);
    let (_, sub) = user();
    let good = claims(PROJECT, &sub);
    let refused = |c: Value| {
        let token = hs256(&c, SECRET);
        let verifier = &verifier;
        async move { verifier.verify(&token).await.unwrap_err() }
    };

    let mut c = good.clone();
    c["is_anonymous"] = json!(true);
    assert_eq!(refused(c).await, SupabaseError::Anonymous);

    let mut c = good.clone();
    c["sub"] = json!("not-a-uuid");
    assert_eq!(refused(c).await, SupabaseError::MissingSubject);
    let mut c = good.clone();
    c.as_object_mut().unwrap().remove("sub");
    assert_eq!(refused(c).await, SupabaseError::MissingSubject);

    // A phone user: Supabase puts an empty `email`.
    let mut c = good.clone();
    c["email"] = json!("");
    assert_eq!(refused(c).await, SupabaseError::MissingEmail);
    let mut c = good.clone();
    c.as_object_mut().unwrap().remove("email");
    assert_eq!(refused(c).await, SupabaseError::MissingEmail);
}

#[tokio::test]
async fn email_proven_comes_from_the_config_not_from_user_metadata() {
    let (_, sub) = user();
    let token = hs256(&claims(PROJECT, &sub), SECRET);

    // `user_metadata.email_verified: true` is in the token, but the user can write it
    // (sign-up data, `updateUser({ data })`), so it proves nothing.
    let unconfirmed = SupabaseVerifier::new(config(PROJECT), Duration::ZERO);
    assert!(!unconfirmed.verify(&token).await.unwrap().email_proven);

    let confirmed = SupabaseVerifier::new(
        SupabaseConfig {
            emails_confirmed: true,
            ..config(PROJECT)
        },
        Duration::ZERO,
    );
    assert!(confirmed.verify(&token).await.unwrap().email_proven);
}

#[tokio::test]
async fn none_and_algorithm_confusion_are_refused() {
    let (_, sub) = user();
    let c = claims(PROJECT, &sub);
    let secret_only = SupabaseVerifier::new(config(PROJECT), Duration::ZERO);

    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT"}).to_string()),
        URL_SAFE_NO_PAD.encode(c.to_string())
    );
    assert!(secret_only.verify(&unsigned).await.is_err());

    // An RS256/ES256 header over an HMAC made with the secret: never checked as HMAC.
    for alg in ["RS256", "ES256", "HS384", "HS512", "PS256", "EdDSA"] {
        let token = hmac_signed(&json!({"alg": alg, "typ": "JWT"}), &c, SECRET);
        assert_eq!(
            secret_only.verify(&token).await.unwrap_err(),
            SupabaseError::WrongAlgorithm,
            "{alg}"
        );
    }
}

// ---- The JWKS path, against a real HTTP server ----

mod jwks;

fn lookup(vars: &[(&str, &str)]) -> Result<Option<SupabaseConfig>, String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    SupabaseConfig::from_lookup(|k| map.get(k).cloned())
}

#[test]
fn configuration_is_read_and_checked() {
    assert_eq!(lookup(&[]), Ok(None));
    assert_eq!(lookup(&[("SUPABASE_URL", PROJECT)]), Ok(None));
    assert_eq!(
        lookup(&[("SUPABASE_JWT_SECRET", " "), ("SUPABASE_JWKS_URL", "")]),
        Ok(None)
    );

    let full = lookup(&[
        ("SUPABASE_URL", "https://abcd.supabase.co/"),
        ("SUPABASE_JWT_SECRET", SECRET),
        (
            "SUPABASE_JWKS_URL",
            "https://abcd.supabase.co/auth/v1/.well-known/jwks.json",
        ),
        ("SUPABASE_EMAILS_CONFIRMED", "TRUE"),
    ])
    .unwrap()
    .unwrap();
    assert_eq!(full.url, PROJECT);
    assert_eq!(full.jwt_secret.as_ref().map(Secret::expose), Some(SECRET));
    assert!(full.emails_confirmed);
    assert!(!format!("{full:?}").contains(SECRET));

    let jwks_only = lookup(&[
        ("SUPABASE_URL", "http://127.0.0.1:54321"),
        (
            "SUPABASE_JWKS_URL",
            "http://127.0.0.1:54321/auth/v1/.well-known/jwks.json",
        ),
    ])
    .unwrap()
    .unwrap();
    assert_eq!(jwks_only.jwt_secret, None);
    assert!(!jwks_only.emails_confirmed);

    let error_var = |vars: &[(&str, &str)]| {
        let e = lookup(vars).expect_err("should be refused");
        assert!(!e.contains('\n'), "{e}");
        assert!(!e.contains(SECRET), "{e}");
        e.split(':').next().unwrap().to_string()
    };
    assert_eq!(
        error_var(&[("SUPABASE_JWT_SECRET", SECRET)]),
        "SUPABASE_URL"
    );
    assert_eq!(
        error_var(&[("SUPABASE_JWKS_URL", "https://abcd.supabase.co/x")]),
        "SUPABASE_URL"
    );
    for bad in [
        "abcd.supabase.co",
        "ftp://abcd.supabase.co",
        "https://x.co/?a=1",
    ] {
        assert_eq!(
            error_var(&[("SUPABASE_URL", bad), ("SUPABASE_JWT_SECRET", SECRET)]),
            "SUPABASE_URL",
            "{bad}"
        );
    }
    assert_eq!(
        error_var(&[("SUPABASE_URL", PROJECT), ("SUPABASE_JWT_SECRET", "short")]),
        "SUPABASE_JWT_SECRET"
    );
    // The keys come over https, or plain http from this machine only.
    let jwks = |url: &str| lookup(&[("SUPABASE_URL", PROJECT), ("SUPABASE_JWKS_URL", url)]);
    assert_eq!(
        error_var(&[
            ("SUPABASE_URL", PROJECT),
            (
                "SUPABASE_JWKS_URL",
                "http://abcd.supabase.co/auth/v1/.well-known/jwks.json"
            ),
        ]),
        "SUPABASE_JWKS_URL"
    );
    for local in [
        "http://127.0.0.1:54321/jwks.json",
        "http://localhost:54321/jwks.json",
        "http://[::1]:54321/jwks.json",
    ] {
        assert!(jwks(local).is_ok(), "{local}");
    }
    assert_eq!(
        error_var(&[
            ("SUPABASE_URL", PROJECT),
            ("SUPABASE_JWKS_URL", "jwks.json")
        ]),
        "SUPABASE_JWKS_URL"
    );
    assert_eq!(
        error_var(&[
            ("SUPABASE_URL", PROJECT),
            ("SUPABASE_JWT_SECRET", SECRET),
            ("SUPABASE_EMAILS_CONFIRMED", "yes"),
        ]),
        "SUPABASE_EMAILS_CONFIRMED"
    );
}
