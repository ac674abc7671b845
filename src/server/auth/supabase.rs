//! Access tokens issued by Supabase Auth, verified apart from our own session tokens (`jwt.rs`).
//!
//! What Supabase puts in an access token (supabase/auth `internal/tokens/service.go`,
//! `GenerateAccessToken`; docs: guides/auth/jwt-fields): `iss` = `<SUPABASE_URL>/auth/v1`,
//! `sub` = the user's UUID, `aud` = `authenticated`, `exp`, `iat`, `email`, `phone`, `role`,
//! `aal`, `session_id`, `is_anonymous`, `amr`, `app_metadata` (`provider`, `providers`) and
//! `user_metadata`.
//!
//! Signing keys (docs: guides/auth/signing-keys): the legacy shared JWT secret (HS256), or
//! asymmetric keys, ES256 (P-256) or RS256, whose public halves are published at
//! `<SUPABASE_URL>/auth/v1/.well-known/jwks.json` and named by the token's `kid`.
//!
//! Whether the email is confirmed: the access token has no claim Supabase alone controls for it.
//! Supabase sets `user_metadata.email_verified = true` when the user confirms (`User.Confirm`),
//! but `user_metadata` is written by the user too, unchecked: at sign-up (`options.data`) and with
//! `updateUser({ data })` (`PUT /user`). Supabase's own linter (splinter 0015) says not to base
//! any security decision on it. So `email_proven` comes from configuration only:
//! `SUPABASE_EMAILS_CONFIRMED=true` states that the project requires email confirmation before a
//! session is issued (Supabase's "Confirm email" setting), so every token's email is confirmed.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::header::{ACCEPT, USER_AGENT};
use hyper::Request;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use url::Url;

use crate::server::outbound::{self, Outbound};
use crate::server::secret::Secret;

/// The audience of a signed-in user's access token.
pub const AUDIENCE: &str = "authenticated";
/// How often, at most, an unknown `kid` may make us fetch the JWKS again.
pub const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// Clock skew we forgive, and no more.
const LEEWAY: u64 = 5;
/// Legacy shared secrets shorter than this are refused.
const MIN_SECRET_LEN: usize = 32;
/// A JWKS that does not arrive in this time is a failed fetch.
const JWKS_TIMEOUT: Duration = Duration::from_secs(5);
/// A JWKS holds a few public keys; anything much larger is not one.
const JWKS_MAX_BYTES: usize = 64 * 1024;
const USER_AGENT_VALUE: &str = concat!("landing/", env!("CARGO_PKG_VERSION"));

/// How to verify a Supabase project's tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupabaseConfig {
    /// `SUPABASE_URL`, without a trailing slash, such as `https://abcd.supabase.co`.
    pub url: String,
    /// `SUPABASE_JWT_SECRET`: the legacy shared secret (HS256).
    pub jwt_secret: Option<Secret>,
    /// `SUPABASE_JWKS_URL`, normally `<SUPABASE_URL>/auth/v1/.well-known/jwks.json`.
    pub jwks_url: Option<String>,
    /// `SUPABASE_EMAILS_CONFIRMED`: the project requires email confirmation before sign-in, so
    /// every email in its tokens is proven.
    pub emails_confirmed: bool,
}

