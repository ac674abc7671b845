//! Checkout: creating a Checkout Session from a catalog price. Only catalog prices and catalog coupons; the
//! mode comes from the price; redirects only to our own origin; the buyer's Stripe customer
//! reused; never a pair of parameters Stripe rejects together.

use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionAllowedPaymentMethodTypes,
    CreateCheckoutSessionCustomerCreation, CreateCheckoutSessionCustomerUpdate,
    CreateCheckoutSessionCustomerUpdateName, CreateCheckoutSessionDiscounts,
    CreateCheckoutSessionInvoiceCreation, CreateCheckoutSessionLineItems,
    CreateCheckoutSessionPaymentIntentData, CreateCheckoutSessionPaymentIntentDataSetupFutureUsage,
    CreateCheckoutSessionSubscriptionData, CreateCheckoutSessionTaxIdCollection,
};
use stripe_shared::CheckoutSessionMode;
use tokio::time::Instant;

use super::account::Billing;
use super::catalog::{PriceIndex, StripePrice};
use super::client::StripeError;
use super::objects::{CheckoutSession, Expandable};
use crate::model::catalog::{format_amount, Coupon};
use crate::model::checkout::{CheckoutProblem, PurchaseSummary};
use crate::model::error::AppError;
use crate::server::auth::limits::Limited;
use crate::server::auth::session::AuthUser;
use crate::server::client_addr::ClientKey;
use crate::server::config::Config;
use crate::server::db::{billing as db_billing, customers, DbUuid};
use crate::server::error::{stripe_busy, Context, ErrorAnswer, ServerError};
use crate::server::state::AppState;

#[derive(Debug)]
pub struct CheckoutRequest {
    /// A lookup key or a Stripe price id; either must be in the catalog.
    pub price: String,
    /// What the client believes the mode is (the JSON API sends it); checked, not obeyed.
    pub mode: Option<String>,
    pub success_url: String,
    pub cancel_url: String,
    /// A coupon id as the client sent it: applied only if the catalog lists it.
    pub coupon: Option<String>,
}

#[derive(Debug)]
pub enum CheckoutError {
    BillingOff,
    UnknownPrice(String),
    ModeMismatch {
        sent: String,
        price: String,
        expected: &'static str,
    },
    /// A return URL off this site; `origin` is ours, for the message.
    ForeignRedirect {
        field: &'static str,
        origin: String,
    },
    /// A coupon the catalog does not offer, whatever it is (malformed, unknown, or a Stripe
    /// coupon kept for other uses): one answer for all, so guessing learns nothing.
    BadCoupon,
    /// This client created too many Checkout Sessions lately; it may try again after this long.
    RateLimited(std::time::Duration),
    /// The buyer already has a live subscription: one per customer, so a recurring price is
    /// a change of plan (`change_url`, a path on this site), never a second subscription.
    HasSubscription {
        plan: String,
        change_url: String,
    },
    /// Stripe refused a value the client chose (a coupon, a return URL): their mistake.
    Refused(String),
    /// Stripe stayed busy or out of reach through every try: nothing was created.
    Busy,
    Stripe(String),
    Internal(ServerError),
}

impl CheckoutError {
    /// The pricing page's fixed sentence for this error, for a plain form's way back.
    pub fn problem(&self) -> CheckoutProblem {
        match self {
            CheckoutError::BillingOff => CheckoutProblem::BillingOff,
            CheckoutError::UnknownPrice(_) | CheckoutError::ModeMismatch { .. } => {
                CheckoutProblem::UnknownPrice
            }
            CheckoutError::BadCoupon => CheckoutProblem::BadCoupon,
            CheckoutError::RateLimited(_) => CheckoutProblem::RateLimited,
            CheckoutError::Busy => CheckoutProblem::Busy,
            CheckoutError::Refused(_) => CheckoutProblem::Refused,
            CheckoutError::ForeignRedirect { .. }
            | CheckoutError::HasSubscription { .. }
            | CheckoutError::Stripe(_)
            | CheckoutError::Internal(_) => CheckoutProblem::Failed,
        }
    }
}

