//! Configuration: read once at start-up from the environment (and `.env.local` in development),
//! parsed into typed values. A bad value stops the app with one line naming the variable; the app
//! never invents a secret.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use leptos::config::{Env, LeptosOptions};
use url::Url;

use super::secret::Secret;
use crate::model::billing::BillingMode;

/// The development file (`.env.local`, as in the Next.js integration); real environment variables win over it.
pub const ENV_FILE: &str = ".env.local";

const DEFAULT_DATABASE_URL: &str = "sqlite://data/landing.db";
const DEFAULT_STRIPE_API_BASE: &str = "https://api.stripe.com";
/// The same, as `Url` prints it.
const DEFAULT_STRIPE_API_BASE_URL: &str = "https://api.stripe.com/";
const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn";
const MIN_JWT_SECRET_LEN: usize = 32;
const DEFAULT_GRACE_DAYS: i64 = 7;
const DEFAULT_SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(20);
const DEFAULT_SIGN_UPS_PER_ADDRESS: u32 = 10;
const DEFAULT_CHECKOUTS_PER_ADDRESS: u32 = 20;
const DEFAULT_MAIL_FROM: &str = "Billing <billing@localhost>";

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
    /// How long a stopping instance lets requests in flight and the mail being sent finish
    /// (`SHUTDOWN_GRACE_SECONDS`).
    pub shutdown_grace: std::time::Duration,
    /// Who may open `/admin/events` (lower-cased).
    pub admin_emails: Vec<String>,
    /// Where mail goes (`smtp://user:pass@host:port`, `smtps://…`); `None`: mail is logged.
    pub smtp_url: Option<Secret>,
    /// The `From:` of every mail.
    pub mail_from: String,
    /// Sign-ups one client address may make per hour.
    pub sign_ups_per_address: u32,
    /// Checkout Sessions one client address may create per 10 minutes.
    pub checkouts_per_address: u32,
    /// Proxies whose `X-Forwarded-For` names the client (`TRUSTED_PROXIES`); none by default.
    /// Shared with the client extractor, which takes only this from the state.
    pub trusted_proxies: Arc<crate::server::client_addr::TrustedProxies>,
    /// Where `/metrics` is served (`METRICS_ADDR`), a listener of its own; `None`: no metrics.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

#[derive(Debug, Clone)]
pub enum DatabaseUrl {
    /// `sqlite://path`, `sqlite:///abs/path` or `sqlite::memory:`.
    Sqlite(String),
    /// May carry a password, hence secret.
    Postgres(Secret),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteUrl(Url);

impl SiteUrl {
    /// The origin without a trailing slash, ready for `format!("{}/success", …)`.
    pub fn origin(&self) -> String {
        self.0.origin().ascii_serialization()
    }

    pub fn is_https(&self) -> bool {
        self.0.scheme() == "https"
    }
}

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

/// One bad variable: `VARIABLE: what is wrong`.
/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    /// One JSON object per line: the event's fields (`status`, `latency`, `event`, …) and its
    /// request's (`request_id`, `route`, `method`, `uri`).
    Json,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

fn bad(var: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        problem: problem.into(),
    }
}

impl Config {
    /// Which Stripe this configuration talks to.
    pub fn billing_mode(&self) -> BillingMode {
        match &self.stripe_secret_key {
            None => BillingMode::Off,
            Some(key) if key.mode == KeyMode::Live => BillingMode::Live,
            Some(_) if self.stripe_api_base.as_str() != DEFAULT_STRIPE_API_BASE_URL => {
                BillingMode::Emulated
            }
            Some(_) => BillingMode::Test,
        }
    }

    /// The process environment over `.env.local` (when that file exists).
    pub fn from_env() -> Result<Self, ConfigError> {
        let file = read_env_file(ENV_FILE)?;
        Self::from_lookup(|key| std::env::var(key).ok().or_else(|| file.get(key).cloned()))
    }

