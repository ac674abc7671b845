//! Parsing of every setting that is neither Stripe's nor the site's: the database URL, the JWT
//! secret, the log filter and format, durations (grace days, shutdown grace), mail (SMTP URL,
//! sender), per-address limits, trusted proxies and the metrics address. Each function takes the
//! looked-up value (`None` when unset) and names its variable in any error.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::env::{bad, ConfigError};
use crate::server::client_addr::TrustedProxies;
use crate::server::secret::Secret;

pub(super) const DEFAULT_DATABASE_URL: &str = "sqlite://data/landing.db";
const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn";
const MIN_JWT_SECRET_LEN: usize = 32;
const DEFAULT_GRACE_DAYS: i64 = 7;
/// How long a session lasts however active its holder is (`SESSION_MAX_DAYS`).
const DEFAULT_SESSION_MAX_DAYS: i64 = 30;
const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
const DEFAULT_SHUTDOWN_LINGER: Duration = Duration::from_secs(2);
const DEFAULT_MAIL_FROM: &str = "Billing <billing@localhost>";

#[derive(Debug, Clone)]
pub enum DatabaseUrl {
    /// `sqlite://path`, `sqlite:///abs/path` or `sqlite::memory:`.
    Sqlite(String),
    /// May carry a password, hence secret.
    Postgres(Secret),
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    /// One JSON object per line: the event's fields (`status`, `latency`, `event`, …) and its
    /// request's (`request_id`, `route`, `method`, `uri`).
    Json,
}

pub(super) fn parse_database_url(raw: Option<String>) -> Result<DatabaseUrl, ConfigError> {
    let raw = raw.as_deref().unwrap_or(DEFAULT_DATABASE_URL);
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

pub(super) fn parse_jwt_secret(raw: Option<String>) -> Result<Secret, ConfigError> {
    match raw {
        None => Err(bad(
            "AUTH_JWT_SECRET",
            "is not set; put a random value of at least 32 characters in it (openssl rand -hex 32), of its own: never your Supabase project's JWT secret",
        )),
        Some(s) if s.len() < MIN_JWT_SECRET_LEN => Err(bad(
            "AUTH_JWT_SECRET",
            format!("is too short: at least {MIN_JWT_SECRET_LEN} characters"),
        )),
        Some(s) => Ok(Secret::new(s)),
    }
}

/// `RUST_LOG`, checked now: a typo would otherwise silence the logs without a word.
pub(super) fn parse_log_filter(raw: Option<String>) -> Result<String, ConfigError> {
    let filter = raw.unwrap_or_else(|| DEFAULT_LOG_FILTER.into());
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&filter) {
        return Err(bad("RUST_LOG", format!("is not a valid filter: {e}")));
    }
    Ok(filter)
}

pub(super) fn parse_log_format(raw: Option<String>) -> Result<LogFormat, ConfigError> {
    match raw.as_deref() {
        None | Some("text") => Ok(LogFormat::Text),
        Some("json") => Ok(LogFormat::Json),
        Some(_) => Err(bad("LOG_FORMAT", "must be `text` or `json`")),
    }
}

/// A whole number of days in `range` (`default` when unset), named `name` in the error.
fn parse_days(
    raw: Option<String>,
    name: &'static str,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, ConfigError> {
    match raw {
        None => Ok(default),
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|d| range.contains(d))
            .ok_or_else(|| {
                bad(
                    name,
                    format!(
                        "must be a whole number of days, {} to {}",
                        range.start(),
                        range.end()
                    ),
                )
            }),
    }
}

pub(super) fn parse_grace_days(raw: Option<String>) -> Result<i64, ConfigError> {
    parse_days(raw, "PAST_DUE_GRACE_DAYS", DEFAULT_GRACE_DAYS, 0..=60)
}

/// `SESSION_MAX_DAYS`: a session's absolute lifetime, after which its holder signs in again.
pub(super) fn parse_session_max_days(raw: Option<String>) -> Result<i64, ConfigError> {
    parse_days(raw, "SESSION_MAX_DAYS", DEFAULT_SESSION_MAX_DAYS, 1..=365)
}

