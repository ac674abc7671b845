//! A subscriber switches plans: what the change costs (prorations), when it is invoiced, and
//! the preview of that invoice.

use serde_json::{json, Value};

use super::interval_seconds;
use super::invoicing::{discount_of, draft_invoice, issue_invoice, use_discount, Draft, Payment};
use super::subscriptions::{change_subscription, ensure_live};
use crate::error::ApiError;
use crate::objects::{settle, InvoiceLine, PendingUpdate, Subscription};
use crate::store::{self, Duration, Store};

/// How a price change is billed: Stripe's `proration_behavior`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proration {
    /// Prorations are invoiced at once.
    AlwaysInvoice,
    /// Prorations wait for the next renewal's invoice (Stripe's default).
    CreateProrations,
    /// No credit and no charge for the rest of the period: the next renewal charges the new price.
    None,
}

impl Proration {
    pub fn parse(value: Option<&str>) -> Result<Proration, ApiError> {
        match value {
            None | Some("create_prorations") => Ok(Proration::CreateProrations),
            Some("always_invoice") => Ok(Proration::AlwaysInvoice),
            Some("none") => Ok(Proration::None),
            Some(other) => Err(ApiError::invalid_param(
                "proration_behavior",
                format!(
                    "Invalid proration_behavior: must be one of always_invoice, create_prorations, or none (got `{other}`)."
                ),
            )),
        }
    }
}

/// A trial's end as an update sets it (Stripe's `trial_end`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrialEnd {
    /// `now`: the trial ends with the change, and the new price is billed from now.
    Now,
    /// The trial runs until then (a timestamp in the future).
    At(i64),
}

/// A change of a subscription's price, as Stripe bills it.
pub struct PriceChange {
    pub sub_id: String,
    pub price_id: String,
    pub proration: Proration,
    /// When the change counts from (Stripe's `proration_date`): a preview's, so that the
    /// change charges what the preview showed. Now when absent.
    pub at: Option<i64>,
    /// Stripe's `payment_behavior=pending_if_incomplete`: a change invoiced now applies only
    /// once its invoice is paid.
    pub pending_if_incomplete: bool,
    /// Stripe's `trial_end`, taken only while the subscription is trialing: without it, a
    /// trial keeps its end.
    pub trial_end: Option<TrialEnd>,
}

/// How long Stripe keeps a pending update waiting for its payment at most: 23 hours, or less
/// when the period (or the trial) ends sooner.
const PENDING_UPDATE_LIFETIME: i64 = 23 * 60 * 60;

/// Stripe's limit on a trial set by an update: two years.
const MAX_TRIAL: i64 = 730 * 24 * 60 * 60;

/// What a change does to a trialing subscription's trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trial {
    /// Still trialing, until then: nothing is billed before it ends.
    Kept(i64),
    /// Ended at this moment, which starts the new price's first paid period.
    Ended(i64),
}

/// What a price change does to the bill.
struct Repricing {
    /// Invoiced now, or (`create_prorations`) kept for the next renewal.
    lines: Vec<InvoiceLine>,
    /// A new billing cycle from the change, when the interval changes (Stripe restarts the
    /// cycle and invoices at once, whatever the proration behaviour).
    new_period: Option<(i64, i64)>,
    invoice_now: bool,
    /// The period the lines cover.
    period: (i64, i64),
    /// Set when the subscription was trialing.
    trial: Option<Trial>,
}

/// `amount` × the share of `start..end` left at `at`, rounded to the nearest minor unit.
fn unused_share(amount: i64, (start, end): (i64, i64), at: i64) -> i64 {
    let length = (end - start).max(1) as i128;
    let left = (end - at).clamp(0, end - start) as i128;
    ((amount as i128 * left * 2 + length) / (length * 2)) as i64
}