/// What the client is told; a failure inside is logged on the way.
impl From<CheckoutError> for AppError {
    fn from(e: CheckoutError) -> Self {
        match e {
            CheckoutError::BillingOff => AppError::Unavailable(
                "Payments are not set up on this site yet: no Stripe key is configured.".into(),
            ),
            CheckoutError::UnknownPrice(p) => AppError::BadRequest(format!(
                "Unknown price `{}`: only the prices on the pricing page can be bought.",
                shorten(&p)
            )),
            CheckoutError::ModeMismatch { sent, price, expected } => AppError::BadRequest(format!(
                "Mode `{}` does not match the price: `{price}` is a {} price, so the mode is `{expected}`.",
                shorten(&sent),
                if expected == "subscription" { "recurring" } else { "one-time" }
            )),
            CheckoutError::ForeignRedirect { field, origin } => AppError::BadRequest(format!(
                "{field} must be an absolute URL on this site ({origin}) or an allowed origin."
            )),
            CheckoutError::BadCoupon => {
                AppError::BadRequest("This coupon code is not valid.".into())
            }
            CheckoutError::RateLimited(wait) => {
                let minutes = wait.as_secs().div_ceil(60).max(1);
                AppError::TooManyRequests(format!(
                    "Too many checkouts from your address: try again in {minutes} minute{}.",
                    if minutes == 1 { "" } else { "s" }
                ))
            }
            CheckoutError::HasSubscription { plan, .. } => AppError::Conflict(format!(
                "You already subscribe to {plan}. Change your plan instead: a second subscription would bill you twice."
            )),
            CheckoutError::Refused(m) => AppError::BadRequest(m),
            CheckoutError::Busy => stripe_busy(),
            // Stripe's message, as the JSON API answers (never the key or the request); a 502, since
            // the failure is Stripe's or our set-up's, not the client's.
            CheckoutError::Stripe(m) => AppError::Stripe(m),
            CheckoutError::Internal(e) => e.into(),
        }
    }
}

impl CheckoutError {
    /// Stripe's failure: "try again" when it was busy or out of reach, its words otherwise.
    fn from_stripe(e: StripeError) -> CheckoutError {
        if e.is_transient() {
            tracing::warn!(error = %e, "checkout: Stripe stayed busy; the buyer is asked to try again");
            CheckoutError::Busy
        } else {
            tracing::error!(error = %e, "checkout: Stripe refused");
            CheckoutError::Stripe(e.describe())
        }
    }

    /// The JSON API's answer: a rate limit says when to come back (`Retry-After`), and a buyer
    /// who already subscribes is pointed at the change of plan (`changeUrl`, on `origin`).
    pub fn answer(self, origin: &str) -> ErrorAnswer {
        match self {
            CheckoutError::RateLimited(wait) => AppError::from(self).answer().retry_after(wait),
            CheckoutError::HasSubscription { ref change_url, .. } => {
                let url = format!("{origin}{change_url}");
                AppError::from(self).answer().change_url(url)
            }
            _ => AppError::from(self).answer(),
        }
    }
}

/// Input echoed in an error message, cut to a readable length.
fn shorten(s: &str) -> String {
    const MAX: usize = 80;
    match s.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// The longest redirect URL we hand to Stripe.
const MAX_URL: usize = 2048;

/// Is `url` absolute and on our origin (or one of `ALLOWED_REDIRECT_ORIGINS`)? No open
/// redirects through our Stripe account.
pub fn check_redirect(
    config: &Config,
    url: &str,
    field: &'static str,
) -> Result<(), CheckoutError> {
    // Whitespace, control characters and backslashes are dropped or reinterpreted by URL
    // parsers, each its own way: refused, so Stripe cannot read another URL than we checked.
    let foreign = || CheckoutError::ForeignRedirect {
        field,
        origin: config.site_url.origin(),
    };
    if url.len() > MAX_URL || url.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'\\') {
        return Err(foreign());
    }
    let parsed = url::Url::parse(url).map_err(|_| foreign())?;
    let origin = parsed.origin().ascii_serialization();
    let ours =
        origin == config.site_url.origin() || config.allowed_redirect_origins.contains(&origin);
    if ours && matches!(parsed.scheme(), "http" | "https") {
        Ok(())
    } else {
        Err(foreign())
    }
}

fn mode_of(price: &StripePrice) -> (&'static str, CheckoutSessionMode) {
    if price.recurring {
        ("subscription", CheckoutSessionMode::Subscription)
    } else {
        ("payment", CheckoutSessionMode::Payment)
    }
}

