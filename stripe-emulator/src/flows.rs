//! What happens in Stripe when a buyer pays, a period ends or a subscriber changes their plan:
//! the objects change and the events Stripe sends are emitted, in Stripe's order.

use serde_json::{json, Value};

use crate::objects::{
    Charge, Dispute, Invoice, InvoiceLine, PaymentIntent, Refund, Subscription, SubscriptionItem,
};
use crate::store::{self, Customer, CustomerDetails, Store};

const DAY: i64 = 24 * 60 * 60;

/// Stripe sends `trial_will_end` three days before a trial ends.
const TRIAL_WARNING: i64 = 3 * DAY;

/// How a card answers, by Stripe's test card numbers (the README's "Cards to try").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardOutcome {
    Succeeds,
    Declined,
    InsufficientFunds,
    RequiresAuthentication,
    /// Paid, then disputed by the cardholder (Stripe's 4000 0000 0000 0259).
    Disputed,
    /// Authenticated at checkout, and again on every later payment (4000 0027 6000 3184).
    AuthenticatesEveryPayment,
    Incorrect,
}

pub fn card_outcome(number: &str) -> CardOutcome {
    let digits: String = number
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if digits.len() < 12 || !digits.chars().all(|c| c.is_ascii_digit()) || !luhn(&digits) {
        return CardOutcome::Incorrect;
    }
    match digits.as_str() {
        "4000000000000002" => CardOutcome::Declined,
        "4000000000009995" => CardOutcome::InsufficientFunds,
        "4000002500003155" => CardOutcome::RequiresAuthentication,
        "4000000000000259" => CardOutcome::Disputed,
        "4000002760003184" => CardOutcome::AuthenticatesEveryPayment,
        // 4242… and any other valid number succeed, as Stripe's generic test cards do.
        _ => CardOutcome::Succeeds,
    }
}

fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .chars()
        .rev()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

pub fn interval_seconds(interval: &str, count: i64) -> i64 {
    let unit = match interval {
        "day" => DAY,
        "week" => 7 * DAY,
        "month" => 30 * DAY,
        "year" => 365 * DAY,
        _ => 30 * DAY,
    };
    unit * count.max(1)
}

