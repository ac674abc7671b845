//! `POST /api/stripe/webhook`: Stripe's delivery contract is at least once, in any order,
//! retried for days. So: verify the signature on the raw bytes → read the object again from
//! Stripe → in one transaction claim the event id, apply, queue its mail, mark it applied →
//! commit → 2xx. A duplicate answers 2xx and changes nothing; a failure rolls back, answers 5xx
//! so Stripe retries, and leaves its attempt and error in the event log.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;

use super::client::Stripe;
use super::emails::{self, Mail};
use super::fetch::{self, FetchError, Read};
use super::group_commit::EventRecord;
use super::objects::{Charge, CheckoutSession, Dispute, Invoice, Subscription};
use super::sync::{self, Applied, Source};
use crate::model::billing::BillingMode;
use crate::model::error::AppError;
use crate::server::db::events;
use crate::server::db::outbox::{self, NewMail};
use crate::server::db::{customers, profiles, DbUuid, Tx};
use crate::server::error::{Context, ServerError};
use crate::server::secret::Secret;
use crate::server::state::AppState;

/// Stripe's default: a signature older (or newer) than this is a replay, not a delivery.
pub const TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no Stripe-Signature header")]
    Missing,
    #[error("the Stripe-Signature header has no timestamp or no v1 signature")]
    Malformed,
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
    #[error("no v1 signature matches any webhook secret")]
    NoMatch,
}

/// Checks `Stripe-Signature` (`t=…,v1=…[,v1=…]`) against every configured secret: during a
/// rotation Stripe signs with both the old and the new secret, and either may be ours.
pub fn verify(
    header: Option<&str>,
    payload: &[u8],
    secrets: &[Secret],
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", sig)) => {
                if let Ok(bytes) = hex::decode(sig) {
                    signatures.push(bytes);
                }
            }
            _ => {}
        }
    }
    let (Some(timestamp), false) = (timestamp, signatures.is_empty()) else {
        return Err(SignatureError::Malformed);
    };
    // Checked: `t` is whatever the sender wrote, and `now - t` overflows for values near
    // i64's ends. A difference too large to compute is as stale as one past the tolerance.
    let skew = now.checked_sub(timestamp).map(i64::unsigned_abs);
    if skew.is_none_or(|skew| skew > TOLERANCE_SECS.unsigned_abs()) {
        return Err(SignatureError::Stale);
    }
    for secret in secrets {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(payload);
        for signature in &signatures {
            // `verify_slice` compares in constant time.
            if mac.clone().verify_slice(signature).is_ok() {
                return Ok(());
            }
        }
    }
    Err(SignatureError::NoMatch)
}

/// The part of an event we read ourselves; the object is read again from Stripe.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope {
    pub id: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub created: i64,
    #[serde(default)]
    pub livemode: bool,
    pub data: EnvelopeData,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EnvelopeData {
    pub object: EventObject,
}

/// Of the event's object only the id is read (the rest is skipped unparsed): the object itself
/// is read again from Stripe.
#[derive(Debug, Clone, Deserialize)]
pub struct EventObject {
    pub id: Option<String>,
}

impl Envelope {
    pub fn parse(payload: &[u8]) -> Option<Envelope> {
        let envelope: Envelope = serde_json::from_slice(payload).ok()?;
        let valid = envelope.id.starts_with("evt_") && !envelope.type_.is_empty();
        valid.then_some(envelope)
    }

    fn object_id(&self) -> Option<&str> {
        self.data.object.id.as_deref()
    }
}

/// What an event is about, read fresh from Stripe.
#[derive(Debug)]
pub enum Fresh {
    Session(Box<Read<CheckoutSession>>),
    /// With, for a trial warning, the email Stripe has for the customer: the warning may
    /// arrive before the checkout that links the customer to a profile.
    Subscription(Box<Read<Subscription>>, Option<String>),
    Invoice(Box<Read<Invoice>>, Option<Box<Read<Subscription>>>),
    /// A charge's refunds, and (for a dispute's events) its dispute.
    Charge(Box<Read<Charge>>, Option<Box<Read<Dispute>>>),
    /// A type we do not act on: recorded, answered 2xx.
    Nothing,
    /// Stripe no longer has the object (or the event names none): nothing to apply.
    Missing,
    /// About a price the catalog does not sell and nothing we store (`stripe trigger`'s own
    /// products, or another product on the same account): recorded, never applied.
    NotOurs,
    /// A live event reached a site with a test key, or a test event one with a live key (an
    /// endpoint secret shared between modes): recorded, never applied.
    OtherMode,
}

