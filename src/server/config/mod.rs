//! Configuration: read once at start-up from the environment (and `.env.local` in development),
//! parsed into typed values. A bad value stops the app with one line naming the variable; the app
//! never invents a secret.
//!
//! This module holds `Config` and its assembly; the parsing lives by concern in `env` (where
//! values come from, the error type), `site` (Leptos and the public origin), `stripe` (keys,
//! webhook secrets, API base) and `parse` (everything else). Callers use the re-exports here.

mod env;
mod parse;
mod site;
mod stripe;

use std::path::PathBuf;
use std::sync::Arc;

use leptos::config::LeptosOptions;
use url::Url;

use super::secret::Secret;
use crate::model::billing::BillingMode;

pub use env::{ConfigError, ENV_FILE};
pub use parse::{DatabaseUrl, LogFormat};
pub use site::SiteUrl;
pub use stripe::{KeyMode, StripeKey};

use env::{bad, non_blank, read_env_file};

const DEFAULT_SIGN_UPS_PER_ADDRESS: u32 = 10;
const DEFAULT_SIGN_INS_PER_ADDRESS: u32 = 30;
const DEFAULT_CHECKOUTS_PER_ADDRESS: u32 = 20;

#[derive(Debug)]
pub struct Config {
    pub database: DatabaseUrl,
    /// The public origin (`https://example.com`), no trailing slash: the base of every URL we
    /// hand to Stripe or put in an email.
    pub site_url: SiteUrl,
    pub leptos: LeptosOptions,
    /// `None` turns billing off: prices show, buying is off.
    pub stripe_secret_key: Option<StripeKey>,
    /// Several secrets are accepted at once so an endpoint's secret can be rotated.
    pub stripe_webhook_secrets: Vec<Secret>,
    pub stripe_api_base: Url,
    /// How long one try of a call to Stripe may take (`STRIPE_TIMEOUT_MS`); see
    /// `billing::client::Patience` for how many tries each caller makes.
    pub stripe_timeout: std::time::Duration,
    pub auth_jwt_secret: Secret,
    /// Supabase access tokens, accepted only when configured (its own keys, never ours).
    pub supabase: Option<crate::server::auth::supabase::SupabaseConfig>,
    pub plans_file: PathBuf,
    /// Origins besides `SITE_URL`'s that Checkout may send buyers back to.
    pub allowed_redirect_origins: Vec<String>,
    /// `RUST_LOG`, checked: a typo stops the app instead of silencing the logs.
    pub log_filter: String,
    /// `LOG_FORMAT`: text for people (the default), or one JSON object per line for machines.
    pub log_format: LogFormat,
    /// How long a `past_due` subscription keeps access after the renewal that failed.
    pub past_due_grace_days: i64,
    /// A session's absolute lifetime in days (`SESSION_MAX_DAYS`): renewal keeps an active
    /// session for a day at a time, never past this since its sign-in.
    pub session_max_days: i64,
    /// How long a stopping instance lets requests in flight and the mail being sent finish
    /// (`SHUTDOWN_GRACE_SECONDS`).
    pub shutdown_grace: std::time::Duration,
    /// How long a stopping instance goes on accepting, answering `Connection: close` while
    /// `/readyz` says 503, before it closes its listener (`SHUTDOWN_LINGER_SECONDS`).
    pub shutdown_linger: std::time::Duration,
    /// Who may open `/admin/events` (lower-cased).
    pub admin_emails: Vec<String>,
    /// Where mail goes (`smtp://user:pass@host:port`, `smtps://…`); `None`: mail is logged.
    pub smtp_url: Option<Secret>,
    /// The `From:` of every mail.
    pub mail_from: String,
    /// Sign-ups one client address may make per hour.
    pub sign_ups_per_address: u32,
    /// Sign-ins (and passwords typed on a confirmation page) per client address per 10 minutes.
    pub sign_ins_per_address: u32,
    /// Checkout Sessions one client address may create per 10 minutes.
    pub checkouts_per_address: u32,
    /// Proxies whose `X-Forwarded-For` names the client (`TRUSTED_PROXIES`); none by default.
    /// Shared with the client extractor, which takes only this from the state.
    pub trusted_proxies: Arc<crate::server::client_addr::TrustedProxies>,
    /// Where `/metrics` is served (`METRICS_ADDR`), a listener of its own; `None`: no metrics.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

impl Config {
    /// Which Stripe this configuration talks to.
    pub fn billing_mode(&self) -> BillingMode {
        stripe::billing_mode(self.stripe_secret_key.as_ref(), &self.stripe_api_base)
    }