fn reprice(store: &Store, change: &PriceChange) -> Result<Repricing, ApiError> {
    ensure_live(store, &change.sub_id)?;
    let sub = &store.subscriptions[&change.sub_id];
    let new = match store.prices.get(&change.price_id) {
        Some(p) if p.active && p.recurring.is_some() => p,
        Some(_) => {
            return Err(ApiError::invalid_param(
                "price",
                format!(
                    "The price `{}` is not an active recurring price.",
                    change.price_id
                ),
            ))
        }
        None => return Err(ApiError::no_such_param("price", &change.price_id, "price")),
    };
    let item = sub.items.first().ok_or_else(|| {
        ApiError::invalid_param("subscription", "This subscription has no items.")
    })?;
    let old = store.prices.get(&item.price).ok_or_else(|| {
        ApiError::invalid_param("subscription", "The subscription's price no longer exists.")
    })?;
    let period = (sub.current_period_start, sub.current_period_end);
    let at = change.at.unwrap_or_else(|| store.now());
    if at < period.0 || at > period.1 {
        return Err(ApiError::invalid_param(
            "proration_date",
            "proration_date must be within the subscription's current period.",
        ));
    }
    let quantity = item.quantity;
    let line = |price: &store::Price, description: String, amount: i64| InvoiceLine {
        price: price.id.clone(),
        description,
        amount,
        quantity,
    };
    // A trial is free whatever its plan: the new price starts with the first paid period,
    // at the trial's end, or now when the change ends the trial.
    match trial_after(store, sub, change)? {
        None => {}
        Some(Trial::Kept(end)) => {
            return Ok(Repricing {
                lines: Vec::new(),
                new_period: Some((period.0, end)),
                invoice_now: false,
                period: (period.0, end),
                trial: Some(Trial::Kept(end)),
            })
        }
        Some(Trial::Ended(now)) => {
            let recurring = new.recurring.as_ref().expect("checked recurring");
            let new_period = (
                now,
                now + interval_seconds(&recurring.interval, recurring.interval_count),
            );
            return Ok(Repricing {
                lines: vec![line(
                    new,
                    format!("{quantity} × {}", store.product_name(new)),
                    new.unit_amount * quantity,
                )],
                new_period: Some(new_period),
                invoice_now: true,
                period: new_period,
                trial: Some(Trial::Ended(now)),
            });
        }
    }
    let mut lines = Vec::new();
    if change.proration != Proration::None {
        lines.push(line(
            old,
            format!("Unused time on {quantity} × {}", store.product_name(old)),
            -unused_share(old.unit_amount * quantity, period, at),
        ));
    }
    if new.recurring != old.recurring {
        let recurring = new.recurring.as_ref().expect("checked recurring");
        let new_period = (
            at,
            at + interval_seconds(&recurring.interval, recurring.interval_count),
        );
        lines.push(line(
            new,
            format!("{quantity} × {}", store.product_name(new)),
            new.unit_amount * quantity,
        ));
        return Ok(Repricing {
            lines,
            new_period: Some(new_period),
            invoice_now: true,
            period: new_period,
            trial: None,
        });
    }
    if change.proration != Proration::None {
        lines.push(line(
            new,
            format!("Remaining time on {quantity} × {}", store.product_name(new)),
            unused_share(new.unit_amount * quantity, period, at),
        ));
    }
    Ok(Repricing {
        lines,
        new_period: None,
        invoice_now: change.proration == Proration::AlwaysInvoice,
        period: (at, period.1),
        trial: None,
    })
}

/// What the change does to the trial, if the subscription is trialing: kept until its end (or
/// the `trial_end` asked), or ended now (`trial_end=now`).
fn trial_after(
    store: &Store,
    sub: &Subscription,
    change: &PriceChange,
) -> Result<Option<Trial>, ApiError> {
    let now = store.now();
    match (sub.status == "trialing", change.trial_end) {
        (false, None) => Ok(None),
        (false, Some(_)) => Err(ApiError::invalid_param(
            "trial_end",
            "This emulator takes trial_end only for a trialing subscription.",
        )),
        (true, None) => Ok(Some(Trial::Kept(
            sub.trial_end.unwrap_or(sub.current_period_end),
        ))),
        (true, Some(TrialEnd::At(end))) if end <= now => Err(ApiError::invalid_param(
            "trial_end",
            "Invalid timestamp: must be an integer Unix timestamp in the future.",
        )),
        (true, Some(TrialEnd::At(end))) if end > now + MAX_TRIAL => Err(ApiError::invalid_param(
            "trial_end",
            "trial_end can be at most two years from now.",
        )),
        (true, Some(TrialEnd::At(end))) => Ok(Some(Trial::Kept(end))),
        // A pending update would have to keep the trial until its payment: not emulated.
        (true, Some(TrialEnd::Now)) if change.pending_if_incomplete => {
            Err(ApiError::invalid_param(
                "trial_end",
                "This emulator does not end a trial with payment_behavior=pending_if_incomplete.",
            ))
        }
        (true, Some(TrialEnd::Now)) => Ok(Some(Trial::Ended(now))),
    }
}

/// Which invoice a preview shows (Stripe's `preview_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreviewMode {
    /// The next invoice the change brings: the one issued at once, or else the next renewal's
    /// (with the prorations it carries).
    Next,
    /// The first invoice of the subscription's recurring charges after the change: its items
    /// at their new price, no prorations.
    Recurring,
}

