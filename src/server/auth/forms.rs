//! The glue between the account server functions and the browser: cookies, the client address,
//! and — for a plain form post (JavaScript off) — a redirect that carries the outcome.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::header::{ACCEPT, SET_COOKIE};
use axum::http::request::Parts;
use leptos::prelude::{expect_context, use_context};
use leptos_axum::ResponseOptions;

use super::{session, AuthFailure};
use crate::model::auth::{FormProblem, Me};
use crate::model::error::AppError;
use crate::server::state::AppState;

pub async fn sign_up(email: String, password: String) -> Result<(), AppError> {
    let state = expect_context::<AppState>();
    let result = super::sign_up(&state, client_ip().await, &email, &password).await;
    finish(&state, result, "/sign-up", &email)
}

pub async fn sign_in(email: String, password: String) -> Result<(), AppError> {
    let state = expect_context::<AppState>();
    let result = super::sign_in(&state, client_ip().await, &email, &password).await;
    finish(&state, result, "/sign-in", &email)
}

pub async fn sign_out() -> Result<(), AppError> {
    let state = expect_context::<AppState>();
    expect_context::<ResponseOptions>().insert_header(
        SET_COOKIE,
        session::clear_cookie(state.config.site_url.is_https()),
    );
    if is_browser_form() {
        leptos_axum::redirect("/");
    }
    Ok(())
}

pub async fn current_user() -> Result<Option<Me>, AppError> {
    let state = expect_context::<AppState>();
    let session::MaybeAuthUser(user) =
        leptos_axum::extract_with_state(&state).await.map_err(|_| {
            AppError::Unauthorized("Not signed in: the session token is invalid.".into())
        })?;
    Ok(user.map(|u| Me {
        id: u.id.to_string(),
        email: u.email,
    }))
}

/// The address the request came from (no proxy header is trusted).
async fn client_ip() -> IpAddr {
    leptos_axum::extract::<ConnectInfo<SocketAddr>>()
        .await
        .map(|ConnectInfo(addr)| addr.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// Makes a server function's response carry the error's status (a bare `Err` answers 500).
pub fn answer_with(error: &AppError) {
    if let Some(response) = use_context::<ResponseOptions>() {
        response.set_status(
            axum::http::StatusCode::from_u16(error.status())
                .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR),
        );
    }
}

/// A browser's plain form post asks for HTML; `fetch` and API clients ask for JSON.
pub fn is_browser_form() -> bool {
    use_context::<Parts>()
        .and_then(|p| {
            p.headers
                .get(ACCEPT)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.contains("text/html"))
        })
        .unwrap_or(false)
}

fn to_app_error(problem: FormProblem) -> AppError {
    let message = problem.message().to_string();
    match problem {
        FormProblem::InvalidEmail | FormProblem::WeakPassword => AppError::BadRequest(message),
        FormProblem::EmailTaken => AppError::Conflict(message),
        FormProblem::WrongCredentials => AppError::Unauthorized(message),
        FormProblem::RateLimited => AppError::TooManyRequests(message),
        FormProblem::CrossSite => AppError::Forbidden(message),
        FormProblem::Internal => AppError::Internal,
    }
}

fn finish(
    state: &AppState,
    result: Result<(Me, String), AuthFailure>,
    form_page: &str,
    email: &str,
) -> Result<(), AppError> {
    let response = expect_context::<ResponseOptions>();
    let browser = is_browser_form();
    let problem = match result {
        Ok((_, token)) => {
            response.insert_header(
                SET_COOKIE,
                session::session_cookie(&token, state.config.site_url.is_https()),
            );
            if browser {
                leptos_axum::redirect("/");
            }
            return Ok(());
        }
        Err(AuthFailure::Problem(problem)) => problem,
        Err(AuthFailure::Internal(e)) => {
            e.log();
            FormProblem::Internal
        }
    };
    let error = to_app_error(problem);
    answer_with(&error);
    if browser {
        // Back to the form, saying what went wrong and keeping the email (never the password).
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("error", problem.code())
            .append_pair("email", email.trim())
            .finish();
        leptos_axum::redirect(&format!("{form_page}?{query}"));
    }
    Err(error)
}
