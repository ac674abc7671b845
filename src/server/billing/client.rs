//! The Stripe client, built once from configuration: the only place that knows where Stripe is.

use std::time::Duration;

use stripe::{Client, ClientBuilder};

use crate::server::config::Config;

const STRIPE_TIMEOUT: Duration = Duration::from_secs(20);

/// `None` when billing is off (no `STRIPE_SECRET_KEY`).
pub fn client(config: &Config) -> Option<Client> {
    let key = config.stripe_secret_key.as_ref()?;
    let client = ClientBuilder::new(key.key.expose())
        .url(config.stripe_api_base.as_str())
        // A buyer waits on this call: a Stripe that does not answer is an error, not a hang.
        .timeout(STRIPE_TIMEOUT)
        .build();
    match client {
        Ok(c) => Some(c),
        Err(e) => {
            // The base URL was validated at start-up; this is a TLS set-up failure.
            tracing::error!(error = %e, "cannot build the Stripe client; billing is off");
            None
        }
    }
}

/// Stripe's words for an error, safe to show: its message for a request Stripe refused, a short
/// note otherwise (never the key or the request).
pub fn describe(error: &stripe::StripeError) -> String {
    match error {
        stripe::StripeError::Stripe(e, status) => e
            .message
            .clone()
            .unwrap_or_else(|| format!("Stripe refused the request ({status})")),
        stripe::StripeError::Timeout => "Stripe did not answer in time".into(),
        stripe::StripeError::ClientError(_) => "Stripe could not be reached".into(),
        stripe::StripeError::JSONDeserialize(_) => "Stripe's answer could not be read".into(),
        stripe::StripeError::ConfigError(_) => "the Stripe client is misconfigured".into(),
    }
}
