//! Stripe's error object and status codes:
//! `{"error": {"type", "code", "message", "param"}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// What an API route answers: Stripe's object, or Stripe's error.
pub type ApiResult = Result<Value, ApiError>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub code: Option<&'static str>,
    pub message: String,
    pub param: Option<String>,
}

impl ApiError {
    fn invalid(code: Option<&'static str>, message: String, param: Option<&str>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code,
            message,
            param: param.map(str::to_string),
        }
    }

    /// A required parameter is absent.
    pub fn missing(param: &str) -> Self {
        Self::invalid(
            Some("parameter_missing"),
            format!("Missing required param: {param}."),
            Some(param),
        )
    }

    /// A parameter this endpoint does not take (see `api::known`).
    pub fn unknown_param(param: &str) -> Self {
        Self::invalid(
            Some("parameter_unknown"),
            format!("Received unknown parameter: {param}"),
            Some(param),
        )
    }

    /// A parameter has a value Stripe refuses.
    pub fn invalid_param(param: &str, message: impl Into<String>) -> Self {
        Self::invalid(None, message.into(), Some(param))
    }

    /// Two parameters that cannot be sent together.
    pub fn exclusive(a: &str, b: &str) -> Self {
        Self::invalid(
            None,
            format!("You may only specify one of these parameters: {a}, {b}."),
            Some(a),
        )
    }

    /// A parameter names an object that does not exist (400, as Stripe answers on create).
    pub fn no_such_param(object: &str, id: &str, param: &str) -> Self {
        Self::invalid(
            Some("resource_missing"),
            format!("No such {object}: '{id}'"),
            Some(param),
        )
    }

    /// The object in the path does not exist (404).
    pub fn not_found(object: &str, id: &str) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            ..Self::invalid(
                Some("resource_missing"),
                format!("No such {object}: '{id}'"),
                Some("id"),
            )
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            kind: "invalid_request_error",
            code: None,
            message: message.into(),
            param: None,
        }
    }

    pub fn idempotency(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            kind: "idempotency_error",
            code: None,
            message: message.into(),
            param: None,
        }
    }

    pub fn unknown_route(method: &str, path: &str) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            ..Self::invalid(
                None,
                format!(
                    "Unrecognized request URL ({method}: {path}). This emulator covers only the part of Stripe's API that landing uses."
                ),
                None,
            )
        }
    }

    /// The same refusal, blamed on the parameter the request sent: a flow knows what went wrong
    /// (a canceled subscription, an inactive price) but not which field of which request carried
    /// it, and Stripe's `param` names that field.
    pub fn for_param(self, param: &str) -> Self {
        ApiError {
            param: Some(param.to_string()),
            ..self
        }
    }

    pub fn body(&self) -> Value {
        let mut error = json!({ "type": self.kind, "message": self.message });
        if let Some(code) = self.code {
            error["code"] = json!(code);
        }
        if let Some(param) = &self.param {
            error["param"] = json!(param);
        }
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}
