//! The `landing` command: parse the arguments and configuration, then serve (or migrate).

use std::io::IsTerminal;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

use super::billing::client::Patience;
use super::billing::doctor::Level;
use super::billing::{self, catalog, setup};
use super::config::{Config, LogFormat};
use super::startup;
use crate::model::billing::BillingMode;

const USAGE: &str =
    "usage: landing [serve | migrate | stripe setup [--dry-run] [--yes] | doctor [--log] |
               resync --customer cus_… | resync --all | events [--failed] | backup PATH]

  serve         run the site (the default)
  migrate       bring the database schema up to date and exit
  stripe setup  make the Stripe account what the site needs: plans.toml's products and prices,
                the customer-portal configuration, the webhook endpoint for SITE_URL. Prints the
                plan first; --dry-run stops there; a live key asks for --yes. Idempotent.
                (`catalog sync` is the same command.)
  doctor        check the configuration, Stripe, mail and the database; exit 0 only when all hold
                (--log: log only the Stripe findings that are not fine, as `serve` does at start)
  resync        read a customer (or every customer) from Stripe and store what Stripe says:
                subscriptions, invoices, completed checkouts (after lost or failed webhooks)
  events        list the newest webhook events, or with --failed those not applied yet
  backup        copy the SQLite database to the new file PATH, consistently, while the site runs
                (PostgreSQL: it prints the pg_dump command to use instead)

Configuration comes from the environment and .env.local; see .env.example.";

enum Command {
    Serve,
    Migrate,
    StripeSetup { dry_run: bool, yes: bool },
    Doctor { log: bool },
    Resync(Option<String>),
    Events { failed: bool },
    Backup(String),
}

