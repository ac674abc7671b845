//! What `landing doctor` checks in Stripe: the catalog's prices, the portal configuration and
//! the webhook endpoint, against the same wanted state `landing stripe setup` makes. Read-only.

use std::fmt;

use super::client::{Call, Stripe};
use super::objects::List;
use super::setup::{self, Account, WantedPortal};
use super::webhook;
use crate::model::catalog::{Catalog, Interval};
use crate::server::secret::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    /// Worth knowing; the site works.
    Warn,
    /// Buyers or webhooks will meet it.
    Fail,
}

/// One line of the doctor's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    pub what: String,
    pub fix: Option<String>,
}

impl Finding {
    pub fn ok(what: impl Into<String>) -> Finding {
        Finding {
            level: Level::Ok,
            what: what.into(),
            fix: None,
        }
    }

    pub fn warn(what: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            level: Level::Warn,
            what: what.into(),
            fix: Some(fix.into()).filter(|f: &String| !f.is_empty()),
        }
    }

    pub fn fail(what: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            level: Level::Fail,
            what: what.into(),
            fix: Some(fix.into()).filter(|f: &String| !f.is_empty()),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.level {
            Level::Ok => "ok  ",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        write!(f, "{tag} {}", self.what)?;
        if let Some(fix) = &self.fix {
            write!(f, " → {fix}")?;
        }
        Ok(())
    }
}

const RUN_SETUP: &str = "run `landing stripe setup`";

/// What the Stripe checks need to know of the site.
pub struct Site<'a> {
    pub url: &'a str,
    pub webhook_secrets: &'a [Secret],
    /// The emulator can hand back a signed test event; Stripe cannot.
    pub emulated: bool,
}

/// Every Stripe finding, in the order an operator fixes them.
pub async fn check(client: &Stripe, catalog: &Catalog, site: &Site<'_>) -> Vec<Finding> {
    let account = match setup::read_account(client, catalog).await {
        Ok(a) => a,
        Err(e) => {
            return vec![Finding::fail(
                format!("Stripe: cannot read the account: {}", e.describe()),
                "check STRIPE_SECRET_KEY and STRIPE_API_BASE",
            )]
        }
    };
    let mut out = prices(catalog, &account);
    out.extend(stray_prices(client, catalog).await);
    out.push(portal(catalog, &account, site.url));
    out.extend(endpoint(client, &account, site).await);
    out.push(api_version(client).await);
    out
}

fn prices(catalog: &Catalog, account: &Account) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut good = 0;
    for price in catalog.plans.iter().flat_map(|p| p.prices.iter()) {
        let key = &price.lookup_key;
        match account.price(key) {
            None => out.push(Finding::fail(
                format!("price {key}: not in Stripe"),
                RUN_SETUP,
            )),
            Some(have) if !have.active => out.push(Finding::fail(
                format!("price {key} ({}): archived in Stripe", have.id),
                RUN_SETUP,
            )),
            Some(have) => match setup::price_difference(price, have) {
                Some(why) => out.push(Finding::fail(
                    format!("price {key} ({}): {why}", have.id),
                    format!("{RUN_SETUP} (it makes a new price), or change plans.toml"),
                )),
                None => good += 1,
            },
        }
    }
    if out.is_empty() {
        out.push(Finding::ok(format!(
            "prices: all {good} of plans.toml's prices are in Stripe, active, with the same amount and interval"
        )));
    }
    out
}

/// Active prices of the plans' products that no lookup key of `plans.toml` names: Checkout can
/// still sell them (a Payment Link, an old page) although the site no longer does. Setup
/// archives what it replaces; one left active was made by hand, or by a setup cut short.
async fn stray_prices(client: &Stripe, catalog: &Catalog) -> Vec<Finding> {
    let index = match super::catalog::resolve(client, catalog).await {
        Ok(index) => index,
        Err(e) => {
            return vec![Finding::fail(
                format!("prices: cannot read the plans' products: {}", e.describe()),
                "check STRIPE_SECRET_KEY and STRIPE_API_BASE",
            )]
        }
    };
    index
        .strays()
        .into_iter()
        .map(|price| {
            let every = match price.interval {
                Some(Interval::Month) => " / month",
                Some(Interval::Year) => " / year",
                Some(Interval::OneTime) => "",
                None => " (another interval)",
            };
            Finding::warn(
                format!(
                    "price {} of plan {} ({} {}{every}): active, but plans.toml no longer names \
                     it, so Checkout can still sell it; its subscribers keep the plan either way",
                    price.id, price.plan, price.amount, price.currency
                ),
                "archive it in the Stripe Dashboard unless it is sold on purpose",
            )
        })
        .collect()
}

fn portal(catalog: &Catalog, account: &Account, site_url: &str) -> Finding {
    let Some(have) = account.our_portal() else {
        return Finding::fail(
            "customer portal: no configuration saved by `landing stripe setup`; a real account's \
             portal cannot switch plans without one",
            RUN_SETUP,
        );
    };
    let why = WantedPortal::new(catalog, site_url).differences(have, account);
    if why.is_empty() {
        Finding::ok(format!(
            "customer portal: configuration {} switches between the catalog's recurring prices, \
             cancels at the period's end",
            have.id
        ))
    } else {
        Finding::fail(
            format!(
                "customer portal: configuration {} does not yet: {}",
                have.id,
                why.join("; ")
            ),
            RUN_SETUP,
        )
    }
}

