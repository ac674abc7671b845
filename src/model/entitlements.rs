//! What a customer may use now: the plan their access comes from (`model::access`), and that
//! plan's entitlements from `plans.toml`. One pure function, so `/app`, `GET /api/entitlements`
//! and any check the product makes give the same answer.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::access::Access;
use super::catalog::Catalog;

/// The answer of `GET /api/entitlements`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InForce {
    /// The catalog plan in force (`"pro"`), or none.
    pub plan: Option<String>,
    /// The subscription's status (`active`, `trialing`, `past_due` within its grace), `paid`
    /// for a one-time purchase, or `none`.
    pub status: String,
    /// Every entitlement the catalog names; all 0 without a plan.
    pub entitlements: BTreeMap<String, i64>,
}

/// The entitlements `access` gives. `plan_of` names the catalog plan of a Stripe price id (the
/// plan whose product the price is on, so a replaced price keeps its plan). Access that holds
/// (a past-due subscription within its grace included) keeps its plan's entitlements; access
/// from a price of no plan keeps access but entitles to nothing, since no plan says what it is
/// worth.
pub fn in_force(
    access: &Access,
    catalog: &Catalog,
    plan_of: impl Fn(&str) -> Option<String>,
) -> InForce {
    let (price_id, status) = match access {
        Access::Subscription {
            price_id, status, ..
        } => (Some(price_id), status.clone()),
        Access::Purchase { price_id } => (Some(price_id), "paid".to_string()),
        Access::None => (None, "none".to_string()),
    };
    let plan = price_id
        .and_then(|id| plan_of(id))
        .and_then(|plan| catalog.plans.iter().find(|p| p.id == plan));
    let none = || {
        catalog
            .plans
            .first()
            .map(|p| p.entitlements.keys().map(|k| (k.clone(), 0)).collect())
            .unwrap_or_default()
    };
    InForce {
        plan: plan.map(|p| p.id.clone()),
        status,
        entitlements: plan.map_or_else(none, |p| p.entitlements.clone()),
    }
}

/// Which of two sets of entitlements is larger: the one that gives more in more of them, each
/// compared as `require_entitlement` compares them (a larger number is more). Equal when each
/// gives more in as many as the other.
pub fn compare(a: &BTreeMap<String, i64>, b: &BTreeMap<String, i64>) -> Ordering {
    let mut balance = 0i64;
    for (name, mine) in a {
        let theirs = b.get(name).copied().unwrap_or(0);
        balance += match mine.cmp(&theirs) {
            Ordering::Greater => 1,
            Ordering::Less => -1,
            Ordering::Equal => 0,
        };
    }
    for (name, theirs) in b {
        if !a.contains_key(name) && *theirs > 0 {
            balance -= 1;
        }
    }
    balance.cmp(&0)
}

/// The access, of all the stored state gives (`model::access::sources`), whose plan entitles to
/// more, with what it entitles to: a Lifetime owner who also subscribes to a smaller plan keeps
/// Lifetime's entitlements. On equal entitlements the later source wins (a purchase, kept for
/// good, over a subscription). Nothing open gives `Access::None` and no entitlements.
pub fn larger(
    sources: Vec<Access>,
    catalog: &Catalog,
    plan_of: impl Fn(&str) -> Option<String>,
) -> (Access, InForce) {
    let mut best: Option<(Access, InForce)> = None;
    for access in sources {
        let candidate = in_force(&access, catalog, &plan_of);
        let wins = match &best {
            None => true,
            Some((_, held)) => {
                compare(&candidate.entitlements, &held.entitlements) != Ordering::Less
            }
        };
        if wins {
            best = Some((access, candidate));
        }
    }
    best.unwrap_or_else(|| {
        let none = in_force(&Access::None, catalog, &plan_of);
        (Access::None, none)
    })
}