    /// The process environment over `.env.local` (when that file exists), in development only:
    /// with `LEPTOS_ENV=PROD` (how production runs) the file is never read, so a developer's
    /// file left in the working directory cannot configure a server.
    pub fn from_env() -> Result<Self, ConfigError> {
        let production = std::env::var("LEPTOS_ENV")
            .is_ok_and(|v| matches!(v.to_ascii_lowercase().as_str(), "prod" | "production"));
        let file = if production {
            Default::default()
        } else {
            read_env_file(ENV_FILE)?
        };
        Self::from_lookup(|key| std::env::var(key).ok().or_else(|| file.get(key).cloned()))
    }

    /// Parses every variable through `lookup`; empty values count as unset. The order below is
    /// the order errors are reported in when several variables are wrong.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |key: &str| non_blank(lookup(key));

        let leptos = site::leptos_options(&get)?;
        let database = parse::parse_database_url(get("DATABASE_URL"))?;
        let site_url = match get("SITE_URL") {
            Some(raw) => site::parse_site_url(&raw)?,
            None => site::default_site_url(leptos.site_addr),
        };
        let stripe_secret_key = get("STRIPE_SECRET_KEY")
            .map(|raw| stripe::parse_stripe_key(&raw))
            .transpose()?;
        let stripe_publishable_key = get("STRIPE_PUBLISHABLE_KEY")
            .map(|raw| stripe::parse_publishable_key(&raw))
            .transpose()?;
        let stripe_webhook_secrets = get("STRIPE_WEBHOOK_SECRET")
            .map(|raw| stripe::parse_webhook_secrets(&raw))
            .transpose()?
            .unwrap_or_default();
        let stripe_api_base = stripe::parse_api_base(
            get("STRIPE_API_BASE")
                .as_deref()
                .unwrap_or(stripe::DEFAULT_STRIPE_API_BASE),
        )?;
        let stripe_timeout = stripe::parse_stripe_timeout(get("STRIPE_TIMEOUT_MS"))?;
        let auth_jwt_secret = parse::parse_jwt_secret(get("AUTH_JWT_SECRET"))?;
        let supabase = supabase(get)?;
        // One key for both would let a Supabase token pass as one of our sessions (and ours as
        // Supabase's): refused, whatever else is set.
        let shared = supabase
            .as_ref()
            .and_then(|s| s.jwt_secret.as_ref())
            .is_some_and(|s| s.expose() == auth_jwt_secret.expose());
        if shared {
            return Err(env::bad(
                "AUTH_JWT_SECRET",
                "must not be SUPABASE_JWT_SECRET: give the site a random value of its own (openssl rand -hex 32)",
            ));
        }
        let plans_file = PathBuf::from(get("PLANS_FILE").unwrap_or_else(|| "plans.toml".into()));
        let allowed_redirect_origins = get("ALLOWED_REDIRECT_ORIGINS")
            .map(|raw| site::parse_origins(&raw))
            .transpose()?
            .unwrap_or_default();
        let log_filter = parse::parse_log_filter(get("RUST_LOG"))?;
        let log_format = parse::parse_log_format(get("LOG_FORMAT"))?;
        let past_due_grace_days = parse::parse_grace_days(get("PAST_DUE_GRACE_DAYS"))?;
        let session_max_days = parse::parse_session_max_days(get("SESSION_MAX_DAYS"))?;
        let shutdown_grace = parse::parse_shutdown_grace(get("SHUTDOWN_GRACE_SECONDS"))?;
        let shutdown_linger = parse::parse_shutdown_linger(get("SHUTDOWN_LINGER_SECONDS"))?;
        let admin_emails = parse::parse_admin_emails(get("ADMIN_EMAILS"));
        let smtp_url = get("SMTP_URL")
            .map(|raw| parse::parse_smtp_url(&raw))
            .transpose()?;
        let mail_from = parse::parse_mail_from(get("MAIL_FROM"))?;
        let per_address =
            |var: &'static str, default| parse::parse_per_address(var, get(var), default);
        let sign_ups_per_address =
            per_address("SIGN_UPS_PER_ADDRESS", DEFAULT_SIGN_UPS_PER_ADDRESS)?;
        let sign_ins_per_address =
            per_address("SIGN_INS_PER_ADDRESS", DEFAULT_SIGN_INS_PER_ADDRESS)?;
        let checkouts_per_address =
            per_address("CHECKOUTS_PER_ADDRESS", DEFAULT_CHECKOUTS_PER_ADDRESS)?;
        let trusted_proxies = parse::parse_trusted_proxies(get("TRUSTED_PROXIES"))?;
        let metrics_addr = parse::parse_metrics_addr(get("METRICS_ADDR"))?;