async fn endpoint(client: &Stripe, account: &Account, site: &Site<'_>) -> Vec<Finding> {
    let url = setup::webhook_url(site.url);
    let found = account.endpoints_for(&url);
    let Some(endpoint) = found.first() else {
        return vec![Finding::fail(
            format!("webhook endpoint: none for {url}; Stripe sends this site no events"),
            RUN_SETUP,
        )];
    };
    let mut out = Vec::new();
    if found.len() > 1 {
        out.push(Finding::warn(
            format!(
                "webhook endpoint: {} endpoints for {url}; each event arrives once per endpoint",
                found.len()
            ),
            "delete all but one in the dashboard",
        ));
    }
    let (missing, extra) = setup::event_difference(endpoint);
    if endpoint.status != "enabled" {
        out.push(Finding::fail(
            format!(
                "webhook endpoint {}: {}; Stripe sends it nothing",
                endpoint.id, endpoint.status
            ),
            RUN_SETUP,
        ));
    }
    if !missing.is_empty() {
        out.push(Finding::fail(
            format!(
                "webhook endpoint {}: not subscribed to {}",
                endpoint.id,
                missing.join(", ")
            ),
            RUN_SETUP,
        ));
    }
    if !extra.is_empty() {
        out.push(Finding::warn(
            format!(
                "webhook endpoint {}: also subscribed to {} (recorded, never applied)",
                endpoint.id,
                extra.join(", ")
            ),
            RUN_SETUP,
        ));
    }
    if endpoint.status == "enabled" && missing.is_empty() {
        out.push(Finding::ok(format!(
            "webhook endpoint {}: {url}, enabled, subscribed to the {} handled events",
            endpoint.id,
            webhook::handled_event_types().count()
        )));
    }
    out.push(secret(client, &endpoint.id, site).await);
    out
}

/// Is the endpoint's signing secret among ours? Asked of a signed test event where the API
/// offers one (the emulator); Stripe's API never shows an endpoint's secret again.
async fn secret(client: &Stripe, endpoint: &str, site: &Site<'_>) -> Finding {
    if site.webhook_secrets.is_empty() {
        return Finding::fail(
            "STRIPE_WEBHOOK_SECRET is not set: every webhook is answered 503",
            "set it to the endpoint's signing secret (`landing stripe setup` prints it when it creates the endpoint)",
        );
    }
    if !site.emulated {
        return Finding::warn(
            "webhook secret: Stripe's API cannot send a signed test event, so it is not checked here",
            "compare STRIPE_WEBHOOK_SECRET with the endpoint's signing secret in the dashboard, or send one with `stripe trigger` and look at `landing events`",
        );
    }
    #[derive(serde::Deserialize)]
    struct Sample {
        payload: String,
        signature: String,
    }
    let sample: Sample = match client
        .send(&Call::post(format!(
            "/_emulator/webhook_endpoints/{endpoint}/test_event"
        )))
        .await
    {
        Ok(s) => s,
        Err(e) => {
            return Finding::warn(
                format!(
                    "webhook secret: the emulator sent no test event ({})",
                    e.describe()
                ),
                "",
            )
        }
    };
    let now = crate::server::auth::jwt::now();
    match webhook::verify(
        Some(&sample.signature),
        sample.payload.as_bytes(),
        site.webhook_secrets,
        now,
    ) {
        Ok(()) => Finding::ok("webhook secret: a signed test event verifies with STRIPE_WEBHOOK_SECRET"),
        Err(e) => Finding::fail(
            format!("webhook secret: a signed test event from the endpoint does not verify ({e}); every webhook would be refused"),
            "set STRIPE_WEBHOOK_SECRET to the endpoint's signing secret",
        ),
    }
}

/// The account's API version (the newest event's) against the one the site pins.
async fn api_version(client: &Stripe) -> Finding {
    #[derive(serde::Deserialize)]
    struct Event {
        api_version: Option<String>,
    }
    let ours = stripe_shared::version::VERSION.as_str();
    match client
        .send::<List<Event>>(&Call::get("/events").param("limit", "1"))
        .await
    {
        Ok(list) => match list.data.first().and_then(|e| e.api_version.clone()) {
            Some(v) if v == ours => Finding::ok(format!("API version: the account's is ours, {ours}")),
            Some(v) => Finding::warn(
                format!("API version: the account's events are in {v}, the site pins {ours}"),
                "nothing breaks: the site reads every object again in its own version; upgrade the account in the dashboard when convenient",
            ),
            None => Finding::warn(
                format!("API version: the account has no events yet; the site pins {ours}"),
                "",
            ),
        },
        Err(e) => Finding::warn(
            format!("API version: cannot list events ({})", e.describe()),
            "",
        ),
    }
}
