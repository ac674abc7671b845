//! Billing: Stripe lives here, and only here: the catalog, checkout, the customer portal,
//! webhooks, the sync that stores Stripe's objects, and the mail billing events cause.

pub mod account;
pub mod admin;
pub mod api;
pub mod catalog;
pub mod change;
pub mod checkout;
pub mod client;
pub mod dispute_holds;
pub mod doctor;
pub mod emails;
pub mod fetch;
pub mod objects;
pub mod overlap;
pub mod overview;
pub mod plan_reads;
pub mod portal;
pub mod resync;
pub mod setup;
pub mod sync;
pub mod visitor_reads;
pub mod webhook;