impl Fresh {
    /// Why nothing was applied, for the event log.
    pub fn note(&self) -> Option<&'static str> {
        match self {
            Fresh::Missing => Some("Stripe has no such object"),
            Fresh::NotOurs => Some("about a price plans.toml does not sell; recorded, not applied"),
            Fresh::OtherMode => {
                Some("the event's mode (live or test) is not STRIPE_SECRET_KEY's; not applied")
            }
            _ => None,
        }
    }
}

/// What became of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Duplicate,
    /// Recorded without a change (an unknown type, or an object Stripe no longer has).
    Recorded,
}

/// What the site reads from Stripe for an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reads {
    Session,
    Subscription,
    /// A subscription event whose mail needs the customer's email.
    SubscriptionAndEmail,
    Invoice,
    Charge,
    Dispute,
}

/// Every event type the site acts on, and what it reads for each: the handler dispatches on
/// this list, and `landing stripe setup` subscribes the webhook endpoint to exactly it. Any
/// other type is recorded and answered 200.
const HANDLED: &[(&str, Reads)] = &[
    ("checkout.session.completed", Reads::Session),
    ("checkout.session.async_payment_succeeded", Reads::Session),
    ("checkout.session.async_payment_failed", Reads::Session),
    ("customer.subscription.created", Reads::Subscription),
    ("customer.subscription.updated", Reads::Subscription),
    ("customer.subscription.deleted", Reads::Subscription),
    ("customer.subscription.paused", Reads::Subscription),
    ("customer.subscription.resumed", Reads::Subscription),
    (
        "customer.subscription.pending_update_applied",
        Reads::Subscription,
    ),
    (
        "customer.subscription.pending_update_expired",
        Reads::Subscription,
    ),
    (
        "customer.subscription.trial_will_end",
        Reads::SubscriptionAndEmail,
    ),
    ("invoice.created", Reads::Invoice),
    ("invoice.finalized", Reads::Invoice),
    ("invoice.updated", Reads::Invoice),
    ("invoice.paid", Reads::Invoice),
    ("invoice.payment_succeeded", Reads::Invoice),
    ("invoice.payment_failed", Reads::Invoice),
    ("invoice.payment_action_required", Reads::Invoice),
    ("invoice.voided", Reads::Invoice),
    ("invoice.marked_uncollectible", Reads::Invoice),
    ("charge.refunded", Reads::Charge),
    ("charge.dispute.created", Reads::Dispute),
    ("charge.dispute.updated", Reads::Dispute),
    ("charge.dispute.closed", Reads::Dispute),
    ("charge.dispute.funds_withdrawn", Reads::Dispute),
    ("charge.dispute.funds_reinstated", Reads::Dispute),
];

/// The event types the site acts on, for the webhook endpoint's `enabled_events`.
pub fn handled_event_types() -> impl Iterator<Item = &'static str> {
    HANDLED.iter().map(|(t, _)| *t)
}

fn reads(event_type: &str) -> Option<Reads> {
    HANDLED
        .iter()
        .find(|(t, _)| *t == event_type)
        .map(|(_, r)| *r)
}