/// Creates the Checkout Session and returns its URL. `client` is who asked: each client may
/// create `CHECKOUTS_PER_ADDRESS` sessions per 10 minutes, counted only once the request is
/// valid, just before Stripe is called.
pub async fn create(
    state: &AppState,
    user: Option<&AuthUser>,
    client: &ClientKey,
    request: CheckoutRequest,
) -> Result<String, CheckoutError> {
    let billing = state.billing.as_ref().ok_or(CheckoutError::BillingOff)?;
    let read_before = Instant::now();
    let index = billing.prices().await.map_err(CheckoutError::from_stripe)?;
    let price = index
        .find(request.price.trim())
        .cloned()
        .ok_or_else(|| CheckoutError::UnknownPrice(request.price.clone()))?;
    let (mode_name, mode) = mode_of(&price);
    if let Some(sent) = request.mode.as_deref().filter(|m| *m != mode_name) {
        return Err(CheckoutError::ModeMismatch {
            sent: sent.to_string(),
            price: price.lookup_key.clone(),
            expected: mode_name,
        });
    }
    check_redirect(&state.config, &request.success_url, "successUrl")?;
    check_redirect(&state.config, &request.cancel_url, "cancelUrl")?;
    if let (true, Some(user)) = (price.recurring, user) {
        refuse_second_subscription(state, &index, user, &price).await?;
    }
    // Only the catalog's coupons reach Stripe: its "No such coupon" would tell a guesser which
    // ids exist.
    let coupon = match request.coupon.as_deref().filter(|c| !c.is_empty()) {
        Some(id) => Some(
            state
                .source_catalog
                .coupon(id)
                .ok_or(CheckoutError::BadCoupon)?,
        ),
        None => None,
    };
    let trial_days = match state
        .source_catalog
        .price(&price.lookup_key)
        .and_then(|p| p.trial_days)
    {
        Some(days) if price.recurring && !had_subscription(state, user).await? => Some(days),
        _ => None,
    };
    let customer = match user {
        Some(u) => customers::customer_id_for_user(&state.db, u.id)
            .await
            .context("checkout: look up customer")
            .map_err(CheckoutError::Internal)?,
        None => None,
    };
    state
        .limits
        .checkout_from(client)
        .await
        .map_err(|Limited(wait)| CheckoutError::RateLimited(wait))?;
    let offer = Offer {
        price: &price,
        mode: mode.clone(),
        coupon,
        trial_days,
    };
    let mut opened = open(billing, &offer, user, customer.as_deref(), &request).await;
    // A price archived since the index was read (`landing stripe setup` replaced it): its
    // lookup key names another price now, which the buyer is offered instead.
    if matches!(&opened, Err(e) if e.is_about(&["line_items"])) {
        if let Ok(fresh) = billing.reread(read_before).await {
            if let Some(newer) = fresh
                .by_lookup_key(&price.lookup_key)
                .filter(|p| p.id != price.id && p.recurring == price.recurring)
            {
                let offer = Offer {
                    price: newer,
                    ..offer
                };
                opened = open(billing, &offer, user, customer.as_deref(), &request).await;
            }
        }
    }
    let session = opened.map_err(|e| {
        if e.is_transient() {
            CheckoutError::from_stripe(e)
        } else if e.is_about(&["discounts"]) {
            // A catalog coupon this Stripe does not have or no longer honours (expired, used
            // up): the buyer gets Stripe's words, the log tells the operator the two disagree.
            tracing::warn!(error = %e, coupon = ?coupon.map(|c| &c.id), "Stripe refused a coupon from plans.toml");
            CheckoutError::Refused(e.describe())
        } else if e.is_about(&["success_url", "cancel_url"]) {
            tracing::info!(error = %e, price = %price.lookup_key, "Stripe refused the client's values for a Checkout Session");
            CheckoutError::Refused(e.describe())
        } else {
            tracing::error!(error = %e, price = %price.lookup_key, "Stripe refused a Checkout Session");
            CheckoutError::Stripe(e.describe())
        }
    })?;
    session
        .url
        .ok_or_else(|| CheckoutError::Stripe("Stripe returned a session without a URL".into()))
}

/// One subscription per customer: someone with a live (active, trialing or past-due)
/// subscription is sent to change it instead.
async fn refuse_second_subscription(
    state: &AppState,
    index: &PriceIndex,
    user: &AuthUser,
    wanted: &StripePrice,
) -> Result<(), CheckoutError> {
    let live = state
        .plan_reads
        .live_price(user.id)
        .await
        .context("checkout: live subscription")
        .map_err(CheckoutError::Internal)?;
    let Some(live) = live else {
        return Ok(());
    };
    let current = index.plan_price(&live);
    let current_key = current.and_then(|p| p.lookup_key.as_deref());
    let plan = current
        .and_then(|p| {
            state
                .source_catalog
                .plans
                .iter()
                .find(|plan| plan.id == p.plan)
        })
        .map_or_else(|| "a plan".to_string(), |p| p.name.clone());
    let change_url = if current_key == Some(wanted.lookup_key.as_str()) {
        "/billing".to_string()
    } else {
        format!("/billing/change?price={}", wanted.lookup_key)
    };
    Err(CheckoutError::HasSubscription { plan, change_url })
}

