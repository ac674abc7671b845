//! What `/billing` and `/app` show a signed-in user: stored state, named by the catalog, with
//! access decided by the one rule in `model::access`.

use chrono::{DateTime, Utc};

use super::client::Patience;
use super::dispute_holds::Hold;
use super::resync;
use crate::model::access::{access, sources, Access, PurchaseFacts, SubscriptionFacts};
use crate::model::billing::{
    AppAccess, BillingOverview, InvoiceView, PurchaseView, ScheduledChange, SubscriptionView,
    WaitingChange,
};
use crate::model::catalog::{format_amount, Interval};
use crate::model::entitlements::{label, larger, InForce};
use crate::model::error::AppError;
use crate::server::auth::session::AuthUser;
use crate::server::db::billing::{self, PurchaseRow, SubscriptionRow};
use crate::server::db::subscription_holds::{self, SubscriptionDispute};
use crate::server::db::{customers, schedules};
use crate::server::error::{Context, ServerError};
use crate::server::state::AppState;

/// Invoices the billing page lists (the portal has the full history).
const INVOICES_SHOWN: i64 = 24;

/// A date as the pages write it: "January 14, 2027".
pub(crate) fn date(unix: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix, 0)
        .map(|d| d.format("%B %-d, %Y").to_string())
        .unwrap_or_default()
}

/// Names the catalog plan (and interval) of Stripe price ids: through the price's product, so a
/// price `landing stripe setup` replaced keeps its plan. With billing off, Stripe unreachable,
/// or a price Stripe's index does not have, the id is taken for a lookup key.
async fn plans_of(state: &AppState) -> impl Fn(&str) -> Option<(String, Option<Interval>)> {
    let index = match state.billing.as_ref() {
        Some(billing) => billing.prices().await.ok(),
        None => None,
    };
    let catalog = state.source_catalog.clone();
    move |price_id: &str| {
        index
            .as_ref()
            .and_then(|index| index.plan_price(price_id))
            .map(|p| (p.plan.clone(), p.interval))
            .or_else(|| {
                let plan = catalog.plan_of(price_id)?;
                let price = plan.prices.iter().find(|p| p.lookup_key == price_id)?;
                Some((plan.id.clone(), Some(price.interval)))
            })
    }
}

/// The plan ids of Stripe price ids, for `model::entitlements`.
async fn plan_ids(state: &AppState) -> impl Fn(&str) -> Option<String> {
    let plans_of = plans_of(state).await;
    move |price_id: &str| plans_of(price_id).map(|(plan, _)| plan)
}

/// The plan a Stripe price belongs to, as the catalog names it ("Pro (yearly)"), else the id.
async fn plan_name(state: &AppState, price_id: &str) -> String {
    let Some((plan, interval)) = plans_of(state).await(price_id) else {
        return price_id.to_string();
    };
    let Some(plan) = state.catalog.plans.iter().find(|p| p.id == plan) else {
        return price_id.to_string();
    };
    match interval {
        Some(Interval::Month) => format!("{} (monthly)", plan.name),
        Some(Interval::Year) => format!("{} (yearly)", plan.name),
        _ => plan.name.clone(),
    }
}

fn grace_secs(state: &AppState) -> i64 {
    state.config.past_due_grace_days * 86_400
}

fn decide(
    state: &AppState,
    subs: &[SubscriptionRow],
    purchases: &[PurchaseRow],
    disputes: &[SubscriptionDispute],
) -> Access {
    let (subs, purchases) = facts(subs, purchases, disputes);
    access(
        &subs,
        &purchases,
        crate::server::auth::jwt::now(),
        grace_secs(state),
    )
}

/// Every kind of access the rows give now (a subscription's and a purchase's).
fn decide_sources(
    state: &AppState,
    subs: &[SubscriptionRow],
    purchases: &[PurchaseRow],
    disputes: &[SubscriptionDispute],
) -> Vec<Access> {
    let (subs, purchases) = facts(subs, purchases, disputes);
    sources(
        &subs,
        &purchases,
        crate::server::auth::jwt::now(),
        grace_secs(state),
    )
}

