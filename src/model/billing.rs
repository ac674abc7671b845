//! Which Stripe the site is talking to, for the pages to say so.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BillingMode {
    /// No `STRIPE_SECRET_KEY`: prices show, buying is off (billing is optional: README, "Compatible with the Next.js integration").
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

/// The signed-in user's billing, as `/billing` shows it (dates and amounts already written out).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingOverview {
    /// Has Stripe ever billed this user (is there a customer to open the portal for)?
    pub has_customer: bool,
    /// May the user use the product now, and through what.
    pub access: String,
    pub access_open: bool,
    pub subscriptions: Vec<SubscriptionView>,
    pub invoices: Vec<InvoiceView>,
    pub purchases: Vec<PurchaseView>,
    /// The credit on the customer's balance (written out), which their next invoices use
    /// before anything is charged; `None` without credit.
    pub credit: Option<String>,
    /// The billing data could not be refreshed from Stripe (it failed, or this address has
    /// refreshed too often lately): shown as stored.
    pub stale: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionView {
    pub plan: String,
    /// Stripe's status (`active`, `past_due`, …) and how we say it.
    pub status: String,
    pub status_label: String,
    /// "Renews on …", "Cancels on …", "Ended on …", "Payment failed: access until …".
    pub when: Option<String>,
    pub trial_ends: Option<String>,
    /// A change scheduled for the end of the paid period, which the subscriber may drop.
    #[serde(default)]
    pub scheduled: Option<ScheduledChange>,
    /// A plan change waiting for the buyer's bank ("Pro is waiting for your payment"), with
    /// the invoice's page where they complete it.
    pub waiting: Option<WaitingChange>,
    /// A payment of this subscription is disputed: what that does to access, in words.
    pub dispute: Option<String>,
}

/// "Changes to Starter (yearly) on January 14, 2027", and the plan **Keep** holds on to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledChange {
    pub to: String,
    pub on: String,
    /// The plan now ("Pro (yearly)"), for the Keep control's words.
    pub keep: String,
}

/// A change of plan that applies once its invoice is paid (Stripe's pending update).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingChange {
    /// "Pro is waiting for your payment".
    pub text: String,
    /// "Stripe drops the change on January 14, 2027 if it is not paid by then."
    pub until: Option<String>,
    /// The invoice's hosted page, once stored.
    pub url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceView {
    pub number: String,
    pub date: String,
    pub amount: String,
    pub status: String,
    pub url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseView {
    pub item: String,
    pub date: String,
    pub amount: String,
    pub status: String,
}

/// What `/app` needs: whether it is open, and the plan that opens it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppAccess {
    pub open: bool,
    pub plan: Option<String>,
    pub detail: String,
    /// The plan's entitlements as people read them ("Monitors", 100).
    pub entitlements: Vec<(String, i64)>,
    /// The URLs the user's monitors watch, and how many the plan allows.
    #[serde(default)]
    pub monitors: Vec<String>,
    #[serde(default)]
    pub monitors_allowed: i64,
}
