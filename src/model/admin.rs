//! What the operators' page shows of the webhook event log.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventView {
    pub id: String,
    pub kind: String,
    pub received: String,
    /// `None` until applied.
    pub processed: Option<String>,
    pub attempts: i32,
    pub last_error: Option<String>,
}
