//! The customer-portal configuration the site wants, compared with the account's and written
//! as Stripe's form.

use std::collections::BTreeSet;

use super::account::Account;
use super::PORTAL_TAG;
use crate::model::catalog::{Catalog, Interval};
use crate::server::billing::client::Call;
use crate::server::billing::objects::PortalConfiguration;

/// What a customer may update in the portal.
const CUSTOMER_UPDATES: [&str; 3] = ["email", "address", "tax_id"];
const CANCEL_REASONS: [&str; 6] = [
    "too_expensive",
    "missing_features",
    "switched_service",
    "unused",
    "too_complex",
    "other",
];
/// The site's change-plan rule charges an upgrade's difference at once (`always_invoice`); a
/// downgrade or a shorter interval waits for the period's end (`PORTAL_SCHEDULE_CONDITIONS`),
/// so this behaviour bills only changes made now, and never gives a plan away unpaid.
const PORTAL_PRORATION: &str = "always_invoice";
/// A plan switch in the portal keeps a trial going, as a change on the site does (Stripe's
/// default, `end_trial`, would bill the new plan at once).
const PORTAL_TRIAL: &str = "continue_trial";
/// The change-plan rule's switches that wait for the period's end, as on the site: to a price
/// that costs less per period, or that bills more often (`server::billing::change`).
const PORTAL_SCHEDULE_CONDITIONS: [&str; 2] = ["decreasing_item_amount", "shortening_interval"];
/// Stripe's limit for the portal's headline.
const HEADLINE_MAX: usize = 60;

/// The portal the site wants, by lookup key (ids are known only once the prices exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedPortal {
    pub return_url: String,
    /// The product's headline, when it fits Stripe's 60 characters.
    pub headline: Option<String>,
    pub terms: Option<String>,
    pub privacy: Option<String>,
    /// (plan id, recurring lookup keys), in catalog order.
    pub products: Vec<(String, Vec<String>)>,
}

impl WantedPortal {
    pub fn new(catalog: &Catalog, site_url: &str) -> WantedPortal {
        WantedPortal {
            return_url: format!("{}/billing", site_url.trim_end_matches('/')),
            headline: Some(catalog.product.headline.clone())
                .filter(|h| h.chars().count() <= HEADLINE_MAX),
            terms: catalog.business.terms_of_service_url.clone(),
            privacy: catalog.business.privacy_policy_url.clone(),
            products: catalog
                .plans
                .iter()
                .map(|plan| {
                    (
                        plan.id.clone(),
                        plan.prices
                            .iter()
                            .filter(|p| p.interval != Interval::OneTime)
                            .map(|p| p.lookup_key.clone())
                            .collect::<Vec<_>>(),
                    )
                })
                .filter(|(_, keys)| !keys.is_empty())
                .collect(),
        }
    }

