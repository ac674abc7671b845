//! What a visitor can make us read from Stripe, kept within the Stripe account's API budget
//! (about 100 requests/s live, 25 in test mode, for the whole account: every instance, every
//! webhook's read-back and every buyer share it). Three paths read Stripe on a visitor's behalf:
//! the success page (the Checkout Session), `/billing?from=portal` (everything Stripe holds for
//! the customer) and the portal's look-up of a customer by email. Each is guarded twice:
//!
//! - its answer is kept for `KEPT`, negative answers too ("no such session", "no customer under
//!   this email"), so a page reloaded in a loop costs one read, and requests arriving together
//!   share it. Keys carry whose answer it is (the session id and the viewer; the user), so one
//!   person's answer is never shown to another.
//! - the reads a client causes are limited: as many per 10 minutes, on each path, as the
//!   Checkout Sessions it may create (`CHECKOUTS_PER_ADDRESS`, 20 by default). An address that
//!   may buy that often may confirm and manage as often; what is answered from memory is not
//!   counted, since it costs Stripe nothing. Each portal session it opens counts too: that is a
//!   call nothing can keep.
//!
//! The caches are this instance's memory (`budget::VisitorReads`, in `AppState`); the limits
//! count where the other rate limits do (in PostgreSQL when the instances share one).

use std::time::Duration;

use leptos::prelude::use_context;
use leptos_axum::ResponseOptions;

use super::overview;
use super::resync::{self, Report, ResyncError};
use crate::model::billing::BillingOverview;
use crate::model::checkout::PurchaseSummary;
use crate::model::error::AppError;
use crate::server::auth::limits::Limited;
use crate::server::auth::session::AuthUser;
use crate::server::client_addr::ClientKey;
use crate::server::error::ServerError;
use crate::server::state::AppState;

pub mod budget;

/// The longest session id that is worth keeping an answer for: Stripe's ids are far shorter,
/// and `checkout::summary` refuses longer ones without asking Stripe.
const MAX_SESSION_ID: usize = 255;

/// What a client past its portal limit is told.
pub fn too_many_portals(wait: Duration) -> AppError {
    AppError::TooManyRequests(format!(
        "Too many billing portal visits from your address: {}.",
        refused_for(wait)
    ))
}

/// Marks the response being built (a page, or a server function's answer) as a 429 with
/// `Retry-After`, and says the wait in words: "try again in 3 minutes".
fn refused_for(wait: Duration) -> String {
    if let Some(response) = use_context::<ResponseOptions>() {
        response.set_status(axum::http::StatusCode::TOO_MANY_REQUESTS);
        response.insert_header(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(wait.as_secs().max(1)),
        );
    }
    let minutes = wait.as_secs().div_ceil(60).max(1);
    format!(
        "try again in {minutes} minute{}",
        if minutes == 1 { "" } else { "s" }
    )
}

/// The success page's summary of a Checkout Session, from memory when this viewer asked for
/// it within `budget::KEPT`. The first read stores the purchase (`checkout::summary` does), so
/// a kept answer has nothing left to store.
///
/// Past the client's limit the page answers 429 rather than anything from stored state: the
/// session id is all that a signed-out visitor brings, and showing a purchase by its id alone
/// from our database would show it to whoever guesses or is handed the link without Stripe's
/// word. What a buyer needs to hear then is that the payment is safe and where it shows.
pub async fn confirmation(
    state: &AppState,
    session_id: &str,
    viewer: Option<&AuthUser>,
    client: &ClientKey,
) -> Result<PurchaseSummary, AppError> {
    if session_id.len() > MAX_SESSION_ID {
        return super::checkout::summary(state, session_id, viewer).await;
    }
    let reads = &state.visitor_reads;
    let key = (session_id.to_string(), viewer.map(|v| v.id));
    reads
        .confirmations
        .get_or_fetch(key, || async {
            reads
                .confirmations_per_client
                .hit(client.as_str())
                .await
                .map_err(|Limited(wait)| {
                    AppError::TooManyRequests(format!(
                        "Too many purchase confirmations from your address: {}. If you paid, \
                         your payment is safe: it shows on your Billing page, and the receipt \
                         is on its way by email.",
                        refused_for(wait)
                    ))
                })?;
            match super::checkout::summary(state, session_id, viewer).await {
                Ok(summary) => Ok(Ok(summary)),
                // Stripe's "no such session" is an answer like any other: kept.
                Err(missing @ AppError::NotFound(_)) => Ok(Err(missing)),
                // Not a session id: refused before Stripe was asked, so not a read to count.
                Err(refused @ AppError::BadRequest(_)) => {
                    reads.confirmations_per_client.refund(client.as_str()).await;
                    Err(refused)
                }
                Err(failed) => Err(failed),
            }
        })
        .await?
}

/// The billing page; `refresh` (on the way back from the portal) reads Stripe first, unless
/// this user's billing was refreshed within `budget::KEPT`: then that refresh is what the
/// stored state already shows. Past the client's limit the stored state is shown too, marked
/// as possibly out of date: the page itself never needs Stripe.
pub async fn billing(
    state: &AppState,
    user: &AuthUser,
    client: &ClientKey,
    refresh: bool,
) -> Result<BillingOverview, ServerError> {
    if !refresh {
        return overview::billing(state, user, false).await;
    }
    let reads = &state.visitor_reads;
    let mut refreshed = None;
    let last = reads
        .refreshes
        .get_or_fetch(user.id, || async {
            reads
                .refreshes_per_client
                .hit(client.as_str())
                .await
                .map_err(|_| Unrefreshed::Limited)?;
            let page = overview::billing(state, user, true)
                .await
                .map_err(Unrefreshed::Failed)?;
            // A refresh that could not reach Stripe is kept too: while Stripe struggles,
            // reloads must not add to its load. The page says it may be out of date.
            let stale = page.stale;
            refreshed = Some(page);
            Ok(stale)
        })
        .await;
    if let Some(page) = refreshed {
        return Ok(page);
    }
    let stale = match last {
        Ok(stale) => stale,
        Err(Unrefreshed::Limited) => true,
        Err(Unrefreshed::Failed(e)) => return Err(e),
    };
    let mut page = overview::billing(state, user, false).await?;
    page.stale = stale;
    Ok(page)
}

/// Why a refresh was not made, and so not kept.
enum Unrefreshed {
    /// The client is past its limit: the stored state is shown.
    Limited,
    Failed(ServerError),
}

/// `resync::by_email` for a signed-in user, from memory within `budget::KEPT`: a user Stripe
/// has nothing for, clicking "Manage billing" again and again, costs one look-up. A kept answer
/// reports the customers found the first time, stored since.
pub async fn by_email(state: &AppState, user: &AuthUser) -> Result<Report, ResyncError> {
    let key = (user.id, user.email.to_ascii_lowercase());
    let customers = state
        .visitor_reads
        .by_email
        .get_or_fetch(key, || async {
            resync::by_email(state, &user.email)
                .await
                .map(|report| report.customers)
        })
        .await?;
    Ok(Report {
        customers,
        ..Report::default()
    })
}
