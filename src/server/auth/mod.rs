//! Accounts: email + password with argon2id, emails proven by a mailed link before anything
//! found under them is the account's, sessions that end, password reset, and the rate limits
//! around all of it.

pub mod email;
pub mod forms;
pub mod identities;
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
use crate::server::db::profiles::ProfileRow;
use crate::server::db::{self, accounts, profiles, DbError, DbUuid, Tx};
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
/// - a taken email's owner (with a password or without: a Supabase user's) gets a mail saying
///   someone tried, with a link to choose a password of their own. The password typed here is
///   never set on their account.
///
/// Nobody is signed in by this: the new account signs in with its password (unproven) or by
/// following the link with it (proven).
pub async fn sign_up(
    state: &AppState,
    client: &ClientKey,
    email: &str,
    password: &str,
) -> Result<(), AuthFailure> {
    limited(state.limits.sign_up_from("", client).await)?;
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
            links::send_verification(&mut tx, &site, profile.id, &email, now)
                .await
                .context("sign-up: send the verification link")?;
        }
        Err(DbError::EmailTaken) => {
            let holder = profiles::find_by_email(&state.db, email.as_str())
                .await
                .context("sign-up: look up the taken email")?;
            if let Some(holder) = holder {
                links::send_sign_up_attempt(&mut tx, &site, holder.id, &email, now)
                    .await
                    .context("sign-up: tell the owner of a taken email")?;
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

/// Checks `password` against the account `email` addresses, within the guessing limits
/// (`limits::AuthLimits::begin_sign_in`: one check at a time per account, slower with each
/// failure). The account when it is right; the answer and the time never say whether the email
/// has one.
async fn check_password(
    state: &AppState,
    client: &ClientKey,
    email: &Email,
    password: &str,
) -> Result<Option<ProfileRow>, AuthFailure> {
    let attempt = state
        .limits
        .begin_sign_in(email, client)
        .await
        .map_err(|_| AuthFailure::Problem(FormProblem::RateLimited))?;
    let profile = profiles::find_by_email(&state.db, email.as_str())
        .await
        .context("check a password: look up the email")?;
    let stored = profile.as_ref().and_then(|p| p.password_hash.clone());
    // Verified even for unknown emails (against a dummy hash), so timing does not tell either.
    let ok = state.hasher.verify(Password::new(password), stored).await?;
    if let Some(metrics) = &state.metrics {
        metrics.password_checked(ok);
    }
    match profile {
        Some(p) if ok => {
            state.limits.signed_in(attempt).await;
            Ok(Some(p))
        }
        _ => Ok(None),
    }
}

/// Checks a password; the answer never says whether the email has an account. An account whose
/// email is unproven signs in too: it may use what it bought itself.
pub async fn sign_in(
    state: &AppState,
    client: &ClientKey,
    email: &str,
    password: &str,
) -> Result<(Me, String), AuthFailure> {
    limited(state.limits.sign_in_from(client).await)?;
    let email =
        Email::parse(email).map_err(|_| AuthFailure::Problem(FormProblem::WrongCredentials))?;
    match check_password(state, client, &email, password).await? {
        Some(p) => start_session(state, p.id, p.email).await,
        None => Err(AuthFailure::Problem(FormProblem::WrongCredentials)),
    }
}

/// Once `user` has proven `email` (in `tx`): the profile says so; identities from elsewhere
/// that nobody vouched for and that carry the address or open the account are detached (their
/// tokens open nothing now), but `via`, the Supabase subject that proved it; and whatever waited
/// under the email (signed-out purchases, their Stripe customers) becomes the account's.
async fn prove_email(
    tx: &mut Tx,
    user: DbUuid,
    email: &str,
    via: Option<&str>,
) -> Result<bool, AuthFailure> {
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
    let keep = via.map(|subject| (identities::SUPABASE, subject));
    if let Some((provider, subject)) = keep {
        db::identities::mark_proven(tx, provider, subject)
            .await
            .context("prove email: the identity that proved it")?;
    }
    db::identities::detach_unproven(tx, email.as_str(), user, keep, sessions::now_ms())
        .await
        .context("prove email: detach unproven identities")?;
    sync::claim_email(tx, user, &email).await?;
    Ok(true)
}

/// Who follows a "confirm your email" link: the signed-in account (and the Supabase subject it
/// came in by, if it did), the password typed on the page, and the client, for the limits.
pub struct Follower<'a> {
    pub signed_in: Option<(DbUuid, Option<&'a str>)>,
    pub password: Option<&'a str>,
    pub client: &'a ClientKey,
}

/// Follows a "confirm your email" link. It proves the email only for the account's holder:
/// someone signed in to it, or who types its password here. Anyone else (the owner of an inbox
/// a stranger signed up with) is asked for the password, and without it nothing changes. Once
/// proven, what waited under the email is claimed, and the follower is signed in.
pub async fn verify_email(
    state: &AppState,
    token: &str,
    follower: Follower<'_>,
) -> Result<(Me, String), AuthFailure> {
    let hash = links::token_hash(token);
    let link = accounts::live_token(&state.db, &hash, Purpose::VerifyEmail, sessions::now_ms())
        .await
        .context("verify email: look up the link")?
        .ok_or(AuthFailure::Problem(FormProblem::LinkInvalid))?;
    let via = match (follower.signed_in, follower.password) {
        (Some((user, via)), _) if user == link.user_id => via,
        (_, Some(password)) if !password.is_empty() => {
            limited(state.limits.sign_in_from(follower.client).await)?;
            let email = Email::parse(&link.email)
                .map_err(|_| AuthFailure::Problem(FormProblem::LinkInvalid))?;
            match check_password(state, follower.client, &email, password).await? {
                Some(p) if p.id == link.user_id => None,
                _ => return Err(AuthFailure::Problem(FormProblem::WrongPassword)),
            }
        }
        _ => return Err(AuthFailure::Problem(FormProblem::PasswordNeeded)),
    };
    let mut tx = begin(state).await?;
    let used = accounts::use_token(&mut tx, &hash, Purpose::VerifyEmail, sessions::now_ms())
        .await
        .context("verify email: use the link")?
        .ok_or(AuthFailure::Problem(FormProblem::LinkInvalid))?;
    if !prove_email(&mut tx, used.user_id, &used.email, via).await? {
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
    limited(state.limits.sign_up_from("resend:", client).await)?;
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
        sessions::now_ms(),
    )
    .await
    .context("resend: send the link")?;
    commit(state, tx).await?;
    Ok(())
}

/// "Forgot your password?": mails a reset link when the email has an account. The answer is the
/// same either way, and so is its time: past the limits, the look-up and the mail are done after
/// the answer, by a task of their own (a failure there is logged; asking again sends another).
pub async fn request_reset(
    state: &AppState,
    client: &ClientKey,
    email: &str,
) -> Result<(), AuthFailure> {
    limited(state.limits.sign_up_from("reset:", client).await)?;
    let email = Email::parse(email).map_err(|_| AuthFailure::Problem(FormProblem::InvalidEmail))?;
    limited(
        state
            .limits
            .sign_up_email
            .hit(&format!("reset:{}", email.as_str()))
            .await,
    )?;
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = mail_reset_link(&state, &email).await {
            e.log();
        }
    });
    Ok(())
}