    /// Parses every variable through `lookup`; empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |key: &str| {
            lookup(key)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };

        let leptos = leptos_options(&get)?;
        let database = parse_database_url(
            get("DATABASE_URL")
                .as_deref()
                .unwrap_or(DEFAULT_DATABASE_URL),
        )?;
        let site_url = match get("SITE_URL") {
            Some(raw) => parse_site_url(&raw)?,
            None => default_site_url(leptos.site_addr),
        };
        let stripe_secret_key = get("STRIPE_SECRET_KEY")
            .map(|raw| parse_stripe_key(&raw))
            .transpose()?;
        let stripe_publishable_key = get("STRIPE_PUBLISHABLE_KEY")
            .map(|raw| parse_publishable_key(&raw))
            .transpose()?;
        let stripe_webhook_secrets = get("STRIPE_WEBHOOK_SECRET")
            .map(|raw| parse_webhook_secrets(&raw))
            .transpose()?
            .unwrap_or_default();
        let stripe_api_base = parse_api_base(
            get("STRIPE_API_BASE")
                .as_deref()
                .unwrap_or(DEFAULT_STRIPE_API_BASE),
        )?;
        let auth_jwt_secret = parse_jwt_secret(get("AUTH_JWT_SECRET"))?;
        let supabase =
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
            })?;
        let plans_file = PathBuf::from(get("PLANS_FILE").unwrap_or_else(|| "plans.toml".into()));
        let allowed_redirect_origins = get("ALLOWED_REDIRECT_ORIGINS")
            .map(|raw| parse_origins(&raw))
            .transpose()?
            .unwrap_or_default();
        let log_filter = get("RUST_LOG").unwrap_or_else(|| DEFAULT_LOG_FILTER.into());
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&log_filter) {
            return Err(bad("RUST_LOG", format!("is not a valid filter: {e}")));
        }

        let log_format = match get("LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(_) => return Err(bad("LOG_FORMAT", "must be `text` or `json`")),
        };
        let past_due_grace_days = match get("PAST_DUE_GRACE_DAYS") {
            None => DEFAULT_GRACE_DAYS,
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .filter(|d| (0..=60).contains(d))
                .ok_or_else(|| {
                    bad(
                        "PAST_DUE_GRACE_DAYS",
                        "must be a whole number of days, 0 to 60",
                    )
                })?,
        };
        let shutdown_grace = match get("SHUTDOWN_GRACE_SECONDS") {
            None => DEFAULT_SHUTDOWN_GRACE,
            Some(raw) => raw
                .parse::<u64>()
                .ok()
                .filter(|s| *s <= 3600)
                .map(std::time::Duration::from_secs)
                .ok_or_else(|| {
                    bad(
                        "SHUTDOWN_GRACE_SECONDS",
                        "must be a whole number of seconds, 0 to 3600",
                    )
                })?,
        };
        let admin_emails = get("ADMIN_EMAILS")
            .map(|raw| {
                raw.split(',')
                    .map(|e| e.trim().to_ascii_lowercase())
                    .filter(|e| !e.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let smtp_url = get("SMTP_URL")
            .map(|raw| parse_smtp_url(&raw))
            .transpose()?;
        let mail_from = get("MAIL_FROM").unwrap_or_else(|| DEFAULT_MAIL_FROM.into());
        if mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(bad(
                "MAIL_FROM",
                "is not a mailbox (`Name <a@b.c>` or `a@b.c`)",
            ));
        }

        let per_address = |var: &'static str, default: u32| match get(var) {
            None => Ok(default),
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| bad(var, "must be a whole number above 0")),
        };
        let sign_ups_per_address =
            per_address("SIGN_UPS_PER_ADDRESS", DEFAULT_SIGN_UPS_PER_ADDRESS)?;
        let checkouts_per_address =
            per_address("CHECKOUTS_PER_ADDRESS", DEFAULT_CHECKOUTS_PER_ADDRESS)?;

        let trusted_proxies = match get("TRUSTED_PROXIES") {
            None => Default::default(),
            Some(raw) => Arc::new(
                crate::server::client_addr::TrustedProxies::parse(&raw)
                    .map_err(|e| bad("TRUSTED_PROXIES", e))?,
            ),
        };

        let metrics_addr = get("METRICS_ADDR")
            .filter(|raw| !raw.trim().is_empty())
            .map(|raw| {
                raw.trim().parse::<std::net::SocketAddr>().map_err(|_| {
                    bad(
                        "METRICS_ADDR",
                        "must be an address and port to listen on, such as 127.0.0.1:9100",
                    )
                })
            })
            .transpose()?;

        if let Some(key) = &stripe_secret_key {
            refuse_dangerous_stripe_setup(
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
            auth_jwt_secret,
            supabase,
            plans_file,
            allowed_redirect_origins,
            log_filter,
            log_format,
            past_due_grace_days,
            shutdown_grace,
            admin_emails,
            smtp_url,
            mail_from,
            sign_ups_per_address,
            checkouts_per_address,
            trusted_proxies,
            metrics_addr,
        })
    }
}

