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

impl AppError {
    /// The error serde writes as `{kind: message}` (or `"Internal"`), read back without serde:
    /// the browser's islands decode refusals with this rather than carry a JSON parser. An
    /// unknown kind is an internal error.
    pub fn from_kind(kind: &str, message: String) -> AppError {
        match kind {
            "BadRequest" => AppError::BadRequest(message),
            "Unauthorized" => AppError::Unauthorized(message),
            "Forbidden" => AppError::Forbidden(message),
            "NotFound" => AppError::NotFound(message),
            "Conflict" => AppError::Conflict(message),
            "MethodNotAllowed" => AppError::MethodNotAllowed(message),
            "TooManyRequests" => AppError::TooManyRequests(message),
            "Unavailable" => AppError::Unavailable(message),
            "Stripe" => AppError::Stripe(message),
            _ => AppError::Internal,
        }
    }
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

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::AppError;

    /// `from_kind` reads back exactly what serde writes, for every variant.
    #[test]
    fn every_error_reads_back_from_its_json_by_kind() {
        let m = || "a message".to_string();
        let all = [
            AppError::BadRequest(m()),
            AppError::Unauthorized(m()),
            AppError::Forbidden(m()),
            AppError::NotFound(m()),
            AppError::Conflict(m()),
            AppError::MethodNotAllowed(m()),
            AppError::TooManyRequests(m()),
            AppError::Unavailable(m()),
            AppError::Stripe(m()),
            AppError::Internal,
        ];
        for error in all {
            let read = match serde_json::to_value(&error).unwrap() {
                serde_json::Value::String(kind) => AppError::from_kind(&kind, String::new()),
                serde_json::Value::Object(map) => {
                    let (kind, message) = map.into_iter().next().unwrap();
                    AppError::from_kind(&kind, message.as_str().unwrap().to_string())
                }
                other => panic!("{other}"),
            };
            assert_eq!(read, error);
        }
    }
}