/// Completes a paid Checkout Session: customer, payment or subscription (with its first
/// invoice), then `checkout.session.completed`. Returns the URL to send the buyer to.
pub fn complete_checkout(
    store: &mut Store,
    base_url: &str,
    session_id: &str,
    details: CustomerDetails,
) -> Result<String, String> {
    let session = store
        .sessions
        .get(session_id)
        .cloned()
        .ok_or("This Checkout Session does not exist.")?;
    if session.status != "open" {
        return Err("This Checkout Session is no longer active.".into());
    }
    let now = store.now();

    let needs_customer = session.mode == "subscription"
        || session.customer_creation.as_deref() == Some("always")
        || session.invoice_creation;
    let customer_id = match &session.customer {
        Some(id) => Some(id.clone()),
        None if needs_customer => {
            let customer = Customer {
                id: store::new_id("cus"),
                email: Some(details.email.clone()),
                name: details.name.clone(),
                metadata: Default::default(),
                created: now,
                seq: store.next_seq(),
                authenticates_every_payment: false,
            };
            let json = customer.json();
            let id = customer.id.clone();
            store.customers.insert(id.clone(), customer);
            store.emit("customer.created", json, None);
            Some(id)
        }
        None => None,
    };

    if session.card_authenticates_every_payment {
        if let Some(c) = customer_id
            .as_ref()
            .and_then(|id| store.customers.get_mut(id))
        {
            c.authenticates_every_payment = true;
        }
    }
    let mut updated = session.clone();
    updated.customer = customer_id.clone();
    updated.customer_details = Some(details.clone());
    updated.status = "complete".into();
    // A trial's first payment waits for its end, as Stripe says it.
    updated.payment_status = if session.trial_period_days.is_some() {
        "no_payment_required"
    } else {
        "paid"
    }
    .into();
    updated.awaiting_authentication = false;

    if session.mode == "payment" {
        let charge = Charge {
            id: store::new_id("ch"),
            amount: session.amount_total,
            amount_refunded: 0,
            currency: session.currency.clone(),
            customer: customer_id.clone(),
            payment_intent: String::new(),
            dispute: None,
            created: now,
        };
        let pi = PaymentIntent {
            latest_charge: Some(charge.id.clone()),
            id: store::new_id("pi"),
            amount: session.amount_total,
            currency: session.currency.clone(),
            customer: customer_id.clone(),
            status: "succeeded".into(),
            setup_future_usage: session.setup_future_usage.clone(),
            created: now,
        };
        let mut created = pi.json();
        created["status"] = json!("requires_payment_method");
        created["amount_received"] = json!(0);
        store.emit("payment_intent.created", created, None);
        store.emit("payment_intent.succeeded", pi.json(), None);
        updated.payment_intent = Some(pi.id.clone());
        store.charges.insert(
            charge.id.clone(),
            Charge {
                payment_intent: pi.id.clone(),
                ..charge
            },
        );
        store.payment_intents.insert(pi.id.clone(), pi);
        // `invoice_creation[enabled]`: a paid invoice for the purchase, as its receipt.
        if let (true, Some(customer)) = (session.invoice_creation, customer_id.clone()) {
            let lines = session
                .line_items
                .iter()
                .filter_map(|li| {
                    let price = store.prices.get(&li.price)?;
                    Some(InvoiceLine {
                        price: price.id.clone(),
                        description: format!("{} × {}", li.quantity, store.product_name(price)),
                        amount: price.unit_amount * li.quantity,
                        quantity: li.quantity,
                    })
                })
                .collect();
            let draft = Draft {
                customer,
                subscription: None,
                reason: "manual",
                lines,
                total: session.amount_total,
                period: (now, now),
            };
            updated.invoice = Some(issue_invoice(store, base_url, draft, Payment::Paid));
        }
    } else {
        let customer = customer_id
            .clone()
            .ok_or("a subscription needs a customer")?;
        let items: Vec<SubscriptionItem> = session
            .line_items
            .iter()
            .filter(|li| {
                store
                    .prices
                    .get(&li.price)
                    .is_some_and(|p| p.recurring.is_some())
            })
            .map(|li| SubscriptionItem {
                id: store::new_id("si"),
                price: li.price.clone(),
                quantity: li.quantity,
                created: now,
            })
            .collect();
        let period = period_of(store, &items);
        let trial_end = session.trial_period_days.map(|d| now + d * DAY);
        let sub = Subscription {
            id: store::new_id("sub"),
            customer: customer.clone(),
            status: if trial_end.is_some() {
                "trialing"
            } else {
                "active"
            }
            .into(),
            items,
            current_period_start: now,
            current_period_end: trial_end.unwrap_or(now + period),
            cancel_at_period_end: false,
            canceled_at: None,
            ended_at: None,
            trial_start: trial_end.map(|_| now),
            trial_end,
            latest_invoice: None,
            created: now,
            seq: store.next_seq(),
            fail_next_renewal: false,
            trial_will_end_sent: false,
            pending_prorations: Vec::new(),
        };
        let sub_id = sub.id.clone();
        store.subscriptions.insert(sub_id.clone(), sub);
        let sub_json = store.subscriptions[&sub_id].json(store);
        store.emit("customer.subscription.created", sub_json, None);
        let amount = if trial_end.is_some() {
            0
        } else {
            session.amount_total
        };
        let invoice_id = bill(
            store,
            base_url,
            &sub_id,
            "subscription_create",
            amount,
            Payment::Paid,
        );
        updated.subscription = Some(sub_id);
        updated.invoice = Some(invoice_id);
    }

    let success = updated
        .success_url
        .replace("{CHECKOUT_SESSION_ID}", &updated.id);
    let json = updated.json(base_url);
    store.sessions.insert(updated.id.clone(), updated);
    store.emit("checkout.session.completed", json, None);
    Ok(success)
}