impl SupabaseConfig {
    /// `None` when neither `SUPABASE_JWT_SECRET` nor `SUPABASE_JWKS_URL` is set (Supabase
    /// sign-in off); empty values count as unset. An error is one line naming the variable.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<SupabaseConfig>, String> {
        let get = |key: &str| {
            get(key)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let secret = get("SUPABASE_JWT_SECRET");
        let jwks_url = get("SUPABASE_JWKS_URL");
        if secret.is_none() && jwks_url.is_none() {
            return Ok(None);
        }
        let Some(raw_url) = get("SUPABASE_URL") else {
            return Err(
                "SUPABASE_URL: is not set; it is required with SUPABASE_JWT_SECRET or \
                 SUPABASE_JWKS_URL (your project's URL, such as https://abcd.supabase.co)"
                    .into(),
            );
        };
        let url = parse_http_url("SUPABASE_URL", &raw_url)?;
        let jwt_secret = match secret {
            Some(s) if s.chars().count() < MIN_SECRET_LEN => {
                return Err(format!(
                    "SUPABASE_JWT_SECRET: is too short: at least {MIN_SECRET_LEN} characters"
                ))
            }
            s => s.map(Secret::new),
        };
        let jwks_url = jwks_url
            .map(|raw| parse_http_url("SUPABASE_JWKS_URL", &raw))
            .transpose()?;
        let emails_confirmed = match get("SUPABASE_EMAILS_CONFIRMED")
            .map(|v| v.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(format!(
                    "SUPABASE_EMAILS_CONFIRMED: expected true or false, got `{other}`"
                ))
            }
        };
        Ok(Some(SupabaseConfig {
            url,
            jwt_secret,
            jwks_url,
            emails_confirmed,
        }))
    }
}

/// An absolute http(s) URL without query or fragment, returned without a trailing slash.
fn parse_http_url(var: &str, raw: &str) -> Result<String, String> {
    let url =
        Url::parse(raw).map_err(|e| format!("{var}: `{raw}` is not an absolute URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("{var}: expected http(s)://HOST…, got `{raw}`"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{var}: must not have a query or fragment, got `{raw}`"
        ));
    }
    Ok(raw.trim_end_matches('/').to_string())
}

/// Who a verified Supabase token is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupabaseIdentity {
    /// The Supabase user id (`sub`).
    pub id: uuid::Uuid,
    pub email: String,
    /// The email is known to be confirmed (see the module notes: configuration only).
    pub email_proven: bool,
}

/// Why a Supabase token was refused. Messages are safe to show a client and never hold the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SupabaseError {
    #[error("the Supabase token is malformed")]
    Malformed,
    #[error("the Supabase token is signed with an algorithm we do not accept")]
    WrongAlgorithm,
    #[error("the Supabase token is signed with a key we do not know")]
    UnknownKey,
    #[error("Supabase's signing keys could not be fetched; try again shortly")]
    KeysUnavailable,
    #[error("the Supabase token's signature is invalid")]
    BadSignature,
    #[error("the Supabase token has expired")]
    Expired,
    #[error("the Supabase token is not valid yet")]
    NotYetValid,
    #[error("the Supabase token is from another issuer")]
    WrongIssuer,
    #[error("the Supabase token is not for this audience")]
    WrongAudience,
    #[error("the Supabase token names no user")]
    MissingSubject,
    #[error("anonymous Supabase users cannot sign in here")]
    Anonymous,
    #[error("the Supabase token carries no email address")]
    MissingEmail,
}

/// The claims we read; `iss`, `aud`, `exp` and `nbf` are checked by `jsonwebtoken`.
#[derive(Deserialize)]
struct Claims {
    /// Optional here so that a missing `sub` is reported as such by the validation.
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    is_anonymous: Option<bool>,
}

/// A usable public key from the JWKS, with the one algorithm it may verify.
#[derive(Clone)]
struct CachedKey {
    alg: Algorithm,
    key: DecodingKey,
}

#[derive(Default)]
struct FetchState {
    last_attempt: Option<Instant>,
    last_failed: bool,
}

/// Verifies Supabase access tokens: HS256 with the legacy secret, ES256/RS256 with the project's
/// JWKS (cached by `kid`, fetched on first use and again for an unknown `kid`, at most once per
/// refetch interval).
pub struct SupabaseVerifier {
    config: SupabaseConfig,
    issuer: String,
    http: Outbound<Empty<Bytes>>,
    keys: RwLock<HashMap<String, CachedKey>>,
    /// Held across a fetch, so concurrent requests for an unknown `kid` wait for one fetch
    /// instead of starting their own.
    fetch: tokio::sync::Mutex<FetchState>,
    refetch_interval: Duration,
}

