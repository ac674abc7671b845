//! Stripe's events as the site reads them: the envelope (id, type, mode, the object's id) and
//! the list of event types the site acts on, with what it reads from Stripe for each.

use serde::Deserialize;

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

    pub(super) fn object_id(&self) -> Option<&str> {
        self.data.object.id.as_deref()
    }
}

/// What the site reads from Stripe for an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reads {
    Session,
    Subscription,
    /// A subscription event whose mail needs the customer's email.
    SubscriptionAndEmail,
    Invoice,
    Charge,
    /// A refund's event: its charge is what is stored.
    Refund,
    Dispute,
    /// A subscription schedule: the change its subscription makes at the period's end.
    Schedule,
    /// A customer's event: its balance is what is stored.
    Customer,
}

/// Every event type the site acts on, and what it reads for each: the handler dispatches on
/// this list, and `landing stripe setup` subscribes the webhook endpoint to exactly it. Any
/// other type is recorded and answered 200.
///
/// `invoice.created` is left out on purpose: while an endpoint subscribed to it has not answered
/// it with a 2xx, Stripe holds the renewal invoice as a draft for up to an hour before it
/// finalizes and charges it, so one 500 of ours would delay a renewal. `invoice.finalized`
/// brings the same invoice a moment later.
const HANDLED: &[(&str, Reads)] = &[
    ("checkout.session.completed", Reads::Session),
    ("checkout.session.async_payment_succeeded", Reads::Session),
    ("checkout.session.async_payment_failed", Reads::Session),
    // Stripe's word for a balance that moved (credit given, or used by an invoice).
    ("customer.updated", Reads::Customer),
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
    ("invoice.finalized", Reads::Invoice),
    ("invoice.updated", Reads::Invoice),
    ("invoice.paid", Reads::Invoice),
    ("invoice.payment_succeeded", Reads::Invoice),
    ("invoice.payment_failed", Reads::Invoice),
    ("invoice.payment_action_required", Reads::Invoice),
    ("invoice.voided", Reads::Invoice),
    ("invoice.marked_uncollectible", Reads::Invoice),
    ("charge.refunded", Reads::Charge),
    ("charge.refund.updated", Reads::Refund),
    ("charge.dispute.created", Reads::Dispute),
    ("charge.dispute.updated", Reads::Dispute),
    ("charge.dispute.closed", Reads::Dispute),
    ("charge.dispute.funds_withdrawn", Reads::Dispute),
    ("charge.dispute.funds_reinstated", Reads::Dispute),
    ("subscription_schedule.created", Reads::Schedule),
    ("subscription_schedule.updated", Reads::Schedule),
    ("subscription_schedule.released", Reads::Schedule),
    ("subscription_schedule.canceled", Reads::Schedule),
    ("subscription_schedule.completed", Reads::Schedule),
];

/// The event types the site acts on, for the webhook endpoint's `enabled_events`.
pub fn handled_event_types() -> impl Iterator<Item = &'static str> {
    HANDLED.iter().map(|(t, _)| *t)
}

pub(super) fn reads(event_type: &str) -> Option<Reads> {
    HANDLED
        .iter()
        .find(|(t, _)| *t == event_type)
        .map(|(_, r)| *r)
}

/// An event type as a metrics label: one the site handles, or `other`, so that a sender cannot
/// grow the label set.
pub(super) fn type_label(kind: &str) -> &'static str {
    HANDLED
        .iter()
        .find(|(handled, _)| *handled == kind)
        .map_or("other", |(handled, _)| handled)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"id":"evt_1","type":"x","created":1,"data":{"object":{}}}"#;

    #[test]
    fn an_envelope_needs_an_event_id_and_a_type() {
        assert!(Envelope::parse(BODY).is_some());
        assert!(
            Envelope::parse(br#"{"id":"x","type":"a","created":1,"data":{"object":{}}}"#).is_none()
        );
        assert!(Envelope::parse(b"not json").is_none());
    }
}