fn period_of(store: &Store, items: &[SubscriptionItem]) -> i64 {
    items
        .first()
        .and_then(|i| store.prices.get(&i.price))
        .and_then(|p| p.recurring.as_ref())
        .map(|r| interval_seconds(&r.interval, r.interval_count))
        .unwrap_or(30 * DAY)
}

/// Creates, finalises and charges an invoice for a subscription's current period, emitting the
/// events Stripe would; returns its id.
fn bill(
    store: &mut Store,
    base_url: &str,
    sub_id: &str,
    reason: &str,
    amount: i64,
    payment: Payment,
) -> String {
    let sub = store.subscriptions[sub_id].clone();
    let mut lines: Vec<InvoiceLine> = sub
        .items
        .iter()
        .filter_map(|item| {
            let price = store.prices.get(&item.price)?;
            let name = store.product_name(price);
            Some(InvoiceLine {
                price: price.id.clone(),
                description: format!("{} × {name}", item.quantity),
                amount: if amount == 0 {
                    0
                } else {
                    price.unit_amount * item.quantity
                },
                quantity: item.quantity,
            })
        })
        .collect();
    // Prorations of plan changes since the last invoice are billed with this one.
    if let Some(s) = store.subscriptions.get_mut(sub_id) {
        lines.append(&mut s.pending_prorations);
    }
    let id = issue_invoice(
        store,
        base_url,
        Draft {
            customer: sub.customer.clone(),
            subscription: Some(sub.id.clone()),
            reason,
            lines,
            // What is charged: the checkout's total (after any coupon) or the renewal's sum.
            total: amount.max(0),
            period: (sub.current_period_start, sub.current_period_end),
        },
        payment,
    );
    if let Some(s) = store.subscriptions.get_mut(sub_id) {
        s.latest_invoice = Some(id.clone());
    }
    id
}

/// What an invoice is for, before it is issued.
struct Draft<'a> {
    customer: String,
    subscription: Option<String>,
    reason: &'a str,
    lines: Vec<InvoiceLine>,
    total: i64,
    period: (i64, i64),
}

/// Creates, finalises and (if `paid`) pays an invoice, emitting the events Stripe would;
/// returns its id.
/// How an invoice's payment attempt ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Payment {
    Paid,
    Declined,
    /// The bank asks the customer to authenticate: the invoice waits on its hosted page.
    NeedsAction,
}

impl Payment {
    /// A customer's charge now: declined when asked to fail, else as their card behaves.
    fn of(store: &Store, customer: &str, fails: bool) -> Payment {
        match store.customers.get(customer) {
            _ if fails => Payment::Declined,
            Some(c) if c.authenticates_every_payment => Payment::NeedsAction,
            _ => Payment::Paid,
        }
    }
}

