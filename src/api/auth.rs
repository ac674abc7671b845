//! Sign up, sign in, sign out. Plain HTML forms post here (so they work with JavaScript off);
//! JSON clients get the status and message instead of a redirect.

use leptos::prelude::*;

use crate::model::auth::Me;
use crate::model::error::AppError;

#[server(prefix = "/api", endpoint = "auth/sign_up")]
pub async fn sign_up(email: String, password: String) -> Result<(), AppError> {
    crate::server::auth::forms::sign_up(email, password).await
}

#[server(prefix = "/api", endpoint = "auth/sign_in")]
pub async fn sign_in(email: String, password: String) -> Result<(), AppError> {
    crate::server::auth::forms::sign_in(email, password).await
}

#[server(prefix = "/api", endpoint = "auth/sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    crate::server::auth::forms::sign_out().await
}

/// Who is signed in (cookie or Bearer token), or nobody.
#[server(prefix = "/api", endpoint = "auth/me")]
pub async fn current_user() -> Result<Option<Me>, AppError> {
    crate::server::auth::forms::current_user().await
}