/// The rows as access reads them. A subscription whose payment is disputed gives no access
/// until the bank decides for us (`dispute_holds::Hold`): it is left out of the facts.
fn facts<'a>(
    subs: &'a [SubscriptionRow],
    purchases: &'a [PurchaseRow],
    disputes: &[SubscriptionDispute],
) -> (Vec<SubscriptionFacts<'a>>, Vec<PurchaseFacts<'a>>) {
    let held = |s: &SubscriptionRow| {
        disputes
            .iter()
            .any(|d| d.subscription_id == s.id && Hold::of(&d.dispute_status) != Hold::Released)
    };
    let subs = subs
        .iter()
        .filter(|s| !held(s))
        .map(|s| SubscriptionFacts {
            status: &s.status,
            price_id: &s.price_id,
            current_period_start: s.current_period_start,
        })
        .collect();
    let purchases = purchases
        .iter()
        .map(|p| PurchaseFacts {
            status: &p.status,
            price_id: &p.price_id,
            amount: p.amount_total,
            amount_refunded: p.amount_refunded,
            dispute_status: p.dispute_status.as_deref(),
        })
        .collect();
    (subs, purchases)
}

/// A purchase's state in words: paid, refunded (all or part), or disputed.
fn purchase_status(p: &PurchaseRow) -> String {
    let refunded = format_amount(p.amount_refunded, &p.currency);
    match p.dispute_status.as_deref() {
        Some("won") => return "paid (dispute won)".into(),
        Some("prevented") => return "paid (dispute closed with no chargeback)".into(),
        Some("lost") => return "disputed and lost: access ended".into(),
        Some("warning_closed") | None => {}
        Some(_) => return "disputed: access suspended until the bank decides".into(),
    }
    match p.amount_refunded {
        0 => p.status.clone(),
        r if r >= p.amount_total => "Refunded".into(),
        _ => format!("paid, {refunded} refunded"),
    }
}

/// A disputed payment of a subscription, in words, from its latest dispute's status.
fn dispute_text(id: &str, disputes: &[SubscriptionDispute]) -> Option<String> {
    let latest = disputes.iter().rev().find(|d| d.subscription_id == id)?;
    Some(
        match Hold::of(&latest.dispute_status) {
            Hold::Paused => "A payment is disputed: access is suspended and nothing more is charged until the bank decides",
            Hold::Released => "A disputed payment was settled in our favour: access and renewals go on",
            Hold::Ended => "A payment was disputed and lost: the subscription has ended",
        }
        .to_string(),
    )
}

fn status_label(status: &str) -> &'static str {
    match status {
        "active" => "Active",
        "trialing" => "Trial",
        "past_due" => "Past due",
        "canceled" => "Canceled",
        "unpaid" => "Unpaid",
        "incomplete" => "Incomplete",
        "incomplete_expired" => "Expired",
        "paused" => "Paused",
        _ => "Unknown",
    }
}

fn when(state: &AppState, s: &SubscriptionRow) -> Option<String> {
    let end = s.current_period_end.map(date);
    match s.status.as_str() {
        "canceled" => s.canceled_at.map(|t| format!("Ended on {}", date(t))),
        "past_due" => s.current_period_start.map(|start| {
            format!(
                "Payment failed: access continues until {} while the card is retried",
                date(start + grace_secs(state))
            )
        }),
        // A date set for the cancellation (the Dashboard's `cancel_at`) or the period's end.
        _ if s.cancel_at.is_some() || s.cancel_at_period_end => s
            .cancel_at
            .map(date)
            .or(end)
            .map(|d| format!("Cancels on {d}")),
        "trialing" => end.map(|d| format!("First payment on {d}")),
        _ => end.map(|d| format!("Renews on {d}")),
    }
}

