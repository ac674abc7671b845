//! The product's one resource this site manages: monitors (URLs to watch), as many as the
//! plan's `monitors` entitlement allows. The one real use of `require_entitlement`.

use super::auth::session::AuthUser;
use super::billing::overview::require_entitlement;
use super::db::monitors;
use super::error::ServerError;
use super::state::AppState;
use crate::model::error::AppError;
use crate::server::error::Context;

/// The longest URL a monitor may watch.
const MAX_URL: usize = 2048;

pub async fn monitors(state: &AppState, user: &AuthUser) -> Result<Vec<String>, ServerError> {
    monitors::urls_for_user(&state.db, user.id)
        .await
        .context("monitors: list")
}

/// Adds a monitor for `url` (absolute http or https), if the plan allows one more.
pub async fn add_monitor(state: &AppState, user: &AuthUser, url: &str) -> Result<(), AppError> {
    let url = url.trim();
    let valid = url.len() <= MAX_URL
        && url::Url::parse(url).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
        });
    if !valid {
        return Err(AppError::BadRequest(
            "Give the address to watch as a full URL, such as https://example.com/health.".into(),
        ));
    }
    let count = monitors(state, user).await?.len() as i64;
    let in_force = require_entitlement(state, user, "monitors", count + 1).await?;
    let limit = in_force.entitlements.get("monitors").copied().unwrap_or(0);
    // Counted again as it is added: two adds at once cannot both take the last place.
    let added = monitors::add_within(&state.db, user.id, url, limit)
        .await
        .context("monitors: add")?;
    if added {
        Ok(())
    } else {
        require_entitlement(state, user, "monitors", limit + 1)
            .await
            .map(drop)
    }
}
