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
        let jwks_url = jwks_url.map(|raw| parse_jwks_url(&raw)).transpose()?;
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

/// `SUPABASE_JWKS_URL`: the keys every token is checked with, so they are fetched over https;
/// plain http only from this machine (a local Supabase, `supabase start`).
fn parse_jwks_url(raw: &str) -> Result<String, String> {
    let parsed = parse_http_url("SUPABASE_JWKS_URL", raw)?;
    let url = Url::parse(&parsed).map_err(|e| format!("SUPABASE_JWKS_URL: {e}"))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    if url.scheme() != "https" && !loopback {
        return Err(format!(
            "SUPABASE_JWKS_URL: must be https:// (plain http only on 127.0.0.1, ::1 or localhost), got `{raw}`"
        ));
    }
    Ok(parsed)
}

/// Who a verified Supabase token is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupabaseIdentity {
    /// The Supabase user id (`sub`).
    pub id: uuid::Uuid,
    pub email: String,
    /// The email is known to be confirmed (see the module notes: configuration only).
    pub email_proven: bool,
    /// When the token was issued (unix seconds), if it says.
    pub issued_at: Option<i64>,
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
    #[serde(default)]
    iat: Option<i64>,
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
            issued_at: claims.iat,
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
mod tests;