fn read_env_file(path: &str) -> Result<HashMap<String, String>, ConfigError> {
    match dotenvy::from_filename_iter(path) {
        Ok(iter) => iter
            .collect::<Result<HashMap<_, _>, _>>()
            .map_err(|e| bad(ENV_FILE, format!("cannot be read: {e}"))),
        Err(e) if e.not_found() => Ok(HashMap::new()),
        Err(e) => Err(bad(ENV_FILE, format!("cannot be read: {e}"))),
    }
}

fn leptos_options(get: &impl Fn(&str) -> Option<String>) -> Result<LeptosOptions, ConfigError> {
    let site_addr: SocketAddr = match get("LEPTOS_SITE_ADDR") {
        Some(raw) => raw.parse().map_err(|_| {
            bad(
                "LEPTOS_SITE_ADDR",
                format!("expected IP:PORT such as 127.0.0.1:3000, got `{raw}`"),
            )
        })?,
        None => SocketAddr::from(([127, 0, 0, 1], 3000)),
    };
    let env = match get("LEPTOS_ENV").map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("dev") | Some("development") => Env::DEV,
        Some("prod") | Some("production") => Env::PROD,
        Some(other) => {
            return Err(bad(
                "LEPTOS_ENV",
                format!("expected DEV or PROD, got `{other}`"),
            ))
        }
    };
    let reload_port: u32 = match get("LEPTOS_RELOAD_PORT") {
        Some(raw) => raw
            .parse()
            .ok()
            .filter(|p| *p <= u32::from(u16::MAX))
            .ok_or_else(|| {
                bad(
                    "LEPTOS_RELOAD_PORT",
                    format!("expected a port number, got `{raw}`"),
                )
            })?,
        None => 3001,
    };
    Ok(LeptosOptions::builder()
        .output_name(get("LEPTOS_OUTPUT_NAME").unwrap_or_else(|| "landing".into()))
        .site_root(get("LEPTOS_SITE_ROOT").unwrap_or_else(|| "target/site".into()))
        .site_pkg_dir(get("LEPTOS_SITE_PKG_DIR").unwrap_or_else(|| "pkg".into()))
        .env(env)
        .site_addr(site_addr)
        .reload_port(reload_port)
        .build())
}

fn parse_database_url(raw: &str) -> Result<DatabaseUrl, ConfigError> {
    if raw.starts_with("sqlite:") {
        return Ok(DatabaseUrl::Sqlite(raw.to_string()));
    }
    if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
        // Checked here so a typo fails at start-up rather than at the first query; the URL itself
        // is never echoed because it may hold a password.
        let url = Url::parse(raw)
            .map_err(|e| bad("DATABASE_URL", format!("is not a valid postgres URL ({e})")))?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("DATABASE_URL", "a postgres URL needs a host"));
        }
        return Ok(DatabaseUrl::Postgres(Secret::new(raw)));
    }
    let scheme = raw.split_once(':').map_or("(none)", |(s, _)| s);
    Err(bad(
        "DATABASE_URL",
        format!("expected sqlite://PATH or postgres://USER@HOST/DB, got scheme `{scheme}`"),
    ))
}

