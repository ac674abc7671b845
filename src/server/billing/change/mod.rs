//! Changing plan on our site (`/billing/change`): Stripe's invoice preview shows what the change
//! costs, and the confirmation changes the subscription item's price as of the preview's moment,
//! so the buyer is charged what they were shown.
//!
//! The rule, one for the page, the confirmation and the portal (`landing stripe setup`
//! configures the portal's `schedule_at_period_end` with the same two conditions):
//! - to a price that costs less per period (`decreasing_item_amount`), or that bills more often
//!   (`shortening_interval`), the change waits for the end of the paid period: a subscription
//!   schedule (`schedule`) bills the current price until then and the new one after. Nothing is
//!   charged or credited now, nothing of the paid period is lost, and access stays the current
//!   plan's until the switch;
//! - any other change (a dearer price, or a longer interval) is charged now
//!   (`proration_behavior=always_invoice`): the unused part of the current period is credited,
//!   and the rest of it (or, for a new interval, a new period from today) is invoiced at the
//!   new price;
//! - while trialing, nothing is charged whatever the change: the preview and the update send the
//!   trial's end as it is (`trial_end`), so the trial goes on and its end bills the new price.
//!   Without it, Stripe may end the trial or invoice the change at once.
//!
//! A change made now releases a schedule the subscription has first, so a downgrade scheduled
//! earlier does not undo it at the period's end.
//!
//! The renewal the page announces is Stripe's too, never the catalog's price: a change charged
//! now is previewed a second time (`preview_mode=recurring`) for the first renewal after it,
//! with the discounts that will still apply then; the customer's balance (credit, Stripe's
//! negative `balance`) pays it first, as it stands after the change's own invoice used or added
//! to it. A change billed at renewal (a trial's) is previewed as that renewal, balance applied.

mod schedule;

pub use schedule::keep;

use chrono::Utc;
use stripe_billing::invoice::{
    CreatePreviewInvoice, CreatePreviewInvoicePreviewMode, CreatePreviewInvoiceSubscriptionDetails,
    CreatePreviewInvoiceSubscriptionDetailsItems,
    CreatePreviewInvoiceSubscriptionDetailsProrationBehavior as PreviewProration,
    CreatePreviewInvoiceSubscriptionDetailsTrialEnd as PreviewTrialEnd,
};
use stripe_billing::subscription::{
    UpdateSubscription, UpdateSubscriptionItems, UpdateSubscriptionPaymentBehavior,
    UpdateSubscriptionProrationBehavior as Proration, UpdateSubscriptionTrialEnd,
};

use super::catalog::PlanPrice;
use super::client::{Patience, StripeError};
use super::fetch::{self, FetchError};
use super::objects::{Invoice, List, Subscription};
use super::overview::date;
use super::resync;
use crate::model::catalog::{format_amount, Catalog, Interval};
use crate::model::change::ChangePreview;
use crate::model::error::AppError;
use crate::server::auth::session::AuthUser;
use crate::server::db::billing as db_billing;
use crate::server::error::{stripe_busy, Context, ServerError};
use crate::server::state::AppState;

/// How old a preview may be when it is confirmed: past this, prices are shown again.
const PREVIEW_VALID_SECS: i64 = 15 * 60;

#[derive(Debug)]
pub enum ChangeError {
    BillingOff,
    NotSubscribed,
    UnknownPrice(String),
    OneTime(String),
    SamePrice,
    Expired,
    /// The last renewal is unpaid: a change would open a second unpaid invoice. The open
    /// invoice's page, where it can be paid, when Stripe gives one.
    PastDue(Option<String>),
    /// Stripe stayed busy or out of reach through every try: nothing changed.
    Busy,
    Stripe(String),
    Internal(ServerError),
}