    /// What differs between this and a saved configuration, one phrase each.
    pub fn differences(&self, have: &PortalConfiguration, account: &Account) -> Vec<String> {
        let f = &have.features;
        let mut out = Vec::new();
        let mut check = |ok: bool, what: &str| {
            if !ok {
                out.push(what.to_string());
            }
        };
        check(have.active, "is not active");
        check(
            have.default_return_url.as_deref() == Some(self.return_url.as_str()),
            &format!("returns to {}", self.return_url),
        );
        let bp = &have.business_profile;
        check(bp.headline == self.headline, "shows the product's headline");
        check(
            bp.terms_of_service_url == self.terms,
            "links plans.toml's terms of service",
        );
        check(
            bp.privacy_policy_url == self.privacy,
            "links plans.toml's privacy policy",
        );
        check(f.invoice_history.enabled, "shows invoice history");
        check(
            f.payment_method_update.enabled,
            "lets customers update their card",
        );
        let updates: BTreeSet<&str> = f
            .customer_update
            .allowed_updates
            .iter()
            .map(String::as_str)
            .collect();
        check(
            f.customer_update.enabled && updates == CUSTOMER_UPDATES.into_iter().collect(),
            "lets customers update their email, address and tax id",
        );
        let cancel = &f.subscription_cancel;
        check(
            cancel.enabled && cancel.mode == "at_period_end",
            "cancels at the period's end",
        );
        let reasons: BTreeSet<&str> = cancel
            .cancellation_reason
            .options
            .iter()
            .map(String::as_str)
            .collect();
        check(
            cancel.cancellation_reason.enabled && reasons == CANCEL_REASONS.into_iter().collect(),
            "asks for a reason when cancelling",
        );
        let update = &f.subscription_update;
        check(
            update.enabled && update.default_allowed_updates == ["price"],
            "lets customers switch plans",
        );
        check(
            update.proration_behavior == PORTAL_PRORATION,
            &format!("prorates plan switches with {PORTAL_PRORATION}"),
        );
        check(
            update.trial_update_behavior == PORTAL_TRIAL,
            "keeps a trial going through a plan switch (continue_trial)",
        );
        let conditions: BTreeSet<&str> = update
            .schedule_at_period_end
            .iter()
            .flat_map(|s| s.conditions.iter().map(|c| c.type_.as_str()))
            .collect();
        check(
            conditions == PORTAL_SCHEDULE_CONDITIONS.into_iter().collect(),
            "schedules downgrades and shorter intervals for the period's end",
        );
        let offered: BTreeSet<&str> = update
            .products
            .iter()
            .flatten()
            .flat_map(|p| p.prices.iter())
            .map(|id| account.lookup_key_of(id).unwrap_or(id.as_str()))
            .collect();
        let wanted: BTreeSet<&str> = self
            .products
            .iter()
            .flat_map(|(_, keys)| keys.iter().map(String::as_str))
            .collect();
        if offered != wanted {
            let missing: Vec<&str> = wanted.difference(&offered).copied().collect();
            let extra: Vec<&str> = offered.difference(&wanted).copied().collect();
            let mut what = String::from("offers exactly the catalog's recurring prices");
            if !missing.is_empty() {
                what.push_str(&format!(" (missing {})", missing.join(", ")));
            }
            if !extra.is_empty() {
                what.push_str(&format!(" (also offers {})", extra.join(", ")));
            }
            out.push(what);
        }
        out
    }

    /// The parameters that save this configuration, with the prices' ids.
    pub(super) fn call(&self, call: Call, account: &Account, catalog: &Catalog) -> Call {
        let mut call = call
            .param("default_return_url", self.return_url.as_str())
            .param(
                "business_profile[headline]",
                self.headline.clone().unwrap_or_default(),
            )
            .param(
                "business_profile[terms_of_service_url]",
                self.terms.clone().unwrap_or_default(),
            )
            .param(
                "business_profile[privacy_policy_url]",
                self.privacy.clone().unwrap_or_default(),
            )
            .param(format!("metadata[{}]", PORTAL_TAG.0), PORTAL_TAG.1)
            .param("features[invoice_history][enabled]", "true")
            .param("features[payment_method_update][enabled]", "true")
            .param("features[customer_update][enabled]", "true")
            .list(
                "features[customer_update][allowed_updates]",
                &CUSTOMER_UPDATES,
            )
            .param("features[subscription_cancel][enabled]", "true")
            .param("features[subscription_cancel][mode]", "at_period_end")
            .param(
                "features[subscription_cancel][cancellation_reason][enabled]",
                "true",
            )
            .list(
                "features[subscription_cancel][cancellation_reason][options]",
                &CANCEL_REASONS,
            )
            .param("features[subscription_update][enabled]", "true")
            .list(
                "features[subscription_update][default_allowed_updates]",
                &["price"],
            )
            .param(
                "features[subscription_update][proration_behavior]",
                PORTAL_PRORATION,
            )
            .param(
                "features[subscription_update][trial_update_behavior]",
                PORTAL_TRIAL,
            );
        for (i, condition) in PORTAL_SCHEDULE_CONDITIONS.iter().enumerate() {
            call = call.param(
                format!(
                    "features[subscription_update][schedule_at_period_end][conditions][{i}][type]"
                ),
                *condition,
            );
        }
        let mut i = 0;
        for (plan_id, keys) in &self.products {
            let Some(plan) = catalog.plans.iter().find(|p| &p.id == plan_id) else {
                continue;
            };
            let ids: Vec<&str> = keys
                .iter()
                .filter_map(|k| account.price(k))
                .map(|p| p.id.as_str())
                .collect();
            let Some(product) = account.product_of(plan) else {
                continue;
            };
            if ids.is_empty() {
                continue;
            }
            call = call
                .param(
                    format!("features[subscription_update][products][{i}][product]"),
                    product.id.as_str(),
                )
                .list(
                    &format!("features[subscription_update][products][{i}][prices]"),
                    &ids,
                );
            i += 1;
        }
        call
    }
}
