//! Invoices: issued for a subscription's period or a plan change, charged as the customer's
//! card behaves, and paid later on their hosted page.

use serde_json::{json, Value};

use super::payments::charge_invoice;
use super::price_change::switch_price;
use super::subscriptions::change_subscription;
use crate::error::ApiError;
use crate::objects::{settle, Invoice, InvoiceLine, Subscription};
use crate::store::{self, BalanceChange, Duration, Store};

/// Creates, finalises and charges an invoice for a subscription's current period (nothing for
/// its items when `free`: a trial), with the subscription's discount and the prorations of
/// changes since the last invoice, emitting the events Stripe would; returns its id.
pub(super) fn bill(
    store: &mut Store,
    base_url: &str,
    sub_id: &str,
    reason: &str,
    free: bool,
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
                amount: if free {
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
    let discount = use_discount(store, sub_id, lines.iter().map(|l| l.amount).sum());
    let id = issue_invoice(
        store,
        base_url,
        Draft {
            customer: sub.customer.clone(),
            subscription: Some(sub.id.clone()),
            reason,
            lines,
            discount,
            period: (sub.current_period_start, sub.current_period_end),
            uses_balance: true,
        },
        payment,
    );
    if let Some(s) = store.subscriptions.get_mut(sub_id) {
        s.latest_invoice = Some(id.clone());
    }
    id
}

/// What the subscription's discount takes off an invoice of `subtotal` made at `at`: its id
/// and the amount. A percentage takes its share of the subtotal, credits included; an amount
/// takes at most what is charged.
pub(super) fn discount_of(
    store: &Store,
    sub: &Subscription,
    subtotal: i64,
    at: i64,
) -> Option<(String, i64)> {
    let discount = sub.discount.as_ref().filter(|d| d.applies_at(at))?;
    let coupon = store.coupons.get(&discount.coupon)?;
    let off = match coupon.amount_off {
        Some(_) => coupon.discount_on(subtotal).min(subtotal.max(0)),
        None => coupon.discount_on(subtotal),
    };
    (off != 0).then(|| (discount.id.clone(), off))
}

/// The discount an invoice issued now gets, used up as Stripe uses it: a `once` coupon's
/// discount is removed after the first invoice it takes something off, and a `repeating` one's
/// once its months are over.
pub(super) fn use_discount(
    store: &mut Store,
    sub_id: &str,
    subtotal: i64,
) -> Option<(String, i64)> {
    let now = store.now();
    let sub = store.subscriptions.get(sub_id)?;
    let discount = discount_of(store, sub, subtotal, now);
    let once = sub
        .discount
        .as_ref()
        .and_then(|d| store.coupons.get(&d.coupon))
        .is_some_and(|c| c.duration == Duration::Once);
    let over = sub.discount.as_ref().is_some_and(|d| !d.applies_at(now));
    if over || (once && discount.is_some()) {
        if let Some(s) = store.subscriptions.get_mut(sub_id) {
            s.discount = None;
        }
    }
    discount
}

/// What an invoice is for, before it is issued.
pub(super) struct Draft<'a> {
    pub customer: String,
    pub subscription: Option<String>,
    pub reason: &'a str,
    pub lines: Vec<InvoiceLine>,
    /// A discount's id and what it takes off the lines' sum.
    pub discount: Option<(String, i64)>,
    pub period: (i64, i64),
    /// The customer's balance applies. Not for the receipt of a payment Checkout already
    /// collected, which has nothing left to pay.
    pub uses_balance: bool,
}

/// How an invoice's payment attempt ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Payment {
    Paid,
    Declined,
    /// The bank asks the customer to authenticate: the invoice waits on its hosted page.
    NeedsAction,
    /// Collection is paused (`pause_collection[behavior]=void`): the invoice is voided at once.
    Voided,
}

impl Payment {
    /// A customer's charge now: declined when asked to fail, else as their card behaves.
    pub(super) fn of(store: &Store, customer: &str, fails: bool) -> Payment {
        match store.customers.get(customer) {
            _ if fails => Payment::Declined,
            Some(c) if c.authenticates_every_payment => Payment::NeedsAction,
            _ => Payment::Paid,
        }
    }
}

