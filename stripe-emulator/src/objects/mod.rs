//! Stripe's billing objects (subscriptions, invoices, payment intents, events, …) and their JSON
//! in the API version async-stripe is pinned to (2026-09-30: periods live on subscription items,
//! an invoice names its subscription under `parent.subscription_details`).

mod events;
mod invoices;
mod payments;
mod schedules;
mod sessions;
mod subscriptions;

pub use events::{Delivery, Endpoint, Event};
pub use invoices::{settle, Invoice, InvoiceLine};
pub use payments::{invoice_payment_json, Charge, Dispute, PaymentIntent, Refund};
pub use schedules::{Phase, PhaseItem, SubscriptionSchedule};
pub use sessions::{PortalSession, PromotionCode};
pub use subscriptions::{Anchor, Discount, PendingUpdate, Subscription, SubscriptionItem};

pub const API_VERSION: &str = "2026-09-30.endive";
