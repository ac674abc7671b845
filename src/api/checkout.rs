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
    let state = expect_context::<crate::server::state::AppState>();
    crate::server::billing::checkout::summary(&state, &session_id).await
}
