//! The pricing page's buy button.

use leptos::prelude::*;

use crate::model::checkout::PurchaseSummary;
use crate::model::error::AppError;

/// Creates a Checkout Session for a catalog price (lookup key) and returns its URL; a plain form
/// post is redirected there.
#[server(prefix = "/api", endpoint = "checkout")]
pub async fn create_checkout(price: String, coupon: Option<String>) -> Result<String, AppError> {
    crate::server::billing::api::from_pricing_page(price, coupon).await
}

/// What a Checkout Session bought, for the success page.
#[server(prefix = "/api", endpoint = "checkout/summary")]
pub async fn checkout_result(session_id: String) -> Result<PurchaseSummary, AppError> {
    use crate::server::auth::session::MaybeAuthUser;
    let state = expect_context::<crate::server::state::AppState>();
    let MaybeAuthUser(viewer) = leptos_axum::extract_with_state(&state)
        .await
        .unwrap_or(MaybeAuthUser(None));
    let client = crate::server::client_addr::of_server_fn(&state.config.trusted_proxies);
    crate::server::billing::visitor_reads::confirmation(
        &state,
        &session_id,
        viewer.as_ref(),
        &client,
    )
    .await
}

/// The price (lookup key) the signed-in person subscribes to, if any.
#[server(prefix = "/api", endpoint = "checkout/current_price")]
pub async fn current_price() -> Result<Option<String>, AppError> {
    let state = expect_context::<crate::server::state::AppState>();
    // A mark on a page, read-only: the verified token's subject is enough, no profile lookup.
    let user = use_context::<http::request::Parts>().and_then(|parts| {
        crate::server::auth::session::token_subject(&state.sessions, &parts.headers)
    });
    let Some(user) = user else { return Ok(None) };
    crate::server::billing::checkout::current_price(&state, user)
        .await
        .map_err(AppError::from)
}
