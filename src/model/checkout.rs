//! What the success page says about a finished Checkout.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseSummary {
    /// `open`, `complete` or `expired`.
    pub status: String,
    pub paid: bool,
    pub subscription: bool,
    pub email: Option<String>,
    /// (description, amount) per line.
    pub items: Vec<(String, String)>,
    pub total: String,
}