fn issue_invoice(store: &mut Store, base_url: &str, draft: Draft<'_>, payment: Payment) -> String {
    let now = store.now();
    let email = store
        .customers
        .get(&draft.customer)
        .and_then(|c| c.email.clone());
    let currency = draft
        .lines
        .first()
        .and_then(|l| store.prices.get(&l.price))
        .map(|p| p.currency.clone())
        .unwrap_or_else(|| "usd".into());
    let seq = store.next_seq();
    let mut invoice = Invoice {
        id: store::new_id("in"),
        number: format!("EMU-{seq:06}"),
        customer: draft.customer,
        customer_email: email,
        subscription: draft.subscription,
        status: "draft".into(),
        billing_reason: draft.reason.into(),
        currency,
        lines: draft.lines,
        total: draft.total,
        amount_paid: 0,
        attempt_count: 0,
        period_start: draft.period.0,
        period_end: draft.period.1,
        created: now,
        finalized_at: None,
        paid_at: None,
        seq,
    };
    store.emit("invoice.created", invoice.json(base_url), None);
    invoice.status = "open".into();
    invoice.finalized_at = Some(now);
    store.emit("invoice.finalized", invoice.json(base_url), None);
    invoice.attempt_count = 1;
    // Nothing to charge (a trial, a credit) needs no card.
    let payment = if invoice.total <= 0 {
        Payment::Paid
    } else {
        payment
    };
    match payment {
        Payment::Paid => {
            invoice.status = "paid".into();
            invoice.amount_paid = invoice.total.max(0);
            invoice.paid_at = Some(now);
            store.emit("invoice.paid", invoice.json(base_url), None);
            store.emit("invoice.payment_succeeded", invoice.json(base_url), None);
        }
        Payment::Declined => {
            store.emit("invoice.payment_failed", invoice.json(base_url), None);
        }
        Payment::NeedsAction => {
            store.emit(
                "invoice.payment_action_required",
                invoice.json(base_url),
                None,
            );
        }
    }
    let id = invoice.id.clone();
    store.invoices.insert(id.clone(), invoice);
    id
}

/// Applies a change to a subscription and emits `customer.subscription.updated` (or `.deleted`)
/// with the changed fields' old values, as Stripe does.
fn change_subscription(
    store: &mut Store,
    sub_id: &str,
    change: impl FnOnce(&mut Subscription, i64) -> Value,
) -> Result<Value, String> {
    let now = store.now();
    let sub = store
        .subscriptions
        .get_mut(sub_id)
        .ok_or_else(|| format!("No such subscription: '{sub_id}'"))?;
    let previous = change(sub, now);
    let deleted = sub.status == "canceled";
    let json = store.subscriptions[sub_id].json(store);
    let kind = if deleted {
        "customer.subscription.deleted"
    } else {
        "customer.subscription.updated"
    };
    store.emit(kind, json.clone(), (!deleted).then_some(previous));
    Ok(json)
}

fn ensure_live(store: &Store, sub_id: &str) -> Result<(), String> {
    match store.subscriptions.get(sub_id) {
        None => Err(format!("No such subscription: '{sub_id}'")),
        Some(s) if s.status == "canceled" => Err(
            "A canceled subscription can only update its cancellation_details and metadata.".into(),
        ),
        Some(_) => Ok(()),
    }
}

pub fn set_cancel_at_period_end(
    store: &mut Store,
    sub_id: &str,
    cancel: bool,
) -> Result<Value, String> {
    ensure_live(store, sub_id)?;
    change_subscription(store, sub_id, |sub, now| {
        let previous = json!({
            "cancel_at_period_end": sub.cancel_at_period_end,
            "cancel_at": if sub.cancel_at_period_end { Some(sub.current_period_end) } else { None },
            "canceled_at": sub.canceled_at,
        });
        sub.cancel_at_period_end = cancel;
        sub.canceled_at = cancel.then_some(now);
        previous
    })
}

pub fn cancel_now(store: &mut Store, sub_id: &str) -> Result<Value, String> {
    ensure_live(store, sub_id)?;
    change_subscription(store, sub_id, |sub, now| {
        let previous = json!({ "status": sub.status });
        sub.status = "canceled".into();
        sub.canceled_at = Some(now);
        sub.ended_at = Some(now);
        previous
    })
}

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
    pub fn parse(value: Option<&str>) -> Result<Proration, String> {
        match value {
            None | Some("create_prorations") => Ok(Proration::CreateProrations),
            Some("always_invoice") => Ok(Proration::AlwaysInvoice),
            Some("none") => Ok(Proration::None),
            Some(other) => Err(format!(
                "Invalid proration_behavior: must be one of always_invoice, create_prorations, or none (got `{other}`)."
            )),
        }
    }
}

