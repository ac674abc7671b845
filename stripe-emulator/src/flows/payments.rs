//! Money going back: refunds the merchant makes and disputes the cardholder opens.

use serde_json::Value;

use crate::error::ApiError;
use crate::objects::{Dispute, Refund};
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

/// The cardholder disputes a charge: `charge.dispute.created`, the dispute waiting for a
/// response.
pub fn open_dispute(store: &mut Store, charge_id: &str) -> Result<Value, ApiError> {
    let now = store.now();
    let charge = store
        .charges
        .get_mut(charge_id)
        .ok_or_else(|| ApiError::not_found("charge", charge_id))?;
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
/// The bank's decision: `won`, `lost`, or `prevented` (the payment was refunded or otherwise
/// settled before a chargeback happened).
pub fn close_dispute(
    store: &mut Store,
    dispute_id: &str,
    outcome: &str,
) -> Result<Value, ApiError> {
    let dispute = store
        .disputes
        .get_mut(dispute_id)
        .ok_or_else(|| ApiError::not_found("dispute", dispute_id))?;
    if matches!(dispute.status.as_str(), "won" | "lost" | "prevented") {
        return Err(ApiError::invalid_param(
            "dispute",
            format!("This dispute is already {}.", dispute.status),
        ));
    }
    dispute.status = outcome.into();
    let json = dispute.json();
    store.emit("charge.dispute.closed", json.clone(), None);
    Ok(json)
}
