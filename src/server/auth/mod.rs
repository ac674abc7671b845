//! Accounts: email + password with argon2id, emails proven by a mailed link before anything
//! found under them is the account's, sessions that end, password reset, and the rate limits
//! around all of it.

pub mod email;
pub mod forms;
pub mod jwt;
pub mod limits;
pub mod links;
pub mod password;
pub mod session;
pub mod sessions;
pub mod supabase;

use crate::server::client_addr::ClientKey;

use crate::model::auth::{FormProblem, Me};
use crate::server::billing::sync;
use crate::server::db::accounts::Purpose;
use crate::server::db::{accounts, profiles, DbError, DbUuid, Tx};
use crate::server::error::{Context, ServerError};
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

impl From<password::PasswordError> for AuthFailure {
    fn from(e: password::PasswordError) -> Self {
        match e {
            password::PasswordError::Busy => AuthFailure::Problem(FormProblem::Busy),
            password::PasswordError::Internal(e) => AuthFailure::Internal(e),
        }
    }
}

impl From<ServerError> for AuthFailure {
    fn from(e: ServerError) -> Self {
        AuthFailure::Internal(e)
    }
}

async fn begin(state: &AppState) -> Result<Tx, ServerError> {
    state.db.begin().await.context("accounts: begin")
}

async fn commit(state: &AppState, tx: Tx) -> Result<(), ServerError> {
    tx.commit().await.context("accounts: commit")?;
    // Whatever the transaction queued goes out now rather than at the sender's next look.
    state.mail_wake.notify_one();
    Ok(())
}

fn limited(r: Result<(), limits::Limited>) -> Result<(), AuthFailure> {
    r.map_err(|_| AuthFailure::Problem(FormProblem::RateLimited))
}

/// Asks for an account. The answer is the same whether the email is new or taken ("check your
/// inbox"), and so is the work done (a password hash either way):
/// - a new email gets an unproven account and a link to prove it;
/// - a taken email's owner gets a mail saying someone tried, with the way to sign in or reset;
/// - an email whose profile has no password (a Supabase user's, or one made before emails were
///   proven) gets a link that sets the password only once it is followed.
///
/// Nobody is signed in by this: the new account signs in with its password (unproven) or by
/// following the link (proven).
pub async fn sign_up(
    state: &AppState,
    client: &ClientKey,
    email: &str,
    password: &str,
) -> Result<(), AuthFailure> {
    limited(state.limits.sign_up_client.hit(client.as_str()).await)?;
    let email = Email::parse(email).map_err(|_| AuthFailure::Problem(FormProblem::InvalidEmail))?;
    limited(state.limits.sign_up_email.hit(email.as_str()).await)?;
    let password = Password::new(password);
    if !password.is_strong_for(&email) {
        return Err(AuthFailure::Problem(FormProblem::WeakPassword));
    }
    let hash = state.hasher.hash(password).await?;
    let site = state.config.site_url.origin();
    let now = sessions::now_ms();
    let created = profiles::insert(&state.db, email.as_str(), Some(&hash)).await;
    let mut tx = begin(state).await?;
    match created {
        Ok(profile) => {
            links::send_verification(&mut tx, &site, profile.id, &email, None, now)
                .await
                .context("sign-up: send the verification link")?;
        }
        Err(DbError::EmailTaken) => {
            let existing = profiles::find_by_email(&state.db, email.as_str())
                .await
                .context("sign-up: look up the taken email")?;
            match existing {
                Some(p) if p.password_hash.is_none() => {
                    links::send_verification(&mut tx, &site, p.id, &email, Some(&hash), now)
                        .await
                        .context("sign-up: send the link that sets the password")?;
                }
                _ => links::send_sign_up_attempt(&mut tx, &site, &email, now)
                    .await
                    .context("sign-up: tell the owner of a taken email")?,
            }
        }
        Err(e) => return Err(ServerError::db("sign-up: insert profile", e).into()),
    }
    commit(state, tx).await?;
    Ok(())
}

/// A new session for a profile: who it is, and its first token.
async fn start_session(
    state: &AppState,
    id: DbUuid,
    email: String,
) -> Result<(Me, String), AuthFailure> {
    let token = state
        .sessions
        .start(&state.db, id, &email)
        .await
        .context("start a session")?;
    Ok((
        Me {
            id: id.to_string(),
            email,
        },
        token,
    ))
}

