//! Accounts: email + password with argon2id, HS256 session tokens in Supabase's claim shape
//! (so a Supabase project's tokens are accepted too), per-client and per-email rate limits.

pub mod email;
pub mod forms;
pub mod jwt;
pub mod limits;
pub mod password;
pub mod session;

use std::net::IpAddr;

use crate::model::auth::{FormProblem, Me};
use crate::server::db::{profiles, DbError};
use crate::server::error::ServerError;
use crate::server::state::AppState;

use self::email::Email;
use self::password::Password;

/// Why an account action did not happen.
#[derive(Debug)]
pub enum AuthFailure {
    /// The person can act on it (shown as is).
    Problem(FormProblem),
    /// Our fault; logged in full, shown as a generic message.
    Internal(ServerError),
}

impl From<ServerError> for AuthFailure {
    fn from(e: ServerError) -> Self {
        AuthFailure::Internal(e)
    }
}

/// A new account, signed in: its identity and a fresh session token.
pub async fn sign_up(
    state: &AppState,
    client: IpAddr,
    email: &str,
    password: &str,
) -> Result<(Me, String), AuthFailure> {
    state
        .limits
        .sign_up_client
        .hit(&client.to_string())
        .map_err(|_| AuthFailure::Problem(FormProblem::RateLimited))?;
    let email = Email::parse(email).map_err(|_| AuthFailure::Problem(FormProblem::InvalidEmail))?;
    state
        .limits
        .sign_up_email
        .hit(email.as_str())
        .map_err(|_| AuthFailure::Problem(FormProblem::RateLimited))?;
    let password = Password::new(password);
    if !password.is_strong_for(&email) {
        return Err(AuthFailure::Problem(FormProblem::WeakPassword));
    }
    let hash = password::hash(password).await?;
    let profile = match profiles::insert(&state.db, email.as_str(), Some(&hash)).await {
        Ok(p) => p,
        Err(DbError::EmailTaken) => {
            // A profile made by a signed-out checkout (no password yet) is claimed by the
            // person who owns the email: they get their purchases on sign-up.
            let existing = profiles::find_by_email(&state.db, email.as_str())
                .await
                .map_err(|e| ServerError::db("sign-up: look up existing email", e))?;
            match existing {
                Some(p) if p.password_hash.is_none() => {
                    let claimed = profiles::set_password_hash(&state.db, p.id, &hash)
                        .await
                        .map_err(|e| ServerError::db("sign-up: claim profile", e))?;
                    if !claimed {
                        return Err(AuthFailure::Problem(FormProblem::EmailTaken));
                    }
                    p
                }
                _ => return Err(AuthFailure::Problem(FormProblem::EmailTaken)),
            }
        }
        Err(e) => return Err(ServerError::db("sign-up: insert profile", e).into()),
    };
    Ok(session_for(state, profile))
}

/// A fresh session for a profile: who it is, and its token.
fn session_for(state: &AppState, profile: profiles::ProfileRow) -> (Me, String) {
    let token = jwt::issue(
        &state.config.auth_jwt_secret,
        profile.id,
        &profile.email,
        jwt::now(),
    );
    (
        Me {
            id: profile.id.to_string(),
            email: profile.email,
        },
        token,
    )
}

/// Checks a password; the answer never says whether the email has an account.
pub async fn sign_in(
    state: &AppState,
    client: IpAddr,
    email: &str,
    password: &str,
) -> Result<(Me, String), AuthFailure> {
    state
        .limits
        .sign_in_client
        .hit(&client.to_string())
        .map_err(|_| AuthFailure::Problem(FormProblem::RateLimited))?;
    let email =
        Email::parse(email).map_err(|_| AuthFailure::Problem(FormProblem::WrongCredentials))?;
    state
        .limits
        .sign_in_email
        .check(email.as_str())
        .map_err(|_| AuthFailure::Problem(FormProblem::RateLimited))?;
    let profile = profiles::find_by_email(&state.db, email.as_str())
        .await
        .map_err(|e| ServerError::db("sign-in: look up email", e))?;
    let stored = profile.as_ref().and_then(|p| p.password_hash.clone());
    // Verified even for unknown emails (against a dummy hash), so timing does not tell either.
    let ok = password::verify(Password::new(password), stored).await?;
    match profile {
        Some(p) if ok => Ok(session_for(state, p)),
        _ => {
            let _ = state.limits.sign_in_email.hit(email.as_str());
            Err(AuthFailure::Problem(FormProblem::WrongCredentials))
        }
    }
}