impl std::fmt::Debug for SupabaseVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupabaseVerifier")
            .field("issuer", &self.issuer)
            .field("jwks_url", &self.config.jwks_url)
            .field("refetch_interval", &self.refetch_interval)
            .finish()
    }
}

impl SupabaseVerifier {
    /// `refetch_interval`: the least time between two JWKS fetches (`DEFAULT_REFETCH_INTERVAL`
    /// in production; tests may pass zero).
    pub fn new(config: SupabaseConfig, refetch_interval: Duration) -> SupabaseVerifier {
        // `https://` is the rule for a real project; a local Supabase is plain http.
        let http = outbound::client(Some(JWKS_TIMEOUT), Duration::from_secs(30));
        SupabaseVerifier {
            issuer: format!("{}/auth/v1", config.url),
            config,
            http,
            keys: RwLock::new(HashMap::new()),
            fetch: tokio::sync::Mutex::new(FetchState::default()),
            refetch_interval,
        }
    }

    /// The `iss` every accepted token carries: `<SUPABASE_URL>/auth/v1`.
    pub fn issuer(&self) -> String {
        self.issuer.clone()
    }

    pub fn config(&self) -> &SupabaseConfig {
        &self.config
    }

    /// Verifies signature, algorithm, issuer, audience, expiry and not-before, then requires a
    /// UUID subject, a non-anonymous user and an email.
    pub async fn verify(&self, token: &str) -> Result<SupabaseIdentity, SupabaseError> {
        let header = decode_header(token).map_err(|_| SupabaseError::Malformed)?;
        let key = match header.alg {
            Algorithm::HS256 => match &self.config.jwt_secret {
                Some(secret) => DecodingKey::from_secret(secret.expose().as_bytes()),
                None => return Err(SupabaseError::WrongAlgorithm),
            },
            Algorithm::ES256 | Algorithm::RS256 => {
                let Some(url) = &self.config.jwks_url else {
                    return Err(SupabaseError::WrongAlgorithm);
                };
                let Some(kid) = header.kid.as_deref().filter(|k| !k.is_empty()) else {
                    return Err(SupabaseError::UnknownKey);
                };
                self.jwks_key(url, kid, header.alg).await?
            }
            _ => return Err(SupabaseError::WrongAlgorithm),
        };

        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.leeway = LEEWAY;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "sub", "aud", "iss"]);
        let claims = decode::<Claims>(token, &key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature
                | ErrorKind::InvalidEcdsaKey
                | ErrorKind::InvalidRsaKey(_) => SupabaseError::BadSignature,
                ErrorKind::InvalidAlgorithm
                | ErrorKind::InvalidAlgorithmName
                | ErrorKind::InvalidKeyFormat
                | ErrorKind::UnsupportedAlgorithm => SupabaseError::WrongAlgorithm,
                ErrorKind::ExpiredSignature => SupabaseError::Expired,
                ErrorKind::ImmatureSignature => SupabaseError::NotYetValid,
                ErrorKind::InvalidIssuer => SupabaseError::WrongIssuer,
                ErrorKind::InvalidAudience => SupabaseError::WrongAudience,
                ErrorKind::MissingRequiredClaim(c) => match c.as_str() {
                    "sub" => SupabaseError::MissingSubject,
                    "iss" => SupabaseError::WrongIssuer,
                    "aud" => SupabaseError::WrongAudience,
                    _ => SupabaseError::Malformed,
                },
                _ => SupabaseError::Malformed,
            })?
            .claims;

        let id = claims
            .sub
            .as_deref()
            .and_then(|sub| uuid::Uuid::parse_str(sub).ok())
            .ok_or(SupabaseError::MissingSubject)?;
        if claims.is_anonymous == Some(true) {
            return Err(SupabaseError::Anonymous);
        }
        let email = claims
            .email
            .map(|e| e.trim().to_string())
            .filter(|e| e.contains('@'))
            .ok_or(SupabaseError::MissingEmail)?;
        Ok(SupabaseIdentity {
            id,
            email,
            email_proven: self.config.emails_confirmed,
        })
    }

    /// The cached key for `kid`, if it may verify `alg`.
    fn cached(&self, kid: &str, alg: Algorithm) -> Option<Result<DecodingKey, SupabaseError>> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        keys.get(kid).map(|k| {
            if k.alg == alg {
                Ok(k.key.clone())
            } else {
                Err(SupabaseError::WrongAlgorithm)
            }
        })
    }

    async fn jwks_key(
        &self,
        url: &str,
        kid: &str,
        alg: Algorithm,
    ) -> Result<DecodingKey, SupabaseError> {
        if let Some(found) = self.cached(kid, alg) {
            return found;
        }
        let mut state = self.fetch.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(found) = self.cached(kid, alg) {
            return found;
        }
        if let Some(at) = state.last_attempt {
            if at.elapsed() < self.refetch_interval {
                return Err(if state.last_failed {
                    SupabaseError::KeysUnavailable
                } else {
                    SupabaseError::UnknownKey
                });
            }
        }
        state.last_attempt = Some(Instant::now());
        match self.fetch_keys(url).await {
            Ok(keys) => {
                state.last_failed = false;
                tracing::debug!(url, keys = keys.len(), "fetched Supabase's signing keys");
                // Replaced whole: a key Supabase no longer publishes (revoked) stops verifying.
                *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
            }
            Err(problem) => {
                // The keys we had stay in place; only this token is refused.
                state.last_failed = true;
                tracing::warn!(
                    url,
                    %problem,
                    "could not fetch Supabase's signing keys; the token is refused"
                );
                return Err(SupabaseError::KeysUnavailable);
            }
        }
        drop(state);
        self.cached(kid, alg)
            .unwrap_or(Err(SupabaseError::UnknownKey))
    }

    async fn fetch_keys(&self, url: &str) -> Result<HashMap<String, CachedKey>, String> {
        let request = Request::get(url)
            .header(USER_AGENT, USER_AGENT_VALUE)
            .header(ACCEPT, "application/json")
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| format!("unreachable: {e}"))?;
            let status = response.status();
            if !status.is_success() {
                return Err(format!("answered {status}"));
            }
            let body = Limited::new(response.into_body(), JWKS_MAX_BYTES)
                .collect()
                .await
                .map_err(|e| format!("could not read the answer: {e}"))?
                .to_bytes();
            Ok(body)
        };
        let body = tokio::time::timeout(JWKS_TIMEOUT, exchange)
            .await
            .map_err(|_| format!("no answer within {} s", JWKS_TIMEOUT.as_secs()))??;
        parse_jwks(&body)
    }
}