fn parse_site_url(raw: &str) -> Result<SiteUrl, ConfigError> {
    let url = Url::parse(raw)
        .map_err(|e| bad("SITE_URL", format!("`{raw}` is not an absolute URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad(
            "SITE_URL",
            format!("expected http(s)://HOST, got `{raw}`"),
        ));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad(
            "SITE_URL",
            format!("must be an origin such as https://example.com (no path, query or fragment), got `{raw}`"),
        ));
    }
    Ok(SiteUrl(url))
}

fn parse_origins(raw: &str) -> Result<Vec<String>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            parse_site_url(s).map(|u| u.origin()).map_err(|_| {
                bad(
                    "ALLOWED_REDIRECT_ORIGINS",
                    format!("`{s}` is not an origin such as https://example.com"),
                )
            })
        })
        .collect()
}

fn default_site_url(addr: SocketAddr) -> SiteUrl {
    let host = if addr.ip().is_unspecified() {
        "localhost".to_string()
    } else {
        addr.ip().to_string()
    };
    let url = Url::parse(&format!("http://{host}:{}", addr.port()))
        .expect("an IP and a port always make a URL");
    SiteUrl(url)
}

fn parse_stripe_key(raw: &str) -> Result<StripeKey, ConfigError> {
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
fn parse_publishable_key(raw: &str) -> Result<KeyMode, ConfigError> {
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
fn refuse_dangerous_stripe_setup(
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

fn parse_webhook_secrets(raw: &str) -> Result<Vec<Secret>, ConfigError> {
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

fn parse_smtp_url(raw: &str) -> Result<Secret, ConfigError> {
    // Never echoed: it may hold the mail server's password.
    match Url::parse(raw) {
        Ok(url) if matches!(url.scheme(), "smtp" | "smtps") && url.host_str().is_some() => {
            Ok(Secret::new(raw))
        }
        _ => Err(bad(
            "SMTP_URL",
            "must be smtp://[user:password@]host[:port] or smtps://…",
        )),
    }
}

fn parse_api_base(raw: &str) -> Result<Url, ConfigError> {
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

fn parse_jwt_secret(raw: Option<String>) -> Result<Secret, ConfigError> {
    match raw {
        None => Err(bad(
            "AUTH_JWT_SECRET",
            "is not set; put a random value of at least 32 characters in it (openssl rand -hex 32), or your Supabase project's JWT secret",
        )),
        Some(s) if s.len() < MIN_JWT_SECRET_LEN => Err(bad(
            "AUTH_JWT_SECRET",
            format!("is too short: at least {MIN_JWT_SECRET_LEN} characters"),
        )),
        Some(s) => Ok(Secret::new(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &str = "0123456789abcdef0123456789abcdef";

    fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
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

    fn error_var(vars: &[(&str, &str)]) -> &'static str {
        parse(vars).expect_err("should be rejected").var
    }

    #[test]
    fn the_example_env_file_reads_and_gives_a_valid_configuration_once_a_secret_is_set() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/.env.example");
        let mut vars = read_env_file(path).expect(".env.example is a readable env file");
        assert_eq!(vars["MAIL_FROM"], "Billing <billing@localhost>");
        vars.insert("AUTH_JWT_SECRET".into(), JWT.into());
        Config::from_lookup(|k| vars.get(k).cloned()).expect("a valid configuration");
    }

    #[test]
    fn defaults_give_a_sqlite_file_local_origin_and_billing_off() {
        let c = parse(&[]).unwrap();
        assert!(matches!(c.database, DatabaseUrl::Sqlite(ref u) if u == DEFAULT_DATABASE_URL));
        assert_eq!(c.site_url.origin(), "http://127.0.0.1:3000");
        assert!(c.stripe_secret_key.is_none());
        assert!(c.stripe_webhook_secrets.is_empty());
        assert_eq!(c.stripe_api_base.as_str(), "https://api.stripe.com/");
        assert_eq!(&*c.leptos.output_name, "landing");
    }

    #[test]
    fn a_database_url_of_another_scheme_is_refused_without_echoing_it() {
        let err = parse(&[("DATABASE_URL", "nonsense://user:hunter2@x")]).unwrap_err();
        assert_eq!(err.var, "DATABASE_URL");
        assert!(err.to_string().contains("nonsense"));
        assert!(!err.to_string().contains("hunter2"));
        assert_eq!(error_var(&[("DATABASE_URL", "just-text")]), "DATABASE_URL");
        assert_eq!(
            error_var(&[("DATABASE_URL", "postgres://")]),
            "DATABASE_URL"
        );
    }

    #[test]
    fn postgres_urls_are_accepted_and_kept_secret() {
        let c = parse(&[("DATABASE_URL", "postgres://u:pw@127.0.0.1:5432/db")]).unwrap();
        assert!(matches!(c.database, DatabaseUrl::Postgres(_)));
        assert!(!format!("{:?}", c.database).contains("pw"));
    }

    #[test]
    fn site_url_must_be_a_bare_http_origin() {
        assert_eq!(
            parse(&[("SITE_URL", "https://shop.example.com/")])
                .unwrap()
                .site_url
                .origin(),
            "https://shop.example.com"
        );
        for bad_value in [
            "shop.example.com",
            "ftp://x.com",
            "https://x.com/app",
            "https://x.com?a=1",
        ] {
            assert_eq!(
                error_var(&[("SITE_URL", bad_value)]),
                "SITE_URL",
                "{bad_value}"
            );
        }
    }

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
    fn the_jwt_secret_is_required_and_long() {
        let missing = Config::from_lookup(|_| None).unwrap_err();
        assert_eq!(missing.var, "AUTH_JWT_SECRET");
        assert_eq!(
            error_var(&[("AUTH_JWT_SECRET", "short")]),
            "AUTH_JWT_SECRET"
        );
    }

    #[test]
    fn leptos_settings_are_checked() {
        assert_eq!(
            error_var(&[("LEPTOS_SITE_ADDR", "localhost")]),
            "LEPTOS_SITE_ADDR"
        );
        assert_eq!(error_var(&[("LEPTOS_ENV", "staging")]), "LEPTOS_ENV");
        assert_eq!(
            error_var(&[("LEPTOS_RELOAD_PORT", "99999")]),
            "LEPTOS_RELOAD_PORT"
        );
        assert_eq!(
            error_var(&[("STRIPE_API_BASE", "not a url")]),
            "STRIPE_API_BASE"
        );
        assert_eq!(error_var(&[("RUST_LOG", "info,[[[")]), "RUST_LOG");
        let c = parse(&[("LEPTOS_SITE_ADDR", "0.0.0.0:8080"), ("LEPTOS_ENV", "PROD")]).unwrap();
        assert_eq!(c.site_url.origin(), "http://localhost:8080");
        assert_eq!(c.leptos.env, Env::PROD);
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

    #[test]
    fn allowed_redirect_origins_are_a_list_of_origins() {
        let c = parse(&[(
            "ALLOWED_REDIRECT_ORIGINS",
            "https://a.example.com, http://localhost:5173",
        )])
        .unwrap();
        assert_eq!(
            c.allowed_redirect_origins,
            ["https://a.example.com", "http://localhost:5173"]
        );
        assert_eq!(
            error_var(&[("ALLOWED_REDIRECT_ORIGINS", "https://a.example.com/path")]),
            "ALLOWED_REDIRECT_ORIGINS"
        );
    }

    #[test]
    fn blank_values_count_as_unset() {
        let c = parse(&[("STRIPE_SECRET_KEY", "  "), ("DATABASE_URL", "")]).unwrap();
        assert!(c.stripe_secret_key.is_none());
        assert!(matches!(c.database, DatabaseUrl::Sqlite(_)));
    }
}
