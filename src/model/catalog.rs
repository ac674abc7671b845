//! The catalog as the pages see it: the product, its plans and their prices.
//!
//! It is loaded from `plans.toml` on the server (see `server::catalog`) and handed to the pages
//! through context; amounts are in the currency's minor unit, as Stripe counts them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    pub product: Product,
    pub plans: Vec<Plan>,
    /// The coupons a link or the JSON route may apply; no other is passed to Stripe.
    pub coupons: Vec<Coupon>,
    /// The business's own pages, which the customer portal links to.
    #[serde(default)]
    pub business: Business,
}

/// The business's terms and privacy policy: absolute URLs, both optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Business {
    pub terms_of_service_url: Option<String>,
    pub privacy_policy_url: Option<String>,
}

/// A Stripe coupon the catalog offers by link (`/pricing?coupon=ID`). What it takes off is
/// Stripe's to say; the catalog only says it may be applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coupon {
    /// The Stripe coupon id, exactly (Stripe's ids are case-sensitive).
    pub id: String,
    /// What it is, for people: "20% off the first year".
    pub description: String,
}

impl Catalog {
    /// The catalog's coupon with this id: the only way a coupon from a request is applied.
    pub fn coupon(&self, id: &str) -> Option<&Coupon> {
        self.coupons.iter().find(|c| c.id == id)
    }

    /// The plan that sells the price with this lookup key.
    pub fn plan_of(&self, lookup_key: &str) -> Option<&Plan> {
        self.plans
            .iter()
            .find(|plan| plan.prices.iter().any(|p| p.lookup_key == lookup_key))
    }

    /// The catalog's price with this lookup key.
    pub fn price(&self, lookup_key: &str) -> Option<&Price> {
        self.plans
            .iter()
            .flat_map(|plan| plan.prices.iter())
            .find(|p| p.lookup_key == lookup_key)
    }
}

/// The words the home page says about what we sell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub name: String,
    pub headline: String,
    pub pitch: String,
    pub highlights: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub id: String,
    pub name: String,
    pub tagline: String,
    pub features: Vec<String>,
    pub highlighted: bool,
    pub prices: Vec<Price>,
    /// What the plan lets a customer use (`monitors` → 100): every plan names the same ones.
    #[serde(default)]
    pub entitlements: BTreeMap<String, i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Price {
    /// Stripe lookup key: how the catalog names a price in every Stripe account.
    pub lookup_key: String,
    pub interval: Interval,
    /// Minor units (cents for USD).
    pub amount: i64,
    /// ISO 4217, lower case as Stripe writes it.
    pub currency: String,
    /// A free trial for first-time subscribers (`trial_days = 14`), on recurring prices only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_days: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Month,
    Year,
    OneTime,
}

/// Which recurring prices the pricing page shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Billing {
    #[default]
    Monthly,
    Yearly,
}

impl Billing {
    /// Reads `?interval=`: anything but `year` is the monthly default, so a bad link still works.
    pub fn from_query(value: Option<&str>) -> Self {
        match value {
            Some("year") => Billing::Yearly,
            _ => Billing::Monthly,
        }
    }

    pub fn query_value(self) -> &'static str {
        match self {
            Billing::Monthly => "month",
            Billing::Yearly => "year",
        }
    }

    fn interval(self) -> Interval {
        match self {
            Billing::Monthly => Interval::Month,
            Billing::Yearly => Interval::Year,
        }
    }
}

impl Plan {
    /// The price to show for this billing choice: the matching recurring price, else the plan's
    /// one-time price, else any recurring one (a yearly-only plan still shows in monthly view).
    pub fn price_for(&self, billing: Billing) -> Option<&Price> {
        self.prices
            .iter()
            .find(|p| p.interval == billing.interval())
            .or_else(|| self.prices.iter().find(|p| p.interval == Interval::OneTime))
            .or_else(|| self.prices.first())
    }
}

impl Price {
    pub fn display_amount(&self) -> String {
        format_amount(self.amount, &self.currency)
    }

    pub fn period_label(&self) -> &'static str {
        match self.interval {
            Interval::Month => "/ month",
            Interval::Year => "/ year",
            Interval::OneTime => "one-time",
        }
    }
}

/// Currencies Stripe treats as having no minor unit.
const ZERO_DECIMAL: &[&str] = &[
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];

/// Formats minor units for people: `900 usd` → `$9`, `950 usd` → `$9.50`, `500 jpy` → `¥500`.
pub fn format_amount(amount: i64, currency: &str) -> String {
    let code = currency.to_ascii_lowercase();
    let symbol = match code.as_str() {
        "usd" => "$".to_string(),
        "eur" => "€".to_string(),
        "gbp" => "£".to_string(),
        "jpy" => "¥".to_string(),
        other => format!("{} ", other.to_ascii_uppercase()),
    };
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    if ZERO_DECIMAL.contains(&code.as_str()) {
        return format!("{sign}{symbol}{}", group_thousands(abs));
    }
    let (major, minor) = (abs / 100, abs % 100);
    if minor == 0 {
        format!("{sign}{symbol}{}", group_thousands(major))
    } else {
        format!("{sign}{symbol}{}.{minor:02}", group_thousands(major))
    }
}

fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(interval: Interval, amount: i64) -> Price {
        Price {
            trial_days: None,
            lookup_key: format!("k_{amount}"),
            interval,
            amount,
            currency: "usd".into(),
        }
    }

    fn plan(prices: Vec<Price>) -> Plan {
        Plan {
            id: "p".into(),
            name: "P".into(),
            tagline: String::new(),
            features: vec![],
            highlighted: false,
            prices,
            entitlements: BTreeMap::new(),
        }
    }

    #[test]
    fn whole_amounts_drop_the_cents_and_others_keep_two_digits() {
        assert_eq!(format_amount(900, "usd"), "$9");
        assert_eq!(format_amount(950, "usd"), "$9.50");
        assert_eq!(format_amount(905, "eur"), "€9.05");
        assert_eq!(format_amount(123_456_700, "gbp"), "£1,234,567");
        assert_eq!(format_amount(-250, "usd"), "-$2.50");
    }

    #[test]
    fn zero_decimal_currencies_are_not_divided() {
        assert_eq!(format_amount(500, "jpy"), "¥500");
        assert_eq!(format_amount(12_000, "KRW"), "KRW 12,000");
    }

    #[test]
    fn unknown_currencies_show_their_code() {
        assert_eq!(format_amount(1999, "chf"), "CHF 19.99");
    }

    #[test]
    fn billing_reads_only_year_as_yearly() {
        assert_eq!(Billing::from_query(Some("year")), Billing::Yearly);
        assert_eq!(Billing::from_query(Some("month")), Billing::Monthly);
        assert_eq!(Billing::from_query(Some("<script>")), Billing::Monthly);
        assert_eq!(Billing::from_query(None), Billing::Monthly);
    }

    #[test]
    fn a_plan_shows_the_price_for_the_chosen_interval_or_its_one_time_price() {
        let recurring = plan(vec![
            price(Interval::Month, 900),
            price(Interval::Year, 9000),
        ]);
        assert_eq!(recurring.price_for(Billing::Monthly).unwrap().amount, 900);
        assert_eq!(recurring.price_for(Billing::Yearly).unwrap().amount, 9000);

        let lifetime = plan(vec![price(Interval::OneTime, 29900)]);
        assert_eq!(lifetime.price_for(Billing::Yearly).unwrap().amount, 29900);

        let yearly_only = plan(vec![price(Interval::Year, 5000)]);
        assert_eq!(
            yearly_only.price_for(Billing::Monthly).unwrap().amount,
            5000
        );
    }
}