/// Checks a password; the answer never says whether the email has an account. An account whose
/// email is unproven signs in too: it may use what it bought itself.
pub async fn sign_in(
    state: &AppState,
    client: &ClientKey,
    email: &str,
    password: &str,
) -> Result<(Me, String), AuthFailure> {
    limited(state.limits.sign_in_client.hit(client.as_str()).await)?;
    let email =
        Email::parse(email).map_err(|_| AuthFailure::Problem(FormProblem::WrongCredentials))?;
    // Counted as a failure before the hash, so a burst cannot get past the limit; a success
    // gives it back. Many failures from many clients slow an email down, never lock it.
    let attempt = state
        .limits
        .begin_sign_in(&email, client)
        .await
        .map_err(|_| AuthFailure::Problem(FormProblem::RateLimited))?;
    if let Some(delay) = attempt.delay {
        tokio::time::sleep(delay).await;
    }
    let profile = profiles::find_by_email(&state.db, email.as_str())
        .await
        .context("sign-in: look up email")?;
    let stored = profile.as_ref().and_then(|p| p.password_hash.clone());
    // Verified even for unknown emails (against a dummy hash), so timing does not tell either.
    let ok = state.hasher.verify(Password::new(password), stored).await?;
    match profile {
        Some(p) if ok => {
            state.limits.signed_in(attempt).await;
            start_session(state, p.id, p.email).await
        }
        _ => Err(AuthFailure::Problem(FormProblem::WrongCredentials)),
    }
}

/// Once `user` has proven `email` (in `tx`): the profile says so, and whatever waited under the
/// email (signed-out purchases, their Stripe customers) becomes the account's.
async fn prove_email(tx: &mut Tx, user: DbUuid, email: &str) -> Result<bool, AuthFailure> {
    let Ok(email) = Email::parse(email) else {
        return Ok(false);
    };
    if !profiles::mark_verified(tx, user, email.as_str())
        .await
        .context("prove email: mark the profile")?
    {
        // The profile's email changed since the link was sent: it proves nothing now.
        return Ok(false);
    }
    sync::claim_email(tx, user, &email).await?;
    Ok(true)
}

/// Proves `email` for `user` in a transaction of its own (an identity provider vouched for it).
pub async fn prove_email_now(
    state: &AppState,
    user: DbUuid,
    email: &str,
) -> Result<(), ServerError> {
    let mut tx = begin(state).await?;
    match prove_email(&mut tx, user, email).await {
        Ok(_) => commit(state, tx).await,
        Err(AuthFailure::Internal(e)) => Err(e),
        Err(AuthFailure::Problem(p)) => Err(ServerError::internal("prove email", format!("{p:?}"))),
    }
}

/// Follows a "confirm your email" link: proves the email, claims what waited under it, sets the
/// password a waiting sign-up chose, and signs in.
pub async fn verify_email(state: &AppState, token: &str) -> Result<(Me, String), AuthFailure> {
    let mut tx = begin(state).await?;
    let used = accounts::use_token(
        &mut tx,
        &links::token_hash(token),
        Purpose::VerifyEmail,
        sessions::now_ms(),
    )
    .await
    .context("verify email: use the link")?
    .ok_or(AuthFailure::Problem(FormProblem::LinkInvalid))?;
    if let Some(hash) = used.password_hash.as_deref() {
        profiles::set_password(&mut tx, used.user_id, hash, true)
            .await
            .context("verify email: set the waiting password")?;
    }
    if !prove_email(&mut tx, used.user_id, &used.email).await? {
        return Err(AuthFailure::Problem(FormProblem::LinkInvalid));
    }
    commit(state, tx).await?;
    start_session(state, used.user_id, used.email).await
}