/// What a Checkout Session sells, and on which terms.
struct Offer<'a> {
    price: &'a StripePrice,
    mode: CheckoutSessionMode,
    coupon: Option<&'a Coupon>,
    /// A free trial, for someone who never subscribed before.
    trial_days: Option<u32>,
}

/// One trial per person: a signed-in buyer who ever had a subscription (theirs, or their Stripe
/// customer's, in any state) gets none. A buyer who is not signed in cannot be told apart.
async fn had_subscription(
    state: &AppState,
    user: Option<&AuthUser>,
) -> Result<bool, CheckoutError> {
    let Some(user) = user else {
        return Ok(false);
    };
    db_billing::subscriptions_for_user(&state.db, user.id)
        .await
        .map(|rows| !rows.is_empty())
        .context("checkout: earlier subscriptions")
        .map_err(CheckoutError::Internal)
}

/// Opens the session, without the stored customer if Stripe no longer knows it (deleted, or a
/// reset emulator).
async fn open(
    billing: &Billing,
    offer: &Offer<'_>,
    user: Option<&AuthUser>,
    customer: Option<&str>,
    request: &CheckoutRequest,
) -> Result<CheckoutSession, StripeError> {
    match send(billing, offer, user, customer, request).await {
        Err(StripeError::Api {
            param: Some(param), ..
        }) if customer.is_some() && param == "customer" => {
            tracing::warn!("stored Stripe customer is unknown to Stripe; checking out without it");
            send(billing, offer, user, None, request).await
        }
        other => other,
    }
}

async fn send(
    billing: &Billing,
    offer: &Offer<'_>,
    user: Option<&AuthUser>,
    customer: Option<&str>,
    request: &CheckoutRequest,
) -> Result<CheckoutSession, StripeError> {
    let Offer {
        price,
        mode,
        coupon,
        trial_days,
    } = offer;
    let coupon = *coupon;
    let mut session = CreateCheckoutSession::new()
        .mode(mode.clone())
        .line_items(vec![CreateCheckoutSessionLineItems {
            price: Some(price.id.clone()),
            quantity: Some(1),
            ..Default::default()
        }])
        .success_url(request.success_url.as_str())
        .cancel_url(request.cancel_url.as_str());
    if *mode == CheckoutSessionMode::Payment {
        // A one-time purchase gets a paid invoice too: the receipt `/billing` lists.
        session = session.invoice_creation(CreateCheckoutSessionInvoiceCreation::new(true));
    } else {
        // Cards only for subscriptions: a plan change waits for its payment
        // (`pending_if_incomplete`), which Stripe does not offer for bank debits.
        session = session.allowed_payment_method_types(vec![
            CreateCheckoutSessionAllowedPaymentMethodTypes::Card,
        ]);
    }
    if let Some(days) = trial_days {
        session = session.subscription_data(CreateCheckoutSessionSubscriptionData {
            trial_period_days: Some(*days),
            ..CreateCheckoutSessionSubscriptionData::new()
        });
    }
    // Business buyers can give a tax ID whether they are new or returning. A returning customer's
    // name is then updated from what they enter: Stripe saves a tax ID with the name it is
    // registered to, and refuses tax ID collection for a customer otherwise.
    session = session.tax_id_collection(CreateCheckoutSessionTaxIdCollection::new(true));
    match customer {
        Some(id) => {
            session = session
                .customer(id)
                .customer_update(CreateCheckoutSessionCustomerUpdate {
                    name: Some(CreateCheckoutSessionCustomerUpdateName::Auto),
                    ..CreateCheckoutSessionCustomerUpdate::new()
                })
        }
        None => {
            if *mode == CheckoutSessionMode::Payment {
                session = session
                    .customer_creation(CreateCheckoutSessionCustomerCreation::Always)
                    .payment_intent_data(CreateCheckoutSessionPaymentIntentData {
                        setup_future_usage: Some(
                            CreateCheckoutSessionPaymentIntentDataSetupFutureUsage::OnSession,
                        ),
                        ..CreateCheckoutSessionPaymentIntentData::new()
                    });
            }
            if let Some(u) = user {
                session = session.customer_email(u.email.as_str());
            }
        }
    }
    // Stripe refuses promotion codes together with a discount: one or the other.
    session = match coupon {
        Some(coupon) => session.discounts(vec![CreateCheckoutSessionDiscounts {
            coupon: Some(coupon.id.clone()),
            ..CreateCheckoutSessionDiscounts::new()
        }]),
        None => session.allow_promotion_codes(true),
    };
    if let Some(u) = user {
        session = session.client_reference_id(u.id.to_string());
    }
    billing.client.send(&session).await
}

