//! The JSON routes kept from the Next.js integration (`POST /api/stripe/create-checkout`) and the glue for the pricing
//! page's server function.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use leptos::prelude::expect_context;
use serde_json::{json, Value};

use super::change::{self, Confirmed};
use super::checkout::{self, CheckoutError, CheckoutRequest};
use super::portal;
use super::visitor_reads::too_many_portals;
use crate::model::error::AppError;
use crate::server::auth::forms::{answer_with, is_browser_form};
use crate::server::auth::limits::Limited;
use crate::server::auth::session::{AuthUser, MaybeAuthUser};
use crate::server::client_addr::{self, ClientKey};
use crate::server::state::AppState;

fn field(body: &Value, name: &str) -> Option<String> {
    body.get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// `{"priceId", "mode", "successUrl", "cancelUrl", "couponId"?}` → `{"url"}` (README, "Compatible with the Next.js integration").
pub async fn create_checkout(
    State(state): State<AppState>,
    MaybeAuthUser(user): MaybeAuthUser,
    client: ClientKey,
    body: axum::body::Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (Some(price), Some(mode), Some(success_url), Some(cancel_url)) = (
        field(&body, "priceId"),
        field(&body, "mode"),
        field(&body, "successUrl"),
        field(&body, "cancelUrl"),
    ) else {
        // The contract's message, for a body that is not JSON too.
        return AppError::BadRequest("Missing required fields".into()).into_response();
    };
    let request = CheckoutRequest {
        price,
        mode: Some(mode),
        success_url,
        cancel_url,
        coupon: field(&body, "couponId"),
    };
    match checkout::create(&state, user.as_ref(), &client, request).await {
        Ok(url) => Json(json!({ "url": url })).into_response(),
        Err(e) => e.answer(&state.config.site_url.origin()).into_response(),
    }
}

/// The pricing page's buy button: success and cancel URLs are ours; a plain form post (no
/// JavaScript) is redirected straight to Checkout, or back to pricing with the reason.
pub async fn from_pricing_page(price: String, coupon: Option<String>) -> Result<String, AppError> {
    let state = expect_context::<AppState>();
    let MaybeAuthUser(user) = leptos_axum::extract_with_state(&state).await.map_err(|_| {
        AppError::Unauthorized("Not signed in: the session token is invalid.".into())
    })?;
    let origin = state.config.site_url.origin();
    let request = CheckoutRequest {
        price,
        mode: None,
        success_url: format!("{origin}/success?session_id={{CHECKOUT_SESSION_ID}}"),
        cancel_url: format!("{origin}/pricing?canceled=1"),
        coupon,
    };
    let browser = is_browser_form();
    let client = client_addr::of_server_fn(&state.config.trusted_proxies);
    match checkout::create(&state, user.as_ref(), &client, request).await {
        Ok(url) => {
            if browser {
                leptos_axum::redirect(&url);
            }
            Ok(url)
        }
        Err(e) => {
            let change_url = match &e {
                CheckoutError::HasSubscription { change_url, .. } => Some(change_url.clone()),
                _ => None,
            };
            let problem = e.problem();
            let error = AppError::from(e);
            answer_with(&error);
            if let (true, Some(change_url)) = (browser, change_url) {
                leptos_axum::redirect(&change_url);
                return Err(error);
            }
            if browser {
                leptos_axum::redirect(&format!("/pricing?checkout_error={}", problem.code()));
            }
            Err(error)
        }
    }
}

/// `GET /api/entitlements` → `{"plan", "status", "entitlements"}` for the signed-in user (cookie
/// or Bearer): what the product's own back end asks before it lets someone use a feature.
pub async fn entitlements(State(state): State<AppState>, user: AuthUser) -> Response {
    match super::overview::entitlements(&state, &user).await {
        Ok(in_force) => Json(in_force).into_response(),
        Err(e) => AppError::from(e).into_response(),
    }
}

/// `{"returnUrl"}` → `{"url"}`, with the customer looked up from our database, or Stripe by email.
pub async fn create_portal(
    State(state): State<AppState>,
    MaybeAuthUser(user): MaybeAuthUser,
    client: ClientKey,
    body: axum::body::Bytes,
) -> Response {
    let Some(user) = user else {
        return AppError::Unauthorized("Not signed in".into()).into_response();
    };
    if let Err(Limited(wait)) = state.visitor_reads.portal_opened(user.id, &client).await {
        return too_many_portals(wait)
            .answer()
            .retry_after(wait)
            .into_response();
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let return_url = field(&body, "returnUrl").unwrap_or_default();
    match portal::create(&state, &user, &return_url).await {
        Ok(url) => Json(json!({ "url": url })).into_response(),
        Err(e) => AppError::from(e).into_response(),
    }
}

/// The billing page's "Manage billing": the portal, returning to `/billing`; a plain form post
/// is redirected to it, or back to billing with the reason.
pub async fn portal_from_billing_page() -> Result<String, AppError> {
    let state = expect_context::<AppState>();
    let MaybeAuthUser(user) = leptos_axum::extract_with_state(&state).await.map_err(|_| {
        AppError::Unauthorized("Not signed in: the session token is invalid.".into())
    })?;
    let browser = is_browser_form();
    let origin = state.config.site_url.origin();
    let client = client_addr::of_server_fn(&state.config.trusted_proxies);
    let result = match user {
        None => Err(AppError::Unauthorized("Not signed in".into())),
        Some(user) => match state.visitor_reads.portal_opened(user.id, &client).await {
            Err(Limited(wait)) => Err(too_many_portals(wait)),
            Ok(()) => portal::create(&state, &user, &format!("{origin}/billing?from=portal"))
                .await
                .map_err(AppError::from),
        },
    };
    match result {
        Ok(url) => {
            if browser {
                leptos_axum::redirect(&url);
            }
            Ok(url)
        }
        Err(error) => {
            answer_with(&error);
            if browser {
                let query: String = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("error", &error.to_string())
                    .finish();
                leptos_axum::redirect(&format!("/billing?{query}"));
            }
            Err(error)
        }
    }
}

/// `/billing/change`'s confirmation: the plan changes, then `/billing` (or Stripe's invoice page,
/// when the charge needs the buyer). A plain form post is redirected; a refusal goes back to the
/// change page with the reason, or to pricing for someone with nothing to change.
pub async fn change_from_page(price: String, proration_date: i64) -> Result<String, AppError> {
    let state = expect_context::<AppState>();
    let MaybeAuthUser(user) = leptos_axum::extract_with_state(&state).await.map_err(|_| {
        AppError::Unauthorized("Not signed in: the session token is invalid.".into())
    })?;
    let browser = is_browser_form();
    let result = match user {
        None => Err(AppError::Unauthorized(
            "Sign in to change your plan.".into(),
        )),
        Some(user) => change::confirm(&state, &user, &price, proration_date)
            .await
            .map_err(AppError::from),
    };
    let to = match &result {
        Ok(Confirmed::Changed) => "/billing?changed=1".to_string(),
        Ok(Confirmed::Scheduled) => "/billing?scheduled=1".to_string(),
        Ok(Confirmed::NeedsAction(url)) => url.clone(),
        Err(AppError::Unauthorized(_)) => "/sign-in".to_string(),
        Err(error) => {
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("price", &price)
                .append_pair("error", &error.to_string())
                .finish();
            format!("/billing/change?{query}")
        }
    };
    if browser {
        leptos_axum::redirect(&to);
    }
    match result {
        Ok(_) => Ok(to),
        Err(error) => {
            answer_with(&error);
            Err(error)
        }
    }
}

/// `/billing`'s **Keep** control: the change scheduled for the period's end is dropped, then
/// `/billing` again (with the reason, when refused). A plain form post is redirected.
pub async fn keep_from_page() -> Result<String, AppError> {
    let state = expect_context::<AppState>();
    let MaybeAuthUser(user) = leptos_axum::extract_with_state(&state).await.map_err(|_| {
        AppError::Unauthorized("Not signed in: the session token is invalid.".into())
    })?;
    let browser = is_browser_form();
    let result = match user {
        None => Err(AppError::Unauthorized("Sign in to keep your plan.".into())),
        Some(user) => change::keep(&state, &user).await.map_err(AppError::from),
    };
    let to = match &result {
        Ok(()) => "/billing?kept=1".to_string(),
        Err(AppError::Unauthorized(_)) => "/sign-in".to_string(),
        Err(error) => {
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("error", &error.to_string())
                .finish();
            format!("/billing?{query}")
        }
    };
    if browser {
        leptos_axum::redirect(&to);
    }
    match result {
        Ok(()) => Ok(to),
        Err(error) => {
            answer_with(&error);
            Err(error)
        }
    }
}
