//! The caches and per-client limits of the reads visitors cause, as `AppState` holds them: kept
//! apart from the functions that use them (`visitor_reads`, which needs `AppState`), so that the
//! state can hold them without a module cycle.

use std::time::Duration;

use crate::model::checkout::PurchaseSummary;
use crate::model::error::AppError;
use crate::server::auth::limits::{Limited, RateLimiter};
use crate::server::client_addr::ClientKey;
use crate::server::db::DbUuid;
use crate::server::infra::ttl_cache::TtlCache;

/// How long an answer is kept. Long enough that a reload loop costs one read per half minute;
/// short enough that a page shows a change made in Stripe's own pages (a payment that cleared,
/// a plan changed in the portal) within it, and the portal forgets sooner (`portal_opened`).
pub const KEPT: Duration = Duration::from_secs(30);

/// Answers each cache holds at most (a few hundred bytes each: a few megabytes in all).
const MAX_KEPT: usize = 10_000;

/// The window of the per-client limits.
const WINDOW: Duration = Duration::from_secs(600);

/// The caches and limits of the reads visitors cause. One per instance, in `AppState`.
#[derive(Debug)]
pub struct VisitorReads {
    /// The success page's answer per (session id, viewer): Stripe's 404 included.
    pub(super) confirmations: TtlCache<(String, Option<DbUuid>), Result<PurchaseSummary, AppError>>,
    /// When a user's billing was last refreshed from Stripe, and whether that refresh failed.
    pub(super) refreshes: TtlCache<DbUuid, bool>,
    /// How many customers Stripe has under a user's proven email, per (user, email): none
    /// included. The count is all a later asker needs: what was found is stored by then.
    pub(super) by_email: TtlCache<(DbUuid, String), usize>,
    pub(super) confirmations_per_client: RateLimiter,
    pub(super) refreshes_per_client: RateLimiter,
    pub(super) portals_per_client: RateLimiter,
}

impl VisitorReads {
    /// `per_client`: the reads one client may cause per 10 minutes on each path
    /// (`CHECKOUTS_PER_ADDRESS`); `shared`: the PostgreSQL the instances count in (none on
    /// SQLite: memory).
    pub fn new(per_client: u32, shared: Option<&sqlx::PgPool>) -> Self {
        let limiter = |name| RateLimiter::in_store(name, per_client, WINDOW, shared);
        VisitorReads {
            confirmations: TtlCache::new(KEPT, MAX_KEPT),
            refreshes: TtlCache::new(KEPT, MAX_KEPT),
            by_email: TtlCache::new(KEPT, MAX_KEPT),
            confirmations_per_client: limiter("success_reads_client"),
            refreshes_per_client: limiter("billing_refresh_client"),
            portals_per_client: limiter("portal_client"),
        }
    }

    /// Counts a portal session `client` is about to open for `user` (past the limit: how long
    /// to wait), and forgets the user's last refresh: they come back from the portal to
    /// `/billing?from=portal`, which must then read what they changed there.
    pub async fn portal_opened(&self, user: DbUuid, client: &ClientKey) -> Result<(), Limited> {
        self.portals_per_client.hit(client.as_str()).await?;
        self.refreshes.forget(&user);
        Ok(())
    }
}
