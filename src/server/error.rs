//! `ServerError`: what went wrong inside, with its context, for the log. What the client sees is
//! `AppError`; the seam between them is `log` plus the caller's choice of `AppError`.

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use server_fn::error::SERVER_FN_ERROR_HEADER;

use crate::model::error::AppError;
use crate::server::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{context}: {source}")]
    Db {
        context: &'static str,
        source: DbError,
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

/// Server functions answer every error with a 500 (Leptos does not ask the error for a
/// status), including a request that never reached our code because its fields did not decode.
/// This gives each such answer the status its `AppError` stands for (a 400 for a malformed
/// request); an `Internal` error stays a 500.
pub async fn server_fn_status(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR
        || !response.headers().contains_key(SERVER_FN_ERROR_HEADER)
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // An error body is a short JSON object; past this it is not one of ours.
    let Ok(bytes) = to_bytes(body, 64 * 1024).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if let Ok(error) = serde_json::from_slice::<AppError>(&bytes) {
        parts.status = StatusCode::from_u16(error.status()).unwrap_or(parts.status);
    }
    Response::from_parts(parts, Body::from(bytes))
}
