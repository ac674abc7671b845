//! Stripe's test card numbers and what each one does at checkout.

/// How a card answers, by Stripe's test card numbers (the README's "Cards to try").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardOutcome {
    Succeeds,
    Declined,
    InsufficientFunds,
    RequiresAuthentication,
    /// Paid, then disputed by the cardholder (Stripe's 4000 0000 0000 0259).
    Disputed,
    /// Authenticated at checkout, and again on every later payment (4000 0027 6000 3184).
    AuthenticatesEveryPayment,
    Incorrect,
}

pub fn card_outcome(number: &str) -> CardOutcome {
    let digits: String = number
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if digits.len() < 12 || !digits.chars().all(|c| c.is_ascii_digit()) || !luhn(&digits) {
        return CardOutcome::Incorrect;
    }
    match digits.as_str() {
        "4000000000000002" => CardOutcome::Declined,
        "4000000000009995" => CardOutcome::InsufficientFunds,
        "4000002500003155" => CardOutcome::RequiresAuthentication,
        "4000000000000259" => CardOutcome::Disputed,
        "4000002760003184" => CardOutcome::AuthenticatesEveryPayment,
        // 4242… and any other valid number succeed, as Stripe's generic test cards do.
        _ => CardOutcome::Succeeds,
    }
}

fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .chars()
        .rev()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripes_test_cards_have_stripes_outcomes() {
        assert_eq!(card_outcome("4242 4242 4242 4242"), CardOutcome::Succeeds);
        assert_eq!(card_outcome("4000 0000 0000 0002"), CardOutcome::Declined);
        assert_eq!(
            card_outcome("4000 0025 0000 3155"),
            CardOutcome::RequiresAuthentication
        );
        assert_eq!(
            card_outcome("4000 0000 0000 9995"),
            CardOutcome::InsufficientFunds
        );
        assert_eq!(card_outcome("4000 0000 0000 0259"), CardOutcome::Disputed);
        assert_eq!(
            card_outcome("4000 0027 6000 3184"),
            CardOutcome::AuthenticatesEveryPayment
        );
        assert_eq!(card_outcome("4242 4242 4242 4241"), CardOutcome::Incorrect);
        assert_eq!(card_outcome("abcd"), CardOutcome::Incorrect);
    }
}
