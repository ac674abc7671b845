//! Who may use the product: a pure function of stored billing state, so the rule is in one
//! place, unit-tested, and the same for `/app`, `/billing` and anything gated later.

use serde::{Deserialize, Serialize};

/// What access depends on in a stored subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionFacts<'a> {
    pub status: &'a str,
    pub price_id: &'a str,
    /// When the current period began: a failed renewal's grace counts from here.
    pub current_period_start: Option<i64>,
}

/// What access depends on in a stored one-time purchase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurchaseFacts<'a> {
    pub status: &'a str,
    pub price_id: &'a str,
    /// What was paid, and how much of it went back.
    pub amount: i64,
    pub amount_refunded: i64,
    /// The payment's dispute, if any (Stripe's dispute status).
    pub dispute_status: Option<&'a str>,
}

impl PurchaseFacts<'_> {
    /// Paid and kept: not refunded in full, and not disputed (a dispute the bank decided for
    /// us, one `prevented` before any chargeback, or an inquiry closed without one, gives it
    /// back). A partial refund keeps it; a refund that failed is not counted by Stripe.
    pub fn holds(&self) -> bool {
        let refunded = self.amount_refunded > 0 && self.amount_refunded >= self.amount;
        let disputed = self
            .dispute_status
            .is_some_and(|s| !matches!(s, "won" | "prevented" | "warning_closed"));
        self.status == "paid" && !refunded && !disputed
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Access {
    /// An active or trialing subscription, or one whose renewal failed less than the grace
    /// period ago (`grace_until`, unix seconds).
    Subscription {
        price_id: String,
        status: String,
        grace_until: Option<i64>,
    },
    /// A paid one-time purchase, not refunded in full nor disputed.
    Purchase {
        price_id: String,
    },
    None,
}

impl Access {
    pub fn is_open(&self) -> bool {
        !matches!(self, Access::None)
    }
}

/// The access stored state gives at `now` (unix seconds). A subscription wins over a purchase
/// (it is the plan being paid for); a past-due subscription is open for `grace_secs` after the
/// period whose payment failed began, so one declined card does not lock a customer out.
pub fn access(
    subscriptions: &[SubscriptionFacts<'_>],
    purchases: &[PurchaseFacts<'_>],
    now: i64,
    grace_secs: i64,
) -> Access {
    sources(subscriptions, purchases, now, grace_secs)
        .into_iter()
        .next()
        .unwrap_or(Access::None)
}

/// Every kind of access the stored state gives at `now`: the subscription's (as [`access`]
/// decides it), then the purchase's. Someone who owns a one-time plan and also subscribes has
/// both, and `model::entitlements::larger` keeps the one that entitles to more.
pub fn sources(
    subscriptions: &[SubscriptionFacts<'_>],
    purchases: &[PurchaseFacts<'_>],
    now: i64,
    grace_secs: i64,
) -> Vec<Access> {
    let mut found = Vec::new();
    let live = subscriptions
        .iter()
        .find(|s| matches!(s.status, "active" | "trialing"));
    if let Some(s) = live {
        found.push(Access::Subscription {
            price_id: s.price_id.to_string(),
            status: s.status.to_string(),
            grace_until: None,
        });
    } else {
        let in_grace = subscriptions.iter().find_map(|s| {
            let until = s.current_period_start? + grace_secs;
            (s.status == "past_due" && now < until).then_some((s, until))
        });
        if let Some((s, until)) = in_grace {
            found.push(Access::Subscription {
                price_id: s.price_id.to_string(),
                status: s.status.to_string(),
                grace_until: Some(until),
            });
        }
    }
    if let Some(p) = purchases.iter().find(|p| p.holds()) {
        found.push(Access::Purchase {
            price_id: p.price_id.to_string(),
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn sub(status: &str, start: Option<i64>) -> SubscriptionFacts<'_> {
        SubscriptionFacts {
            status,
            price_id: "price_pro",
            current_period_start: start,
        }
    }

    fn bought(status: &str) -> PurchaseFacts<'_> {
        PurchaseFacts {
            status,
            price_id: "price_life",
            amount: 29_900,
            amount_refunded: 0,
            dispute_status: None,
        }
    }

    #[test]
    fn active_and_trialing_subscriptions_open_the_product() {
        for status in ["active", "trialing"] {
            let a = access(&[sub(status, Some(0))], &[], 10 * DAY, 7 * DAY);
            assert_eq!(
                a,
                Access::Subscription {
                    price_id: "price_pro".into(),
                    status: status.into(),
                    grace_until: None
                }
            );
        }
    }

    #[test]
    fn past_due_is_open_only_within_the_grace_period() {
        let start = 100 * DAY;
        let subs = [sub("past_due", Some(start))];
        let during = access(&subs, &[], start + 7 * DAY - 1, 7 * DAY);
        assert!(
            matches!(during, Access::Subscription { grace_until: Some(u), .. } if u == start + 7 * DAY)
        );
        assert_eq!(access(&subs, &[], start + 7 * DAY, 7 * DAY), Access::None);
        assert_eq!(access(&subs, &[], start + DAY, 0), Access::None);
        assert_eq!(
            access(&[sub("past_due", None)], &[], start, 7 * DAY),
            Access::None
        );
    }

    #[test]
    fn ended_or_unpaid_subscriptions_give_nothing() {
        for status in [
            "canceled",
            "unpaid",
            "incomplete",
            "incomplete_expired",
            "paused",
        ] {
            assert_eq!(
                access(&[sub(status, Some(0))], &[], DAY, 7 * DAY),
                Access::None
            );
        }
    }

    #[test]
    fn a_paid_purchase_opens_it_and_an_unpaid_or_failed_one_does_not() {
        assert_eq!(
            access(&[], &[bought("paid")], 0, 0),
            Access::Purchase {
                price_id: "price_life".into()
            }
        );
        assert_eq!(
            access(&[], &[bought("unpaid"), bought("failed")], 0, 0),
            Access::None
        );
    }

    #[test]
    fn a_full_refund_or_an_open_or_lost_dispute_takes_a_purchase_back() {
        let with = |refunded: i64, dispute: Option<&'static str>| PurchaseFacts {
            amount_refunded: refunded,
            dispute_status: dispute,
            ..bought("paid")
        };
        let open = |p: PurchaseFacts<'_>| access(&[], &[p], 0, 0).is_open();
        assert!(open(with(10_000, None)), "a partial refund keeps it");
        assert!(!open(with(29_900, None)), "a full refund ends it");
        for status in [
            "warning_needs_response",
            "needs_response",
            "under_review",
            "lost",
        ] {
            assert!(!open(with(0, Some(status))), "{status}");
        }
        assert!(open(with(0, Some("won"))), "a won dispute gives it back");
        assert!(open(with(0, Some("warning_closed"))));
        assert!(open(with(0, Some("prevented"))), "no chargeback happened");
        // A free purchase (a 100% coupon) is not "refunded in full".
        let free = PurchaseFacts {
            amount: 0,
            ..bought("paid")
        };
        assert!(open(free));
    }

    #[test]
    fn a_live_subscription_wins_over_a_purchase_and_a_canceled_one_does_not() {
        let a = access(
            &[sub("canceled", Some(0)), sub("active", Some(0))],
            &[bought("paid")],
            0,
            0,
        );
        assert!(matches!(a, Access::Subscription { .. }));
        let b = access(&[sub("canceled", Some(0))], &[bought("paid")], 0, 0);
        assert!(matches!(b, Access::Purchase { .. }));
    }

    #[test]
    fn a_purchase_and_a_subscription_are_both_sources_subscription_first() {
        let both = sources(&[sub("trialing", Some(0))], &[bought("paid")], 0, 0);
        assert_eq!(both.len(), 2);
        assert!(matches!(both[0], Access::Subscription { .. }));
        assert!(matches!(both[1], Access::Purchase { .. }));
        assert!(sources(&[sub("canceled", Some(0))], &[bought("failed")], 0, 0).is_empty());
    }
}