/// What the client is told; a failure inside (or Stripe's) is logged on the way.
impl From<ChangeError> for AppError {
    fn from(e: ChangeError) -> Self {
        match e {
            ChangeError::BillingOff => AppError::Unavailable(
                "Payments are not set up on this site yet: no Stripe key is configured.".into(),
            ),
            ChangeError::NotSubscribed => AppError::Conflict(
                "You have no subscription to change: pick a plan on the pricing page.".into(),
            ),
            ChangeError::UnknownPrice(p) => AppError::BadRequest(format!(
                "Unknown price `{}`: only the plans on the pricing page can be switched to.",
                p.chars().take(80).collect::<String>()
            )),
            ChangeError::OneTime(plan) => AppError::BadRequest(format!(
                "{plan} is a one-time purchase, not a subscription: buy it from the pricing page."
            )),
            ChangeError::SamePrice => AppError::Conflict("This is already your plan.".into()),
            ChangeError::Expired => AppError::Conflict(
                "The amounts shown have expired. Here they are again: confirm when you are ready."
                    .into(),
            ),
            ChangeError::PastDue(url) => AppError::Conflict(match url {
                Some(url) => format!(
                    "Your last payment did not go through: pay the open invoice first ({url}), then change your plan."
                ),
                None => "Your last payment did not go through: pay the open invoice on the billing page first, then change your plan.".into(),
            }),
            ChangeError::Busy => stripe_busy(),
            ChangeError::Stripe(m) => {
                tracing::error!(error = %m, "plan change: Stripe failed");
                AppError::Stripe(m)
            }
            ChangeError::Internal(e) => e.into(),
        }
    }
}

impl From<FetchError> for ChangeError {
    fn from(e: FetchError) -> Self {
        match e {
            FetchError::NotFound => ChangeError::NotSubscribed,
            FetchError::Stripe(e) => ChangeError::from(e),
        }
    }
}

impl From<StripeError> for ChangeError {
    fn from(e: StripeError) -> Self {
        if e.is_transient() {
            tracing::warn!(error = %e, "plan change: Stripe stayed busy");
            ChangeError::Busy
        } else {
            ChangeError::Stripe(e.describe())
        }
    }
}

/// What the buyer confirmed led to.
#[derive(Debug, PartialEq, Eq)]
pub enum Confirmed {
    Changed,
    /// Scheduled for the end of the paid period: nothing changed yet.
    Scheduled,
    /// The charge needs the buyer (3-D Secure): Stripe's hosted invoice page takes them through.
    NeedsAction(String),
}

/// The live subscription as Stripe has it now, and the price it is changing to.
struct Change {
    subscription: Subscription,
    item_id: String,
    /// The subscription's price as Stripe bills it: a catalog price, or one `landing stripe
    /// setup` replaced, with its own amount and interval.
    from: PlanPrice,
    to: PlanPrice,
    /// The lookup key `to` is sold under.
    to_key: String,
    period: (i64, i64),
    charged_now: bool,
    /// A downgrade or a shorter interval: scheduled for the period's end (see the rule above).
    at_period_end: bool,
    new_interval: bool,
    /// The item's quantity, which a scheduled phase keeps.
    quantity: u64,
    /// The end of the trial the subscription is on, which the change keeps.
    trial_end: Option<i64>,
}

/// A plan and its interval, for words on the page: "Pro, monthly".
fn describe(catalog: &Catalog, price: &PlanPrice) -> String {
    let name = catalog
        .plans
        .iter()
        .find(|p| p.id == price.plan)
        .map_or(price.plan.as_str(), |p| p.name.as_str());
    let billing = match price.interval {
        Some(Interval::Month) => ", monthly",
        Some(Interval::Year) => ", yearly",
        _ => "",
    };
    format!("{name}{billing}")
}

/// The user's live subscription (as stored) as Stripe has it now: its item, period, status and
/// schedule are Stripe's, not what we stored. `what` names the caller in a database error.
async fn live_subscription(
    state: &AppState,
    billing: &super::account::Billing,
    user: &AuthUser,
    what: &'static str,
) -> Result<Subscription, ChangeError> {
    let rows = db_billing::subscriptions_for_user(&state.db, user.id)
        .await
        .context(what)
        .map_err(ChangeError::Internal)?;
    let live = rows
        .iter()
        .find(|s| is_live(&s.status))
        .ok_or(ChangeError::NotSubscribed)?;
    Ok(fetch::subscription(&billing.client, &live.id).await?.object)
}

