//! `POST /api/stripe/webhook`: Stripe's delivery contract is at least once, in any order,
//! retried for days. So: verify the signature on the raw bytes → read the object again from
//! Stripe → in one transaction claim the event id, apply, queue its mail, mark it applied →
//! commit → 2xx. A duplicate answers 2xx and changes nothing; a failure rolls back, answers 5xx
//! so Stripe retries, and leaves its attempt and error in the event log.
//!
//! - `signature`: the `Stripe-Signature` check on the raw bytes;
//! - `events`: the envelope and the event types the site acts on;
//! - `route`: the axum route and the reads before the writer;
//! - `apply`: the step the writer runs for each event, in its transaction.

mod apply;
pub mod events;
mod route;
mod signature;

pub use apply::{
    apply_claimed, ApplyEvents, Effect, EventJob, EventRecord, Fresh, MailContext, Outcome,
};
pub use events::{handled_event_types, Envelope};
pub use route::{process, receive};
pub use signature::{verify, SignatureError, TOLERANCE_SECS};