/// The usable keys of a JWKS by `kid`. Keys of other kinds (an `oct` secret, EdDSA, P-384, an
/// encryption key, …) are skipped, not errors, so one odd key cannot lock every user out.
fn parse_jwks(body: &[u8]) -> Result<HashMap<String, CachedKey>, String> {
    #[derive(Deserialize)]
    struct RawSet {
        keys: Vec<serde_json::Value>,
    }
    let set: RawSet =
        serde_json::from_slice(body).map_err(|e| format!("the answer is not a JWKS: {e}"))?;
    Ok(set
        .keys
        .into_iter()
        .filter_map(|raw| serde_json::from_value::<Jwk>(raw).ok())
        .filter_map(|jwk| usable_key(&jwk))
        .collect())
}

fn usable_key(jwk: &Jwk) -> Option<(String, CachedKey)> {
    let kid = jwk.common.key_id.clone().filter(|k| !k.is_empty())?;
    if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    if matches!(&jwk.common.key_operations, Some(ops) if !ops.contains(&KeyOperations::Verify)) {
        return None;
    }
    let alg = match (&jwk.algorithm, jwk.common.key_algorithm) {
        (AlgorithmParameters::EllipticCurve(p), None | Some(KeyAlgorithm::ES256))
            if p.curve == EllipticCurve::P256 =>
        {
            Algorithm::ES256
        }
        (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
        _ => return None,
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some((kid, CachedKey { alg, key }))
}

#[cfg(test)]
mod tests {
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

    /// A P-256 private key as PKCS#8 DER (RFC 5208 around RFC 5915, public key omitted): the
    /// fixed encoding of the curve's OIDs, then the 32-byte scalar.
    fn p256_key(scalar: u8) -> EncodingKey {
        let mut der = vec![
            0x30, 0x41, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d,
            0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x27,
            0x30, 0x25, 0x02, 0x01, 0x01, 0x04, 0x20,
        ];
        der.extend([scalar; 32]);
        EncodingKey::from_ec_der(&der)
    }

    /// The public JWK of a key, shaped as Supabase publishes it.
    fn public_jwk(key: &EncodingKey, kid: &str) -> Jwk {
        let mut jwk = Jwk::from_encoding_key(key, Algorithm::ES256).unwrap();
        jwk.common.key_id = Some(kid.into());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_operations = Some(vec![KeyOperations::Verify]);
        jwk
    }

    fn jwks(keys: &[Jwk]) -> String {
        serde_json::to_string(&JwkSet {
            keys: keys.to_vec(),
        })
        .unwrap()
    }

    fn es256(claims: &Value, key: &EncodingKey, kid: &str) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.into());
        encode(&header, claims, key).unwrap()
    }

    #[derive(Clone)]
    struct Served {
        /// Status and body of the next answers; changed by the test at will.
        answer: Arc<Mutex<(StatusCode, String)>>,
        hits: Arc<AtomicUsize>,
    }

    impl Served {
        fn set(&self, status: StatusCode, body: String) {
            *self.answer.lock().unwrap() = (status, body);
        }
        fn hits(&self) -> usize {
            self.hits.load(Ordering::SeqCst)
        }
    }

    async fn serve_jwks(State(s): State<Served>) -> (StatusCode, String) {
        s.hits.fetch_add(1, Ordering::SeqCst);
        s.answer.lock().unwrap().clone()
    }

    /// A Supabase stand-in on 127.0.0.1: its URL and its JWKS.
    async fn supabase(initial: String) -> (String, Served) {
        let served = Served {
            answer: Arc::new(Mutex::new((StatusCode::OK, initial))),
            hits: Arc::new(AtomicUsize::new(0)),
        };
        let app = Router::new()
            .route("/auth/v1/.well-known/jwks.json", get(serve_jwks))
            .with_state(served.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, served)
    }

    fn jwks_config(url: &str) -> SupabaseConfig {
        SupabaseConfig {
            url: url.into(),
            jwt_secret: None,
            jwks_url: Some(format!("{url}/auth/v1/.well-known/jwks.json")),
            emails_confirmed: false,
        }
    }

    #[tokio::test]
    async fn jwks_keys_are_fetched_rotated_and_unknown_kids_refused() {
        let (a, b, c) = (p256_key(0x11), p256_key(0x22), p256_key(0x33));
        let (url, served) = supabase(jwks(&[public_jwk(&a, "A")])).await;
        let verifier = SupabaseVerifier::new(jwks_config(&url), Duration::ZERO);
        let (id, sub) = user();
        let claims = claims(&url, &sub);

        // Fetched on first use, then served from the cache.
        assert_eq!(
            verifier.verify(&es256(&claims, &a, "A")).await.unwrap().id,
            id
        );
        assert!(verifier.verify(&es256(&claims, &a, "A")).await.is_ok());
        assert_eq!(served.hits(), 1);

        // Supabase rotates to B: a token naming B makes us fetch again.
        served.set(StatusCode::OK, jwks(&[public_jwk(&b, "B")]));
        assert_eq!(
            verifier.verify(&es256(&claims, &b, "B")).await.unwrap().id,
            id
        );
        assert_eq!(served.hits(), 2);
        // A is no longer published (revoked): refused, once the set was refetched.
        assert_eq!(
            verifier.verify(&es256(&claims, &a, "A")).await.unwrap_err(),
            SupabaseError::UnknownKey
        );

        // A kid Supabase never published: refused after a fetch, nothing crashes.
        assert_eq!(
            verifier.verify(&es256(&claims, &c, "C")).await.unwrap_err(),
            SupabaseError::UnknownKey
        );
        // A token naming B but signed with C's key.
        assert_eq!(
            verifier.verify(&es256(&claims, &c, "B")).await.unwrap_err(),
            SupabaseError::BadSignature
        );
        // B is an EC key: an RS256 header naming it is refused before any signature check.
        let rs = hmac_signed(&json!({"alg": "RS256", "kid": "B"}), &claims, "x");
        assert_eq!(
            verifier.verify(&rs).await.unwrap_err(),
            SupabaseError::WrongAlgorithm
        );
        // No kid at all.
        let mut header = Header::new(Algorithm::ES256);
        header.kid = None;
        let no_kid = encode(&header, &claims, &b).unwrap();
        assert_eq!(
            verifier.verify(&no_kid).await.unwrap_err(),
            SupabaseError::UnknownKey
        );
        // The claim checks apply on this path too.
        let mut wrong_iss = claims.clone();
        wrong_iss["iss"] = json!(format!("{PROJECT}/auth/v1"));
        assert_eq!(
            verifier
                .verify(&es256(&wrong_iss, &b, "B"))
                .await
                .unwrap_err(),
            SupabaseError::WrongIssuer
        );
    }

    #[tokio::test]
    async fn unknown_kid_floods_fetch_at_most_once_per_interval() {
        let a = p256_key(0x11);
        let b = p256_key(0x22);
        let (url, served) = supabase(jwks(&[public_jwk(&a, "A")])).await;
        let verifier = Arc::new(SupabaseVerifier::new(
            jwks_config(&url),
            Duration::from_secs(3600),
        ));
        let (_, sub) = user();
        let claims = claims(&url, &sub);

        // Many first requests at once: one fetch, all verified.
        let good = es256(&claims, &a, "A");
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (v, t) = (verifier.clone(), good.clone());
                tokio::spawn(async move { v.verify(&t).await })
            })
            .collect();
        for task in tasks {
            assert!(task.await.unwrap().is_ok());
        }
        assert_eq!(served.hits(), 1);

        // A flood of made-up kids within the interval: refused without a single fetch.
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let (v, t) = (verifier.clone(), es256(&claims, &a, &format!("bogus-{i}")));
                tokio::spawn(async move { v.verify(&t).await })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap_err(), SupabaseError::UnknownKey);
        }
        assert_eq!(served.hits(), 1);
        // The price: a key rotated in within the interval waits for the interval to pass.
        served.set(StatusCode::OK, jwks(&[public_jwk(&b, "B")]));
        assert_eq!(
            verifier.verify(&es256(&claims, &b, "B")).await.unwrap_err(),
            SupabaseError::UnknownKey
        );
        assert!(verifier.verify(&good).await.is_ok());
        assert_eq!(served.hits(), 1);
    }

    #[tokio::test]
    async fn a_failed_fetch_refuses_the_token_and_keeps_the_known_keys() {
        let a = p256_key(0x11);
        let b = p256_key(0x22);
        let (url, served) = supabase(jwks(&[public_jwk(&a, "A")])).await;
        let verifier = SupabaseVerifier::new(jwks_config(&url), Duration::ZERO);
        let (_, sub) = user();
        let claims = claims(&url, &sub);
        assert!(verifier.verify(&es256(&claims, &a, "A")).await.is_ok());

        served.set(StatusCode::INTERNAL_SERVER_ERROR, "oops".into());
        assert_eq!(
            verifier.verify(&es256(&claims, &b, "B")).await.unwrap_err(),
            SupabaseError::KeysUnavailable
        );
        served.set(StatusCode::OK, "not json".into());
        assert_eq!(
            verifier.verify(&es256(&claims, &b, "B")).await.unwrap_err(),
            SupabaseError::KeysUnavailable
        );
        // A still verifies from the cache.
        assert!(verifier.verify(&es256(&claims, &a, "A")).await.is_ok());

        // Nobody listening at all.
        let nowhere = "http://127.0.0.1:9";
        let gone = SupabaseVerifier::new(jwks_config(nowhere), Duration::ZERO);
        let mut gone_claims = claims.clone();
        gone_claims["iss"] = json!(format!("{nowhere}/auth/v1"));
        assert_eq!(
            gone.verify(&es256(&gone_claims, &a, "A"))
                .await
                .unwrap_err(),
            SupabaseError::KeysUnavailable
        );
    }

    #[tokio::test]
    async fn hs256_is_refused_when_only_the_jwks_is_configured() {
        let a = p256_key(0x11);
        // The JWKS even publishes the secret as an `oct` key under the kid: still refused.
        let oct: Jwk = serde_json::from_value(json!({
            "kty": "oct", "kid": "A", "alg": "HS256",
            "k": URL_SAFE_NO_PAD.encode(SECRET),
        }))
        .unwrap();
        let (url, served) = supabase(jwks(&[oct])).await;
        let verifier = SupabaseVerifier::new(jwks_config(&url), Duration::ZERO);
        let (_, sub) = user();
        let claims = claims(&url, &sub);

        assert_eq!(
            verifier.verify(&hs256(&claims, SECRET)).await.unwrap_err(),
            SupabaseError::WrongAlgorithm
        );
        let with_kid = hmac_signed(&json!({"alg": "HS256", "kid": "A"}), &claims, SECRET);
        assert_eq!(
            verifier.verify(&with_kid).await.unwrap_err(),
            SupabaseError::WrongAlgorithm
        );
        assert_eq!(served.hits(), 0);
        // The `oct` key is not usable for ES256 either.
        assert_eq!(
            verifier.verify(&es256(&claims, &a, "A")).await.unwrap_err(),
            SupabaseError::UnknownKey
        );
    }

    #[test]
    fn jwks_parsing_keeps_only_signature_keys_that_fit_es256_or_rs256() {
        let a = public_jwk(&p256_key(0x11), "A");
        let mut enc = public_jwk(&p256_key(0x22), "enc");
        enc.common.public_key_use = Some(PublicKeyUse::Encryption);
        let mut sign_only = public_jwk(&p256_key(0x33), "sign-only");
        sign_only.common.key_operations = Some(vec![KeyOperations::Sign]);
        let mut no_kid = public_jwk(&p256_key(0x44), "x");
        no_kid.common.key_id = None;
        let mut claims_rs = public_jwk(&p256_key(0x55), "ec-says-rs256");
        claims_rs.common.key_algorithm = Some(KeyAlgorithm::RS256);
        let body = json!({"keys": [
            a, enc, sign_only, no_kid, claims_rs,
            {"kty": "oct", "kid": "secret", "k": "c2VjcmV0"},
            {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty": "RSA", "kid": "rsa", "alg": "RS256", "use": "sig", "n": "sXch", "e": "AQAB"},
            {"kty": "future", "kid": "odd"},
        ]});
        let keys = parse_jwks(body.to_string().as_bytes()).unwrap();
        let mut kids: Vec<_> = keys.iter().map(|(k, v)| (k.as_str(), v.alg)).collect();
        kids.sort_by_key(|(k, _)| *k);
        assert_eq!(kids, [("A", Algorithm::ES256), ("rsa", Algorithm::RS256)]);
        assert!(parse_jwks(b"{}").is_err());
    }

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
}
