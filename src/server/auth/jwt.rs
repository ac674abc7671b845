//! Session tokens: HS256 only, in Supabase's claim shape (`sub` = profile id, `email`,
//! `role` = `aud` = `authenticated`, `iat`, `exp`), so a token a Supabase project signed with the
//! same secret is accepted as ours.

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
    pub sub: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    pub aud: String,
    pub iat: i64,
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
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub fn issue(secret: &Secret, user: DbUuid, email: &str, now: i64) -> String {
    let claims = Claims {
        sub: user.to_string(),
        email: Some(email.to_string()),
        role: Some(AUDIENCE.into()),
        aud: AUDIENCE.into(),
        iat: now,
        exp: now + LIFETIME,
    };
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.expose().as_bytes()),
    )
    .expect("HS256 over serialisable claims cannot fail")
}

/// Verifies signature, algorithm (pinned to HS256), expiry, audience and subject.
pub fn verify(secret: &Secret, token: &str) -> Result<(Claims, DbUuid), TokenError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.algorithms = vec![Algorithm::HS256];
    validation.leeway = LEEWAY;
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "sub", "aud"]);
    let data = decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.expose().as_bytes()),
        &validation,
    )
    .map_err(|e| match e.kind() {
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => TokenError::WrongAlgorithm,
        ErrorKind::InvalidSignature => TokenError::BadSignature,
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::InvalidAudience => TokenError::WrongAudience,
        ErrorKind::MissingRequiredClaim(c) if c == "sub" => TokenError::MissingSubject,
        _ => TokenError::Malformed,
    })?;
    let id = uuid::Uuid::parse_str(&data.claims.sub)
        .map(DbUuid)
        .map_err(|_| TokenError::MissingSubject)?;
    Ok((data.claims, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::new("test-secret-0123456789abcdef0123456789")
    }

    #[test]
    fn an_issued_token_verifies_with_supabase_claims() {
        let id = DbUuid::new_v4();
        let token = issue(&secret(), id, "ada@example.com", now());
        let (claims, got) = verify(&secret(), &token).unwrap();
        assert_eq!(got, id);
        assert_eq!(claims.aud, "authenticated");
        assert_eq!(claims.role.as_deref(), Some("authenticated"));
        assert_eq!(claims.exp - claims.iat, LIFETIME);
    }

    #[test]
    fn another_secret_expiry_and_garbage_are_refused() {
        let token = issue(&secret(), DbUuid::new_v4(), "a@b.co", now());
        let other = Secret::new("another-secret-0123456789abcdef012345");
        assert_eq!(
            verify(&other, &token).unwrap_err(),
            TokenError::BadSignature
        );
        let old = issue(&secret(), DbUuid::new_v4(), "a@b.co", now() - LIFETIME - 60);
        assert_eq!(verify(&secret(), &old).unwrap_err(), TokenError::Expired);
        assert_eq!(
            verify(&secret(), "not.a.token").unwrap_err(),
            TokenError::Malformed
        );
    }
}