/// A change of a subscription's price, as Stripe bills it.
pub struct PriceChange {
    pub sub_id: String,
    pub price_id: String,
    pub proration: Proration,
    /// When the change counts from (Stripe's `proration_date`): a preview's, so that the
    /// change charges what the preview showed. Now when absent.
    pub at: Option<i64>,
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
}

/// `amount` × the share of `start..end` left at `at`, rounded to the nearest minor unit.
fn unused_share(amount: i64, (start, end): (i64, i64), at: i64) -> i64 {
    let length = (end - start).max(1) as i128;
    let left = (end - at).clamp(0, end - start) as i128;
    ((amount as i128 * left * 2 + length) / (length * 2)) as i64
}

fn reprice(store: &Store, change: &PriceChange) -> Result<Repricing, String> {
    ensure_live(store, &change.sub_id)?;
    let sub = &store.subscriptions[&change.sub_id];
    let new = match store.prices.get(&change.price_id) {
        Some(p) if p.active && p.recurring.is_some() => p,
        Some(_) => {
            return Err(format!(
                "The price `{}` is not an active recurring price.",
                change.price_id
            ))
        }
        None => return Err(format!("No such price: '{}'", change.price_id)),
    };
    let item = sub.items.first().ok_or("This subscription has no items.")?;
    let old = store
        .prices
        .get(&item.price)
        .ok_or("The subscription's price no longer exists.")?;
    let period = (sub.current_period_start, sub.current_period_end);
    let at = change.at.unwrap_or_else(|| store.now());
    if at < period.0 || at > period.1 {
        return Err("proration_date must be within the subscription's current period.".into());
    }
    let quantity = item.quantity;
    let line = |price: &store::Price, description: String, amount: i64| InvoiceLine {
        price: price.id.clone(),
        description,
        amount,
        quantity,
    };
    // A trial is free whatever its plan: the new price starts with the first paid period.
    if sub.status == "trialing" {
        return Ok(Repricing {
            lines: Vec::new(),
            new_period: None,
            invoice_now: false,
            period,
        });
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
    })
}

/// The invoice a price change would bring, as `POST /v1/invoices/create_preview` shows it: the
/// one issued at once, or else the next renewal's. Nothing is stored.
pub fn preview_change(
    store: &Store,
    base_url: &str,
    change: &PriceChange,
) -> Result<Value, String> {
    let repricing = reprice(store, change)?;
    let sub = &store.subscriptions[&change.sub_id];
    let (lines, period, reason) = if repricing.invoice_now {
        (repricing.lines, repricing.period, "subscription_update")
    } else {
        let new = &store.prices[&change.price_id];
        let recurring = new.recurring.as_ref().expect("checked recurring");
        let quantity = sub.items.first().map_or(1, |i| i.quantity);
        let start = sub.current_period_end;
        let mut lines = sub.pending_prorations.clone();
        lines.extend(repricing.lines);
        lines.push(InvoiceLine {
            price: new.id.clone(),
            description: format!("{quantity} × {}", store.product_name(new)),
            amount: new.unit_amount * quantity,
            quantity,
        });
        let end = start + interval_seconds(&recurring.interval, recurring.interval_count);
        (lines, (start, end), "subscription_cycle")
    };
    let currency = store.prices[&change.price_id].currency.clone();
    let preview = Invoice {
        id: store::new_id("in"),
        number: String::new(),
        customer: sub.customer.clone(),
        customer_email: store
            .customers
            .get(&sub.customer)
            .and_then(|c| c.email.clone()),
        subscription: Some(sub.id.clone()),
        status: "draft".into(),
        billing_reason: reason.into(),
        currency,
        total: lines.iter().map(|l| l.amount).sum(),
        lines,
        amount_paid: 0,
        attempt_count: 0,
        period_start: period.0,
        period_end: period.1,
        created: store.now(),
        finalized_at: None,
        paid_at: None,
        seq: 0,
    };
    let mut json = preview.json(base_url);
    // A preview is no invoice yet: Stripe gives it no id, number or page.
    json["id"] = Value::Null;
    json["number"] = Value::Null;
    json["hosted_invoice_url"] = Value::Null;
    Ok(json)
}

