//! What the success page says about a finished Checkout, what a coupon code looks like, and
//! why a checkout posted from the pricing page could not start.

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

/// Why a checkout posted from the pricing page's plain form could not start, as the redirect
/// back to `/pricing?checkout_error=CODE` names it: the page shows the fixed sentence for a
/// known code and nothing for any other, so no text from an address ever reaches the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckoutProblem {
    BillingOff,
    UnknownPrice,
    BadCoupon,
    RateLimited,
    Busy,
    Refused,
    Failed,
}

impl CheckoutProblem {
    const ALL: [CheckoutProblem; 7] = [
        CheckoutProblem::BillingOff,
        CheckoutProblem::UnknownPrice,
        CheckoutProblem::BadCoupon,
        CheckoutProblem::RateLimited,
        CheckoutProblem::Busy,
        CheckoutProblem::Refused,
        CheckoutProblem::Failed,
    ];

    pub fn code(self) -> &'static str {
        match self {
            CheckoutProblem::BillingOff => "billing_off",
            CheckoutProblem::UnknownPrice => "unknown_price",
            CheckoutProblem::BadCoupon => "bad_coupon",
            CheckoutProblem::RateLimited => "rate_limited",
            CheckoutProblem::Busy => "busy",
            CheckoutProblem::Refused => "refused",
            CheckoutProblem::Failed => "failed",
        }
    }

    pub fn from_code(code: &str) -> Option<CheckoutProblem> {
        Self::ALL.into_iter().find(|p| p.code() == code)
    }

    pub fn message(self) -> &'static str {
        match self {
            CheckoutProblem::BillingOff => "payments are not set up on this site yet.",
            CheckoutProblem::UnknownPrice => {
                "this plan cannot be bought here: pick one of the plans on this page."
            }
            CheckoutProblem::BadCoupon => "this coupon code is not valid.",
            CheckoutProblem::RateLimited => {
                "too many checkouts from your address lately: try again in a few minutes."
            }
            CheckoutProblem::Busy => "Stripe is busy just now: try again in a moment.",
            CheckoutProblem::Refused => {
                "Stripe refused part of this checkout: check the coupon and try again."
            }
            CheckoutProblem::Failed => {
                "something went wrong on our side: nothing was charged, please try again."
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CheckoutProblem;

    #[test]
    fn every_code_reads_back_and_no_other_text_does() {
        for p in CheckoutProblem::ALL {
            assert_eq!(CheckoutProblem::from_code(p.code()), Some(p));
        }
        assert_eq!(
            CheckoutProblem::from_code("Card blocked, call +1 555"),
            None
        );
        assert_eq!(CheckoutProblem::from_code(""), None);
    }
}