/// Sends a new "confirm your email" link to a signed-in, unproven account.
pub async fn resend_verification(
    state: &AppState,
    client: &ClientKey,
    user: DbUuid,
) -> Result<(), AuthFailure> {
    limited(
        state
            .limits
            .sign_up_client
            .hit(&format!("resend:{client}"))
            .await,
    )?;
    limited(
        state
            .limits
            .sign_up_email
            .hit(&format!("resend:{user}"))
            .await,
    )?;
    let profile = profiles::find_by_id(&state.db, user)
        .await
        .context("resend: look up the profile")?
        .ok_or(AuthFailure::Problem(FormProblem::WrongCredentials))?;
    if profile.email_verified() {
        return Ok(());
    }
    let email = Email::parse(&profile.email)
        .map_err(|_| AuthFailure::Problem(FormProblem::InvalidEmail))?;
    let mut tx = begin(state).await?;
    links::send_verification(
        &mut tx,
        &state.config.site_url.origin(),
        user,
        &email,
        None,
        sessions::now_ms(),
    )
    .await
    .context("resend: send the link")?;
    commit(state, tx).await?;
    Ok(())
}

/// "Forgot your password?": mails a reset link when the email has an account. The answer is the
/// same either way.
pub async fn request_reset(
    state: &AppState,
    client: &ClientKey,
    email: &str,
) -> Result<(), AuthFailure> {
    limited(
        state
            .limits
            .sign_up_client
            .hit(&format!("reset:{client}"))
            .await,
    )?;
    let email = Email::parse(email).map_err(|_| AuthFailure::Problem(FormProblem::InvalidEmail))?;
    limited(
        state
            .limits
            .sign_up_email
            .hit(&format!("reset:{}", email.as_str()))
            .await,
    )?;
    let Some(profile) = profiles::find_by_email(&state.db, email.as_str())
        .await
        .context("reset: look up the email")?
    else {
        return Ok(());
    };
    let mut tx = begin(state).await?;
    links::send_reset(
        &mut tx,
        &state.config.site_url.origin(),
        profile.id,
        &email,
        sessions::now_ms(),
    )
    .await
    .context("reset: send the link")?;
    commit(state, tx).await?;
    Ok(())
}

/// Is this reset link still good? (The page asks before showing the form.)
pub async fn reset_link_is_live(state: &AppState, token: &str) -> Result<bool, ServerError> {
    accounts::token_is_live(
        &state.db,
        &links::token_hash(token),
        Purpose::ResetPassword,
        sessions::now_ms(),
    )
    .await
    .context("reset: look up the link")
}

/// Follows a reset link: a new password, the email proven, every session of the account ended,
/// and a new one started here.
pub async fn reset_password(
    state: &AppState,
    token: &str,
    password: &str,
) -> Result<(Me, String), AuthFailure> {
    let mut tx = begin(state).await?;
    let used = accounts::use_token(
        &mut tx,
        &links::token_hash(token),
        Purpose::ResetPassword,
        sessions::now_ms(),
    )
    .await
    .context("reset: use the link")?
    .ok_or(AuthFailure::Problem(FormProblem::LinkInvalid))?;
    let email =
        Email::parse(&used.email).map_err(|_| AuthFailure::Problem(FormProblem::LinkInvalid))?;
    let password = Password::new(password);
    if !password.is_strong_for(&email) {
        // Rolled back with the transaction: the link still works for a better password.
        return Err(AuthFailure::Problem(FormProblem::WeakPassword));
    }
    let hash = state.hasher.hash(password).await?;
    profiles::set_password(&mut tx, used.user_id, &hash, false)
        .await
        .context("reset: set the password")?;
    prove_email(&mut tx, used.user_id, &used.email).await?;
    // The other reset links mailed before this one are of no more use to anyone.
    accounts::use_up_tokens_of(
        &mut tx,
        used.user_id,
        Purpose::ResetPassword,
        sessions::now_ms(),
    )
    .await
    .context("reset: use up the other links")?;
    let ended = state
        .sessions
        .end_all(&mut tx, used.user_id, None)
        .await
        .context("reset: end the sessions")?;
    commit(state, tx).await?;
    state.sessions.ended(ended);
    start_session(state, used.user_id, used.email).await
}

/// "Sign out everywhere": every session of the account ends, this one included.
pub async fn sign_out_everywhere(state: &AppState, user: DbUuid) -> Result<(), ServerError> {
    let mut tx = begin(state).await?;
    let ended = state
        .sessions
        .end_all(&mut tx, user, None)
        .await
        .context("sign out everywhere")?;
    commit(state, tx).await?;
    state.sessions.ended(ended);
    Ok(())
}
