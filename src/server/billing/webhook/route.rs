//! `POST /api/stripe/webhook` and the work before the writer: verify the signature, skip what
//! was applied lately, read the object again from Stripe, check it concerns what the site
//! sells, then hand it to the writer and answer once it is committed.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tokio::time::Instant;

use super::super::account::Billing;
use super::super::client::{Stripe, StripeError};
use super::super::dispute_holds;
use super::super::fetch::{self, FetchError};
use super::super::overlap;
use super::apply::{EventJob, EventRecord, Fresh, Outcome};
use super::events::{reads, type_label, Envelope, Reads};
use super::signature::verify;
use crate::model::billing::BillingMode;
use crate::model::error::AppError;
use crate::server::db::events;
use crate::server::error::{Context, ServerError};
use crate::server::state::AppState;

async fn read_fresh(client: &Stripe, event: &Envelope) -> Result<Fresh, FetchError> {
    let Some(reads) = reads(&event.type_) else {
        return Ok(Fresh::Nothing);
    };
    let Some(id) = event.object_id() else {
        return Ok(Fresh::Missing);
    };
    let fresh = match reads {
        Reads::Session => Fresh::Session(Box::new(fetch::session(client, id).await?), None),
        Reads::Subscription | Reads::SubscriptionAndEmail => {
            let read = fetch::subscription(client, id).await?;
            let email = if reads == Reads::SubscriptionAndEmail {
                fetch::customer_email(client, read.object.customer.id()).await?
            } else {
                None
            };
            Fresh::Subscription(Box::new(read), email)
        }
        Reads::Invoice => {
            let invoice = fetch::invoice(client, id).await?;
            // The invoice's outcome moves its subscription (`past_due`, back to `active`):
            // read it too, so billing shows both even before the subscription's own event.
            let sub = match invoice.object.subscription() {
                Some(sub) => match fetch::subscription(client, sub).await {
                    Ok(read) => Some(Box::new(read)),
                    Err(FetchError::NotFound) => None,
                    Err(e) => return Err(e),
                },
                None => None,
            };
            Fresh::Invoice(Box::new(invoice), sub)
        }
        Reads::Customer => Fresh::Customer(Box::new(fetch::customer_object(client, id).await?)),
        Reads::Charge => Fresh::Charge(Box::new(fetch::charge(client, id).await?), None),
        // A refund that changed (failed): its charge says how much is refunded now.
        Reads::Refund => {
            let refund = fetch::refund(client, id).await?;
            let charge = fetch::charge(client, refund.object.charge.id()).await?;
            Fresh::Charge(Box::new(charge), None)
        }
        Reads::Dispute => {
            let dispute = fetch::dispute(client, id).await?;
            let charge = fetch::charge(client, dispute.object.charge.id()).await?;
            // A subscription's payment: the subscription is held while the bank decides.
            let held = match charge.object.payment_intent.as_ref() {
                Some(pi) => dispute_holds::subscription_paid_by(client, pi.id()).await?,
                None => None,
            };
            match held {
                Some(sub) => {
                    Fresh::DisputedSubscription(Box::new(charge), Box::new(dispute), Box::new(sub))
                }
                None => Fresh::Charge(Box::new(charge), Some(Box::new(dispute))),
            }
        }
        Reads::Schedule => Fresh::Schedule(Box::new(fetch::schedule(client, id).await?)),
    };
    Ok(fresh)
}

/// Applies one verified event, once. Also the admin's retry.
pub async fn process(
    state: &AppState,
    event: &Envelope,
    payload: &str,
) -> Result<Outcome, ServerError> {
    let record = EventRecord {
        id: event.id.clone(),
        type_: event.type_.clone(),
        stripe_created: event.created,
        livemode: event.livemode,
        payload: payload.to_string(),
    };
    let result = apply(state, event, &record).await;
    if let Err(e) = &result {
        // Outside the rolled-back transaction: the log keeps the attempt and its error.
        if let Err(log_error) =
            events::record_failure(&state.db, &record.as_new(), &e.to_string()).await
        {
            tracing::error!(event = %event.id, error = %log_error, "cannot record a failed webhook");
        }
    }
    result
}

async fn apply(
    state: &AppState,
    event: &Envelope,
    record: &EventRecord,
) -> Result<Outcome, ServerError> {
    // A redelivery of an event applied lately needs no read from Stripe. Any other is read and
    // then claimed: the claim, in the transaction that applies it, is what keeps it to once.
    if state.webhook_writer.done_lately(&event.id) {
        return Ok(Outcome::Duplicate);
    }
    let billing = state.billing.as_ref().ok_or_else(|| {
        ServerError::internal("webhook", "billing is off (no STRIPE_SECRET_KEY)".into())
    })?;
    let live_key = state.config.billing_mode() == BillingMode::Live;
    if event.livemode != live_key {
        tracing::warn!(event = %event.id, livemode = event.livemode, "a webhook of the other mode; recorded, not applied");
        return state
            .webhook_writer
            .run(EventJob {
                record: record.clone(),
                fresh: Fresh::OtherMode,
            })
            .await;
    }
    let fresh = match read_fresh(&billing.webhook_client, event).await {
        Ok(fresh) => fresh,
        Err(FetchError::NotFound) => Fresh::Missing,
        Err(FetchError::Stripe(e)) => {
            return Err(ServerError::stripe("webhook: read from Stripe", e))
        }
    };
    let fresh = if is_ours(state, billing, &fresh).await? {
        fresh
    } else {
        Fresh::NotOurs
    };
    // Only a subscription of ours is held for its payment's dispute.
    let fresh = match fresh {
        Fresh::DisputedSubscription(charge, dispute, sub) => {
            let sub = dispute_holds::enforce(&billing.webhook_client, &dispute.object, *sub)
                .await
                .map_err(|e| match e {
                    FetchError::Stripe(e) => ServerError::stripe("webhook: hold a subscription", e),
                    FetchError::NotFound => ServerError::internal(
                        "webhook: hold a subscription",
                        "Stripe no longer has the subscription".into(),
                    ),
                })?;
            Fresh::DisputedSubscription(charge, dispute, Box::new(sub))
        }
        // A completed purchase is settled with what its buyer had before it is stored (one
        // trial and one live subscription per person; a one-time plan replacing a
        // subscription): a call to Stripe that fails here answers 5xx, so Stripe delivers the
        // event again.
        Fresh::Session(read, _) if settles(&event.type_) => {
            let settled = overlap::settle(state, billing, &read.object).await?;
            Fresh::Session(read, settled.map(Box::new))
        }
        other => other,
    };
    // The claim decides for real, in the transaction that applies it.
    state
        .webhook_writer
        .run(EventJob {
            record: record.clone(),
            fresh,
        })
        .await
}

