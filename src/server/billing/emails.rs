//! The mails billing events cause, as text. Queued in the event's transaction (`db::outbox`),
//! one per cause: the dedupe keys below are what makes a redelivered event send nothing new.

use chrono::{DateTime, Utc};

use crate::model::catalog::format_amount;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub dedupe_key: String,
    pub subject: String,
    pub body: String,
}

fn date(unix: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix, 0)
        .map(|d| d.format("%B %-d, %Y").to_string())
        .unwrap_or_else(|| "soon".into())
}

/// To one operator, once per dispute: a cardholder disputed a payment, and the evidence is
/// due within days (in Stripe's dashboard).
pub fn dispute_opened(dispute: &super::objects::Dispute, operator: &str, site: &str) -> Mail {
    let amount = format_amount(dispute.amount, &dispute.currency);
    let reason = dispute.reason.as_deref().unwrap_or("not given");
    Mail {
        dedupe_key: format!("charge.dispute.created:{}:{operator}", dispute.id),
        subject: format!("A payment of {amount} is disputed"),
        body: format!(
            "A customer's bank disputed a payment of {amount} (reason: {reason}).\n\n\
             What it bought is suspended on {site} until the dispute is closed, and restored if \
             it is won. Answer it with evidence in Stripe's dashboard before the deadline: \
             dispute {}, charge {}.\n",
            dispute.id,
            dispute.charge.id()
        ),
    }
}

/// One mail per failed invoice, however many times Stripe retries it or the event arrives.
pub fn payment_failed(
    invoice_id: &str,
    amount_due: i64,
    currency: &str,
    hosted_invoice_url: Option<&str>,
    site: &str,
) -> Mail {
    let amount = format_amount(amount_due, currency);
    let pay = hosted_invoice_url
        .map(|url| format!("Pay the invoice here: {url}\n"))
        .unwrap_or_default();
    Mail {
        dedupe_key: format!("invoice.payment_failed:{invoice_id}"),
        subject: "Your payment did not go through".into(),
        body: format!(
            "We could not charge your card for {amount}.\n\n{pay}\
             To use another card, open {site}/billing and choose \"Manage billing\".\n\n\
             Your access continues for a short grace period while we try again.\n"
        ),
    }
}

/// One mail per invoice whose payment the card's bank wants confirmed (3-D Secure): without it
/// the renewal is never paid and the subscription goes past due without a word.
pub fn payment_action_required(
    invoice_id: &str,
    amount_due: i64,
    currency: &str,
    hosted_invoice_url: Option<&str>,
    site: &str,
) -> Mail {
    let amount = format_amount(amount_due, currency);
    let confirm = match hosted_invoice_url {
        Some(url) => format!("Confirm it here: {url}\n\n"),
        None => format!("Confirm it from {site}/billing (\"Manage billing\").\n\n"),
    };
    Mail {
        dedupe_key: format!("invoice.payment_action_required:{invoice_id}"),
        subject: "Please confirm your payment".into(),
        body: format!(
            "Your bank asks you to confirm the payment of {amount} for your subscription \
             before it goes through.\n\n{confirm}\
             Until it is confirmed your subscription is not paid; your access continues for a \
             short grace period.\n"
        ),
    }
}

/// One mail per trial end date (a trial extended to a new date warns again).
pub fn trial_will_end(subscription_id: &str, trial_end: i64, site: &str) -> Mail {
    Mail {
        dedupe_key: format!("trial_will_end:{subscription_id}:{trial_end}"),
        subject: "Your trial ends soon".into(),
        body: format!(
            "Your free trial ends on {}. Your subscription then starts and your card is charged.\n\n\
             To change or cancel it, open {site}/billing and choose \"Manage billing\".\n",
            date(trial_end)
        ),
    }
}

/// Once per subscription: what settling a purchase with the buyer's earlier billing did to it
/// (`billing::overlap`), and why.
pub fn settled(subscription_id: &str, outcome: &super::overlap::Outcome, site: &str) -> Mail {
    use super::overlap::Outcome;
    let (kind, subject, body) = match outcome {
        Outcome::TrialEnded => (
            "trial-ended",
            "Your subscription started without a free trial".to_string(),
            format!(
                "You have subscribed with us before, and the free trial is for a first subscription \
                 only: one per person. Your new subscription therefore starts now, and its first \
                 period is charged today instead of at the end of a trial.\n\n\
                 Your plan, invoices and renewal date are at {site}/billing.\n"
            ),
        ),
        Outcome::SecondCancelled { kept, paid } => (
            "second-cancelled",
            "Your second subscription was cancelled".to_string(),
            format!(
                "You already subscribe to {kept}, so the subscription you just started (while signed \
                 out) was cancelled at once: one account has one subscription, and a second would \
                 bill you twice for the same product. It is never renewed. {}\n\n\
                 To change plan instead, sign in and use {site}/billing.\n",
                match paid {
                    Some(p) => format!(
                        "Its first payment of {} is refunded to your card: our team has been told.",
                        format_amount(p.amount, &p.currency)
                    ),
                    None => "Nothing was charged for it.".to_string(),
                }
            ),
        ),
        Outcome::EndsAtPeriodEnd { plan, bought, at } => (
            "replaced-by-purchase",
            format!("Your {plan} subscription ends on {}", date(*at)),
            format!(
                "You bought {bought}, which includes everything {plan} gives you. Your {plan} \
                 subscription is therefore set to cancel at the end of its current period, on {}: \
                 it is not renewed and nothing more is charged for it. {bought} is yours from now \
                 on.\n\nYour billing details are at {site}/billing.\n",
                date(*at)
            ),
        ),
    };
    Mail {
        dedupe_key: format!("{kind}:{subscription_id}"),
        subject,
        body,
    }
}