/// Changes a subscription's price (its first item's), billing the change as Stripe does, and
/// returns the subscription.
pub fn change_price(
    store: &mut Store,
    base_url: &str,
    change: &PriceChange,
) -> Result<Value, String> {
    let repricing = reprice(store, change)?;
    let sub_id = change.sub_id.as_str();
    let Repricing {
        lines,
        new_period,
        invoice_now,
        period,
    } = repricing;
    let pending = if invoice_now {
        Vec::new()
    } else {
        lines.clone()
    };
    change_subscription(store, sub_id, |sub, _| {
        let old_items = sub.items.clone();
        let previous = json!({
            "items": { "object": "list", "data": old_items.iter().map(|i| json!({
                "id": i.id,
                "price": { "id": i.price },
                "current_period_start": sub.current_period_start,
                "current_period_end": sub.current_period_end,
            })).collect::<Vec<_>>() },
        });
        if let Some(item) = sub.items.first_mut() {
            item.price = change.price_id.clone();
        }
        if let Some((start, end)) = new_period {
            sub.current_period_start = start;
            sub.current_period_end = end;
        }
        sub.pending_prorations.extend(pending);
        previous
    })?;
    if invoice_now {
        let customer = store.subscriptions[sub_id].customer.clone();
        let total = lines.iter().map(|l| l.amount).sum();
        let draft = Draft {
            customer,
            subscription: Some(sub_id.to_string()),
            reason: "subscription_update",
            lines,
            total,
            period,
        };
        let payment = Payment::of(store, &draft.customer, false);
        let id = issue_invoice(store, base_url, draft, payment);
        if let Some(s) = store.subscriptions.get_mut(sub_id) {
            s.latest_invoice = Some(id);
        }
    }
    Ok(store.subscriptions[sub_id].json(store))
}

/// `POST /v1/refunds`: gives back `amount` (all that is left when `None`) of a charge, and
/// emits `charge.refunded` with the charge, as Stripe does for full and partial refunds alike.
pub fn refund(store: &mut Store, charge_id: &str, amount: Option<i64>) -> Result<Value, String> {
    let now = store.now();
    let charge = store
        .charges
        .get_mut(charge_id)
        .ok_or_else(|| format!("No such charge: '{charge_id}'"))?;
    let left = charge.amount - charge.amount_refunded;
    let amount = amount.unwrap_or(left);
    if left <= 0 {
        return Err(format!("Charge {charge_id} has already been refunded."));
    }
    if amount <= 0 || amount > left {
        return Err(format!(
            "Refund amount ({amount}) is greater than unrefunded amount on charge ({left})"
        ));
    }
    charge.amount_refunded += amount;
    let refund = Refund {
        id: store::new_id("re"),
        amount,
        charge: charge.id.clone(),
        currency: charge.currency.clone(),
        payment_intent: charge.payment_intent.clone(),
        created: now,
    };
    let charge_json = charge.json();
    let json = refund.json();
    store.refunds.insert(refund.id.clone(), refund);
    store.emit("refund.created", json.clone(), None);
    store.emit("charge.refunded", charge_json, None);
    Ok(json)
}

