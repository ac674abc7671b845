//! Accounts as the pages see them.

use serde::{Deserialize, Serialize};

/// The signed-in person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub id: String,
    pub email: String,
}

/// The signed-in account, for `/account`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    pub email: String,
    pub email_verified: bool,
}

/// The signed-in person for this request, if any (provided as context to every render).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CurrentUser(pub Option<Me>);

/// Why a sign-in or sign-up form was sent back, carried in the redirect's `?error=` so the page
/// can say it without JavaScript.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormProblem {
    InvalidEmail,
    WeakPassword,
    LinkInvalid,
    WrongCredentials,
    /// A confirmation page's password is not the account's.
    WrongPassword,
    /// A confirmation link followed by someone not signed in to its account, without its
    /// password.
    PasswordNeeded,
    RateLimited,
    Busy,
    CrossSite,
    Internal,
}

impl FormProblem {
    pub const ALL: [FormProblem; 10] = [
        FormProblem::InvalidEmail,
        FormProblem::WeakPassword,
        FormProblem::LinkInvalid,
        FormProblem::WrongCredentials,
        FormProblem::WrongPassword,
        FormProblem::PasswordNeeded,
        FormProblem::RateLimited,
        FormProblem::Busy,
        FormProblem::CrossSite,
        FormProblem::Internal,
    ];

    pub fn code(self) -> &'static str {
        match self {
            FormProblem::InvalidEmail => "invalid_email",
            FormProblem::WeakPassword => "weak_password",
            FormProblem::LinkInvalid => "link_invalid",
            FormProblem::WrongCredentials => "wrong_credentials",
            FormProblem::WrongPassword => "wrong_password",
            FormProblem::PasswordNeeded => "password_needed",
            FormProblem::RateLimited => "rate_limited",
            FormProblem::Busy => "busy",
            FormProblem::CrossSite => "cross_site",
            FormProblem::Internal => "internal",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.code() == code)
    }

    pub fn message(self) -> &'static str {
        match self {
            FormProblem::InvalidEmail => "Enter a valid email address, like name@example.com.",
            FormProblem::WeakPassword => {
                "Choose a stronger password: at least 10 characters, not your email, not a common password."
            }
            FormProblem::LinkInvalid => {
                "This link has expired or was already used. Ask for a new one."
            }
            // Never says which of the two was wrong: that would tell who has an account.
            FormProblem::WrongCredentials => "The email or password is incorrect.",
            FormProblem::WrongPassword => {
                "That is not the password of the account this address was registered with."
            }
            FormProblem::PasswordNeeded => {
                "Enter the password of the account this address was registered with to confirm it."
            }
            FormProblem::RateLimited => {
                "Too many attempts. Wait a few minutes, then try again."
            }
            FormProblem::Busy => "We are busy checking other passwords. Try again in a moment.",
            FormProblem::CrossSite => "This form was sent from another site and was refused.",
            FormProblem::Internal => {
                "Something went wrong on our side. Nothing was changed; please try again."
            }
        }
    }
}
