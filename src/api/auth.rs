//! Sign up, sign in, sign out. Plain HTML forms post here (so they work with JavaScript off);
//! JSON clients get the status and message instead of a redirect.

use leptos::prelude::*;

use crate::model::auth::{AccountView, Me};
use crate::model::error::AppError;

/// Answers "check your inbox" whether the email was new or taken: nobody learns who has an
/// account, and nobody is signed in until they sign in or follow the mailed link.
#[server(prefix = "/api", endpoint = "auth/sign_up")]
pub async fn sign_up(email: String, password: String) -> Result<String, AppError> {
    crate::server::auth::forms::sign_up(email, password).await
}

/// "Forgot your password?": the same answer whether or not the email has an account.
#[server(prefix = "/api", endpoint = "auth/forgot_password")]
pub async fn forgot_password(email: String) -> Result<String, AppError> {
    crate::server::auth::forms::forgot_password(email).await
}

/// Follows a mailed "confirm your email" link (a button on the page it opens, so that a mail
/// scanner fetching the link uses nothing up). It proves the email only for the account's
/// holder: signed in to it, or sending its `password`.
#[server(prefix = "/api", endpoint = "auth/verify_email")]
pub async fn verify_email(token: String, password: Option<String>) -> Result<(), AppError> {
    crate::server::auth::forms::verify_email(token, password).await
}

/// Sets a new password from a mailed reset link; every other session of the account ends.
#[server(prefix = "/api", endpoint = "auth/reset_password")]
pub async fn reset_password(token: String, password: String) -> Result<(), AppError> {
    crate::server::auth::forms::reset_password(token, password).await
}

/// Mails a new "confirm your email" link to the signed-in, unproven account.
#[server(prefix = "/api", endpoint = "auth/resend_verification")]
pub async fn resend_verification() -> Result<String, AppError> {
    crate::server::auth::forms::resend_verification().await
}

/// Ends every session of the signed-in account, this one too.
#[server(prefix = "/api", endpoint = "auth/sign_out_everywhere")]
pub async fn sign_out_everywhere() -> Result<(), AppError> {
    crate::server::auth::forms::sign_out_everywhere().await
}

/// The signed-in account as `/account` shows it.
#[server(prefix = "/api", endpoint = "auth/account")]
pub async fn load_account() -> Result<AccountView, AppError> {
    crate::server::auth::forms::account().await
}

/// Whether a reset link still works, for the page that asks for the new password.
#[server(prefix = "/api", endpoint = "auth/reset_link")]
pub async fn reset_link_is_live(token: String) -> Result<bool, AppError> {
    crate::server::auth::forms::reset_link_is_live(token).await
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
