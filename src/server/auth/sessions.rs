//! Sessions that end. Every token names a session (`sid`), a row in `sessions`; signing out,
//! "sign out everywhere" and a password reset revoke rows. Checking a token stays a memory
//! lookup: each instance keeps the sessions revoked within a token's lifetime in a set, adds its
//! own revocations at once, and polls the database for everyone else's every `POLL` (well inside
//! the one second in which another instance must refuse a revoked token). A token lives at most
//! `jwt::LIFETIME`, so a revocation older than that can be forgotten.
//!
//! A session also has an absolute lifetime (`max_age`, `SESSION_MAX_DAYS`): renewal keeps an
//! active holder signed in a day at a time, but no token outlives its session's sign-in by more
//! than that, so a stolen cookie used once a day still dies.
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
    /// A session's absolute lifetime, in seconds from its sign-in.
    max_age: i64,
    /// The site is served over https: its cookie is `__Host-` prefixed and Secure.
    secure: bool,
    /// Revoked session id → when (unix ms).
    revoked: RwLock<HashMap<String, i64>>,
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Sessions {
    pub fn new(signer: Signer, max_age: i64, secure: bool) -> Arc<Self> {
        Arc::new(Sessions {
            signer,
            max_age,
            secure,
            revoked: RwLock::new(HashMap::new()),
        })
    }

    /// Whether the site is served over https (its cookie's name and flags follow).
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// Starts a session for `user`: its row, then its first token.
    pub async fn start(&self, db: &Db, user: DbUuid, email: &str) -> Result<String, DbError> {
        let sid = uuid::Uuid::new_v4().simple().to_string();
        accounts::insert_session(db, &sid, user).await?;
        Ok(self.first_token(user, email, &sid))
    }

    /// A token for a session that is not stored (tests and tools): valid until it expires.
    pub fn issue_unstored(&self, user: DbUuid, email: &str) -> String {
        let sid = uuid::Uuid::new_v4().simple().to_string();
        self.first_token(user, email, &sid)
    }

    fn first_token(&self, user: DbUuid, email: &str, sid: &str) -> String {
        let now = jwt::now();
        self.signer
            .issue(user, email, sid, now, now, now + self.max_age)
    }

    /// A verified token whose session still stands.
    pub fn verify(&self, token: &str) -> Result<(Claims, DbUuid), TokenError> {
        let (claims, id) = self.signer.verify(token)?;
        if self.is_revoked(&claims.sid) {
            return Err(TokenError::Revoked);
        }
        Ok((claims, id))
    }

    /// The same session, with a fresh lifetime up to the session's absolute end (only ever for
    /// a token that `verify` accepted). `None` once that end is reached: its holder signs in
    /// again when the token expires.
    pub fn renew(&self, claims: &Claims, user: DbUuid) -> Option<String> {
        let email = claims.email.as_deref()?;
        let now = jwt::now();
        let started = claims.auth_time.unwrap_or(claims.iat);
        let ends = started.saturating_add(self.max_age);
        // Renewed only when it lives longer for it: a token already at the end is left alone.
        let exp = (now + jwt::LIFETIME).min(ends);
        (exp > claims.exp).then(|| {
            self.signer
                .issue(user, email, &claims.sid, now, started, ends)
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::secret::Secret;

    const DAY: i64 = 24 * 60 * 60;

    fn sessions(max_days: i64) -> Arc<Sessions> {
        let signer = Signer::new(
            Secret::new("test-secret-0123456789abcdef0123456789"),
            "https://shop.test".into(),
        );
        Sessions::new(signer, max_days * DAY, false)
    }

    /// Claims of a token of a session signed in `age` seconds ago, issued `issued` seconds ago.
    fn claims(sessions: &Sessions, user: DbUuid, age: i64, issued: i64) -> Claims {
        let now = jwt::now();
        let started = now - age;
        let token = sessions.signer.issue(
            user,
            "ada@example.com",
            "s1",
            now - issued,
            started,
            started + sessions.max_age,
        );
        sessions.verify(&token).unwrap().0
    }

    #[test]
    fn renewal_keeps_the_sign_in_time_and_stops_at_the_absolute_lifetime() {
        let sessions = sessions(30);
        let user = DbUuid::new_v4();
        // Three days in, half a day after its last renewal: a full day more, same sign-in.
        let old = claims(&sessions, user, 3 * DAY, DAY / 2 + 60);
        let renewed = sessions.renew(&old, user).expect("renewed");
        let (new, _) = sessions.verify(&renewed).unwrap();
        assert_eq!(new.auth_time, old.auth_time);
        assert_eq!(new.sid, old.sid);
        assert_eq!(new.exp - new.iat, jwt::LIFETIME);
        // Thirty days less six hours in, an hour before its token expires: the new token ends
        // with the session, not a day later.
        let late = claims(&sessions, user, 30 * DAY - 6 * 3600, DAY - 3600);
        let last = sessions.renew(&late, user).expect("renewed to the end");
        let (last, _) = sessions.verify(&last).unwrap();
        assert_eq!(last.exp, last.auth_time.unwrap() + 30 * DAY);
        // At the end: no renewal, and a token at the end is not renewed again and again.
        assert_eq!(sessions.renew(&last, user), None);
        let over = Claims {
            auth_time: Some(jwt::now() - 30 * DAY - 1),
            ..last
        };
        assert_eq!(sessions.renew(&over, user), None);
    }

    #[test]
    fn a_token_from_before_the_absolute_lifetime_counts_from_its_issue() {
        let sessions = sessions(2);
        let user = DbUuid::new_v4();
        let mut old = claims(&sessions, user, DAY / 2 + 60, DAY / 2 + 60);
        old.auth_time = None;
        // Issued half a day ago with no sign-in time: renewed, its issue now the sign-in.
        let renewed = sessions.renew(&old, user).expect("renewed");
        let (new, _) = sessions.verify(&renewed).unwrap();
        assert_eq!(new.auth_time, Some(old.iat));
        assert_eq!(new.exp - new.iat, jwt::LIFETIME);
        // One issued more than two days ago is not renewed.
        let now = jwt::now();
        let ancient = Claims {
            iat: now - 2 * DAY - 1,
            exp: now + 60,
            ..old
        };
        assert_eq!(sessions.renew(&ancient, user), None);
    }
}
