//! Stripe's settings: the secret and publishable keys and their mode, the webhook signing
//! secrets, the API base, the billing mode they make, and the combinations refused because they
//! would work and should not.

use url::Url;

use super::env::{bad, ConfigError};
use super::site::SiteUrl;
use crate::model::billing::BillingMode;
use crate::server::secret::Secret;

pub(super) const DEFAULT_STRIPE_API_BASE: &str = "https://api.stripe.com";
/// The same, as `Url` prints it.
const DEFAULT_STRIPE_API_BASE_URL: &str = "https://api.stripe.com/";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMode {
    Test,
    Live,
}

#[derive(Debug, Clone)]
pub struct StripeKey {
    pub key: Secret,
    pub mode: KeyMode,
}

/// Which Stripe a key and an API base talk to.
pub(super) fn billing_mode(key: Option<&StripeKey>, api_base: &Url) -> BillingMode {
    match key {
        None => BillingMode::Off,
        Some(key) if key.mode == KeyMode::Live => BillingMode::Live,
        Some(_) if api_base.as_str() != DEFAULT_STRIPE_API_BASE_URL => BillingMode::Emulated,
        Some(_) => BillingMode::Test,
    }
}

pub(super) fn parse_stripe_key(raw: &str) -> Result<StripeKey, ConfigError> {
    let mode = if raw.starts_with("sk_test_") || raw.starts_with("rk_test_") {
        KeyMode::Test
    } else if raw.starts_with("sk_live_") || raw.starts_with("rk_live_") {
        KeyMode::Live
    } else if raw.starts_with("pk_") {
        return Err(bad(
            "STRIPE_SECRET_KEY",
            "is a publishable key (pk_…); use the secret key (sk_test_… or sk_live_…)",
        ));
    } else {
        return Err(bad(
            "STRIPE_SECRET_KEY",
            "expected a secret key starting with sk_test_ or sk_live_",
        ));
    };
    if raw.len() < 12 || raw.chars().any(|c| !c.is_ascii_alphanumeric() && c != '_') {
        return Err(bad("STRIPE_SECRET_KEY", "is not a well-formed Stripe key"));
    }
    Ok(StripeKey {
        key: Secret::new(raw),
        mode,
    })
}

/// Only checked (the site uses hosted Checkout and needs none): pages or scripts of your own
/// that load Stripe.js read it, and its mode must be the secret key's.
pub(super) fn parse_publishable_key(raw: &str) -> Result<KeyMode, ConfigError> {
    if raw.starts_with("pk_test_") {
        Ok(KeyMode::Test)
    } else if raw.starts_with("pk_live_") {
        Ok(KeyMode::Live)
    } else {
        Err(bad(
            "STRIPE_PUBLISHABLE_KEY",
            "expected a publishable key starting with pk_test_ or pk_live_",
        ))
    }
}

/// Configurations that would work, and should not: live money over plain http, a live key sent
/// somewhere that is not Stripe, or test and live keys mixed.
pub(super) fn refuse_dangerous_stripe_setup(
    key: &StripeKey,
    publishable: Option<KeyMode>,
    site_url: &SiteUrl,
    api_base: &Url,
) -> Result<(), ConfigError> {
    let mode = |m: KeyMode| if m == KeyMode::Live { "live" } else { "test" };
    if let Some(publishable) = publishable.filter(|p| *p != key.mode) {
        return Err(bad(
            "STRIPE_PUBLISHABLE_KEY",
            format!(
                "is a {} key but STRIPE_SECRET_KEY is a {} key: use the two keys of one mode",
                mode(publishable),
                mode(key.mode)
            ),
        ));
    }
    if key.mode != KeyMode::Live {
        return Ok(());
    }
    if !site_url.is_https() {
        return Err(bad(
            "SITE_URL",
            format!(
                "is {}, but STRIPE_SECRET_KEY is a live key: live payments need an https:// site",
                site_url.origin()
            ),
        ));
    }
    if api_base.as_str() != DEFAULT_STRIPE_API_BASE_URL {
        return Err(bad(
            "STRIPE_API_BASE",
            format!(
                "is {}, but STRIPE_SECRET_KEY is a live key: a live key is only ever sent to {DEFAULT_STRIPE_API_BASE}",
                api_base.origin().ascii_serialization()
            ),
        ));
    }
    Ok(())
}

pub(super) fn parse_webhook_secrets(raw: &str) -> Result<Vec<Secret>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .enumerate()
        .map(|(i, s)| {
            if s.starts_with("whsec_") && s.len() > "whsec_".len() {
                Ok(Secret::new(s))
            } else {
                Err(bad(
                    "STRIPE_WEBHOOK_SECRET",
                    format!("secret #{} does not start with whsec_", i + 1),
                ))
            }
        })
        .collect()
}

/// How long one try of a call to Stripe may take before it is given up and tried again.
pub const DEFAULT_STRIPE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(8);

pub(super) fn parse_stripe_timeout(
    raw: Option<String>,
) -> Result<std::time::Duration, ConfigError> {
    match raw {
        None => Ok(DEFAULT_STRIPE_TIMEOUT),
        Some(raw) => raw
            .parse::<u64>()
            .ok()
            .filter(|ms| (100..=60_000).contains(ms))
            .map(std::time::Duration::from_millis)
            .ok_or_else(|| {
                bad(
                    "STRIPE_TIMEOUT_MS",
                    "must be a whole number of milliseconds, 100 to 60000",
                )
            }),
    }
}