async fn mail_reset_link(state: &AppState, email: &Email) -> Result<(), ServerError> {
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
        email,
        sessions::now_ms(),
    )
    .await
    .context("reset: send the link")?;
    commit(state, tx).await
}

/// Is this reset link still good? (The page asks before showing the form.)
pub async fn reset_link_is_live(state: &AppState, token: &str) -> Result<bool, ServerError> {
    accounts::live_token(
        &state.db,
        &links::token_hash(token),
        Purpose::ResetPassword,
        sessions::now_ms(),
    )
    .await
    .map(|t| t.is_some())
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
    prove_email(&mut tx, used.user_id, &used.email, None).await?;
    // The other reset links mailed before this one are of no more use to anyone.
    accounts::use_up_tokens_of(
        &mut tx,
        used.user_id,
        Purpose::ResetPassword,
        sessions::now_ms(),
    )
    .await
    .context("reset: use up the other links")?;
    let ended = end_everything(state, &mut tx, used.user_id)
        .await
        .context("reset: end the sessions")?;
    commit(state, tx).await?;
    state.sessions.ended(ended);
    start_session(state, used.user_id, used.email).await
}

/// "Sign out everywhere": every session of the account ends, this one included.
pub async fn sign_out_everywhere(state: &AppState, user: DbUuid) -> Result<(), ServerError> {
    let mut tx = begin(state).await?;
    let ended = end_everything(state, &mut tx, user)
        .await
        .context("sign out everywhere")?;
    commit(state, tx).await?;
    state.sessions.ended(ended);
    Ok(())
}

/// Ends every session of `user`, and refuses the tokens from elsewhere (Supabase) issued until
/// now; call `Sessions::ended` with the answer once `tx` has committed.
async fn end_everything(
    state: &AppState,
    tx: &mut Tx,
    user: DbUuid,
) -> Result<Vec<(String, i64)>, DbError> {
    profiles::refuse_tokens_before(tx, user, sessions::now_ms()).await?;
    state.sessions.end_all(tx, user, None).await
}