        if let Some(key) = &stripe_secret_key {
            stripe::refuse_dangerous_stripe_setup(
                key,
                stripe_publishable_key,
                &site_url,
                &stripe_api_base,
            )?;
        }

        Ok(Config {
            database,
            site_url,
            leptos,
            stripe_secret_key,
            stripe_webhook_secrets,
            stripe_api_base,
            stripe_timeout,
            auth_jwt_secret,
            supabase,
            plans_file,
            allowed_redirect_origins,
            log_filter,
            log_format,
            past_due_grace_days,
            session_max_days,
            shutdown_grace,
            shutdown_linger,
            admin_emails,
            smtp_url,
            mail_from,
            sign_ups_per_address,
            sign_ins_per_address,
            checkouts_per_address,
            trusted_proxies,
            metrics_addr,
        })
    }
}

/// Supabase's settings, parsed by its own module; its one-line error (`VAR: problem`) is mapped
/// back onto the variable it names so the report reads like every other.
fn supabase(
    get: impl Fn(&str) -> Option<String>,
) -> Result<Option<crate::server::auth::supabase::SupabaseConfig>, ConfigError> {
    crate::server::auth::supabase::SupabaseConfig::from_lookup(get).map_err(|line| {
        const VARS: [&str; 4] = [
            "SUPABASE_URL",
            "SUPABASE_JWT_SECRET",
            "SUPABASE_JWKS_URL",
            "SUPABASE_EMAILS_CONFIRMED",
        ];
        let (var, problem) = line.split_once(": ").unwrap_or(("SUPABASE_URL", &line));
        let var = VARS
            .into_iter()
            .find(|v| *v == var)
            .unwrap_or("SUPABASE_URL");
        bad(var, problem)
    })
}

/// Building a `Config` from a few variables, for the tests of every submodule.
#[cfg(test)]
mod testing {
    use std::collections::HashMap;

    use super::{Config, ConfigError};

    pub(super) const JWT: &str = "0123456789abcdef0123456789abcdef";

    /// `vars` over a valid JWT secret (a test may set its own).
    pub(super) fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain([("AUTH_JWT_SECRET".to_string(), JWT.to_string())])
            .collect();
        // Later pairs override the default secret above when a test sets it.
        let overrides: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| overrides.get(k).or_else(|| map.get(k)).cloned())
    }

    pub(super) fn error_var(vars: &[(&str, &str)]) -> &'static str {
        parse(vars).expect_err("should be rejected").var
    }
}

#[cfg(test)]
mod tests {
    use super::testing::parse;
    use super::*;

    #[test]
    fn defaults_give_a_sqlite_file_local_origin_and_billing_off() {
        let c = parse(&[]).unwrap();
        assert!(
            matches!(c.database, DatabaseUrl::Sqlite(ref u) if u == parse::DEFAULT_DATABASE_URL)
        );
        assert_eq!(c.site_url.origin(), "http://127.0.0.1:3000");
        assert!(c.stripe_secret_key.is_none());
        assert!(c.stripe_webhook_secrets.is_empty());
        assert_eq!(c.stripe_api_base.as_str(), "https://api.stripe.com/");
        assert_eq!(&*c.leptos.output_name, "landing");
    }
}