/// The invoice a draft makes, unsaved and not finalised: its currency, subtotal, discount and
/// total, and the customer's balance as it stands (a preview's starting balance).
pub(super) fn draft_invoice(store: &Store, draft: Draft<'_>) -> Invoice {
    let customer = store.customers.get(&draft.customer);
    let currency = draft
        .lines
        .first()
        .and_then(|l| store.prices.get(&l.price))
        .map(|p| p.currency.clone())
        .unwrap_or_else(|| "usd".into());
    let subtotal: i64 = draft.lines.iter().map(|l| l.amount).sum();
    let total = subtotal - draft.discount.as_ref().map_or(0, |(_, off)| *off);
    let balance = customer
        .filter(|_| draft.uses_balance)
        .map_or(0, |c| c.balance);
    Invoice {
        id: store::new_id("in"),
        number: String::new(),
        customer_email: customer.and_then(|c| c.email.clone()),
        customer: draft.customer,
        subscription: draft.subscription,
        status: "draft".into(),
        billing_reason: draft.reason.into(),
        currency,
        lines: draft.lines,
        subtotal,
        discount: draft.discount,
        total,
        starting_balance: balance,
        ending_balance: None,
        amount_due: settle(total, balance).0,
        amount_paid: 0,
        attempt_count: 0,
        period_start: draft.period.0,
        period_end: draft.period.1,
        created: store.now(),
        finalized_at: None,
        paid_at: None,
        seq: 0,
    }
}

/// Creates, finalises and charges an invoice (as `payment` says the charge goes), emitting the
/// events Stripe would; returns its id. Finalising applies the customer's balance: credit pays
/// what it can, and a negative total (credit for unused time) goes to the balance rather than
/// being paid out.
pub(super) fn issue_invoice(
    store: &mut Store,
    base_url: &str,
    draft: Draft<'_>,
    payment: Payment,
) -> String {
    let now = store.now();
    let mut invoice = draft_invoice(store, draft);
    let seq = store.next_seq();
    invoice.number = format!("EMU-{seq:06}");
    invoice.seq = seq;
    store.emit("invoice.created", invoice.json(base_url), None);
    let (due, ending) = settle(invoice.total, invoice.starting_balance);
    invoice.amount_due = due;
    invoice.ending_balance = Some(ending);
    invoice.status = "open".into();
    invoice.finalized_at = Some(now);
    store.move_balance(
        &invoice.customer,
        BalanceChange {
            amount: ending - invoice.starting_balance,
            currency: invoice.currency.clone(),
            kind: "applied_to_invoice",
            invoice: Some(invoice.id.clone()),
            description: None,
            metadata: Default::default(),
        },
    );
    store.emit("invoice.finalized", invoice.json(base_url), None);
    invoice.attempt_count = 1;
    // Nothing to charge (a trial, a credit) needs no card.
    let payment = if invoice.amount_due <= 0 {
        Payment::Paid
    } else {
        payment
    };
    match payment {
        Payment::Paid => {
            invoice.status = "paid".into();
            invoice.amount_paid = invoice.amount_due;
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
        Payment::Voided => {
            invoice.status = "void".into();
            invoice.attempt_count = 0;
            store.emit("invoice.voided", invoice.json(base_url), None);
        }
    }
    let id = invoice.id.clone();
    if payment == Payment::Paid {
        charge_invoice(store, &invoice);
    }
    store.invoices.insert(id.clone(), invoice);
    id
}

/// Pays an open invoice (the customer fixed their card); a past-due subscription becomes active.
pub fn pay_invoice(store: &mut Store, base_url: &str, invoice_id: &str) -> Result<Value, ApiError> {
    let now = store.now();
    let invoice = store
        .invoices
        .get_mut(invoice_id)
        .ok_or_else(|| ApiError::not_found("invoice", invoice_id))?;
    if invoice.status != "open" {
        return Err(ApiError::invalid_param(
            "invoice",
            format!("Invoice is already {}.", invoice.status),
        ));
    }
    invoice.status = "paid".into();
    invoice.amount_paid = invoice.amount_due;
    invoice.attempt_count += 1;
    invoice.paid_at = Some(now);
    let json = invoice.json(base_url);
    let sub_id = invoice.subscription.clone();
    let paid = invoice.clone();
    charge_invoice(store, &paid);
    store.emit("invoice.paid", json.clone(), None);
    store.emit("invoice.payment_succeeded", json.clone(), None);
    if let Some(sub_id) = sub_id {
        apply_pending_update(store, &sub_id, invoice_id)?;
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

/// The price change that waited for this invoice (`pending_if_incomplete`) applies now that it
/// is paid, with the events Stripe sends for it.
fn apply_pending_update(store: &mut Store, sub_id: &str, invoice_id: &str) -> Result<(), ApiError> {
    let Some(update) = store
        .subscriptions
        .get(sub_id)
        .and_then(|s| s.pending_update.clone())
        .filter(|u| u.invoice == invoice_id)
    else {
        return Ok(());
    };
    let shown = store.subscriptions[sub_id].json(store)["pending_update"].clone();
    let json = change_subscription(store, sub_id, |sub, _| {
        let mut previous = switch_price(sub, &update.price, update.new_period);
        previous["pending_update"] = shown;
        sub.pending_update = None;
        previous
    })?;
    store.emit("customer.subscription.pending_update_applied", json, None);
    Ok(())
}
