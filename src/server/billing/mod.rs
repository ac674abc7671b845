//! Billing: the catalog now; Stripe (checkout, portal, webhooks) lives here too, and only here.

pub mod api;
pub mod catalog;
pub mod checkout;
pub mod client;
pub mod sync;
