//! The customer portal (`POST /api/stripe/create-portal` and "Manage billing"), with the customer
//! looked up from our database, and Stripe asked directly when a payer's webhooks have not arrived yet.

use stripe_billing::billing_portal_session::CreateBillingPortalSession;

use super::checkout::check_redirect;
use super::objects::PortalSession;
use super::resync;
use crate::model::error::AppError;
use crate::server::auth::session::AuthUser;
use crate::server::db::customers;
use crate::server::error::{stripe_busy, Context, ServerError};
use crate::server::state::AppState;

/// The message for a user Stripe has never billed (the JSON API's contract).
pub const NO_ACCOUNT: &str = "You don't have a billing account yet. Make a purchase first.";

#[derive(Debug)]
pub enum PortalError {
    BillingOff,
    MissingReturnUrl,
    /// A return URL off this site; `origin` is ours, for the message.
    ForeignReturnUrl {
        origin: String,
    },
    NoAccount,
    /// Stripe refused the client's return URL.
    Refused(String),
    /// Stripe stayed busy or out of reach through every try.
    Busy,
    Stripe(String),
    Internal(ServerError),
}

/// What the client is told; a failure inside (or Stripe's) is logged on the way.
impl From<PortalError> for AppError {
    fn from(e: PortalError) -> Self {
        match e {
            PortalError::BillingOff => AppError::Unavailable(
                "Billing is not set up on this site yet: no Stripe key is configured.".into(),
            ),
            // The JSON API's words.
            PortalError::MissingReturnUrl => AppError::BadRequest("Return URL is required".into()),
            PortalError::ForeignReturnUrl { origin } => AppError::BadRequest(format!(
                "returnUrl must be an absolute URL on this site ({origin})."
            )),
            PortalError::NoAccount => AppError::BadRequest(NO_ACCOUNT.into()),
            PortalError::Refused(m) => AppError::BadRequest(m),
            PortalError::Busy => stripe_busy(),
            PortalError::Stripe(m) => {
                tracing::error!(error = %m, "portal: Stripe refused");
                AppError::Stripe(m)
            }
            PortalError::Internal(e) => e.into(),
        }
    }
}

impl PortalError {
    /// Stripe's failure: "try again" when it was busy or out of reach, its words otherwise.
    fn from_stripe(e: super::client::StripeError) -> PortalError {
        if e.is_transient() {
            tracing::warn!(error = %e, "portal: Stripe stayed busy");
            PortalError::Busy
        } else {
            PortalError::Stripe(e.describe())
        }
    }
}

/// The user's Stripe customer: stored, else — once the user has proven their email — found in
/// Stripe by that email and stored (so a payer whose webhooks are late is never told they have
/// no billing account). An unproven email finds nothing: anyone can type any address.
async fn customer_of(state: &AppState, user: &AuthUser) -> Result<Option<String>, PortalError> {
    let lookup = || async {
        customers::customer_id_for_user(&state.db, user.id)
            .await
            .context("portal: customer lookup")
            .map_err(PortalError::Internal)
    };
    if let Some(id) = lookup().await? {
        return Ok(Some(id));
    }
    if !user.email_verified {
        return Ok(None);
    }
    match super::visitor_reads::by_email(state, user).await {
        Ok(report) if report.customers > 0 => lookup().await,
        Ok(_) => Ok(None),
        Err(resync::ResyncError::Stripe(m)) => Err(PortalError::Stripe(m)),
        Err(resync::ResyncError::Busy(m)) => {
            tracing::warn!(error = %m, "portal: Stripe stayed busy");
            Err(PortalError::Busy)
        }
        Err(resync::ResyncError::BillingOff) => Err(PortalError::BillingOff),
        Err(resync::ResyncError::Server(e)) => Err(PortalError::Internal(e)),
    }
}

/// A portal session for the signed-in user, returning to `return_url` (ours only).
pub async fn create(
    state: &AppState,
    user: &AuthUser,
    return_url: &str,
) -> Result<String, PortalError> {
    let billing = state.billing.as_ref().ok_or(PortalError::BillingOff)?;
    if return_url.trim().is_empty() {
        return Err(PortalError::MissingReturnUrl);
    }
    check_redirect(&state.config, return_url, "returnUrl").map_err(|_| {
        PortalError::ForeignReturnUrl {
            origin: state.config.site_url.origin(),
        }
    })?;
    let customer = customer_of(state, user)
        .await?
        .ok_or(PortalError::NoAccount)?;
    let configuration = billing
        .portal_configuration()
        .await
        .map_err(PortalError::from_stripe)?;
    let mut request = CreateBillingPortalSession::new()
        .customer(customer)
        .return_url(return_url);
    if let Some(id) = configuration {
        request = request.configuration(id);
    }
    let session: PortalSession = billing.client.send(&request).await.map_err(|e| {
        if e.is_about(&["return_url"]) {
            PortalError::Refused(e.describe())
        } else {
            PortalError::from_stripe(e)
        }
    })?;
    Ok(session.url)
}