/// The invoice a price change would bring, as `POST /v1/invoices/create_preview` shows it,
/// with the subscription's discount where it still applies and the customer's balance as it
/// stands (its `starting_balance`). Nothing is stored.
pub fn preview_change(
    store: &Store,
    base_url: &str,
    change: &PriceChange,
    mode: PreviewMode,
) -> Result<Value, ApiError> {
    let repricing = reprice(store, change)?;
    let sub = &store.subscriptions[&change.sub_id];
    let now = store.now();
    let new = &store.prices[&change.price_id];
    let recurring = new.recurring.as_ref().expect("checked recurring");
    let quantity = sub.items.first().map_or(1, |i| i.quantity);
    let renewal_line = InvoiceLine {
        price: new.id.clone(),
        description: format!("{quantity} × {}", store.product_name(new)),
        amount: new.unit_amount * quantity,
        quantity,
    };
    let length = interval_seconds(&recurring.interval, recurring.interval_count);
    let change_subtotal: i64 = repricing.lines.iter().map(|l| l.amount).sum();
    let (lines, period, reason, at) = match mode {
        PreviewMode::Next if repricing.invoice_now => (
            repricing.lines,
            repricing.period,
            "subscription_update",
            now,
        ),
        PreviewMode::Next => {
            // The renewal after the change: at the period's end, or at the (new) trial's end.
            let start = repricing.period.1;
            let mut lines = sub.pending_prorations.clone();
            lines.extend(repricing.lines);
            lines.push(renewal_line);
            (lines, (start, start + length), "subscription_cycle", start)
        }
        PreviewMode::Recurring => {
            // The change's own invoice, if any, comes first: the renewal starts the period
            // after the one the change leaves running.
            let start = repricing
                .new_period
                .map_or(sub.current_period_end, |(_, end)| end);
            (
                vec![renewal_line],
                (start, start + length),
                "subscription_cycle",
                start,
            )
        }
    };
    let subtotal: i64 = lines.iter().map(|l| l.amount).sum();
    // A `once` coupon's discount goes to the first invoice it takes something off: the
    // change's own, when that one is issued at once.
    let used_by_change = mode == PreviewMode::Recurring
        && repricing.invoice_now
        && once(store, sub)
        && discount_of(store, sub, change_subtotal, now).is_some();
    let discount = if used_by_change {
        None
    } else {
        discount_of(store, sub, subtotal, at)
    };
    let mut preview = draft_invoice(
        store,
        Draft {
            customer: sub.customer.clone(),
            subscription: Some(sub.id.clone()),
            reason,
            lines,
            discount,
            period,
            uses_balance: true,
        },
    );
    preview.currency = new.currency.clone();
    let mut json = preview.json(base_url);
    // A preview is no invoice yet: Stripe gives it no id, number or page.
    json["id"] = Value::Null;
    json["number"] = Value::Null;
    json["hosted_invoice_url"] = Value::Null;
    Ok(json)
}

/// The subscription's discount is a `once` coupon's.
fn once(store: &Store, sub: &Subscription) -> bool {
    sub.discount
        .as_ref()
        .and_then(|d| store.coupons.get(&d.coupon))
        .is_some_and(|c| c.duration == Duration::Once)
}

