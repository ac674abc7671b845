//! A disputed payment of a subscription. While the cardholder's bank decides, the site stops
//! the subscription from charging that card again by pausing its collection
//! (`pause_collection[behavior]=void`: renewals make invoices that are voided, nothing is
//! charged, the subscription stays as it was), and access is suspended (`overview`). The
//! bank's decision then settles it: a dispute `won`, `prevented` or an inquiry closed without
//! a chargeback resumes collection; `lost` cancels the subscription at once, since the
//! money it was paid went back to the cardholder.
//!
//! Each webhook about the dispute reads the dispute and the subscription from Stripe and moves
//! the subscription toward what the dispute's current status asks, so a repeated or late event
//! changes nothing, and every call carries an Idempotency-Key naming the dispute and the step.
//! The pause names its charge in the subscription's metadata (`landing_disputed_charge`):
//! only that charge's dispute releases it, so a late event about an older dispute, won long
//! ago, never resumes collection that a newer dispute paused.

use super::client::{Call, Stripe};
use super::fetch::{self, now_ms, FetchError, Read};
use super::objects::{Dispute, Subscription};

/// The subscription's metadata key naming the charge whose dispute paused it.
pub const DISPUTED_CHARGE: &str = "landing_disputed_charge";

/// What a dispute's status asks of the subscription it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Still open (an inquiry or a chargeback): charge nothing more.
    Paused,
    /// Decided for the merchant, or no chargeback happened: collect again.
    Released,
    /// Lost: the subscription ends.
    Ended,
}

impl Hold {
    pub fn of(dispute_status: &str) -> Hold {
        match dispute_status {
            "won" | "prevented" | "warning_closed" => Hold::Released,
            "lost" => Hold::Ended,
            _ => Hold::Paused,
        }
    }
}

/// The subscription whose invoice the disputed charge paid, if it paid one, as Stripe has it.
pub async fn subscription_paid_by(
    client: &Stripe,
    payment_intent: &str,
) -> Result<Option<Read<Subscription>>, FetchError> {
    let Some(invoice) = fetch::invoice_paid_by(client, payment_intent).await? else {
        return Ok(None);
    };
    let Some(sub_id) = invoice.subscription() else {
        return Ok(None);
    };
    fetch::subscription(client, sub_id).await.map(Some)
}

/// Brings a subscription (of ours) to what its payment's dispute asks, and answers it as
/// Stripe has it after that.
pub async fn enforce(
    client: &Stripe,
    dispute: &Dispute,
    sub: Read<Subscription>,
) -> Result<Read<Subscription>, FetchError> {
    let current = &sub.object;
    if current.status == "canceled" || current.status == "incomplete_expired" {
        return Ok(sub);
    }
    let path = format!("/subscriptions/{}", current.id);
    let paused = current.pause_collection.is_some();
    let charge = dispute.charge.id();
    let meta = format!("metadata[{DISPUTED_CHARGE}]");
    let (call, step) = match Hold::of(&dispute.status) {
        Hold::Paused if !paused => (
            Call::post(path)
                .param("pause_collection[behavior]", "void")
                .param(meta, charge),
            "pause",
        ),
        Hold::Released
            if paused
                && current.metadata.get(DISPUTED_CHARGE).map(String::as_str) == Some(charge) =>
        {
            // An empty value is Stripe's way to clear a field, and to remove a metadata key.
            (
                Call::post(path)
                    .param("pause_collection", "")
                    .param(meta, ""),
                "resume",
            )
        }
        Hold::Ended => (Call::delete(path), "cancel"),
        _ => return Ok(sub),
    };
    let at_ms = now_ms();
    let key = format!("dispute-hold:{}:{step}", dispute.id);
    let object: Subscription = client.send_as(&call, &key).await?;
    tracing::info!(
        subscription = %object.id,
        dispute = %dispute.id,
        status = %dispute.status,
        step,
        "disputed subscription brought to the dispute's status"
    );
    Ok(Read { object, at_ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_dispute_pauses_a_decided_one_releases_or_ends() {
        for open in [
            "warning_needs_response",
            "warning_under_review",
            "needs_response",
            "under_review",
        ] {
            assert_eq!(Hold::of(open), Hold::Paused, "{open}");
        }
        for released in ["won", "prevented", "warning_closed"] {
            assert_eq!(Hold::of(released), Hold::Released, "{released}");
        }
        assert_eq!(Hold::of("lost"), Hold::Ended);
    }
}
