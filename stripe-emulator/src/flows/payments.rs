//! Money going back: refunds the merchant makes and disputes the cardholder opens.

use serde_json::Value;

use crate::error::ApiError;
use crate::objects::{Charge, Dispute, Invoice, PaymentIntent, Refund};
use crate::store::{self, Store};

/// `POST /v1/refunds`: gives back `amount` (all that is left when `None`) of a charge, and
/// emits `charge.refunded` with the charge, as Stripe does for full and partial refunds alike.
pub fn refund(store: &mut Store, charge_id: &str, amount: Option<i64>) -> Result<Value, ApiError> {
    let now = store.now();
    let charge = store
        .charges
        .get_mut(charge_id)
        .ok_or_else(|| ApiError::not_found("charge", charge_id))?;
    let left = charge.amount - charge.amount_refunded;
    let amount = amount.unwrap_or(left);
    if left <= 0 {
        return Err(ApiError::invalid_param(
            "charge",
            format!("Charge {charge_id} has already been refunded."),
        ));
    }
    if amount <= 0 || amount > left {
        return Err(ApiError::invalid_param(
            "amount",
            format!(
                "Refund amount ({amount}) is greater than unrefunded amount on charge ({left})"
            ),
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
        status: "succeeded".into(),
    };
    let charge_json = charge.json();
    let json = refund.json();
    store.refunds.insert(refund.id.clone(), refund);
    store.emit("refund.created", json.clone(), None);
    store.emit("charge.refunded", charge_json, None);
    Ok(json)
}

/// A refund the bank could not complete (the card closed meanwhile): the money stays with the
/// merchant, the charge counts it as refunded no more, and Stripe says so with
/// `charge.refund.updated` and `refund.failed`.
pub fn fail_refund(store: &mut Store, refund_id: &str) -> Result<Value, ApiError> {
    let refund = store
        .refunds
        .get_mut(refund_id)
        .ok_or_else(|| ApiError::not_found("refund", refund_id))?;
    if refund.status != "succeeded" {
        return Err(ApiError::invalid_param(
            "refund",
            format!("This refund is already {}.", refund.status),
        ));
    }
    refund.status = "failed".into();
    let (charge_id, amount) = (refund.charge.clone(), refund.amount);
    let json = refund.json();
    if let Some(charge) = store.charges.get_mut(&charge_id) {
        charge.amount_refunded = (charge.amount_refunded - amount).max(0);
    }
    store.emit("charge.refund.updated", json.clone(), None);
    store.emit("refund.failed", json.clone(), None);
    Ok(json)
}

/// The card payment of a subscription's paid invoice: a payment intent and its charge (no
/// events, as for the rest of a subscription's payments here). A customer whose card disputes
/// every payment has the charge disputed at once.
pub(super) fn charge_invoice(store: &mut Store, invoice: &Invoice) {
    if invoice.subscription.is_none() || invoice.amount_paid <= 0 {
        return;
    }
    let now = store.now();
    let pi = PaymentIntent {
        id: store::new_id("pi"),
        latest_charge: None,
        amount: invoice.amount_paid,
        currency: invoice.currency.clone(),
        customer: Some(invoice.customer.clone()),
        status: "succeeded".into(),
        setup_future_usage: Some("off_session".into()),
        created: now,
    };
    let charge = Charge {
        id: store::new_id("ch"),
        amount: invoice.amount_paid,
        amount_refunded: 0,
        currency: invoice.currency.clone(),
        customer: Some(invoice.customer.clone()),
        payment_intent: pi.id.clone(),
        dispute: None,
        created: now,
        invoice: Some(invoice.id.clone()),
    };
    let charge_id = charge.id.clone();
    store.payment_intents.insert(
        pi.id.clone(),
        PaymentIntent {
            latest_charge: Some(charge_id.clone()),
            ..pi
        },
    );
    store.charges.insert(charge_id.clone(), charge);
    if store
        .customers
        .get(&invoice.customer)
        .is_some_and(|c| c.disputes_payments)
    {
        let _ = open_dispute(store, &charge_id, "needs_response");
    }
}

/// The statuses a dispute opens with: an inquiry (`warning_needs_response`) or a chargeback
/// (`needs_response`).
pub const OPENING_STATUSES: [&str; 2] = ["needs_response", "warning_needs_response"];

/// The cardholder disputes a charge: `charge.dispute.created`, the dispute waiting for a
/// response; a chargeback also takes the money (`charge.dispute.funds_withdrawn`).
pub fn open_dispute(store: &mut Store, charge_id: &str, status: &str) -> Result<Value, ApiError> {
    if !OPENING_STATUSES.contains(&status) {
        return Err(ApiError::invalid_param(
            "status",
            "A dispute opens as needs_response or warning_needs_response.",
        ));
    }
    let now = store.now();
    let charge = store
        .charges
        .get_mut(charge_id)
        .ok_or_else(|| ApiError::not_found("charge", charge_id))?;
    if let Some(existing) = &charge.dispute {
        return Err(ApiError::invalid_param(
            "charge",
            format!("Charge {charge_id} is already disputed ({existing})."),
        ));
    }
    let dispute = Dispute {
        id: store::new_id("dp"),
        amount: charge.amount,
        charge: charge.id.clone(),
        currency: charge.currency.clone(),
        payment_intent: charge.payment_intent.clone(),
        status: status.into(),
        created: now,
    };
    charge.dispute = Some(dispute.id.clone());
    let json = dispute.json();
    let chargeback = dispute.is_chargeback();
    store.disputes.insert(dispute.id.clone(), dispute);
    store.emit("charge.dispute.created", json.clone(), None);
    if chargeback {
        store.emit("charge.dispute.funds_withdrawn", json.clone(), None);
    }
    Ok(json)
}

/// A completed Checkout paid with a card whose holder disputes it (Stripe's 0259): the
/// purchase's charge, or the subscription's first invoice's, is disputed, and so is every
/// later payment of the customer's.
pub fn dispute_checkout(store: &mut Store, session_id: &str) {
    let Some(session) = store.sessions.get(session_id).cloned() else {
        return;
    };
    if let Some(c) = session
        .customer
        .as_ref()
        .and_then(|id| store.customers.get_mut(id))
    {
        c.disputes_payments = true;
    }
    let paid_invoice = session
        .subscription
        .as_ref()
        .and_then(|s| store.subscriptions.get(s))
        .and_then(|s| s.latest_invoice.clone());
    let charge = session
        .payment_intent
        .as_ref()
        .and_then(|pi| store.payment_intents.get(pi))
        .and_then(|pi| pi.latest_charge.clone())
        .or_else(|| {
            store
                .charges
                .values()
                .find(|c| c.invoice.is_some() && c.invoice == paid_invoice)
                .map(|c| c.id.clone())
        });
    if let Some(charge) = charge.filter(|c| store.charges[c].dispute.is_none()) {
        let _ = open_dispute(store, &charge, "needs_response");
    }
}

/// Where a dispute may go from each status, as Stripe moves it: an inquiry is reviewed,
/// closed, or escalated to a chargeback; a chargeback is reviewed and then decided.
fn may_move(from: &str, to: &str) -> bool {
    match from {
        "warning_needs_response" => matches!(
            to,
            "warning_under_review" | "warning_closed" | "needs_response"
        ),
        "warning_under_review" => matches!(to, "warning_closed" | "needs_response"),
        "needs_response" => matches!(to, "under_review" | "won" | "lost" | "prevented"),
        "under_review" => matches!(to, "won" | "lost"),
        _ => false,
    }
}

/// Moves a dispute to `status`, with Stripe's events: `charge.dispute.updated` while it is
/// open, `charge.dispute.closed` once decided, `funds_withdrawn` when an inquiry becomes a
/// chargeback and `funds_reinstated` when a chargeback is won.
pub fn move_dispute(store: &mut Store, dispute_id: &str, status: &str) -> Result<Value, ApiError> {
    let dispute = store
        .disputes
        .get_mut(dispute_id)
        .ok_or_else(|| ApiError::not_found("dispute", dispute_id))?;
    if !may_move(&dispute.status, status) {
        return Err(ApiError::invalid_param(
            "status",
            format!("A dispute cannot go from {} to {status}.", dispute.status),
        ));
    }
    let took_money = dispute.is_chargeback();
    dispute.status = status.into();
    let gives_money_back = took_money && status == "won";
    let takes_money = !took_money && dispute.is_chargeback();
    let json = dispute.json();
    let closed = matches!(status, "won" | "lost" | "prevented" | "warning_closed");
    let kind = if closed {
        "charge.dispute.closed"
    } else {
        "charge.dispute.updated"
    };
    store.emit(kind, json.clone(), None);
    if takes_money {
        store.emit("charge.dispute.funds_withdrawn", json.clone(), None);
    }
    if gives_money_back {
        store.emit("charge.dispute.funds_reinstated", json.clone(), None);
    }
    Ok(json)
}

/// The bank decides a dispute: `won`, `lost`, or `prevented` (the payment was refunded or
/// otherwise settled before a chargeback happened); see `move_dispute`.
pub fn close_dispute(
    store: &mut Store,
    dispute_id: &str,
    outcome: &str,
) -> Result<Value, ApiError> {
    let status = store
        .disputes
        .get(dispute_id)
        .ok_or_else(|| ApiError::not_found("dispute", dispute_id))?
        .status
        .clone();
    if matches!(
        status.as_str(),
        "won" | "lost" | "prevented" | "warning_closed"
    ) {
        return Err(ApiError::invalid_param(
            "dispute",
            format!("This dispute is already {status}."),
        ));
    }
    move_dispute(store, dispute_id, outcome)
}