/// An entitlement's name as people read it: `check_interval_seconds` → "Check interval seconds".
pub fn label(name: &str) -> String {
    let words = name.replace(['_', '-'], " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::catalog::{Interval, Plan, Price, Product};

    fn plan(id: &str, key: &str, monitors: i64) -> Plan {
        Plan {
            id: id.into(),
            name: id.into(),
            tagline: String::new(),
            features: vec![],
            highlighted: false,
            prices: vec![Price {
                trial_days: None,
                lookup_key: key.into(),
                interval: Interval::Month,
                amount: 900,
                currency: "usd".into(),
            }],
            entitlements: BTreeMap::from([
                ("monitors".to_string(), monitors),
                ("status_pages".to_string(), 1),
            ]),
        }
    }

    fn catalog() -> Catalog {
        Catalog {
            product: Product {
                name: "P".into(),
                headline: String::new(),
                pitch: String::new(),
                highlights: vec![],
            },
            plans: vec![
                plan("starter", "starter_monthly", 10),
                plan("pro", "pro_monthly", 100),
            ],
            coupons: vec![],
            business: Default::default(),
        }
    }

    /// Stripe price ids named `price_<lookup key>`, and one more of Pro's (replaced).
    fn plan_of(id: &str) -> Option<String> {
        if id == "price_pro_replaced" {
            return Some("pro".into());
        }
        let key = id.strip_prefix("price_")?;
        catalog().plan_of(key).map(|p| p.id.clone())
    }

    fn subscription(price: &str, status: &str, grace_until: Option<i64>) -> Access {
        Access::Subscription {
            price_id: price.into(),
            status: status.into(),
            grace_until,
        }
    }

    #[test]
    fn each_kind_of_access_gives_its_plans_entitlements() {
        let c = catalog();
        for (access, plan, status, monitors) in [
            (
                subscription("price_pro_monthly", "active", None),
                Some("pro"),
                "active",
                100,
            ),
            (
                subscription("price_starter_monthly", "trialing", None),
                Some("starter"),
                "trialing",
                10,
            ),
            // A failed renewal within its grace keeps what was paid for.
            (
                subscription("price_pro_monthly", "past_due", Some(1)),
                Some("pro"),
                "past_due",
                100,
            ),
            (
                Access::Purchase {
                    price_id: "price_pro_monthly".into(),
                },
                Some("pro"),
                "paid",
                100,
            ),
            (Access::None, None, "none", 0),
        ] {
            let got = in_force(&access, &c, plan_of);
            assert_eq!(got.plan.as_deref(), plan, "{access:?}");
            assert_eq!(got.status, status);
            assert_eq!(got.entitlements["monitors"], monitors);
            assert_eq!(got.entitlements.len(), 2, "every name, always");
        }
    }

    #[test]
    fn a_price_off_the_catalog_entitles_to_nothing() {
        let got = in_force(
            &subscription("price_legacy", "active", None),
            &catalog(),
            plan_of,
        );
        assert_eq!(got.plan, None);
        assert_eq!(got.status, "active");
        assert!(got.entitlements.values().all(|v| *v == 0));
    }

    #[test]
    fn a_replaced_price_of_a_plans_product_gives_that_plans_entitlements() {
        let got = in_force(
            &subscription("price_pro_replaced", "active", None),
            &catalog(),
            plan_of,
        );
        assert_eq!(got.plan.as_deref(), Some("pro"));
        assert_eq!(got.entitlements["monitors"], 100);
    }

    #[test]
    fn names_read_as_words() {
        assert_eq!(label("check_interval_seconds"), "Check interval seconds");
        assert_eq!(label("monitors"), "Monitors");
        assert_eq!(label(""), "");
    }

    #[test]
    fn a_lifetime_owner_who_subscribes_to_a_smaller_plan_keeps_the_larger_entitlements() {
        let mut c = catalog();
        c.plans.push(plan("lifetime", "lifetime_once", 100));
        let owns = Access::Purchase {
            price_id: "price_lifetime_once".into(),
        };
        let (access, got) = larger(
            vec![
                subscription("price_starter_monthly", "active", None),
                owns.clone(),
            ],
            &c,
            plan_of_in(&c),
        );
        assert_eq!(access, owns);
        assert_eq!(got.plan.as_deref(), Some("lifetime"));
        assert_eq!(got.entitlements["monitors"], 100);
        // A larger subscription beside a smaller purchase: the subscription's.
        let (access, got) = larger(
            vec![
                subscription("price_pro_monthly", "active", None),
                Access::Purchase {
                    price_id: "price_starter_monthly".into(),
                },
            ],
            &c,
            plan_of_in(&c),
        );
        assert!(matches!(access, Access::Subscription { .. }));
        assert_eq!(got.plan.as_deref(), Some("pro"));
        assert_eq!(larger(vec![], &c, plan_of_in(&c)).0, Access::None);
    }

    fn plan_of_in(c: &Catalog) -> impl Fn(&str) -> Option<String> + '_ {
        |id: &str| {
            let key = id.strip_prefix("price_")?;
            c.plan_of(key).map(|p| p.id.clone())
        }
    }

    #[test]
    fn more_of_more_entitlements_is_larger() {
        let set = |m: i64, s: i64| {
            BTreeMap::from([("monitors".to_string(), m), ("status_pages".to_string(), s)])
        };
        assert_eq!(compare(&set(100, 5), &set(10, 1)), Ordering::Greater);
        assert_eq!(compare(&set(10, 5), &set(100, 1)), Ordering::Equal);
        assert_eq!(compare(&set(10, 1), &set(10, 2)), Ordering::Less);
    }
}
