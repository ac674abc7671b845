//! A request's address as the log may keep it: the path and the query, with the value of every
//! parameter that carries a credential replaced. A mailed reset or confirmation link
//! (`/reset-password?token=…`) is logged before its token is used, and a Checkout Session id
//! (`/success?session_id=…`) opens its buyer's receipt, so neither value may reach the log.

use std::fmt;

use axum::http::Uri;

/// Parameters whose value is a credential, as the site's links and Stripe's redirects name
/// them (compared without regard to case).
const SECRET_PARAMETERS: &[&str] = &[
    "token",
    "session_id",
    "code",
    "access_token",
    "refresh_token",
    "id_token",
    "password",
    "secret",
    "key",
];

/// What stands in for a secret value.
pub const REDACTED: &str = "[redacted]";

/// `Display`s a URI with its secret parameters' values redacted (`?token=[redacted]&next=/app`).
pub struct RedactedUri<'a>(pub &'a Uri);

impl fmt::Display for RedactedUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.path())?;
        let Some(query) = self.0.query() else {
            return Ok(());
        };
        f.write_str("?")?;
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                f.write_str("&")?;
            }
            match pair.split_once('=') {
                Some((name, _)) if is_secret(name) => write!(f, "{name}={REDACTED}")?,
                _ => f.write_str(pair)?,
            }
        }
        Ok(())
    }
}

fn is_secret(name: &str) -> bool {
    SECRET_PARAMETERS
        .iter()
        .any(|secret| secret.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(uri: &str) -> String {
        RedactedUri(&uri.parse().unwrap()).to_string()
    }

    #[test]
    fn secret_values_are_replaced_and_the_rest_kept() {
        assert_eq!(
            shown("/reset-password?token=abc.def"),
            "/reset-password?token=[redacted]"
        );
        assert_eq!(
            shown("/success?session_id=cs_test_123&from=checkout"),
            "/success?session_id=[redacted]&from=checkout"
        );
        assert_eq!(
            shown("/verify?next=%2Fapp&Token=x"),
            "/verify?next=%2Fapp&Token=[redacted]"
        );
        assert_eq!(
            shown("/billing/change?price=pro_yearly"),
            "/billing/change?price=pro_yearly"
        );
        assert_eq!(shown("/pricing"), "/pricing");
        assert_eq!(shown("/pricing?interval"), "/pricing?interval");
    }
}