async fn read_fresh(client: &Stripe, event: &Envelope) -> Result<Fresh, FetchError> {
    let Some(reads) = reads(&event.type_) else {
        return Ok(Fresh::Nothing);
    };
    let Some(id) = event.object_id() else {
        return Ok(Fresh::Missing);
    };
    let fresh = match reads {
        Reads::Session => Fresh::Session(Box::new(fetch::session(client, id).await?)),
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
        Reads::Charge => Fresh::Charge(Box::new(fetch::charge(client, id).await?), None),
        Reads::Dispute => {
            let dispute = fetch::dispute(client, id).await?;
            let charge = fetch::charge(client, dispute.object.charge.id()).await?;
            Fresh::Charge(Box::new(charge), Some(Box::new(dispute)))
        }
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
    if state.webhook_writer.applied_lately(&event.id) {
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
            .apply(record.clone(), Fresh::OtherMode)
            .await;
    }
    let fresh = match read_fresh(&billing.client, event).await {
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
    // The claim decides for real, in the transaction that applies it.
    state.webhook_writer.apply(record.clone(), fresh).await
}

/// Does the object concern what the site sells? A checkout or a new subscription must be for a
/// catalog price; a subscription already stored stays ours whatever its price became (a price
/// replaced by `landing stripe setup` keeps its subscribers). Charges are matched to stored
/// purchases when applied, so they need no check here.
async fn is_ours(
    state: &AppState,
    billing: &super::checkout::Billing,
    fresh: &Fresh,
) -> Result<bool, ServerError> {
    let subscription = match fresh {
        Fresh::Session(read) => {
            let price = read
                .object
                .line_items
                .as_ref()
                .and_then(|l| l.data.first())
                .and_then(|i| i.price.as_ref())
                .map(|p| p.id().to_string());
            return Ok(match price {
                Some(price) => sells(state, billing, &price).await?,
                None => true,
            });
        }
        Fresh::Subscription(read, _) => Some(&read.object),
        Fresh::Invoice(_, Some(read)) => Some(&read.object),
        _ => None,
    };
    let Some(sub) = subscription else {
        return Ok(true);
    };
    let Some(price) = sub.items.data.first().map(|i| i.price.id().to_string()) else {
        return Ok(true);
    };
    if sells(state, billing, &price).await? {
        return Ok(true);
    }
    crate::server::db::billing::subscription_known(&state.db, &sub.id)
        .await
        .context("webhook: is the subscription ours")
}

async fn sells(
    state: &AppState,
    billing: &super::checkout::Billing,
    price: &str,
) -> Result<bool, ServerError> {
    let index = billing
        .prices(&state.catalog)
        .await
        .map_err(|e| ServerError::internal("webhook: the catalog's prices", format!("{e:?}")))?;
    Ok(index.find(price).is_some())
}

/// What applying a claimed event came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effect {
    pub outcome: Outcome,
    /// It queued mail.
    pub mailed: bool,
}

/// What the webhook's mail needs to know: the origin its links point to, and the operators
/// (`ADMIN_EMAILS`) who are told of disputes.
#[derive(Debug, Clone, Default)]
pub struct MailContext {
    pub site: String,
    pub operators: Vec<String>,
}

/// Stores what Stripe says and queues the event's mail, in the transaction that claimed the
/// event.
pub async fn apply_claimed(
    tx: &mut Tx,
    context: &MailContext,
    event_type: &str,
    fresh: &Fresh,
) -> Result<Effect, ServerError> {
    let site = context.site.as_str();
    let mut mailed = false;
    match fresh {
        Fresh::Nothing | Fresh::Missing | Fresh::OtherMode | Fresh::NotOurs => {
            return Ok(Effect {
                outcome: Outcome::Recorded,
                mailed,
            })
        }
        Fresh::Session(read) => {
            let failed = event_type == "checkout.session.async_payment_failed";
            let session = &read.object;
            let applied =
                sync::apply_checkout_session(tx, session, read.at_ms, Source::Stripe, failed)
                    .await?;
            if let (Applied::Yes { owner }, "checkout.session.completed") = (applied, event_type) {
                let to = match owner {
                    Some(owner) => recipient(tx, Some(owner), None).await?,
                    None => sync::checkout_email(session).map(|e| e.as_str().to_string()),
                };
                let mail = emails::checkout_completed(
                    &session.id,
                    session.amount_total.unwrap_or(0),
                    session.currency.as_deref().unwrap_or("usd"),
                    session.is_subscription(),
                    site,
                );
                mailed |= queue(tx, to.as_deref(), &mail).await?;
            }
        }
        Fresh::Subscription(read, stripe_email) => {
            let sub = &read.object;
            sync::apply_subscription(tx, sub, read.at_ms).await?;
            if event_type == "customer.subscription.trial_will_end" {
                if let Some(trial_end) = sub.trial_end {
                    let to = recipient_of_customer(tx, sub.customer.id(), stripe_email.as_deref())
                        .await?;
                    let mail = emails::trial_will_end(&sub.id, trial_end, site);
                    mailed |= queue(tx, to.as_deref(), &mail).await?;
                }
            }
        }
        Fresh::Charge(charge, dispute) => {
            let dispute = dispute.as_deref().map(|d| (&d.object, d.at_ms));
            sync::apply_charge(tx, &charge.object, charge.at_ms, dispute).await?;
            // A dispute needs an answer (evidence) within days: the operators are told.
            if let (Some((dispute, _)), "charge.dispute.created") = (dispute, event_type) {
                for operator in &context.operators {
                    let mail = emails::dispute_opened(dispute, operator, site);
                    mailed |= queue(tx, Some(operator), &mail).await?;
                }
            }
        }
        Fresh::Invoice(read, sub) => {
            let invoice = &read.object;
            sync::apply_invoice(tx, invoice, read.at_ms).await?;
            if let Some(sub) = sub {
                sync::apply_subscription(tx, &sub.object, sub.at_ms).await?;
            }
            // A renewal the card declined, or one the bank wants confirmed: the customer has
            // to act, and is told how.
            let mail: Option<MailFor> = match event_type {
                "invoice.payment_failed" => Some(emails::payment_failed),
                "invoice.payment_action_required" => Some(emails::payment_action_required),
                _ => None,
            };
            if let (Some(mail), Some(id), Some(customer)) =
                (mail, invoice.id.as_ref(), invoice.customer.as_ref())
            {
                let to =
                    recipient_of_customer(tx, customer.id(), invoice.customer_email.as_deref())
                        .await?;
                let mail = mail(
                    id,
                    invoice.amount_due,
                    &invoice.currency,
                    invoice.hosted_invoice_url.as_deref(),
                    site,
                );
                mailed |= queue(tx, to.as_deref(), &mail).await?;
            }
        }
    }
    Ok(Effect {
        outcome: Outcome::Applied,
        mailed,
    })
}

/// A mail about an invoice: its id, amount due, currency, hosted page and our site.
type MailFor = fn(&str, i64, &str, Option<&str>, &str) -> emails::Mail;

/// Where a mail goes: the profile's email, else the one Stripe has.
async fn recipient(
    tx: &mut Tx,
    user: Option<DbUuid>,
    fallback: Option<&str>,
) -> Result<Option<String>, ServerError> {
    let email = match user {
        Some(user) => profiles::email_of(tx, user)
            .await
            .context("webhook: recipient")?,
        None => None,
    };
    Ok(email.or_else(|| fallback.map(str::to_string)))
}

async fn recipient_of_customer(
    tx: &mut Tx,
    customer: &str,
    fallback: Option<&str>,
) -> Result<Option<String>, ServerError> {
    let user = customers::user_for_customer(tx, customer)
        .await
        .context("webhook: customer's profile")?;
    recipient(tx, user, fallback).await
}

/// Queues a mail once per cause; true when it was queued now.
async fn queue(tx: &mut Tx, to: Option<&str>, mail: &Mail) -> Result<bool, ServerError> {
    let Some(to) = to else {
        tracing::warn!(key = %mail.dedupe_key, "no address to mail; not queued");
        return Ok(false);
    };
    outbox::enqueue(
        tx,
        &NewMail {
            dedupe_key: &mail.dedupe_key,
            to_email: to,
            subject: &mail.subject,
            body: &mail.body,
            sensitive: false,
        },
    )
    .await
    .context("webhook: queue mail")
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

/// An event type as a metrics label: one the site handles, or `other`, so that a sender cannot
/// grow the label set.
fn type_label(kind: &str) -> &'static str {
    HANDLED
        .iter()
        .find(|(handled, _)| *handled == kind)
        .map_or("other", |(handled, _)| handled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, t: i64, payload: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(payload);
        hex::encode(mac.finalize().into_bytes())
    }

    const BODY: &[u8] = br#"{"id":"evt_1","type":"x","created":1,"data":{"object":{}}}"#;

    fn secrets(s: &[&str]) -> Vec<Secret> {
        s.iter().map(|s| Secret::new(*s)).collect()
    }

    #[test]
    fn any_v1_against_any_secret_passes() {
        let t = 1_000;
        let header = format!(
            "t={t},v1={},v1={}",
            sign("whsec_other", t, BODY),
            sign("whsec_new", t, BODY)
        );
        let ok = verify(
            Some(&header),
            BODY,
            &secrets(&["whsec_old", "whsec_new"]),
            t + 10,
        );
        assert_eq!(ok, Ok(()));
    }

    #[test]
    fn a_wrong_secret_a_changed_body_or_an_old_timestamp_fails() {
        let t = 1_000;
        let header = format!("t={t},v1={}", sign("whsec_a", t, BODY));
        let a = secrets(&["whsec_a"]);
        assert_eq!(
            verify(Some(&header), BODY, &secrets(&["whsec_b"]), t),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(Some(&header), b"{}", &a, t),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(Some(&header), BODY, &a, t + TOLERANCE_SECS + 1),
            Err(SignatureError::Stale)
        );
        assert_eq!(verify(Some(&header), BODY, &a, t + TOLERANCE_SECS), Ok(()));
        assert_eq!(verify(None, BODY, &a, t), Err(SignatureError::Missing));
        assert_eq!(
            verify(Some("v1=abc"), BODY, &a, t),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(Some("t=1000,v0=abc"), BODY, &a, t),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn a_timestamp_at_either_end_of_i64_is_stale_not_an_overflow() {
        let a = secrets(&["whsec_a"]);
        let signed_at = |t: i64| format!("t={t},v1={}", sign("whsec_a", t, BODY));
        for (t, now) in [
            (i64::MIN, 1_800_000_000),
            (i64::MIN, 0),
            (i64::MIN, i64::MAX),
            (i64::MIN + 1, i64::MAX),
            (i64::MAX, 1_800_000_000),
            (i64::MAX, -1),
            (i64::MAX, i64::MIN),
        ] {
            assert_eq!(
                verify(Some(&signed_at(t)), BODY, &a, now),
                Err(SignatureError::Stale),
                "t={t} now={now}"
            );
        }
        // The ends are ordinary times otherwise: signed then, checked then, they pass.
        for (t, now) in [(i64::MIN, i64::MIN + TOLERANCE_SECS), (i64::MAX, i64::MAX)] {
            assert_eq!(verify(Some(&signed_at(t)), BODY, &a, now), Ok(()));
        }
        // Past i64: not a timestamp at all.
        for t in ["9223372036854775808", "-9223372036854775809"] {
            assert_eq!(
                verify(Some(&format!("t={t},v1=00")), BODY, &a, 0),
                Err(SignatureError::Malformed)
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            cases: crate::server::fuzz_cases(3000),
            ..Default::default()
        })]

        /// Fuzz: any header, body and secrets: no panic, and never accepted unless it carries
        /// the signature of these bytes by one of the secrets.
        #[test]
        fn a_random_signature_header_is_never_accepted(
            header in proptest::option::of(".{0,200}"),
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            now in proptest::prelude::any::<i64>(),
        ) {
            let verdict = verify(header.as_deref(), &body, &secrets(&["whsec_a", "whsec_b"]), now);
            proptest::prop_assert!(verdict.is_err());
        }

        /// A real signature passes; any change to the bytes, the secret or the time beyond the
        /// tolerance fails it.
        #[test]
        fn a_signature_holds_for_its_bytes_secret_and_time_only(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..300),
            flip in proptest::prelude::any::<proptest::sample::Index>(),
            t in 0i64..4_000_000_000,
            skew in -TOLERANCE_SECS..=TOLERANCE_SECS,
            late in (TOLERANCE_SECS + 1)..1_000_000,
        ) {
            let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec_a").unwrap();
            mac.update(format!("{t}.").as_bytes());
            mac.update(&body);
            let header = format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()));
            let ours = secrets(&["whsec_other", "whsec_a"]);
            proptest::prop_assert_eq!(verify(Some(&header), &body, &ours, t + skew), Ok(()));
            let mut changed = body.clone();
            let i = flip.index(changed.len());
            changed[i] ^= 0x01;
            proptest::prop_assert_eq!(verify(Some(&header), &changed, &ours, t), Err(SignatureError::NoMatch));
            proptest::prop_assert_eq!(verify(Some(&header), &body, &secrets(&["whsec_b"]), t), Err(SignatureError::NoMatch));
            proptest::prop_assert_eq!(verify(Some(&header), &body, &ours, t + late), Err(SignatureError::Stale));
            proptest::prop_assert_eq!(verify(Some(&header), &body, &ours, t - late), Err(SignatureError::Stale));
        }

        /// Fuzz: any timestamp at any time, the extremes included, gives an answer, never a
        /// panic; only one within the tolerance of `now` can pass.
        #[test]
        fn any_timestamp_at_any_time_is_answered_without_a_panic(
            t in proptest::prop_oneof![
                proptest::prelude::any::<i64>(),
                proptest::sample::select(vec![i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX]),
            ],
            now in proptest::prop_oneof![
                proptest::prelude::any::<i64>(),
                proptest::sample::select(vec![i64::MIN, 0, 1_800_000_000, i64::MAX]),
            ],
        ) {
            let header = format!("t={t},v1={}", sign("whsec_a", t, BODY));
            let verdict = verify(Some(&header), BODY, &secrets(&["whsec_a"]), now);
            if now.abs_diff(t) <= TOLERANCE_SECS.unsigned_abs() {
                proptest::prop_assert_eq!(verdict, Ok(()));
            } else {
                proptest::prop_assert_eq!(verdict, Err(SignatureError::Stale));
            }
        }
    }

    #[test]
    fn an_envelope_needs_an_event_id_and_a_type() {
        assert!(Envelope::parse(BODY).is_some());
        assert!(
            Envelope::parse(br#"{"id":"x","type":"a","created":1,"data":{"object":{}}}"#).is_none()
        );
        assert!(Envelope::parse(b"not json").is_none());
    }
}