pub(super) fn parse_api_base(raw: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(raw).map_err(|e| {
        bad(
            "STRIPE_API_BASE",
            format!("`{raw}` is not an absolute URL ({e})"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad(
            "STRIPE_API_BASE",
            format!("expected http(s)://HOST[:PORT], got `{raw}`"),
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::config::testing::{error_var, parse};

    #[test]
    fn stripe_keys_must_be_secret_keys() {
        let c = parse(&[("STRIPE_SECRET_KEY", "sk_test_FAKE_key_1")]).unwrap();
        assert_eq!(c.stripe_secret_key.unwrap().mode, KeyMode::Test);
        let c = parse(&[
            ("STRIPE_SECRET_KEY", "sk_live_FAKE_key_1"),
            ("SITE_URL", "https://shop.example.com"),
        ])
        .unwrap();
        assert_eq!(c.stripe_secret_key.unwrap().mode, KeyMode::Live);
        let err = parse(&[("STRIPE_SECRET_KEY", "pk_test_51Abc123xyz")]).unwrap_err();
        assert!(err.problem.contains("publishable"));
        assert_eq!(
            error_var(&[("STRIPE_SECRET_KEY", "hello")]),
            "STRIPE_SECRET_KEY"
        );
    }

    #[test]
    fn webhook_secrets_are_a_comma_separated_list_of_whsec_values() {
        let c = parse(&[("STRIPE_WEBHOOK_SECRET", "whsec_old, whsec_new")]).unwrap();
        assert_eq!(c.stripe_webhook_secrets.len(), 2);
        let err = parse(&[("STRIPE_WEBHOOK_SECRET", "whsec_ok,oops")]).unwrap_err();
        assert_eq!(err.var, "STRIPE_WEBHOOK_SECRET");
        assert!(err.problem.contains("#2"));
        assert!(
            !err.to_string().contains("oops"),
            "the bad secret itself is not echoed"
        );
    }

    #[test]
    fn the_api_base_must_be_an_http_url() {
        assert_eq!(
            error_var(&[("STRIPE_API_BASE", "not a url")]),
            "STRIPE_API_BASE"
        );
    }

    #[test]
    fn one_try_of_a_stripe_call_waits_8_s_unless_told_within_100_ms_to_60_s() {
        assert_eq!(
            parse(&[]).unwrap().stripe_timeout,
            std::time::Duration::from_secs(8)
        );
        let set = parse(&[("STRIPE_TIMEOUT_MS", "500")]).unwrap();
        assert_eq!(set.stripe_timeout, std::time::Duration::from_millis(500));
        for bad in ["99", "60001", "2s", "-1"] {
            assert_eq!(
                error_var(&[("STRIPE_TIMEOUT_MS", bad)]),
                "STRIPE_TIMEOUT_MS"
            );
        }
    }

    #[test]
    fn the_billing_mode_follows_the_key_and_the_api_base() {
        assert_eq!(parse(&[]).unwrap().billing_mode(), BillingMode::Off);
        let key = ("STRIPE_SECRET_KEY", "sk_test_FAKE_key_1");
        assert_eq!(parse(&[key]).unwrap().billing_mode(), BillingMode::Test);
        let local = ("STRIPE_API_BASE", "http://127.0.0.1:12111");
        assert_eq!(
            parse(&[key, local]).unwrap().billing_mode(),
            BillingMode::Emulated
        );
        let live = ("STRIPE_SECRET_KEY", "sk_live_FAKE_key_1");
        let https = ("SITE_URL", "https://shop.example.com");
        assert_eq!(
            parse(&[live, https]).unwrap().billing_mode(),
            BillingMode::Live
        );
    }

    #[test]
    fn dangerous_stripe_setups_are_refused_with_one_line_naming_the_variable() {
        let live = ("STRIPE_SECRET_KEY", "sk_live_FAKE_key_1");
        let test = ("STRIPE_SECRET_KEY", "sk_test_FAKE_key_1");
        let https = ("SITE_URL", "https://shop.example.com");
        let refused = |vars: &[(&str, &str)]| {
            let e = parse(vars).expect_err("refused");
            assert!(!e.to_string().contains('\n'), "one line: {e}");
            assert!(!e.to_string().contains("FAKE"), "never the key: {e}");
            e
        };
        // Live payments over plain http.
        let e = refused(&[live, ("SITE_URL", "http://shop.example.com")]);
        assert_eq!(e.var, "SITE_URL");
        assert!(e.problem.contains("https"), "{e}");
        // The default site URL is http too.
        assert_eq!(refused(&[live]).var, "SITE_URL");
        // A live key sent somewhere else than Stripe (an emulator, a proxy, a typo).
        for base in [
            "http://127.0.0.1:12111",
            "https://api.stripe.com.evil.example",
        ] {
            let e = refused(&[live, https, ("STRIPE_API_BASE", base)]);
            assert_eq!(e.var, "STRIPE_API_BASE", "{base}");
        }
        // Test and live keys mixed, either way round.
        let e = refused(&[live, https, ("STRIPE_PUBLISHABLE_KEY", "pk_test_abc")]);
        assert_eq!(e.var, "STRIPE_PUBLISHABLE_KEY");
        assert!(
            e.problem.contains("test key") && e.problem.contains("live key"),
            "{e}"
        );
        let e = refused(&[test, ("STRIPE_PUBLISHABLE_KEY", "pk_live_abc")]);
        assert_eq!(e.var, "STRIPE_PUBLISHABLE_KEY");
        assert_eq!(
            error_var(&[test, ("STRIPE_PUBLISHABLE_KEY", "sk_test_x")]),
            "STRIPE_PUBLISHABLE_KEY"
        );
        // What is safe stays accepted.
        parse(&[live, https, ("STRIPE_PUBLISHABLE_KEY", "pk_live_abc")]).unwrap();
        parse(&[test, ("STRIPE_API_BASE", "http://127.0.0.1:12111")]).unwrap();
    }
}