async fn prepare(
    state: &AppState,
    user: &AuthUser,
    lookup_key: &str,
) -> Result<Change, ChangeError> {
    let billing = state.billing.as_ref().ok_or(ChangeError::BillingOff)?;
    let index = billing
        .prices()
        .await
        .map_err(|_| ChangeError::Stripe("Stripe's prices could not be read".into()))?;
    let unknown = || ChangeError::UnknownPrice(lookup_key.to_string());
    let sold = index.by_lookup_key(lookup_key.trim()).ok_or_else(unknown)?;
    let to = index.plan_price(&sold.id).cloned().ok_or_else(unknown)?;
    if !sold.recurring {
        return Err(ChangeError::OneTime(describe(&state.source_catalog, &to)));
    }
    let to_key = sold.lookup_key.clone();
    let subscription =
        live_subscription(state, billing, user, "plan change: subscriptions").await?;
    if !is_live(&subscription.status) {
        return Err(ChangeError::NotSubscribed);
    }
    if subscription.status == "past_due" {
        let invoice = match subscription.latest_invoice.as_ref() {
            Some(invoice) => fetch::invoice(&billing.client, invoice.id()).await?.object,
            None => return Err(ChangeError::PastDue(None)),
        };
        let open = invoice.status.as_deref() == Some("open");
        return Err(ChangeError::PastDue(
            invoice.hosted_invoice_url.filter(|_| open),
        ));
    }
    let item = subscription
        .items
        .data
        .first()
        .ok_or_else(|| ChangeError::Stripe("the subscription has no items".into()))?;
    let item_id = item
        .id
        .clone()
        .ok_or_else(|| ChangeError::Stripe("the subscription item has no id".into()))?;
    // A price of no catalog plan's product (made by hand in the Dashboard): nothing says what
    // it is worth or how often it bills, so the change is charged now, as one to a new interval.
    let from = index
        .plan_price(item.price.id())
        .cloned()
        .unwrap_or_else(|| PlanPrice {
            id: item.price.id().to_string(),
            plan: item.price.id().to_string(),
            interval: None,
            amount: 0,
            currency: to.currency.clone(),
            active: true,
            lookup_key: None,
        });
    if from.id == to.id {
        return Err(ChangeError::SamePrice);
    }
    let new_interval = from.interval != to.interval;
    let period = (item.current_period_start, item.current_period_end);
    let trial_end = subscription
        .trial_end
        .filter(|_| subscription.status == "trialing");
    // A price no catalog plan sells (amount and interval unknown) is never scheduled.
    let known = from.interval.is_some();
    let at_period_end = trial_end.is_none()
        && known
        && (to.amount < from.amount || interval_days(to.interval) < interval_days(from.interval));
    Ok(Change {
        charged_now: trial_end.is_none() && !at_period_end,
        at_period_end,
        quantity: item.quantity.unwrap_or(1),
        trial_end,
        new_interval,
        item_id,
        from,
        to,
        to_key,
        period,
        subscription,
    })
}

/// An interval's length in days, to tell a shorter one (a one-time price has none).
fn interval_days(interval: Option<Interval>) -> i64 {
    match interval {
        Some(Interval::Month) => 30,
        Some(Interval::Year) => 365,
        Some(Interval::OneTime) | None => 0,
    }
}

/// Live: it bills, so it is what a change changes (a `past_due` one is refused, see `prepare`).
fn is_live(status: &str) -> bool {
    matches!(status, "active" | "trialing" | "past_due")
}

/// Now, within the subscription's current period (Stripe prorates only inside it).
fn now_in(period: (i64, i64)) -> i64 {
    Utc::now()
        .timestamp()
        .clamp(period.0, period.1.max(period.0))
}

/// A preview invoice's lines, for the end of the new period they bill.
#[derive(Debug, serde::Deserialize)]
struct PreviewInvoice {
    #[serde(flatten)]
    invoice: Invoice,
    /// After discounts; negative when it credits the customer.
    total: i64,
    /// The customer's balance as it stands: the credit (negative) `amount_due` took into account.
    #[serde(default)]
    starting_balance: i64,
    #[serde(default)]
    lines: List<PreviewLine>,
}

impl PreviewInvoice {
    /// The customer's balance once this invoice is finalised: what it did not use of the
    /// credit, plus the credit a negative total adds.
    fn balance_after(&self) -> i64 {
        self.starting_balance + self.total - self.invoice.amount_due
    }