/// Changes a subscription's price (its first item's), billing the change as Stripe does, and
/// returns the subscription.
pub fn change_price(
    store: &mut Store,
    base_url: &str,
    change: &PriceChange,
) -> Result<Value, ApiError> {
    let repricing = reprice(store, change)?;
    let sub_id = change.sub_id.as_str();
    let Repricing {
        lines,
        new_period,
        invoice_now,
        period,
        trial,
    } = repricing;
    let pending = if invoice_now {
        Vec::new()
    } else {
        lines.clone()
    };
    let customer = store.subscriptions[sub_id].customer.clone();
    let payment = Payment::of(store, &customer, false);
    // What the invoice would charge, after the discount and the customer's balance.
    let subtotal: i64 = lines.iter().map(|l| l.amount).sum();
    let off = discount_of(store, &store.subscriptions[sub_id], subtotal, store.now())
        .map_or(0, |(_, off)| off);
    let balance = store.customers.get(&customer).map_or(0, |c| c.balance);
    let due = settle(subtotal - off, balance).0;
    // Nothing to charge is paid at once (see `issue_invoice`): only a charge can wait.
    let waits = invoice_now && change.pending_if_incomplete && due > 0 && payment != Payment::Paid;
    if !waits {
        change_subscription(store, sub_id, |sub, _| {
            sub.pending_prorations.extend(pending);
            let mut previous = switch_price(sub, &change.price_id, new_period);
            if let Some(trial) = trial {
                set_trial(
                    sub,
                    trial,
                    payment == Payment::Paid || due <= 0,
                    &mut previous,
                );
            }
            previous
        })?;
    }
    if invoice_now {
        let discount = use_discount(store, sub_id, subtotal);
        let draft = Draft {
            customer,
            subscription: Some(sub_id.to_string()),
            reason: "subscription_update",
            lines,
            discount,
            period,
            uses_balance: true,
        };
        let id = issue_invoice(store, base_url, draft, payment);
        if waits {
            // Stripe keeps the items as they were and records what their payment will apply.
            let sub = &store.subscriptions[sub_id];
            let expires_at = (store.now() + PENDING_UPDATE_LIFETIME)
                .min(sub.current_period_end)
                .min(
                    sub.trial_end
                        .filter(|_| sub.status == "trialing")
                        .unwrap_or(i64::MAX),
                );
            change_subscription(store, sub_id, |sub, _| {
                let previous = json!({
                    "latest_invoice": sub.latest_invoice,
                    "pending_update": null,
                });
                sub.latest_invoice = Some(id.clone());
                sub.pending_update = Some(PendingUpdate {
                    price: change.price_id.clone(),
                    new_period,
                    invoice: id,
                    expires_at,
                });
                previous
            })?;
        } else if let Some(s) = store.subscriptions.get_mut(sub_id) {
            s.latest_invoice = Some(id);
        }
    }
    Ok(store.subscriptions[sub_id].json(store))
}

/// Pending updates whose `expires_at` the clock has passed are discarded, as Stripe discards
/// them: their invoice is voided (`invoice.voided`), the subscription keeps its items, and
/// `customer.subscription.pending_update_expired` says so.
pub(super) fn expire_pending_updates(store: &mut Store, base_url: &str) {
    let now = store.now();
    let mut due: Vec<(u64, String)> = store
        .subscriptions
        .values()
        .filter(|s| {
            s.pending_update
                .as_ref()
                .is_some_and(|u| u.expires_at <= now)
        })
        .map(|s| (s.seq, s.id.clone()))
        .collect();
    due.sort();
    for (_, sub_id) in due {
        let Some(update) = store
            .subscriptions
            .get_mut(&sub_id)
            .and_then(|s| s.pending_update.take())
        else {
            continue;
        };
        if let Some(invoice) = store
            .invoices
            .get_mut(&update.invoice)
            .filter(|i| i.status == "open")
        {
            invoice.status = "void".into();
            let json = invoice.json(base_url);
            store.emit("invoice.voided", json, None);
        }
        let json = store.subscriptions[&sub_id].json(store);
        store.emit("customer.subscription.pending_update_expired", json, None);
    }
}

/// Keeps the trial (until its possibly new end) or ends it, active if its first invoice is
/// `paid`, past due if not; records the old values in `previous`.
fn set_trial(sub: &mut Subscription, trial: Trial, paid: bool, previous: &mut Value) {
    match trial {
        Trial::Kept(end) if sub.trial_end == Some(end) => {}
        Trial::Kept(end) => {
            previous["trial_end"] = json!(sub.trial_end);
            sub.trial_end = Some(end);
            // A moved end gets its own warning, three days before it.
            sub.trial_will_end_sent = false;
        }
        Trial::Ended(now) => {
            previous["trial_end"] = json!(sub.trial_end);
            previous["status"] = json!(sub.status);
            sub.trial_end = Some(now);
            sub.status = if paid { "active" } else { "past_due" }.into();
        }
    }
}

/// Puts the first item on `price` (and the subscription on `new_period`, if any); returns the
/// old items, as `previous_attributes` shows them.
pub(super) fn switch_price(
    sub: &mut Subscription,
    price: &str,
    new_period: Option<(i64, i64)>,
) -> Value {
    let previous = json!({
        "items": { "object": "list", "data": sub.items.iter().map(|i| json!({
            "id": i.id,
            "price": { "id": i.price },
            "current_period_start": sub.current_period_start,
            "current_period_end": sub.current_period_end,
        })).collect::<Vec<_>>() },
    });
    if let Some(item) = sub.items.first_mut() {
        item.price = price.to_string();
    }
    if let Some((start, end)) = new_period {
        sub.current_period_start = start;
        sub.current_period_end = end;
    }
    previous
}
