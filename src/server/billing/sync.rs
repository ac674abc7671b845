//! Applying what Stripe says to our storage, idempotently, so the result is the same however
//! often and in whatever order it is applied. The success page uses it now; the webhook will.

use stripe_shared::{
    CheckoutSession, CheckoutSessionMode, CheckoutSessionPaymentStatus, CheckoutSessionStatus,
};
use stripe_types::Expandable;

use crate::server::auth::email::Email;
use crate::server::auth::session::AuthUser;
use crate::server::db::billing::{self, NewPurchase, SubscriptionRow};
use crate::server::db::{customers, profiles, DbError, DbUuid};
use crate::server::error::ServerError;
use crate::server::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Stored (or already stored: applying again changes nothing).
    Yes,
    /// Not ours to apply: not complete yet, or another person's purchase.
    Skipped,
}

fn db(context: &'static str) -> impl FnOnce(DbError) -> ServerError {
    move |e| ServerError::db(context, e)
}

/// The profile a completed session belongs to: its `client_reference_id`, else the checkout
/// email's profile, made password-less if needed so that signing up later claims it.
async fn owner(state: &AppState, session: &CheckoutSession) -> Result<Option<DbUuid>, ServerError> {
    if let Some(id) = session
        .client_reference_id
        .as_deref()
        .and_then(|r| uuid::Uuid::parse_str(r).ok())
        .map(DbUuid)
    {
        if profiles::find_by_id(&state.db, id)
            .await
            .map_err(db("sync: owner by id"))?
            .is_some()
        {
            return Ok(Some(id));
        }
    }
    let email = session
        .customer_details
        .as_ref()
        .and_then(|d| d.email.as_deref())
        .or(session.customer_email.as_deref())
        .and_then(|e| Email::parse(e).ok());
    let Some(email) = email else { return Ok(None) };
    if let Some(p) = profiles::find_by_email(&state.db, email.as_str())
        .await
        .map_err(db("sync: owner by email"))?
    {
        return Ok(Some(p.id));
    }
    match profiles::insert(&state.db, email.as_str(), None).await {
        Ok(p) => Ok(Some(p.id)),
        // Made concurrently by another delivery of the same event.
        Err(DbError::EmailTaken) => Ok(profiles::find_by_email(&state.db, email.as_str())
            .await
            .map_err(db("sync: owner after race"))?
            .map(|p| p.id)),
        Err(e) => Err(ServerError::db("sync: create owner", e)),
    }
}

/// Applies a completed Checkout Session (retrieved with `line_items` and `subscription`
/// expanded). `viewer` is who is looking at the success page: a session that names another
/// person is left to the webhook; a session id never attaches a purchase to the viewer.
pub async fn apply_checkout_session(
    state: &AppState,
    session: &CheckoutSession,
    viewer: Option<&AuthUser>,
) -> Result<Applied, ServerError> {
    if session.status != Some(CheckoutSessionStatus::Complete) {
        return Ok(Applied::Skipped);
    }
    if let Some(reference) = session.client_reference_id.as_deref() {
        if viewer.map(|v| v.id.to_string()) != Some(reference.to_string()) {
            return Ok(Applied::Skipped);
        }
    }
    let user = owner(state, session).await?;
    let customer = session.customer.as_ref().map(|c| c.id().to_string());
    if let (Some(user), Some(customer)) = (user, customer.as_deref()) {
        match customers::link(&state.db, user, customer).await {
            Ok(()) => {}
            Err(DbError::CustomerTaken) => {
                tracing::warn!(
                    customer,
                    "a checkout's customer already belongs to another profile; not relinked"
                );
            }
            Err(e) => return Err(ServerError::db("sync: link customer", e)),
        }
    }
    match session.mode {
        CheckoutSessionMode::Payment => {
            let item = session.line_items.as_ref().and_then(|l| l.data.first());
            let price = item
                .and_then(|i| i.price.as_ref())
                .map(|p| p.id.to_string())
                .unwrap_or_default();
            let status = if session.payment_status == CheckoutSessionPaymentStatus::Paid {
                "paid"
            } else {
                "unpaid"
            };
            let payment_intent = session.payment_intent.as_ref().map(|p| p.id().to_string());
            let currency = session
                .currency
                .as_ref()
                .map(|c| c.to_string())
                .unwrap_or_else(|| "usd".into());
            let email = session
                .customer_details
                .as_ref()
                .and_then(|d| d.email.clone());
            billing::record_purchase(
                &state.db,
                &NewPurchase {
                    checkout_session_id: session.id.as_str(),
                    payment_intent_id: payment_intent.as_deref(),
                    user_id: user,
                    stripe_customer_id: customer.as_deref(),
                    price_id: &price,
                    amount_total: session.amount_total.unwrap_or(0),
                    currency: &currency,
                    status,
                    email: email.as_deref(),
                },
            )
            .await
            .map_err(db("sync: record purchase"))?;
        }
        CheckoutSessionMode::Subscription => {
            if let Some(Expandable::Object(sub)) = session.subscription.as_ref() {
                let item = sub.items.data.first();
                let row = SubscriptionRow {
                    id: sub.id.to_string(),
                    user_id: user,
                    stripe_customer_id: sub.customer.id().to_string(),
                    status: sub.status.as_str().to_string(),
                    price_id: item.map(|i| i.price.id.to_string()).unwrap_or_default(),
                    quantity: item.and_then(|i| i.quantity).map(|q| q as i64).unwrap_or(1),
                    current_period_end: item.map(|i| i.current_period_end),
                    cancel_at_period_end: sub.cancel_at_period_end,
                    canceled_at: sub.canceled_at,
                    trial_end: sub.trial_end,
                    // A fresh read is Stripe's state now: newer than any event created before it.
                    stripe_created: crate::server::auth::jwt::now(),
                };
                billing::upsert_subscription(&state.db, &row)
                    .await
                    .map_err(db("sync: store subscription"))?;
            }
        }
        _ => return Ok(Applied::Skipped),
    }
    Ok(Applied::Yes)
}