/// The events after which a Checkout Session's purchase exists, paid or trialing.
fn settles(event_type: &str) -> bool {
    matches!(
        event_type,
        "checkout.session.completed" | "checkout.session.async_payment_succeeded"
    )
}

/// Does the object concern what the site sells? A checkout or a new subscription must be for a
/// price of a catalog plan's product (sold now, or replaced by `landing stripe setup`); a
/// subscription already stored stays ours whatever its price became. Charges are matched to
/// stored purchases when applied, so they need no check here.
///
/// A price the index does not know may be one setup made since the index was read: unless its
/// product is another business's, the catalog is read again before the event is called not
/// ours, since a "not ours" is answered 2xx and Stripe never delivers the event again.
async fn is_ours(state: &AppState, billing: &Billing, fresh: &Fresh) -> Result<bool, ServerError> {
    let (price, subscription) = match fresh {
        Fresh::Session(read, _) => {
            let price = read
                .object
                .line_items
                .as_ref()
                .and_then(|l| l.data.first())
                .and_then(|i| i.price.as_ref());
            (price, None)
        }
        Fresh::Subscription(read, _)
        | Fresh::Invoice(_, Some(read))
        | Fresh::DisputedSubscription(_, _, read) => (
            read.object.items.data.first().map(|i| &i.price),
            Some(&read.object.id),
        ),
        _ => return Ok(true),
    };
    let Some(price) = price else {
        return Ok(true);
    };
    let seen = Instant::now();
    let index = billing.prices().await.map_err(prices_unread)?;
    if index.plan_price(price.id()).is_some() {
        return Ok(true);
    }
    if let Some(id) = subscription {
        if crate::server::db::billing::subscription_known(&state.db, id)
            .await
            .context("webhook: is the subscription ours")?
        {
            return Ok(true);
        }
    }
    if !index.may_be_ours(price.product()) {
        return Ok(false);
    }
    let index = billing.reread(seen).await.map_err(prices_unread)?;
    Ok(index.plan_price(price.id()).is_some())
}

fn prices_unread(e: StripeError) -> ServerError {
    ServerError::internal("webhook: the catalog's prices", format!("{e:?}"))
}

/// The axum route. The body is taken raw: the signature covers the exact bytes.
pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let secrets = &state.config.stripe_webhook_secrets;
    if secrets.is_empty() || state.billing.is_none() {
        return AppError::Unavailable("Webhooks are not configured".into()).into_response();
    }
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    if let Err(e) = verify(signature, &body, secrets, crate::server::auth::jwt::now()) {
        tracing::warn!(reason = %e, "webhook signature verification failed");
        count_rejected(&state);
        return AppError::BadRequest("Invalid signature".into()).into_response();
    }
    let Some(event) = Envelope::parse(&body) else {
        tracing::warn!("a signed webhook is not a Stripe event");
        count_rejected(&state);
        return AppError::BadRequest("Invalid payload".into()).into_response();
    };
    // Signed bytes are UTF-8 JSON (parsed above), so this cannot lose anything.
    let payload = String::from_utf8_lossy(&body);
    let started = std::time::Instant::now();
    let result = process(&state, &event, &payload).await;
    if let Some(metrics) = &state.metrics {
        let outcome = match &result {
            Ok(Outcome::Applied) => "applied",
            Ok(Outcome::Duplicate) => "duplicate",
            Ok(Outcome::Recorded) => "recorded",
            Err(_) => "failed",
        };
        metrics.webhook(type_label(&event.type_), outcome, Some(started.elapsed()));
    }
    match result {
        Ok(outcome) => {
            tracing::info!(event = %event.id, kind = %event.type_, ?outcome, "webhook");
            Json(json!({ "received": true, "duplicate": outcome == Outcome::Duplicate }))
                .into_response()
        }
        Err(e) => {
            tracing::error!(event = %event.id, kind = %event.type_, error = %e, "webhook failed; Stripe will retry");
            // Nothing was kept: Stripe delivers it again.
            AppError::Internal.into_response()
        }
    }
}

/// Counts an event refused before it was verified (bad signature or not an event).
fn count_rejected(state: &AppState) {
    if let Some(metrics) = &state.metrics {
        metrics.webhook("unverified", "rejected", None);
    }
}
