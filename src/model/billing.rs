//! Which Stripe the site is talking to, for the pages to say so.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BillingMode {
    /// No `STRIPE_SECRET_KEY`: prices show, buying is off (the seed's "billing is optional").
    Off,
    /// A test key against a Stripe that is not Stripe's API: the local emulator.
    Emulated,
    /// A test key against Stripe.
    Test,
    Live,
}

impl BillingMode {
    /// The badge the header shows, if any: buyers must never mistake a test site for a shop.
    pub fn badge(self) -> Option<&'static str> {
        match self {
            BillingMode::Emulated => Some("Test mode — emulated Stripe"),
            BillingMode::Test => Some("Test mode"),
            BillingMode::Off | BillingMode::Live => None,
        }
    }
}
