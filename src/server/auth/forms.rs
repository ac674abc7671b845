//! The glue between the account server functions and the browser: cookies, the client address,
//! and — for a plain form post (JavaScript off) — a redirect that carries the outcome.

use axum::http::header::{ACCEPT, SET_COOKIE};
use axum::http::request::Parts;
use leptos::prelude::{expect_context, use_context};
use leptos_axum::ResponseOptions;

use super::{session, AuthFailure};
use crate::model::auth::{AccountView, FormProblem, Me};
use crate::model::error::AppError;
use crate::server::client_addr;
use crate::server::state::AppState;

/// What sign-up answers, whether the email was new or taken.
pub const CHECK_INBOX: &str = "Check your inbox: we sent a link to confirm your email address.";

pub async fn sign_up(email: String, password: String) -> Result<String, AppError> {
    let state = expect_context::<AppState>();
    let result = super::sign_up(
        &state,
        &client_addr::of_server_fn(&state.config.trusted_proxies),
        &email,
        &password,
    )
    .await;
    done_or_problem(result, "/sign-up?sent=1", "/sign-up", &email).map(|()| CHECK_INBOX.into())
}

/// What "forgot your password?" answers, whether the email has an account or not.
pub const RESET_SENT: &str =
    "If an account uses that email, we sent it a link to choose a new password.";

pub async fn forgot_password(email: String) -> Result<String, AppError> {
    let state = expect_context::<AppState>();
    let result = super::request_reset(
        &state,
        &client_addr::of_server_fn(&state.config.trusted_proxies),
        &email,
    )
    .await;
    done_or_problem(
        result,
        "/forgot-password?sent=1",
        "/forgot-password",
        &email,
    )
    .map(|()| RESET_SENT.into())
}

pub async fn verify_email(token: String, password: Option<String>) -> Result<(), AppError> {
    let state = expect_context::<AppState>();
    let session::MaybeAuthUser(user) = leptos_axum::extract_with_state(&state)
        .await
        .unwrap_or(session::MaybeAuthUser(None));
    let client = client_addr::of_server_fn(&state.config.trusted_proxies);
    let follower = super::Follower {
        signed_in: user.as_ref().map(|u| (u.id, u.supabase_subject.as_deref())),
        password: password.as_deref(),
        client: &client,
    };
    let result = super::verify_email(&state, &token, follower).await;
    // A spent link has nothing to try again; anything else comes back to the same link.
    let back = match &result {
        Err(AuthFailure::Problem(FormProblem::LinkInvalid)) => "/verify-email".to_string(),
        _ => with_token("/verify-email", &token),
    };
    finish(&state, result, &back, "", "/account?verified=1")
}

/// `path?token=…`, for a form sent back to the link it came from.
fn with_token(path: &str, token: &str) -> String {
    format!(
        "{path}?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .finish()
    )
}

pub async fn reset_password(token: String, password: String) -> Result<(), AppError> {
    let state = expect_context::<AppState>();
    let result = super::reset_password(&state, &token, &password).await;
    finish(
        &state,
        result,
        &with_token("/reset-password", &token),
        "",
        "/account?reset=1",
    )
}

pub async fn resend_verification() -> Result<String, AppError> {
    let state = expect_context::<AppState>();
    let user = signed_in(&state).await?;
    let result = super::resend_verification(
        &state,
        &client_addr::of_server_fn(&state.config.trusted_proxies),
        user.id,
    )
    .await;
    done_or_problem(result, "/account?sent=1", "/account", "")
        .map(|()| "We sent a new link. Check your inbox.".into())
}

pub async fn sign_out_everywhere() -> Result<(), AppError> {
    let state = expect_context::<AppState>();
    let user = signed_in(&state).await?;
    super::sign_out_everywhere(&state, user.id)
        .await
        .map_err(AppError::from)?;
    expect_context::<ResponseOptions>().insert_header(
        SET_COOKIE,
        session::clear_cookie(state.config.site_url.is_https()),
    );
    if is_browser_form() {
        leptos_axum::redirect("/sign-in?signed_out=everywhere");
    }
    Ok(())
}

pub async fn account() -> Result<AccountView, AppError> {
    let state = expect_context::<AppState>();
    let user = signed_in(&state).await?;
    Ok(AccountView {
        email: user.email,
        email_verified: user.email_verified,
    })
}

