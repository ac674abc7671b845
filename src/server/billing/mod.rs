//! Billing: the catalog now; Stripe (checkout, portal, webhooks) lives here too, and only here.

pub mod catalog;