pub async fn main(args: Vec<String>) -> ExitCode {
    let command = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] | ["serve"] => Command::Serve,
        ["migrate"] => Command::Migrate,
        ["stripe", "setup", flags @ ..] | ["catalog", "sync", flags @ ..]
            if flags.iter().all(|f| matches!(*f, "--dry-run" | "--yes")) =>
        {
            Command::StripeSetup {
                dry_run: flags.contains(&"--dry-run"),
                yes: flags.contains(&"--yes"),
            }
        }
        ["doctor"] => Command::Doctor { log: false },
        ["doctor", "--log"] => Command::Doctor { log: true },
        ["resync", "--customer", id] if id.starts_with("cus_") => {
            Command::Resync(Some(id.to_string()))
        }
        ["resync", "--all"] => Command::Resync(None),
        ["events"] => Command::Events { failed: false },
        ["events", "--failed"] => Command::Events { failed: true },
        ["backup", path] if !path.starts_with('-') => Command::Backup(path.to_string()),
        ["-h" | "--help" | "help"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        ["-V" | "--version"] => {
            println!("landing {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("error: unknown arguments `{}`\n{USAGE}", args.join(" "));
            return ExitCode::from(2);
        }
    };

    let config = match Config::from_env() {
        Ok(config) => config,
        // The doctor's first finding: a configuration the site refuses to start with.
        Err(e) if matches!(command, Command::Doctor { log: false }) => {
            println!("FAIL {e} → fix the variable (see .env.example)");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let logs = tracing_subscriber::fmt().with_env_filter(EnvFilter::new(&config.log_filter));
    match config.log_format {
        LogFormat::Text => logs.with_ansi(std::io::stdout().is_terminal()).init(),
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }

    let command = match command {
        Command::StripeSetup { dry_run, yes } => return stripe_setup(&config, dry_run, yes).await,
        Command::Doctor { log: false } => return doctor(&config).await,
        Command::Doctor { log: true } => {
            crate::server::doctor::log_stripe(&config).await;
            return ExitCode::SUCCESS;
        }
        Command::Resync(customer) => return resync(config, customer).await,
        Command::Events { failed } => return events(config, failed).await,
        Command::Backup(path) => return backup(&config, &path).await,
        other => other,
    };
    let result = match command {
        Command::StripeSetup { .. }
        | Command::Doctor { .. }
        | Command::Resync(_)
        | Command::Events { .. }
        | Command::Backup(_) => Ok(()),
        Command::Serve => startup::run(config).await,
        Command::Migrate => startup::build_state(config).await.map(|_| {
            tracing::info!("database schema is up to date");
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn stripe_setup(config: &Config, dry_run: bool, yes: bool) -> ExitCode {
    let catalog = match catalog::load(&config.plans_file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: PLANS_FILE: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Some(client) =
        billing::client::Stripe::from_config(config).map(|c| c.patient(Patience::Operator))
    else {
        eprintln!("error: STRIPE_SECRET_KEY: is not set; there is no Stripe to set up");
        return ExitCode::FAILURE;
    };
    let mode = config.billing_mode();
    let site = config.site_url.origin();
    println!(
        "Stripe: {} for {site}",
        match mode {
            BillingMode::Live => "a LIVE account".to_string(),
            BillingMode::Emulated => format!("the emulator at {}", config.stripe_api_base),
            _ => "a test account".to_string(),
        }
    );
    let stripe_failed = |e: billing::client::StripeError| {
        eprintln!("error: Stripe: {}", e.describe());
        ExitCode::FAILURE
    };
    let account = match setup::read_account(&client, &catalog).await {
        Ok(a) => a,
        Err(e) => return stripe_failed(e),
    };
    let steps = setup::plan(&catalog, &account, &site);
    if steps.is_empty() {
        println!("Nothing to change: Stripe already matches plans.toml and this site.");
        return ExitCode::SUCCESS;
    }
    println!("Plan:");
    for step in &steps {
        println!("  {step}");
    }
    println!("{} change(s).", steps.len());
    if dry_run {
        println!("--dry-run: nothing was changed.");
        return ExitCode::SUCCESS;
    }
    if mode == BillingMode::Live && !yes {
        eprintln!("error: this is a live account; run again with --yes to apply the plan above");
        return ExitCode::FAILURE;
    }
    let applied = match setup::apply(&client, &catalog, &site, &steps).await {
        Ok(a) => a,
        Err(e) => return stripe_failed(e),
    };
    println!("Applied {} change(s).", applied.changes);
    if let Some(secret) = applied.new_secret {
        println!(
            "\nThe new webhook endpoint's signing secret (Stripe shows it only now):\n\n  {secret}\n\n\
             Put it in STRIPE_WEBHOOK_SECRET (in .env.local or the service's environment) and\n\
             restart the site. Then run `landing doctor`."
        );
    }
    ExitCode::SUCCESS
}

async fn doctor(config: &Config) -> ExitCode {
    let findings = crate::server::doctor::run(config).await;
    for f in &findings {
        println!("{f}");
    }
    let failed = findings.iter().filter(|f| f.level == Level::Fail).count();
    if failed == 0 {
        println!("All checks hold.");
        ExitCode::SUCCESS
    } else {
        println!("{failed} problem(s).");
        ExitCode::FAILURE
    }
}

async fn resync(config: Config, customer: Option<String>) -> ExitCode {
    let state = match startup::build_state(config).await {
        Ok(state) => state,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match customer.as_deref() {
        Some(id) => billing::resync::customer(&state, id, Patience::Operator).await,
        None => billing::resync::all(&state).await,
    };
    state.db.close().await;
    match result {
        Ok(r) => {
            println!(
                "resynced {} customer(s): {} checkout(s), {} subscription(s), {} invoice(s)",
                r.customers, r.sessions, r.subscriptions, r.invoices
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `landing backup PATH`: a consistent copy of the SQLite database (see `Db::backup_into`). The
/// copy is a complete database: restoring is pointing `DATABASE_URL` at it (or copying it back
/// while the site is stopped).
async fn backup(config: &Config, path: &str) -> ExitCode {
    use crate::server::config::DatabaseUrl;
    if let DatabaseUrl::Postgres(_) = config.database {
        eprintln!(
            "error: DATABASE_URL is PostgreSQL: copy it with pg_dump, which reads one snapshot \
             while the site runs:\n  pg_dump --format=custom --file {path} \"$DATABASE_URL\"\n\
             and restore with pg_restore --clean --if-exists --dbname \"$DATABASE_URL\" {path}"
        );
        return ExitCode::from(2);
    }
    if std::path::Path::new(path).exists() {
        eprintln!("error: {path} exists; a backup is written to a new file");
        return ExitCode::from(2);
    }
    let db = match crate::server::db::Db::connect(&config.database).await {
        Ok(db) => db,
        Err(e) => {
            eprintln!("error: cannot open the database: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = std::time::Instant::now();
    let done = db.backup_into(path).await;
    db.close().await;
    match done {
        Ok(()) => {
            let size = std::fs::metadata(path).map_or(0, |m| m.len());
            println!(
                "backed up to {path} ({size} bytes in {:.1?})",
                started.elapsed()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: the backup failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn events(config: Config, failed: bool) -> ExitCode {
    let state = match startup::build_state(config).await {
        Ok(state) => state,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rows = billing::admin::events(&state, failed).await;
    state.db.close().await;
    match rows {
        Ok(rows) => {
            for e in &rows {
                println!(
                    "{}\t{}\treceived {}\t{}\tattempts {}\t{}",
                    e.id,
                    e.kind,
                    e.received,
                    e.processed
                        .as_deref()
                        .map(|p| format!("applied {p}"))
                        .unwrap_or_else(|| "NOT APPLIED".into()),
                    e.attempts,
                    e.last_error.as_deref().unwrap_or("")
                );
            }
            println!("{} event(s)", rows.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