pub async fn reset_link_is_live(token: String) -> Result<bool, AppError> {
    let state = expect_context::<AppState>();
    super::reset_link_is_live(&state, &token)
        .await
        .map_err(AppError::from)
}

async fn signed_in(state: &AppState) -> Result<session::AuthUser, AppError> {
    let session::MaybeAuthUser(user) = leptos_axum::extract_with_state(state)
        .await
        .unwrap_or(session::MaybeAuthUser(None));
    user.ok_or_else(|| AppError::Unauthorized("Not signed in".into()))
}

pub async fn sign_in(email: String, password: String) -> Result<(), AppError> {
    let state = expect_context::<AppState>();
    let result = super::sign_in(
        &state,
        &client_addr::of_server_fn(&state.config.trusted_proxies),
        &email,
        &password,
    )
    .await;
    finish(&state, result, "/sign-in", &email, "/")
}

/// Ends this session for good (not only the cookie: a copy of the token stops working too).
pub async fn sign_out() -> Result<(), AppError> {
    let state = expect_context::<AppState>();
    if let Some(parts) = use_context::<Parts>() {
        if let Some((claims, user)) = session::cookie_claims(&state.sessions, &parts.headers) {
            if let Err(e) = state.sessions.end(&state.db, &claims, user).await {
                // The cookie is cleared all the same; the session ends when its token expires.
                crate::server::error::ServerError::db("sign out: revoke the session", e).log();
            }
        }
    }
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

/// Makes a server function's response carry the error's status (a bare `Err` answers 500).
pub fn answer_with(error: &AppError) {
    if let Some(response) = use_context::<ResponseOptions>() {
        response.set_status(error.status_code());
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
        FormProblem::InvalidEmail | FormProblem::WeakPassword | FormProblem::LinkInvalid => {
            AppError::BadRequest(message)
        }
        FormProblem::WrongCredentials
        | FormProblem::WrongPassword
        | FormProblem::PasswordNeeded => AppError::Unauthorized(message),
        FormProblem::RateLimited => AppError::TooManyRequests(message),
        FormProblem::Busy => {
            if let Some(response) = use_context::<ResponseOptions>() {
                response.insert_header(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from_static("1"),
                );
            }
            AppError::Unavailable(message)
        }
        FormProblem::CrossSite => AppError::Forbidden(message),
        FormProblem::Internal => AppError::Internal,
    }
}

/// The problem an account action ran into, logged when it is ours.
fn problem_of(failure: AuthFailure) -> FormProblem {
    match failure {
        AuthFailure::Problem(problem) => problem,
        AuthFailure::Internal(e) => {
            e.log();
            FormProblem::Internal
        }
    }
}

/// Answers a problem: its status, and for a browser's form the way back to `form_page` saying
/// what went wrong (keeping the email, never a password).
fn answer_problem(problem: FormProblem, form_page: &str, email: &str) -> AppError {
    let error = to_app_error(problem);
    answer_with(&error);
    if is_browser_form() {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("error", problem.code());
        if !email.trim().is_empty() {
            query.append_pair("email", email.trim());
        }
        let sep = if form_page.contains('?') { '&' } else { '?' };
        leptos_axum::redirect(&format!("{form_page}{sep}{}", query.finish()));
    }
    error
}

/// An action that signs nobody in: a browser goes to `done_page`.
fn done_or_problem(
    result: Result<(), AuthFailure>,
    done_page: &str,
    form_page: &str,
    email: &str,
) -> Result<(), AppError> {
    match result {
        Ok(()) => {
            if is_browser_form() {
                leptos_axum::redirect(done_page);
            }
            Ok(())
        }
        Err(failure) => Err(answer_problem(problem_of(failure), form_page, email)),
    }
}

/// An action that signs in: the session cookie, and a browser goes to `done_page`.
fn finish(
    state: &AppState,
    result: Result<(Me, String), AuthFailure>,
    form_page: &str,
    email: &str,
    done_page: &str,
) -> Result<(), AppError> {
    match result {
        Ok((_, token)) => {
            expect_context::<ResponseOptions>().insert_header(
                SET_COOKIE,
                session::session_cookie(&token, state.config.site_url.is_https()),
            );
            if is_browser_form() {
                leptos_axum::redirect(done_page);
            }
            Ok(())
        }
        Err(failure) => Err(answer_problem(problem_of(failure), form_page, email)),
    }
}