/// The cardholder disputes a charge: `charge.dispute.created`, the dispute waiting for a
/// response.
pub fn open_dispute(store: &mut Store, charge_id: &str) -> Result<Value, String> {
    let now = store.now();
    let charge = store
        .charges
        .get_mut(charge_id)
        .ok_or_else(|| format!("No such charge: '{charge_id}'"))?;
    let dispute = Dispute {
        id: store::new_id("dp"),
        amount: charge.amount,
        charge: charge.id.clone(),
        currency: charge.currency.clone(),
        payment_intent: charge.payment_intent.clone(),
        status: "needs_response".into(),
        created: now,
    };
    charge.dispute = Some(dispute.id.clone());
    let json = dispute.json();
    store.disputes.insert(dispute.id.clone(), dispute);
    store.emit("charge.dispute.created", json.clone(), None);
    Ok(json)
}

/// The bank decides a dispute (`won` or `lost`): `charge.dispute.closed`.
pub fn close_dispute(store: &mut Store, dispute_id: &str, won: bool) -> Result<Value, String> {
    let dispute = store
        .disputes
        .get_mut(dispute_id)
        .ok_or_else(|| format!("No such dispute: '{dispute_id}'"))?;
    if matches!(dispute.status.as_str(), "won" | "lost") {
        return Err(format!("This dispute is already {}.", dispute.status));
    }
    dispute.status = if won { "won" } else { "lost" }.into();
    let json = dispute.json();
    store.emit("charge.dispute.closed", json.clone(), None);
    Ok(json)
}

/// Marks a subscription's next renewal to fail (the test-clock way to see `past_due`).
pub fn fail_next_renewal(store: &mut Store, sub_id: &str) -> Result<(), String> {
    let sub = store
        .subscriptions
        .get_mut(sub_id)
        .ok_or_else(|| format!("No such subscription: '{sub_id}'"))?;
    sub.fail_next_renewal = true;
    Ok(())
}

/// Pays an open invoice (the customer fixed their card); a past-due subscription becomes active.
pub fn pay_invoice(store: &mut Store, base_url: &str, invoice_id: &str) -> Result<Value, String> {
    let now = store.now();
    let invoice = store
        .invoices
        .get_mut(invoice_id)
        .ok_or_else(|| format!("No such invoice: '{invoice_id}'"))?;
    if invoice.status != "open" {
        return Err(format!("Invoice is already {}.", invoice.status));
    }
    invoice.status = "paid".into();
    invoice.amount_paid = invoice.total.max(0);
    invoice.attempt_count += 1;
    invoice.paid_at = Some(now);
    let json = invoice.json(base_url);
    let sub_id = invoice.subscription.clone();
    store.emit("invoice.paid", json.clone(), None);
    store.emit("invoice.payment_succeeded", json.clone(), None);
    if let Some(sub_id) = sub_id {
        if store
            .subscriptions
            .get(&sub_id)
            .is_some_and(|s| s.status == "past_due")
        {
            change_subscription(store, &sub_id, |sub, _| {
                let previous = json!({ "status": sub.status });
                sub.status = "active".into();
                previous
            })?;
        }
    }
    Ok(json)
}

/// Moves the clock forward and lets every subscription live through it: trial warnings and
/// ends, renewals (paid, or failed when asked), and cancellations at period end.
pub fn advance(store: &mut Store, base_url: &str, seconds: i64) {
    store.clock_offset += seconds.max(0);
    let now = store.now();
    let mut ids: Vec<(u64, String)> = store
        .subscriptions
        .values()
        .map(|s| (s.seq, s.id.clone()))
        .collect();
    ids.sort();
    for (_, id) in ids {
        // A period at a time, so a long jump renews as many times as Stripe would.
        for _ in 0..1000 {
            let sub = store.subscriptions[&id].clone();
            if !matches!(sub.status.as_str(), "active" | "trialing") {
                break;
            }
            if sub.status == "trialing" && !sub.trial_will_end_sent {
                if let Some(end) = sub.trial_end {
                    if now >= end - TRIAL_WARNING {
                        if let Some(s) = store.subscriptions.get_mut(&id) {
                            s.trial_will_end_sent = true;
                        }
                        let json = store.subscriptions[&id].json(store);
                        store.emit("customer.subscription.trial_will_end", json, None);
                    }
                }
            }
            if sub.current_period_end > now {
                break;
            }
            if sub.cancel_at_period_end {
                end_at_period_end(store, &id);
                break;
            }
            renew(store, base_url, &id);
        }
    }
}