pub async fn billing(
    state: &AppState,
    user: &AuthUser,
    refresh: bool,
) -> Result<BillingOverview, ServerError> {
    let mut customer = customers::customer_id_for_user(&state.db, user.id)
        .await
        .context("billing: customer")?;
    // Back from the portal: its changes reach us by webhook, maybe after this page loads, so
    // read them now. A Stripe that does not answer leaves the stored state shown, said so.
    let mut stale = false;
    if refresh {
        // Found by email only once the user has proven it.
        let result = match customer.as_deref() {
            Some(c) => resync::customer(state, c, Patience::Buyer).await,
            None if user.email_verified => resync::by_email(state, &user.email).await,
            None => Ok(Default::default()),
        };
        match result {
            Ok(_) => {
                customer = customers::customer_id_for_user(&state.db, user.id)
                    .await
                    .context("billing: customer")?;
            }
            Err(e) => {
                tracing::warn!(error = %e, "billing page: cannot refresh from Stripe");
                stale = true;
            }
        }
    }
    let subs = billing::subscriptions_for_user(&state.db, user.id)
        .await
        .context("billing: subscriptions")?;
    let purchases = billing::purchases_for_user(&state.db, user.id)
        .await
        .context("billing: purchases")?;
    let invoices = billing::invoices_for_user(&state.db, user.id, INVOICES_SHOWN)
        .await
        .context("billing: invoices")?;
    let disputes = subscription_holds::disputes_for_user(&state.db, user.id)
        .await
        .context("billing: disputes")?;
    let pending = subscription_holds::pending_changes_for_user(&state.db, user.id)
        .await
        .context("billing: pending changes")?;
    // As the last read of the customer stored it (`customer.updated`): never read here.
    let credit = customers::balance_for_user(&state.db, user.id)
        .await
        .context("billing: balance")?
        .filter(|b| b.balance < 0)
        .map(|b| format_amount(-b.balance, b.currency.as_deref().unwrap_or("usd")));
    let decided = decide(state, &subs, &purchases, &disputes);
    let access_text = match &decided {
        Access::Subscription { price_id, .. } => {
            format!(
                "You have access through {}.",
                plan_name(state, price_id).await
            )
        }
        Access::Purchase { price_id } => {
            format!(
                "You have access through {}.",
                plan_name(state, price_id).await
            )
        }
        Access::None => "You have no active plan.".to_string(),
    };
    let scheduled_changes = schedules::pending_for_user(&state.db, user.id)
        .await
        .context("billing: schedules")?;
    let mut subscription_views = Vec::with_capacity(subs.len());
    for s in &subs {
        // A change its schedule makes at the period's end, until it applies (the stored price
        // becomes the scheduled one) or the subscription ends.
        let scheduled = match scheduled_changes.iter().find(|p| p.subscription_id == s.id) {
            Some(p) if matches!(s.status.as_str(), "active" | "trialing" | "past_due") => {
                match (&p.next_price_id, p.next_starts_at) {
                    (Some(price), Some(at)) if *price != s.price_id => Some(ScheduledChange {
                        to: plan_name(state, price).await,
                        on: date(at),
                        keep: plan_name(state, &s.price_id).await,
                    }),
                    _ => None,
                }
            }
            _ => None,
        };
        subscription_views.push(SubscriptionView {
            scheduled,
            plan: plan_name(state, &s.price_id).await,
            status: s.status.clone(),
            status_label: status_label(&s.status).to_string(),
            when: when(state, s),
            trial_ends: s.trial_end.filter(|_| s.status == "trialing").map(date),
            waiting: match pending.iter().find(|p| p.subscription_id == s.id) {
                Some(p) => Some(WaitingChange {
                    text: format!(
                        "{} is waiting for your payment.",
                        plan_name(state, &p.price_id).await
                    ),
                    until: p
                        .expires_at
                        .map(|t| format!("Unpaid, the change is dropped on {}.", date(t))),
                    url: p.hosted_invoice_url.clone(),
                }),
                None => None,
            },
            dispute: dispute_text(&s.id, &disputes),
        });
    }
    let mut purchase_views = Vec::with_capacity(purchases.len());
    for p in &purchases {
        purchase_views.push(PurchaseView {
            item: plan_name(state, &p.price_id).await,
            date: p.created_at.format("%B %-d, %Y").to_string(),
            amount: format_amount(p.amount_total, &p.currency),
            status: purchase_status(p),
        });
    }
    Ok(BillingOverview {
        has_customer: customer.is_some(),
        access_open: decided.is_open(),
        access: access_text,
        subscriptions: subscription_views,
        invoices: invoices
            .into_iter()
            .map(|i| InvoiceView {
                number: i.number.unwrap_or_else(|| i.id.clone()),
                date: date(i.stripe_created),
                amount: format_amount(i.amount_due, &i.currency),
                status: i.status,
                url: i.hosted_invoice_url,
            })
            .collect(),
        purchases: purchase_views,
        credit,
        stale,
    })
}

