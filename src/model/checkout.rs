//! What the success page says about a finished Checkout, and what a coupon code looks like.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseSummary {
    /// `open`, `complete` or `expired`.
    pub status: String,
    pub paid: bool,
    pub subscription: bool,
    /// A subscription that starts with a free trial (nothing paid yet).
    #[serde(default)]
    pub trial: bool,
    /// A subscription offered a trial whose trial the site ended at once: its buyer had a
    /// subscription before (one trial per person), so the first period is billed now.
    #[serde(default)]
    pub trial_refused: bool,
    /// The subscription is cancelled already (a second live subscription for the same person).
    #[serde(default)]
    pub canceled: bool,
    pub email: Option<String>,
    /// (description, amount) per line.
    pub items: Vec<(String, String)>,
    pub total: String,
}

/// The shape of a coupon id `plans.toml` may list: letters, digits, `-` and `_`, at most 100 of
/// them. Which ids reach Stripe is the catalog's list (`Catalog::coupon`), not this shape.
pub fn is_coupon_code(c: &str) -> bool {
    !c.is_empty()
        && c.len() <= 100
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
