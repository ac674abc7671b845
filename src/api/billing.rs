//! The billing page, the product area and the operators' event log.

use leptos::prelude::*;

use crate::model::admin::EventView;
use crate::model::billing::{AppAccess, BillingOverview};
use crate::model::change::ChangePreview;
use crate::model::error::AppError;

#[cfg(feature = "ssr")]
async fn signed_in() -> Result<crate::server::auth::session::AuthUser, AppError> {
    use crate::server::auth::session::MaybeAuthUser;
    let state = expect_context::<crate::server::state::AppState>();
    let MaybeAuthUser(user) = leptos_axum::extract_with_state(&state)
        .await
        .unwrap_or(MaybeAuthUser(None));
    user.ok_or_else(|| AppError::Unauthorized("Sign in to see your billing.".into()))
}

/// The signed-in user's plan, invoices and purchases; `refresh` reads Stripe first (the page
/// does on the way back from the portal).
#[server(prefix = "/api", endpoint = "billing/overview")]
pub async fn load_billing(refresh: bool) -> Result<BillingOverview, AppError> {
    let user = signed_in().await?;
    let state = expect_context::<crate::server::state::AppState>();
    let client = crate::server::client_addr::of_server_fn(&state.config.trusted_proxies);
    crate::server::billing::visitor_reads::billing(&state, &user, &client, refresh)
        .await
        .map_err(AppError::from)
}

/// Opens the customer portal (a plain form post is redirected there).
#[server(prefix = "/api", endpoint = "billing/portal")]
pub async fn create_portal() -> Result<String, AppError> {
    crate::server::billing::api::portal_from_billing_page().await
}

/// What changing to another plan (a catalog lookup key) costs today and at renewal.
#[server(prefix = "/api", endpoint = "billing/change/preview")]
pub async fn preview_change(price: String) -> Result<ChangePreview, AppError> {
    let user = signed_in().await?;
    let state = expect_context::<crate::server::state::AppState>();
    crate::server::billing::change::preview(&state, &user, &price)
        .await
        .map_err(AppError::from)
}

/// Changes the plan as previewed (`proration_date` is the preview's) and returns where to go
/// next; a plain form post is redirected there.
#[server(prefix = "/api", endpoint = "billing/change")]
pub async fn change_plan(price: String, proration_date: i64) -> Result<String, AppError> {
    crate::server::billing::api::change_from_page(price, proration_date).await
}

/// Keeps the current plan: the change scheduled for the end of the period is dropped. Returns
/// where to go next; a plain form post is redirected there.
#[server(prefix = "/api", endpoint = "billing/keep")]
pub async fn keep_plan() -> Result<String, AppError> {
    crate::server::billing::api::keep_from_page().await
}

/// Whether the product is open to the signed-in user, and through which plan.
#[server(prefix = "/api", endpoint = "app/access")]
pub async fn load_app_access() -> Result<AppAccess, AppError> {
    let user = signed_in().await?;
    let state = expect_context::<crate::server::state::AppState>();
    let mut access = crate::server::billing::overview::app_access(&state, &user)
        .await
        .map_err(AppError::from)?;
    access.monitors = crate::server::product::monitors(&state, &user)
        .await
        .map_err(AppError::from)?;
    Ok(access)
}

/// Adds a monitor, if the plan includes one more (403 otherwise, naming the plan's limit); a
/// plain form post comes back to `/app` with the outcome.
#[server(prefix = "/api", endpoint = "app/monitors")]
pub async fn add_monitor(url: String) -> Result<String, AppError> {
    let user = signed_in()
        .await
        .inspect_err(crate::server::auth::forms::answer_with)?;
    let state = expect_context::<crate::server::state::AppState>();
    let result = crate::server::product::add_monitor(&state, &user, &url).await;
    if let Err(e) = &result {
        crate::server::auth::forms::answer_with(e);
    }
    let to = match &result {
        Ok(()) => "/app?added=1".to_string(),
        Err(e) => {
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("error", &e.to_string())
                .finish();
            format!("/app?{query}")
        }
    };
    if crate::server::auth::forms::is_browser_form() {
        leptos_axum::redirect(&to);
    }
    result.map(|()| to)
}

#[cfg(feature = "ssr")]
async fn admin() -> Result<crate::server::state::AppState, AppError> {
    let user = signed_in()
        .await
        .map_err(|_| AppError::Unauthorized("Sign in as an operator.".into()))?;
    let state = expect_context::<crate::server::state::AppState>();
    // An operator's address counts only once its owner has proven it: otherwise whoever signs
    // up with it first would be an operator.
    if user.email_verified
        && state
            .config
            .admin_emails
            .contains(&user.email.to_ascii_lowercase())
    {
        Ok(state)
    } else {
        Err(AppError::Forbidden(
            "This page is for the site's operators (ADMIN_EMAILS, with a confirmed email).".into(),
        ))
    }
}

/// The newest webhook events, or only those not applied yet.
#[server(prefix = "/api", endpoint = "admin/events")]
pub async fn admin_events(failed_only: bool) -> Result<Vec<EventView>, AppError> {
    let state = admin().await?;
    crate::server::billing::admin::events(&state, failed_only)
        .await
        .map_err(AppError::from)
}

/// Applies a stored event again (after a fix); a plain form post comes back to the list.
#[server(prefix = "/api", endpoint = "admin/retry")]
pub async fn retry_event(id: String) -> Result<String, AppError> {
    let state = admin()
        .await
        .inspect_err(crate::server::auth::forms::answer_with)?;
    let result = crate::server::billing::admin::retry(&state, &id).await;
    if crate::server::auth::forms::is_browser_form() {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair(
                "notice",
                &match &result {
                    Ok(m) => m.clone(),
                    Err(e) => e.to_string(),
                },
            )
            .finish();
        leptos_axum::redirect(&format!("/admin/events?{query}"));
    }
    result
}
