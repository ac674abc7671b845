//! `landing doctor`: checks a configured site against its Stripe account, its mail server and
//! its database before buyers meet a problem. Read-only; one line per finding, with the fix.
//! Start-up logs the same Stripe findings as warnings.

use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::billing::doctor::{self, Finding, Level, Site};
use super::billing::{self, catalog};
use super::config::Config;
use super::db::Db;
use crate::model::billing::BillingMode;
use crate::model::catalog::Catalog;

const TIMEOUT: Duration = Duration::from_secs(5);

/// Every finding for this configuration.
pub async fn run(config: &Config) -> Vec<Finding> {
    let mut out = vec![key_mode(config)];
    match catalog::load(&config.plans_file) {
        Ok(catalog) => {
            out.push(Finding::ok(format!(
                "catalog: {} plans, {} prices in {}",
                catalog.plans.len(),
                catalog.plans.iter().map(|p| p.prices.len()).sum::<usize>(),
                config.plans_file.display()
            )));
            out.extend(stripe(config, &catalog).await);
        }
        Err(e) => out.push(Finding::fail(format!("PLANS_FILE: {e}"), "fix the file")),
    }
    out.push(smtp(config).await);
    out.push(migrations(config).await);
    out
}

fn key_mode(config: &Config) -> Finding {
    match config.billing_mode() {
        BillingMode::Off => Finding::warn(
            "STRIPE_SECRET_KEY is not set: billing is off, the pricing page sells nothing",
            "set a test key (sk_test_…) from the dashboard, or start the emulator (see the README)",
        ),
        BillingMode::Live => Finding::ok(format!(
            "Stripe: a live key, for {} (https)",
            config.site_url.origin()
        )),
        BillingMode::Test => Finding::ok("Stripe: a test key, against api.stripe.com"),
        BillingMode::Emulated => Finding::ok(format!(
            "Stripe: a test key, against the emulator at {}",
            config.stripe_api_base
        )),
    }
}

/// The Stripe checks, when billing is on.
pub async fn stripe(config: &Config, catalog: &Catalog) -> Vec<Finding> {
    match billing::client::Stripe::from_config(config) {
        Some(client) => {
            let client = client.patient(billing::client::Patience::Operator);
            stripe_with(&client, config, catalog).await
        }
        None => Vec::new(),
    }
}

async fn stripe_with(
    client: &billing::client::Stripe,
    config: &Config,
    catalog: &Catalog,
) -> Vec<Finding> {
    let origin = config.site_url.origin();
    doctor::check(
        client,
        catalog,
        &Site {
            url: &origin,
            webhook_secrets: &config.stripe_webhook_secrets,
            emulated: config.billing_mode() == BillingMode::Emulated,
        },
    )
    .await
}

async fn smtp(config: &Config) -> Finding {
    let Some(url) = &config.smtp_url else {
        return if config.billing_mode() == BillingMode::Live {
            Finding::fail(
                "SMTP_URL is not set: in live mode receipts, payment warnings and sign-in links would only be logged",
                "set SMTP_URL=smtp://user:password@host:587",
            )
        } else {
            Finding::warn(
                "SMTP_URL is not set: mail is written to the log, not sent",
                "set SMTP_URL before going live",
            )
        };
    };
    let Ok(parsed) = url::Url::parse(url.expose()) else {
        return Finding::fail("SMTP_URL cannot be read", "fix SMTP_URL");
    };
    let host = parsed.host_str().unwrap_or_default().to_string();
    let tls = parsed.scheme() == "smtps";
    let port = parsed.port().unwrap_or(if tls { 465 } else { 587 });
    let reach = async {
        let mut stream = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
        if tls {
            return Ok::<_, std::io::Error>(None);
        }
        let mut greeting = [0u8; 64];
        let n = stream.read(&mut greeting).await?;
        Ok(Some(String::from_utf8_lossy(&greeting[..n]).to_string()))
    };
    match tokio::time::timeout(TIMEOUT, reach).await {
        Ok(Ok(None)) => Finding::ok(format!("mail: {host}:{port} accepts connections")),
        Ok(Ok(Some(g))) if g.starts_with("220") => {
            Finding::ok(format!("mail: {host}:{port} answers as a mail server"))
        }
        Ok(Ok(Some(_))) => Finding::fail(
            format!("mail: {host}:{port} does not greet like a mail server"),
            "check SMTP_URL's host and port",
        ),
        Ok(Err(e)) => Finding::fail(
            format!("mail: cannot reach {host}:{port} ({e})"),
            "check SMTP_URL and that the mail server runs",
        ),
        Err(_) => Finding::fail(
            format!(
                "mail: {host}:{port} did not answer within {} s",
                TIMEOUT.as_secs()
            ),
            "check SMTP_URL and the firewall",
        ),
    }
}

async fn migrations(config: &Config) -> Finding {
    let db = match Db::connect(&config.database).await {
        Ok(db) => db,
        Err(e) => {
            return Finding::fail(
                format!("database: cannot connect ({})", e),
                "check DATABASE_URL",
            )
        }
    };
    let status = db.migration_status().await;
    db.close().await;
    match status {
        Ok(s) if !s.unknown.is_empty() => Finding::fail(
            format!(
                "database: migrated by a newer build (versions {:?} are unknown to this one)",
                s.unknown
            ),
            "run the newer build",
        ),
        Ok(s) if !s.pending.is_empty() => Finding::fail(
            format!("database: {} migration(s) not applied", s.pending.len()),
            "run `landing migrate` (the site also migrates when it starts)",
        ),
        Ok(_) => Finding::ok("database: the schema is up to date"),
        Err(e) => Finding::fail(
            format!("database: cannot read its migrations ({})", e),
            "check DATABASE_URL",
        ),
    }
}

/// `landing doctor --log`: logs the Stripe findings that are not fine as warnings, the lines
/// `landing doctor` prints, and nothing else. `serve` runs it beside itself at start.
pub async fn log_stripe(config: &Config) {
    // `serve` has already refused a catalog it cannot read.
    let Ok(catalog) = catalog::load(&config.plans_file) else {
        return;
    };
    for finding in stripe(config, &catalog).await {
        if finding.level != Level::Ok {
            tracing::warn!("doctor: {finding}");
        }
    }
}

/// Starts `landing doctor --log` in a child process, without holding the start back; its lines
/// go to the site's own log.
///
/// A process rather than a task: the checks run once, and in the server their Stripe calls,
/// parsers and log formatting would stay resident for the life of the process (about a
/// twentieth of the idle footprint, for code that never runs again). The child has the server's
/// environment, working directory and `.env.local`, so it reads the same configuration.
pub fn check_at_start() {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            tracing::warn!("the start-up checks cannot run ({e}); run `landing doctor`");
            return;
        }
    };
    let spawned = tokio::process::Command::new(&exe)
        .args(["doctor", "--log"])
        .stdin(std::process::Stdio::null())
        // A site stopping before the checks end stops them too.
        .kill_on_drop(true)
        .spawn();
    match spawned {
        Ok(mut child) => {
            tokio::spawn(async move {
                match child.wait().await {
                    Ok(status) if status.success() => {}
                    Ok(status) => tracing::warn!(
                        "the start-up checks ended with {status}; run `landing doctor`"
                    ),
                    Err(e) => tracing::warn!("the start-up checks were lost ({e})"),
                }
            });
        }
        Err(e) => tracing::warn!(
            "the start-up checks cannot run ({}: {e}); run `landing doctor`",
            exe.display()
        ),
    }
}
