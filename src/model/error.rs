//! What the browser or an API client is told when something fails: a status and a safe message.
//! The full story (`ServerError`) stays in the server log.

use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("{0}")]
    Unavailable(String),
    /// Stripe failed, or refused what we sent it; its message, as the Next.js integration's API returns it. A
    /// refusal of the client's own values (a coupon, a return URL) is a `BadRequest` instead.
    #[error("{0}")]
    Stripe(String),
    #[error("Something went wrong on our side. Nothing was changed; please try again.")]
    Internal,
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    /// On the server: a request that did not reach our code in a shape we accept is the
    /// client's mistake.
    #[cfg(feature = "ssr")]
    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(m) | ServerFnErrorErr::Deserialization(m) => {
                AppError::BadRequest(format!("The request is malformed: {m}"))
            }
            ServerFnErrorErr::MissingArg(m) => {
                AppError::BadRequest(format!("A field is missing: {m}"))
            }
            _ => AppError::Internal,
        }
    }

    /// In the browser, where the generated client runs: the call did not reach the server, or
    /// what came back was not one of its answers (a proxy's error page, say).
    #[cfg(not(feature = "ssr"))]
    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Request(_) => {
                AppError::Unavailable("The server could not be reached. Please try again.".into())
            }
            ServerFnErrorErr::Deserialization(_) | ServerFnErrorErr::Response(_) => {
                AppError::Unavailable(
                    "The server's answer could not be read. Please try again.".into(),
                )
            }
            _ => AppError::Internal,
        }
    }
}
