//! A change of plan as `/billing/change` shows it before the buyer confirms: amounts and dates
//! already written out, from Stripe's invoice preview.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangePreview {
    /// The plan and billing now, and after: "Starter, monthly" → "Pro, yearly".
    pub from: String,
    pub to: String,
    /// The new price's lookup key, as the confirmation sends it back.
    pub price: String,
    /// An upgrade (or a longer interval) is charged now; a downgrade (or a shorter interval)
    /// waits for the end of the paid period.
    pub charged_now: bool,
    /// The change is scheduled for the end of the paid period (`next_date`): the current plan
    /// stays until then.
    #[serde(default)]
    pub at_period_end: bool,
    /// What is charged today ("$10.00"; "$0.00" for a downgrade).
    pub due_today: String,
    /// The renewal after the change: its amount and date.
    pub next_amount: String,
    pub next_date: String,
    /// One sentence on what happens, in the buyer's words.
    pub summary: String,
    /// The moment the preview's proration was computed for (unix seconds): the confirmation
    /// changes the plan as of then, so it charges what was shown.
    pub proration_date: i64,
}