/// Reads a Checkout Session back for the success page. The session id only shows what was
/// bought; it never signs anyone in.
pub async fn summary(
    state: &AppState,
    session_id: &str,
    viewer: Option<&AuthUser>,
) -> Result<PurchaseSummary, AppError> {
    let valid = session_id.starts_with("cs_")
        && session_id.len() <= 255
        && session_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid {
        return Err(AppError::BadRequest(
            "This is not a Checkout Session id.".into(),
        ));
    }
    let billing = state
        .billing
        .as_ref()
        .ok_or_else(|| AppError::from(CheckoutError::BillingOff))?;
    let read = super::fetch::session(&billing.client, session_id)
        .await
        .map_err(|e| match e {
            super::fetch::FetchError::NotFound => {
                AppError::NotFound("This checkout session does not exist.".into())
            }
            super::fetch::FetchError::Stripe(e) if e.is_transient() => {
                tracing::warn!(error = %e, "cannot read a Checkout Session back: Stripe is busy");
                stripe_busy()
            }
            super::fetch::FetchError::Stripe(e) => {
                tracing::error!(error = %e, "cannot read a Checkout Session back");
                AppError::Stripe(e.describe())
            }
        })?;
    // Whichever arrives first, this page or the webhook, stores the purchase; the other changes
    // nothing. A failure here loses nothing: the webhook applies it too.
    let source = super::sync::Source::Viewer(viewer.map(|v| v.id));
    if let Err(e) = super::sync::store_checkout_session(&state.db, &read, source).await {
        e.log();
    }
    let session = read.object;
    // The buyer's email is theirs to see: shown to the account the session was made for, or to
    // one that has proven that email; anyone else holding the link is told only that a receipt
    // was sent.
    let buyer_email = session
        .customer_details
        .as_ref()
        .and_then(|d| d.email.clone())
        .or_else(|| session.customer_email.clone());
    let email = buyer_email.filter(|email| {
        viewer.is_some_and(|v| {
            session.client_reference_id.as_deref() == Some(v.id.to_string().as_str())
                || (v.email_verified && v.email.eq_ignore_ascii_case(email))
        })
    });
    // Stripe's state of the subscription now: the webhook may have ended its trial or cancelled
    // it (`billing::overlap`) since Checkout offered it.
    let status = match session.subscription.as_ref() {
        Some(Expandable::Object(sub)) => Some(sub.status.clone()),
        _ => None,
    };
    let (paid, subscription) = (session.is_paid(), session.is_subscription());
    let offered_trial = session.is_trial();
    let canceled = status.as_deref() == Some("canceled");
    let trial = offered_trial && status.as_deref().is_none_or(|s| s == "trialing");
    let trial_refused = offered_trial && !trial && !canceled;
    let currency = session.currency.clone().unwrap_or_else(|| "usd".into());
    let items = session
        .line_items
        .map(|l| l.data)
        .unwrap_or_default()
        .into_iter()
        .map(|item| {
            (
                item.description.unwrap_or_default(),
                format_amount(item.amount_total, &item.currency),
            )
        })
        .collect();
    Ok(PurchaseSummary {
        paid,
        subscription,
        trial,
        trial_refused,
        canceled,
        status: session.status.unwrap_or_default(),
        email,
        items,
        total: format_amount(session.amount_total.unwrap_or(0), &currency),
    })
}

/// The catalog price (lookup key) of the user's live subscription, for the pricing page to mark.
pub async fn current_price(state: &AppState, user: DbUuid) -> Result<Option<String>, ServerError> {
    let live = state
        .plan_reads
        .live_price(user)
        .await
        .context("current plan")?;
    let Some(price_id) = live else {
        return Ok(None);
    };
    let Some(billing) = state.billing.as_ref() else {
        return Ok(None);
    };
    let Ok(index) = billing.prices().await else {
        return Ok(None);
    };
    // A price setup replaced marks the catalog price that took its place.
    Ok(index
        .plan_price(&price_id)
        .and_then(|p| p.lookup_key.clone()))
}

#[cfg(test)]
mod tests;
