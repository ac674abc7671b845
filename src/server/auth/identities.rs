//! Sign-ins from elsewhere (a Supabase user's token) and the accounts they open. An identity is
//! linked to one account by provider and subject (`identities`), never merged into one by email:
//! - at first sight, when no account holds the address: a new account of its own (its id the
//!   subject) that holds it;
//! - when an account holds the address and the provider vouches for it
//!   (`SUPABASE_EMAILS_CONFIRMED`): the identity holds the inbox, so it is linked to that
//!   account. If nobody had proven the address there, whoever chose its password or came in by
//!   another unproven identity did not hold the inbox: the password is taken off, its sessions
//!   end and those identities are detached;
//! - when an account holds the address and nobody vouches: an account of its own that does not
//!   hold the address. A local registration never blocks a Supabase sign-in, and never gives
//!   one away;
//! - an identity detached because someone else proved its address opens nothing, until the
//!   provider vouches for it;
//! - tokens issued before the account's "sign out everywhere" or password reset open nothing.

use chrono::Utc;

use super::email::Email;
use super::supabase::SupabaseIdentity;
use super::{begin, commit, prove_email, sessions, AuthFailure};
use crate::model::error::AppError;
use crate::server::db::identities::{self, Link};
use crate::server::db::profiles::{self, ProfileRow};
use crate::server::db::{DbError, DbUuid};
use crate::server::error::{Context, ServerError};
use crate::server::state::AppState;

/// The provider name of a Supabase user's identity.
pub const SUPABASE: &str = "supabase";

enum Failure {
    Refused(&'static str),
    /// Another request made the same new identity's account meanwhile: look again.
    Raced,
    Internal(ServerError),
}

impl From<ServerError> for Failure {
    fn from(e: ServerError) -> Self {
        Failure::Internal(e)
    }
}

impl From<AuthFailure> for Failure {
    fn from(e: AuthFailure) -> Self {
        match e {
            AuthFailure::Internal(e) => Failure::Internal(e),
            AuthFailure::Problem(p) => {
                Failure::Internal(ServerError::internal("identity", format!("{p:?}")))
            }
        }
    }
}

/// The account a Supabase user's verified token opens, as it stands after this sign-in, or why
/// it opens none (a 401 to show).
pub async fn account_of(
    state: &AppState,
    identity: &SupabaseIdentity,
) -> Result<ProfileRow, AppError> {
    account(state, identity).await.map_err(|f| match f {
        Failure::Refused(why) => AppError::Unauthorized(format!("Not signed in: {why}.")),
        Failure::Raced => AppError::Unauthorized("Not signed in: try again.".into()),
        Failure::Internal(e) => {
            e.log();
            AppError::Internal
        }
    })
}

async fn account(state: &AppState, identity: &SupabaseIdentity) -> Result<ProfileRow, Failure> {
    let subject = identity.id.to_string();
    let email = Email::parse(&identity.email)
        .map_err(|_| Failure::Refused("the token carries no valid email"))?;
    let mut profile = match resolve(state, identity, &subject, &email).await {
        Err(Failure::Raced) => resolve(state, identity, &subject, &email).await,
        found => found,
    }?;
    if let Some(after) = profile.tokens_valid_after_ms {
        // Whole seconds: a token of the same second as the sign-out still passes.
        if identity
            .issued_at
            .is_none_or(|iat| (iat + 1) * 1000 <= after)
        {
            return Err(Failure::Refused(
                "this token was issued before the account signed out everywhere; sign in again",
            ));
        }
    }
    if identity.email_proven && !profile.email_verified() && profile.holds_email {
        let mut tx = begin(state).await?;
        prove_email(&mut tx, profile.id, &profile.email, Some(&subject)).await?;
        commit(state, tx).await?;
        profile.email_verified_at = Some(Utc::now());
    }
    Ok(profile)
}

/// The account the identity is linked to, linking it first if it is new (see the module notes).
async fn resolve(
    state: &AppState,
    identity: &SupabaseIdentity,
    subject: &str,
    email: &Email,
) -> Result<ProfileRow, Failure> {
    let link = |user_id| Link {
        provider: SUPABASE,
        subject,
        user_id,
        email: email.as_str(),
        email_proven: identity.email_proven,
    };
    let linked = identities::find(&state.db, SUPABASE, subject)
        .await
        .context("identity: look up the link")?;
    match &linked {
        Some(row) if row.detached_at_ms.is_none() => {
            if let Some(p) = find_by_id(state, row.user_id).await? {
                return Ok(p);
            }
            // Its account was deleted: the identity starts afresh.
        }
        Some(_) if !identity.email_proven => {
            return Err(Failure::Refused(
                "this sign-in was detached from its account when the owner of its email proved it",
            ))
        }
        Some(_) => {}
        None => {
            // Before identities were kept, a Supabase user's account had the subject as its id.
            if let Some(p) = find_by_id(state, DbUuid(identity.id)).await? {
                link_now(state, &link(p.id), None).await?;
                return Ok(p);
            }
        }
    }
    let holder = profiles::find_by_email(&state.db, email.as_str())
        .await
        .context("identity: who holds the email")?;
    match holder {
        Some(holder) if identity.email_proven => {
            let takeover = !holder.email_verified();
            link_now(state, &link(holder.id), takeover.then_some(holder.id)).await?;
            find_by_id(state, holder.id).await?.ok_or(Failure::Raced)
        }
        holder => {
            let holds = holder.is_none();
            let id = match find_by_id(state, DbUuid(identity.id)).await? {
                None => DbUuid(identity.id),
                Some(_) => DbUuid::new_v4(),
            };
            let profile =
                match profiles::insert_with_id(&state.db, id, email.as_str(), None, holds).await {
                    Ok(p) => p,
                    Err(DbError::EmailTaken) => return Err(Failure::Raced),
                    Err(e) => return Err(ServerError::db("identity: make its account", e).into()),
                };
            link_now(state, &link(profile.id), None).await?;
            Ok(profile)
        }
    }
}

async fn find_by_id(state: &AppState, id: DbUuid) -> Result<Option<ProfileRow>, Failure> {
    Ok(profiles::find_by_id(&state.db, id)
        .await
        .context("identity: read the account")?)
}

/// Links the identity; with `take_over`, first takes that account from whoever had it without
/// proving its address: its password off, its sessions ended, its other identities detached.
async fn link_now(
    state: &AppState,
    link: &Link<'_>,
    take_over: Option<DbUuid>,
) -> Result<(), Failure> {
    let mut tx = begin(state).await?;
    let mut ended = Vec::new();
    if let Some(user) = take_over {
        profiles::clear_password(&mut tx, user)
            .await
            .context("identity: take the unproven password off")?;
        ended = state
            .sessions
            .end_all(&mut tx, user, None)
            .await
            .context("identity: end the unproven sessions")?;
        identities::detach_all_of(
            &mut tx,
            user,
            (link.provider, link.subject),
            sessions::now_ms(),
        )
        .await
        .context("identity: detach the unproven identities")?;
    }
    identities::link(&mut tx, link)
        .await
        .context("identity: link")?;
    commit(state, tx).await?;
    state.sessions.ended(ended);
    Ok(())
}
