//! Sessions that end. Every token names a session (`sid`), a row in `sessions`; signing out,
//! "sign out everywhere" and a password reset revoke rows. Checking a token stays a memory
//! lookup: each instance keeps the sessions revoked within a token's lifetime in a set, adds its
//! own revocations at once, and polls the database for everyone else's every `POLL` (well inside
//! the one second in which another instance must refuse a revoked token). A token lives at most
//! `jwt::LIFETIME`, so a revocation older than that can be forgotten.
//!
//! The poll reads revocations newer than `now − WINDOW` by this instance's clock: an instance
//! whose clock is off from the revoking one's by less than `WINDOW` still sees every revocation.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use super::jwt::{self, Claims, Signer, TokenError};
use crate::server::db::{accounts, Db, DbError, DbUuid, Tx};

/// How often each instance reads the recent revocations.
pub const POLL: Duration = Duration::from_millis(400);
/// How far back each poll reads (clock skew between instances that is forgiven).
const WINDOW_MS: i64 = 60_000;

#[derive(Debug)]
pub struct Sessions {
    signer: Signer,
    /// Revoked session id → when (unix ms).
    revoked: RwLock<HashMap<String, i64>>,
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Sessions {
    pub fn new(signer: Signer) -> Arc<Self> {
        Arc::new(Sessions {
            signer,
            revoked: RwLock::new(HashMap::new()),
        })
    }

    /// Starts a session for `user`: its row, then its first token.
    pub async fn start(&self, db: &Db, user: DbUuid, email: &str) -> Result<String, DbError> {
        let sid = uuid::Uuid::new_v4().simple().to_string();
        accounts::insert_session(db, &sid, user).await?;
        Ok(self.signer.issue(user, email, &sid, jwt::now()))
    }

    /// A token for a session that is not stored (tests and tools): valid until it expires.
    pub fn issue_unstored(&self, user: DbUuid, email: &str) -> String {
        let sid = uuid::Uuid::new_v4().simple().to_string();
        self.signer.issue(user, email, &sid, jwt::now())
    }

    /// A verified token whose session still stands.
    pub fn verify(&self, token: &str) -> Result<(Claims, DbUuid), TokenError> {
        let (claims, id) = self.signer.verify(token)?;
        if self.is_revoked(&claims.sid) {
            return Err(TokenError::Revoked);
        }
        Ok((claims, id))
    }

    /// The same session, with a fresh lifetime (only ever for a token that `verify` accepted).
    pub fn renew(&self, claims: &Claims, user: DbUuid) -> Option<String> {
        let email = claims.email.as_deref()?;
        Some(self.signer.issue(user, email, &claims.sid, jwt::now()))
    }

    fn is_revoked(&self, sid: &str) -> bool {
        self.revoked
            .read()
            .expect("revocation set lock")
            .contains_key(sid)
    }

    fn note_revoked(&self, sids: impl IntoIterator<Item = (String, i64)>) {
        let mut revoked = self.revoked.write().expect("revocation set lock");
        revoked.extend(sids);
        let horizon = now_ms() - (jwt::LIFETIME * 1000 + WINDOW_MS);
        if revoked.values().any(|at| *at < horizon) {
            revoked.retain(|_, at| *at >= horizon);
        }
    }

    /// Ends one session (signing out): refused here at once, elsewhere within a poll.
    pub async fn end(&self, db: &Db, claims: &Claims, user: DbUuid) -> Result<(), DbError> {
        let at = now_ms();
        accounts::revoke_session(db, &claims.sid, user, at).await?;
        self.note_revoked([(claims.sid.clone(), at)]);
        Ok(())
    }

    /// Ends every session of `user` but `keep`, in the caller's transaction; call `ended` with
    /// the answer once it has committed.
    pub async fn end_all(
        &self,
        tx: &mut Tx,
        user: DbUuid,
        keep: Option<&str>,
    ) -> Result<Vec<(String, i64)>, DbError> {
        let at = now_ms();
        let ids = accounts::revoke_sessions_of(tx, user, keep, at).await?;
        Ok(ids.into_iter().map(|id| (id, at)).collect())
    }

    /// Takes note, at once, of sessions this instance revoked in a committed transaction.
    pub fn ended(&self, sids: Vec<(String, i64)>) {
        self.note_revoked(sids);
    }

    /// Reads the revocations of the last token lifetime, then keeps polling for new ones until
    /// the `Sessions` is dropped. A failed read is logged and tried again at the next poll.
    pub async fn load(&self, db: &Db) -> Result<(), DbError> {
        let since = now_ms() - (jwt::LIFETIME * 1000 + WINDOW_MS);
        let rows = accounts::revoked_since(db, since).await?;
        self.note_revoked(rows);
        Ok(())
    }

    pub fn spawn_watcher(this: &Arc<Self>, db: Db) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Self> = Arc::downgrade(this);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(sessions) = weak.upgrade() else {
                    return;
                };
                match accounts::revoked_since(&db, now_ms() - WINDOW_MS).await {
                    Ok(rows) => sessions.note_revoked(rows),
                    Err(e) => tracing::warn!(error = %e, "cannot read recent session revocations"),
                }
            }
        })
    }
}
