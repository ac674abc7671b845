//! Session tokens: HS256 only, signed with `AUTH_JWT_SECRET` and no other key. Each names its
//! issuer (this site's origin), its session (`sid`, a row that signing out revokes), its user
//! (`sub`) and email, and when it may be used (`nbf`, `exp`). Tokens of an identity provider
//! (Supabase) are checked elsewhere, with that provider's own keys.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::server::db::DbUuid;
use crate::server::secret::Secret;

pub const AUDIENCE: &str = "authenticated";
/// At most a day; re-issued once half of it is spent.
pub const LIFETIME: i64 = 24 * 60 * 60;
/// Clock skew we forgive, and no more.
const LEEWAY: u64 = 5;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    /// The session this token belongs to: revoking it ends every token that names it.
    pub sid: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    /// When the session began (unix seconds: its sign-in), which every renewal keeps; absent
    /// from tokens made before sessions had an absolute lifetime (their `iat` stands in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the session token is malformed")]
    Malformed,
    #[error("the session token is signed with an algorithm we do not accept")]
    WrongAlgorithm,
    #[error("the session token's signature is invalid")]
    BadSignature,
    #[error("the session token has expired")]
    Expired,
    #[error("the session token is not for this audience")]
    WrongAudience,
    #[error("the session token names no user")]
    MissingSubject,
    #[error("the session token is not valid yet")]
    NotYetValid,
    #[error("the session token was issued by someone else")]
    WrongIssuer,
    #[error("the session has ended")]
    Revoked,
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The key and the issuer name our tokens are made and checked with.
#[derive(Debug)]
pub struct Signer {
    secret: Secret,
    issuer: String,
}

impl Signer {
    pub fn new(secret: Secret, issuer: String) -> Self {
        Signer { secret, issuer }
    }

    /// A token for session `sid` of `user`, begun at `started`: valid from `now` for
    /// `LIFETIME`, and never past `ends` (the session's absolute end).
    pub fn issue(
        &self,
        user: DbUuid,
        email: &str,
        sid: &str,
        now: i64,
        started: i64,
        ends: i64,
    ) -> String {
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: user.to_string(),
            sid: sid.to_string(),
            email: Some(email.to_string()),
            role: Some(AUDIENCE.into()),
            auth_time: Some(started),
            aud: AUDIENCE.into(),
            iat: now,
            nbf: now,
            exp: (now + LIFETIME).min(ends),
        };
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(self.secret.expose().as_bytes()),
        )
        .expect("HS256 over serialisable claims cannot fail")
    }

    /// Verifies signature, algorithm (pinned to HS256), issuer, expiry, not-before, audience,
    /// subject and session; whether the session still stands is the caller's question.
    pub fn verify(&self, token: &str) -> Result<(Claims, DbUuid), TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = LEEWAY;
        validation.validate_nbf = true;
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[self.issuer.as_str()]);
        validation.set_required_spec_claims(&["exp", "nbf", "sub", "aud", "iss"]);
        let data = decode::<Claims>(
            token,
            &DecodingKey::from_secret(self.secret.expose().as_bytes()),
            &validation,
        )
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                TokenError::WrongAlgorithm
            }
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            ErrorKind::ExpiredSignature => TokenError::Expired,
            ErrorKind::ImmatureSignature => TokenError::NotYetValid,
            ErrorKind::InvalidAudience => TokenError::WrongAudience,
            ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
            ErrorKind::MissingRequiredClaim(c) if c == "sub" => TokenError::MissingSubject,
            _ => TokenError::Malformed,
        })?;
        if data.claims.sid.is_empty() {
            return Err(TokenError::Malformed);
        }
        let id = uuid::Uuid::parse_str(&data.claims.sub)
            .map(DbUuid)
            .map_err(|_| TokenError::MissingSubject)?;
        Ok((data.claims, id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer::new(
            Secret::new("test-secret-0123456789abcdef0123456789"),
            "https://shop.test".into(),
        )
    }

    #[test]
    fn an_issued_token_verifies_and_names_its_session_and_issuer() {
        let id = DbUuid::new_v4();
        let token = signer().issue(id, "ada@example.com", "s1", now(), now(), now() + LIFETIME);
        let (claims, got) = signer().verify(&token).unwrap();
        assert_eq!(got, id);
        assert_eq!(claims.sid, "s1");
        assert_eq!(claims.iss, "https://shop.test");
        assert_eq!(claims.aud, "authenticated");
        assert_eq!(claims.exp - claims.iat, LIFETIME);
    }

    #[test]
    fn another_secret_issuer_expiry_future_and_garbage_are_refused() {
        let token = signer().issue(
            DbUuid::new_v4(),
            "a@b.co",
            "s",
            now(),
            now(),
            now() + LIFETIME,
        );
        let other = Signer::new(
            Secret::new("another-secret-0123456789abcdef012345"),
            "https://shop.test".into(),
        );
        assert_eq!(other.verify(&token).unwrap_err(), TokenError::BadSignature);
        let elsewhere = Signer::new(
            Secret::new("test-secret-0123456789abcdef0123456789"),
            "https://other.test".into(),
        );
        assert_eq!(
            elsewhere.verify(&token).unwrap_err(),
            TokenError::WrongIssuer
        );
        let old = signer().issue(
            DbUuid::new_v4(),
            "a@b.co",
            "s",
            now() - LIFETIME - 60,
            now() - LIFETIME - 60,
            now() - LIFETIME - 60 + LIFETIME,
        );
        assert_eq!(signer().verify(&old).unwrap_err(), TokenError::Expired);
        let future = signer().issue(
            DbUuid::new_v4(),
            "a@b.co",
            "s",
            now() + 600,
            now() + 600,
            now() + 600 + LIFETIME,
        );
        assert_eq!(
            signer().verify(&future).unwrap_err(),
            TokenError::NotYetValid
        );
        assert_eq!(
            signer().verify("not.a.token").unwrap_err(),
            TokenError::Malformed
        );
    }
}