/// The access in force for a user now, and what it entitles to: of the access their stored
/// billing state gives (a subscription, a one-time purchase, or both), the one whose plan
/// entitles to more (`model::entitlements::larger`).
async fn in_force_of(state: &AppState, user: &AuthUser) -> Result<(Access, InForce), ServerError> {
    let subs = billing::subscriptions_for_user(&state.db, user.id)
        .await
        .context("access: subscriptions")?;
    let purchases = billing::purchases_for_user(&state.db, user.id)
        .await
        .context("access: purchases")?;
    let disputes = subscription_holds::disputes_for_user(&state.db, user.id)
        .await
        .context("access: disputes")?;
    let found = decide_sources(state, &subs, &purchases, &disputes);
    Ok(larger(found, &state.catalog, plan_ids(state).await))
}

/// What the user may use now: `GET /api/entitlements`.
pub async fn entitlements(state: &AppState, user: &AuthUser) -> Result<InForce, ServerError> {
    Ok(in_force_of(state, user).await?.1)
}

/// Refuses what the user's plan does not include: `wanted` of entitlement `name` (the 11th
/// monitor is `wanted = 11`). The refusal is a 403 that says what the plan includes and where
/// the plans are; the answer otherwise is what is in force.
pub async fn require_entitlement(
    state: &AppState,
    user: &AuthUser,
    name: &str,
    wanted: i64,
) -> Result<InForce, AppError> {
    let in_force = entitlements(state, user).await.map_err(AppError::from)?;
    let allowed = in_force.entitlements.get(name).copied().unwrap_or(0);
    if wanted <= allowed {
        return Ok(in_force);
    }
    let what = label(name).to_lowercase();
    Err(AppError::Forbidden(match in_force.plan {
        None => format!("This needs a plan that includes {what}: see the plans on /pricing."),
        Some(_) => format!(
            "Your plan includes {allowed} {what}. For more, switch to a larger plan on /pricing."
        ),
    }))
}

pub async fn app_access(state: &AppState, user: &AuthUser) -> Result<AppAccess, ServerError> {
    let (access, in_force) = in_force_of(state, user).await?;
    let monitors_allowed = in_force.entitlements.get("monitors").copied().unwrap_or(0);
    let entitlements = in_force
        .entitlements
        .into_iter()
        .map(|(name, value)| (label(&name), value))
        .collect();
    Ok(match access {
        Access::Subscription {
            price_id,
            status,
            grace_until,
        } => AppAccess {
            open: true,
            plan: Some(plan_name(state, &price_id).await),
            detail: match grace_until {
                Some(until) => format!(
                    "Your last payment failed. Access continues until {}: update your card from Billing.",
                    date(until)
                ),
                None if status == "trialing" => "You are on a free trial.".into(),
                None => "Your subscription is active.".into(),
            },
            entitlements,
            monitors: Vec::new(),
            monitors_allowed,
        },
        Access::Purchase { price_id } => AppAccess {
            open: true,
            plan: Some(plan_name(state, &price_id).await),
            detail: "Yours to keep: a one-time purchase.".into(),
            entitlements,
            monitors: Vec::new(),
            monitors_allowed,
        },
        Access::None => AppAccess {
            open: false,
            plan: None,
            detail: "You have no active plan.".into(),
            entitlements,
            monitors: Vec::new(),
            monitors_allowed,
        },
    })
}