/// To one operator, once per cancelled second subscription that had been paid: its payment is
/// to be refunded (in Stripe's dashboard, from the invoice).
pub fn second_subscription_refund(
    subscription_id: &str,
    paid: &super::overlap::Paid,
    operator: &str,
    site: &str,
) -> Mail {
    let amount = format_amount(paid.amount, &paid.currency);
    Mail {
        dedupe_key: format!("second-cancelled-refund:{subscription_id}:{operator}"),
        subject: format!("Refund {amount}: a second subscription was cancelled"),
        body: format!(
            "A customer who already subscribes bought a second subscription while signed out. \
             {site} cancelled it at once ({subscription_id}) and told the customer that its first \
             payment of {amount} is refunded: refund invoice {} in Stripe's dashboard.\n",
            paid.invoice
        ),
    }
}

/// The purchase confirmation mail, once per Checkout Session.
pub fn checkout_completed(
    session_id: &str,
    amount_total: i64,
    currency: &str,
    subscription: bool,
    site: &str,
) -> Mail {
    let what = if subscription {
        "Your subscription is active."
    } else {
        "Your purchase is complete."
    };
    Mail {
        dedupe_key: format!("checkout.session.completed:{session_id}"),
        subject: "Thank you for your purchase".into(),
        body: format!(
            "{what} You paid {}.\n\nYour billing details and invoices are at {site}/billing.\n",
            format_amount(amount_total, currency)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_payment_mail_names_the_amount_and_where_to_pay() {
        let mail = payment_failed(
            "in_1",
            1950,
            "usd",
            Some("https://pay/i/in_1"),
            "https://x.test",
        );
        assert_eq!(mail.dedupe_key, "invoice.payment_failed:in_1");
        assert!(mail.body.contains("$19.50"), "{}", mail.body);
        assert!(mail.body.contains("https://pay/i/in_1"));
        assert!(mail.body.contains("https://x.test/billing"));
    }

    #[test]
    fn a_payment_to_confirm_names_the_amount_and_the_page_that_confirms_it() {
        let mail = payment_action_required(
            "in_2",
            2900,
            "usd",
            Some("https://pay/i/in_2"),
            "https://x.test",
        );
        assert_eq!(mail.dedupe_key, "invoice.payment_action_required:in_2");
        assert!(mail.body.contains("$29"), "{}", mail.body);
        assert!(mail.body.contains("Confirm it here: https://pay/i/in_2"));
        let without = payment_action_required("in_2", 2900, "usd", None, "https://x.test");
        assert!(
            without.body.contains("https://x.test/billing"),
            "{}",
            without.body
        );
    }

    #[test]
    fn a_trial_warning_is_keyed_by_its_end_date() {
        let a = trial_will_end("sub_1", 1_800_000_000, "https://x.test");
        let b = trial_will_end("sub_1", 1_800_086_400, "https://x.test");
        assert_ne!(a.dedupe_key, b.dedupe_key);
        assert!(a.body.contains("January 15, 2027"), "{}", a.body);
    }

    #[test]
    fn a_settled_purchase_is_mailed_once_per_subscription_with_its_reason() {
        use super::super::overlap::{Outcome, Paid};
        let ended = settled("sub_1", &Outcome::TrialEnded, "https://x.test");
        assert_eq!(ended.dedupe_key, "trial-ended:sub_1");
        assert!(ended.body.contains("one per person"), "{}", ended.body);
        let free = settled(
            "sub_2",
            &Outcome::SecondCancelled {
                kept: "Starter".into(),
                paid: None,
            },
            "https://x.test",
        );
        assert!(free.body.contains("You already subscribe to Starter"));
        assert!(free.body.contains("Nothing was charged"), "{}", free.body);
        let paid = Paid {
            invoice: "in_9".into(),
            amount: 9000,
            currency: "usd".into(),
        };
        let charged = settled(
            "sub_3",
            &Outcome::SecondCancelled {
                kept: "Pro".into(),
                paid: Some(paid.clone()),
            },
            "https://x.test",
        );
        assert!(charged.body.contains("$90 is refunded"), "{}", charged.body);
        let ops = second_subscription_refund("sub_3", &paid, "ops@x.test", "https://x.test");
        assert!(ops.body.contains("in_9") && ops.subject.contains("$90"));
        let ends = settled(
            "sub_4",
            &Outcome::EndsAtPeriodEnd {
                plan: "Starter".into(),
                bought: "Lifetime".into(),
                at: 1_800_000_000,
            },
            "https://x.test",
        );
        assert_eq!(
            ends.subject,
            "Your Starter subscription ends on January 15, 2027"
        );
        assert!(ends.body.contains("nothing more is charged"));
    }
}