    /// The start of the first period its lines bill (a renewal's date).
    fn first_period_start(&self) -> Option<i64> {
        self.lines
            .data
            .iter()
            .filter_map(|l| l.period.as_ref().map(|p| p.start))
            .min()
    }
}

/// What an invoice of `total` charges to a customer whose balance is `balance`, as Stripe
/// settles it: credit pays first, a debt is added, and nothing is charged for a credit.
fn charged(total: i64, balance: i64) -> i64 {
    if total <= 0 {
        0
    } else {
        (total + balance).max(0)
    }
}

/// The renewal after a change: what it costs (discounts taken off), what is charged of it once
/// the credit has paid its part, and when.
struct Renewal {
    total: i64,
    due: i64,
    date: i64,
}

#[derive(Debug, serde::Deserialize)]
struct PreviewLine {
    amount: i64,
    period: Option<LinePeriod>,
}

#[derive(Debug, serde::Deserialize)]
struct LinePeriod {
    start: i64,
    end: i64,
}

/// What changing to `lookup_key` costs today and at renewal, from Stripe's invoice preview.
pub async fn preview(
    state: &AppState,
    user: &AuthUser,
    lookup_key: &str,
) -> Result<ChangePreview, ChangeError> {
    let change = prepare(state, user, lookup_key).await?;
    let billing = state.billing.as_ref().ok_or(ChangeError::BillingOff)?;
    let at = now_in(change.period);
    if change.at_period_end {
        return Ok(schedule::preview(state, &change, at));
    }
    let proration = if change.charged_now {
        PreviewProration::AlwaysInvoice
    } else {
        PreviewProration::None
    };
    let request = || {
        CreatePreviewInvoice::new()
            .customer(change.subscription.customer.id())
            .subscription(change.subscription.id.as_str())
            .subscription_details(CreatePreviewInvoiceSubscriptionDetails {
                items: Some(vec![CreatePreviewInvoiceSubscriptionDetailsItems {
                    id: Some(change.item_id.clone()),
                    price: Some(change.to.id.clone()),
                    ..CreatePreviewInvoiceSubscriptionDetailsItems::new()
                }]),
                proration_behavior: Some(proration.clone()),
                proration_date: Some(at),
                trial_end: change.trial_end.map(PreviewTrialEnd::Timestamp),
                ..CreatePreviewInvoiceSubscriptionDetails::new()
            })
    };
    let shown: PreviewInvoice = billing.client.send(&request()).await?;
    let currency = shown.invoice.currency.clone();
    let money = |amount: i64| format_amount(amount, &currency);
    let catalog = &state.source_catalog;
    let (from, to) = (
        describe(catalog, &change.from),
        describe(catalog, &change.to),
    );
    let due_today = if change.charged_now {
        shown.invoice.amount_due
    } else {
        0
    };
    let renewal = if change.charged_now {
        // Today's invoice is the change's: the renewal after it is Stripe's recurring preview,
        // paid from the balance today's invoice leaves.
        let recurring: PreviewInvoice = billing
            .client
            .send(&request().preview_mode(CreatePreviewInvoicePreviewMode::Recurring))
            .await?;
        // A new interval starts a new period today; otherwise the current one renews as before.
        let fallback = if change.new_interval {
            shown
                .lines
                .data
                .iter()
                .filter(|l| l.amount > 0)
                .filter_map(|l| l.period.as_ref().map(|p| p.end))
                .max()
                .unwrap_or(change.period.1)
        } else {
            change.period.1
        };
        Renewal {
            total: recurring.total,
            due: charged(recurring.total, shown.balance_after()),
            date: recurring.first_period_start().unwrap_or(fallback),
        }
    } else {
        // The preview is the renewal itself: at the trial's end.
        Renewal {
            total: shown.total,
            due: shown.invoice.amount_due,
            date: change.trial_end.unwrap_or(change.period.1),
        }
    };
    // The renewal's amount, and how the credit pays it: "$9, paid from your credit".
    let next = if renewal.due >= renewal.total || renewal.total <= 0 {
        money(renewal.due)
    } else if renewal.due == 0 {
        format!("{}, paid from your credit", money(renewal.total))
    } else {
        format!(
            "{} ({} less your credit)",
            money(renewal.due),
            money(renewal.total)
        )
    };
    let (due, when) = (money(due_today), date(renewal.date));
    let summary = if change.trial_end.is_some() {
        format!(
            "Your plan becomes {to} now and your free trial goes on: no charge until {when}, when you pay {next}."
        )
    } else if change.new_interval && shown.total < 0 {
        let kept = money(-shown.total);
        format!(
            "A new billing period on {to} starts today: the unused part of your current period pays for it, you pay {due} now, and {kept} is kept as credit for your next invoices. It renews on {when} at {next}."
        )
    } else if change.new_interval {
        format!(
            "A new billing period on {to} starts today: you pay {due} now, with the unused part of your current period taken off. It renews on {when} at {next}."
        )
    } else if change.charged_now {
        format!(
            "You pay {due} today for the rest of this period on {to}, with the unused part of {from} taken off. From {when}, it renews at {next}."
        )
    } else {
        format!(
            "Your plan becomes {to} now, with nothing to pay today. From {when}, you pay {next}."
        )
    };
    Ok(ChangePreview {
        from,
        to,
        price: change.to_key.clone(),
        charged_now: change.charged_now,
        at_period_end: false,
        due_today: due,
        next_amount: next,
        next_date: when,
        summary,
        proration_date: at,
    })
}