/// Renews one subscription now, ending its current period early: a clock for one subscription
/// (as Stripe's test clocks are per customer), so tests running side by side do not move each
/// other's subscriptions the way `advance` moves everyone's.
pub fn renew_now(store: &mut Store, base_url: &str, sub_id: &str) -> Result<Value, String> {
    ensure_live(store, sub_id)?;
    let now = store.now();
    let sub = store.subscriptions.get_mut(sub_id).expect("checked live");
    if !matches!(sub.status.as_str(), "active" | "trialing") {
        return Err(format!("A {} subscription does not renew.", sub.status));
    }
    sub.current_period_end = now;
    // A subscription set to cancel at the period's end ends, as it would on Stripe's clock.
    if sub.cancel_at_period_end {
        end_at_period_end(store, sub_id);
    } else {
        renew(store, base_url, sub_id);
    }
    Ok(store.subscriptions[sub_id].json(store))
}

/// The period ended on a subscription set to cancel then: it is canceled.
fn end_at_period_end(store: &mut Store, id: &str) {
    let _ = change_subscription(store, id, |s, _| {
        let previous = json!({ "status": s.status });
        s.status = "canceled".into();
        s.ended_at = Some(s.current_period_end);
        previous
    });
}

fn renew(store: &mut Store, base_url: &str, sub_id: &str) {
    let sub = store.subscriptions[sub_id].clone();
    let period = period_of(store, &sub.items);
    let amount: i64 = sub
        .items
        .iter()
        .filter_map(|i| {
            store
                .prices
                .get(&i.price)
                .map(|p| p.unit_amount * i.quantity)
        })
        .sum::<i64>()
        + sub.pending_prorations.iter().map(|l| l.amount).sum::<i64>();
    {
        let s = store.subscriptions.get_mut(sub_id).expect("exists");
        s.current_period_start = sub.current_period_end;
        s.current_period_end = sub.current_period_end + period;
    }
    let payment = Payment::of(store, &sub.customer, sub.fail_next_renewal);
    // A declined card, or one whose bank wants the customer first: past due until paid.
    let fails = payment != Payment::Paid && amount > 0;
    bill(
        store,
        base_url,
        sub_id,
        "subscription_cycle",
        amount,
        payment,
    );
    let _ = change_subscription(store, sub_id, |s, _| {
        let previous = json!({
            "status": sub.status,
            "items": { "object": "list", "data": [{ "current_period_start": sub.current_period_start, "current_period_end": sub.current_period_end }] },
        });
        s.fail_next_renewal = false;
        s.status = if fails { "past_due" } else { "active" }.into();
        if sub.status == "trialing" {
            s.trial_end = Some(sub.current_period_end);
        }
        previous
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_test_cards_have_stripes_outcomes() {
        assert_eq!(card_outcome("4242 4242 4242 4242"), CardOutcome::Succeeds);
        assert_eq!(card_outcome("4000 0000 0000 0002"), CardOutcome::Declined);
        assert_eq!(
            card_outcome("4000 0025 0000 3155"),
            CardOutcome::RequiresAuthentication
        );
        assert_eq!(
            card_outcome("4000 0000 0000 9995"),
            CardOutcome::InsufficientFunds
        );
        assert_eq!(card_outcome("4000 0000 0000 0259"), CardOutcome::Disputed);
        assert_eq!(
            card_outcome("4000 0027 6000 3184"),
            CardOutcome::AuthenticatesEveryPayment
        );
        assert_eq!(card_outcome("4242 4242 4242 4241"), CardOutcome::Incorrect);
        assert_eq!(card_outcome("abcd"), CardOutcome::Incorrect);
    }
}
