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

impl AppError {
    pub fn status(&self) -> u16 {
        match self {
            AppError::BadRequest(_) => 400,
            AppError::Unauthorized(_) => 401,
            AppError::Forbidden(_) => 403,
            AppError::NotFound(_) => 404,
            AppError::Conflict(_) => 409,
            AppError::TooManyRequests(_) => 429,
            AppError::Unavailable(_) => 503,
            AppError::Stripe(_) => 502,
            AppError::Internal => 500,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // The request did not reach our code in a shape we accept: the client's mistake.
            ServerFnErrorErr::Args(m) | ServerFnErrorErr::Deserialization(m) => {
                AppError::BadRequest(format!("The request is malformed: {m}"))
            }
            ServerFnErrorErr::MissingArg(m) => {
                AppError::BadRequest(format!("A field is missing: {m}"))
            }
            _ => AppError::Internal,
        }
    }
}