/// Changes the plan as of `proration_date` (a preview's, at most 15 minutes old), then stores
/// Stripe's new state at once so every page shows the new plan; the webhooks converge as always.
pub async fn confirm(
    state: &AppState,
    user: &AuthUser,
    lookup_key: &str,
    proration_date: i64,
) -> Result<Confirmed, ChangeError> {
    let change = prepare(state, user, lookup_key).await?;
    let billing = state.billing.as_ref().ok_or(ChangeError::BillingOff)?;
    let now = now_in(change.period);
    if proration_date > now
        || proration_date < now - PREVIEW_VALID_SECS
        || proration_date < change.period.0
    {
        return Err(ChangeError::Expired);
    }
    if change.at_period_end {
        schedule::schedule(state, &change, proration_date).await?;
        return Ok(Confirmed::Scheduled);
    }
    // A change scheduled earlier would undo this one at the period's end.
    schedule::release_before_change(state, &change, proration_date).await?;
    let mut request = UpdateSubscription::new(change.subscription.id.as_str())
        .items(vec![UpdateSubscriptionItems {
            id: Some(change.item_id.clone()),
            price: Some(change.to.id.clone()),
            ..UpdateSubscriptionItems::new()
        }])
        .proration_date(proration_date);
    request = if change.charged_now {
        // The new price applies only once it is paid: a charge that needs the buyer leaves
        // the plan as it was until they complete it on the invoice's page.
        request
            .proration_behavior(Proration::AlwaysInvoice)
            .payment_behavior(UpdateSubscriptionPaymentBehavior::PendingIfIncomplete)
    } else {
        request.proration_behavior(Proration::None)
    };
    if let Some(end) = change.trial_end {
        request = request.trial_end(UpdateSubscriptionTrialEnd::Timestamp(end));
    }
    // One key for this confirmed change: a buyer who confirms the same preview again (after a
    // "try again") gets Stripe's first answer, not a second change or a second charge.
    let key = format!(
        "plan-change:{}:{}:{}:{proration_date}",
        change.subscription.id, change.item_id, change.to.id
    );
    let updated: Subscription = billing.client.send_as(&request, &key).await.map_err(|e| {
        tracing::error!(error = %e, subscription = %change.subscription.id, "plan change refused by Stripe");
        ChangeError::from(e)
    })?;
    if let Err(e) = resync::customer(state, updated.customer.id(), Patience::Buyer).await {
        tracing::warn!(error = %e, "plan change: stored state waits for the webhooks");
    }
    if change.charged_now {
        if let Some(invoice) = updated.latest_invoice.as_ref() {
            let invoice = fetch::invoice(&billing.client, invoice.id()).await?.object;
            if invoice.status.as_deref() == Some("open") {
                if let Some(url) = invoice.hosted_invoice_url {
                    return Ok(Confirmed::NeedsAction(url));
                }
            }
        }
    }
    Ok(Confirmed::Changed)
}
