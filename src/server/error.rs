//! The error seam. `ServerError` is what went wrong inside, with its context, for the log;
//! `AppError` is what the client is told. Here live the only ways between them and out:
//! - `Context::context` turns a database error into a `ServerError` naming what was being done;
//! - `From<ServerError> for AppError` logs the story and answers `Internal`;
//! - `AppError::status_code` and `IntoResponse` give every refusal its status and its JSON body
//!   (`{"error": "…"}`, the shape the API keeps), with `ErrorAnswer` for the refusals that carry
//!   more.

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use server_fn::error::SERVER_FN_ERROR_HEADER;

use crate::model::error::AppError;
use crate::server::billing::client::StripeError;
use crate::server::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{context}: {source}")]
    Db {
        context: &'static str,
        source: DbError,
    },
    #[error("{context}: {source}")]
    Stripe {
        context: &'static str,
        source: StripeError,
    },
    #[error("{context}: {message}")]
    Internal {
        context: &'static str,
        message: String,
    },
}

impl ServerError {
    pub fn db(context: &'static str, source: DbError) -> Self {
        ServerError::Db { context, source }
    }

    pub fn stripe(context: &'static str, source: StripeError) -> Self {
        ServerError::Stripe { context, source }
    }

    pub fn internal(context: &'static str, message: String) -> Self {
        ServerError::Internal { context, message }
    }

    /// The database could not be reached or used at all (as opposed to refusing one statement):
    /// trying again at once, one event at a time, would only wait longer.
    pub fn is_database_down(&self) -> bool {
        matches!(
            self,
            ServerError::Db {
                source: DbError::Sqlx(
                    sqlx::Error::Io(_)
                        | sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::Tls(_)
                        | sqlx::Error::Protocol(_)
                        | sqlx::Error::WorkerCrashed
                ),
                ..
            }
        )
    }

    pub fn log(&self) {
        tracing::error!(error = %self, "request failed");
    }
}

/// Names what was being done when a database call failed: `.context("accounts: begin")?`.
pub trait Context<T> {
    fn context(self, what: &'static str) -> Result<T, ServerError>;
}

impl<T, E: Into<DbError>> Context<T> for Result<T, E> {
    fn context(self, what: &'static str) -> Result<T, ServerError> {
        self.map_err(|e| ServerError::db(what, e.into()))
    }
}

/// What a buyer is told when Stripe stayed busy, slow or out of reach through every try: nothing
/// happened, and trying again in a moment is the remedy (a 503 with `Retry-After`).
pub fn stripe_busy() -> AppError {
    AppError::Unavailable(
        "Stripe is busy right now and nothing was charged or changed. Please try again in a moment."
            .into(),
    )
}

/// How long a 503 asks the client to wait when its error names no time of its own.
const UNAVAILABLE_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// A failure inside is logged with its context; the client learns only that it happened.
impl From<ServerError> for AppError {
    fn from(e: ServerError) -> Self {
        e.log();
        AppError::Internal
    }
}

impl AppError {
    pub fn status_code(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            AppError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            // Stripe's failure, or our set-up's: not the client's.
            AppError::Stripe(_) => StatusCode::BAD_GATEWAY,
            AppError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The JSON answer, for adding what a refusal carries beyond its message.
    pub fn answer(self) -> ErrorAnswer {
        ErrorAnswer {
            error: self,
            change_url: None,
            retry_after: None,
        }
    }
}

/// `{"error": "…"}` with the error's status; a conflict with the buyer's subscription adds
/// `changeUrl`, a rate limit and every 503 add `Retry-After`.
#[derive(Debug)]
pub struct ErrorAnswer {
    error: AppError,
    change_url: Option<String>,
    retry_after: Option<std::time::Duration>,
}

impl ErrorAnswer {
    pub fn change_url(mut self, url: String) -> Self {
        self.change_url = Some(url);
        self
    }

    pub fn retry_after(mut self, wait: std::time::Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }
}

#[derive(Serialize)]
struct ErrorBody {
    error: String,
    #[serde(rename = "changeUrl", skip_serializing_if = "Option::is_none")]
    change_url: Option<String>,
}

impl IntoResponse for ErrorAnswer {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.error.to_string(),
            change_url: self.change_url,
        };
        let status = self.error.status_code();
        let mut response = (status, Json(body)).into_response();
        let retry_after = self
            .retry_after
            .or((status == StatusCode::SERVICE_UNAVAILABLE).then_some(UNAVAILABLE_RETRY_AFTER));
        if let Some(wait) = retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(wait.as_secs().max(1)));
        }
        response
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.answer().into_response()
    }
}

/// Server functions answer every error with a 500 (Leptos does not ask the error for a
/// status), including a request that never reached our code because its fields did not decode.
/// This gives each such answer the status its `AppError` stands for (a 400 for a malformed
/// request); an `Internal` error stays a 500.
pub async fn server_fn_status(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if !response.headers().contains_key(SERVER_FN_ERROR_HEADER) {
        return response;
    }
    // A function that set its status itself (a form's answer) is not decoded again.
    if response.status() == StatusCode::SERVICE_UNAVAILABLE {
        ask_to_come_back(response.headers_mut());
        return response;
    }
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // An error body is a short JSON object; past this it is not one of ours.
    let Ok(bytes) = to_bytes(body, 64 * 1024).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if let Ok(error) = serde_json::from_slice::<AppError>(&bytes) {
        parts.status = error.status_code();
        if parts.status == StatusCode::SERVICE_UNAVAILABLE {
            ask_to_come_back(&mut parts.headers);
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Every 503 says when to come back: `Retry-After`, unless the answer named a time itself.
fn ask_to_come_back(headers: &mut axum::http::HeaderMap) {
    if !headers.contains_key(RETRY_AFTER) {
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from(UNAVAILABLE_RETRY_AFTER.as_secs()),
        );
    }
}