pub(super) fn parse_shutdown_grace(raw: Option<String>) -> Result<Duration, ConfigError> {
    match raw {
        None => Ok(DEFAULT_SHUTDOWN_GRACE),
        Some(raw) => raw
            .parse::<u64>()
            .ok()
            .filter(|s| *s <= 3600)
            .map(Duration::from_secs)
            .ok_or_else(|| {
                bad(
                    "SHUTDOWN_GRACE_SECONDS",
                    "must be a whole number of seconds, 0 to 3600",
                )
            }),
    }
}

/// `SHUTDOWN_LINGER_SECONDS`: how long a stopping instance goes on accepting, so a balancer's
/// health check sees 503 and stops sending before the listener closes (2 s by default: a
/// balancer checking every second, twice).
pub(super) fn parse_shutdown_linger(raw: Option<String>) -> Result<Duration, ConfigError> {
    match raw {
        None => Ok(DEFAULT_SHUTDOWN_LINGER),
        Some(raw) => raw
            .parse::<f64>()
            .ok()
            .filter(|s| (0.0..=60.0).contains(s))
            .map(Duration::from_secs_f64)
            .ok_or_else(|| {
                bad(
                    "SHUTDOWN_LINGER_SECONDS",
                    "must be a number of seconds, 0 to 60 (such as 2 or 0.5)",
                )
            }),
    }
}

/// A comma-separated list of emails, lower-cased so a comparison ignores case.
pub(super) fn parse_admin_emails(raw: Option<String>) -> Vec<String> {
    raw.map(|raw| {
        raw.split(',')
            .map(|e| e.trim().to_ascii_lowercase())
            .filter(|e| !e.is_empty())
            .collect()
    })
    .unwrap_or_default()
}

pub(super) fn parse_smtp_url(raw: &str) -> Result<Secret, ConfigError> {
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

pub(super) fn parse_mail_from(raw: Option<String>) -> Result<String, ConfigError> {
    let mail_from = raw.unwrap_or_else(|| DEFAULT_MAIL_FROM.into());
    if mail_from.parse::<lettre::message::Mailbox>().is_err() {
        return Err(bad(
            "MAIL_FROM",
            "is not a mailbox (`Name <a@b.c>` or `a@b.c`)",
        ));
    }
    Ok(mail_from)
}

/// A per-client-address limit: a count above 0.
pub(super) fn parse_per_address(
    var: &'static str,
    raw: Option<String>,
    default: u32,
) -> Result<u32, ConfigError> {
    match raw {
        None => Ok(default),
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| bad(var, "must be a whole number above 0")),
    }
}

pub(super) fn parse_trusted_proxies(
    raw: Option<String>,
) -> Result<Arc<TrustedProxies>, ConfigError> {
    match raw {
        None => Ok(Default::default()),
        Some(raw) => Ok(Arc::new(
            TrustedProxies::parse(&raw).map_err(|e| bad("TRUSTED_PROXIES", e))?,
        )),
    }
}

pub(super) fn parse_metrics_addr(
    raw: Option<String>,
) -> Result<Option<std::net::SocketAddr>, ConfigError> {
    raw.filter(|raw| !raw.trim().is_empty())
        .map(|raw| {
            raw.trim().parse::<std::net::SocketAddr>().map_err(|_| {
                bad(
                    "METRICS_ADDR",
                    "must be an address and port to listen on, such as 127.0.0.1:9100",
                )
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::config::testing::{error_var, parse};
    use crate::server::config::Config;

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
    fn the_jwt_secret_is_required_and_long() {
        let missing = Config::from_lookup(|_| None).unwrap_err();
        assert_eq!(missing.var, "AUTH_JWT_SECRET");
        assert_eq!(
            error_var(&[("AUTH_JWT_SECRET", "short")]),
            "AUTH_JWT_SECRET"
        );
        assert!(
            missing.to_string().contains("never your Supabase"),
            "{missing}"
        );
    }

    #[test]
    fn the_jwt_secret_is_not_supabases() {
        let shared = "supabase-legacy-secret-0123456789abcdef";
        let err = parse(&[
            ("AUTH_JWT_SECRET", shared),
            ("SUPABASE_URL", "https://abcd.supabase.co"),
            ("SUPABASE_JWT_SECRET", shared),
        ])
        .unwrap_err();
        assert_eq!(err.var, "AUTH_JWT_SECRET");
        assert!(!err.to_string().contains(shared), "{err}");
    }

    #[test]
    fn the_log_filter_is_checked() {
        assert_eq!(error_var(&[("RUST_LOG", "info,[[[")]), "RUST_LOG");
    }
}
