//! The `landing` command: parse the arguments and configuration, then serve (or migrate).

use std::io::IsTerminal;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

use super::billing::{self, catalog};
use super::config::Config;
use super::startup;

const USAGE: &str = "usage: landing [serve | migrate | catalog sync | resync --customer cus_… | resync --all | events [--failed]]

  serve         run the site (the default)
  migrate       bring the database schema up to date and exit
  catalog sync  create in Stripe every plans.toml price its lookup key does not find, and report
                where Stripe and plans.toml differ
  resync        read a customer (or every customer) from Stripe and store what Stripe says:
                subscriptions, invoices, completed checkouts (after lost or failed webhooks)
  events        list the newest webhook events, or with --failed those not applied yet

Configuration comes from the environment and .env.local; see .env.example.";

enum Command {
    Serve,
    Migrate,
    CatalogSync,
    Resync(Option<String>),
    Events { failed: bool },
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
        ["catalog", "sync"] => Command::CatalogSync,
        ["resync", "--customer", id] if id.starts_with("cus_") => {
            Command::Resync(Some(id.to_string()))
        }
        ["resync", "--all"] => Command::Resync(None),
        ["events"] => Command::Events { failed: false },
        ["events", "--failed"] => Command::Events { failed: true },
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
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(&config.log_filter))
        .with_ansi(std::io::stdout().is_terminal())
        .init();

    let command = match command {
        Command::CatalogSync => return catalog_sync(&config).await,
        Command::Resync(customer) => return resync(config, customer).await,
        Command::Events { failed } => return events(config, failed).await,
        other => other,
    };
    let result = match command {
        Command::CatalogSync | Command::Resync(_) | Command::Events { .. } => Ok(()),
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

async fn catalog_sync(config: &Config) -> ExitCode {
    let catalog = match catalog::load(&config.plans_file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: PLANS_FILE: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Some(client) = billing::client::Stripe::from_config(config) else {
        eprintln!("error: STRIPE_SECRET_KEY: is not set; there is no Stripe to sync with");
        return ExitCode::FAILURE;
    };
    match catalog::sync(&client, &catalog).await {
        Ok((created, drift)) => {
            for key in &created {
                println!("created {key}");
            }
            for d in &drift {
                println!("drift {d}");
            }
            println!("{} created, {} drift", created.len(), drift.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: Stripe: {}", e.describe());
            ExitCode::FAILURE
        }
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
        Some(id) => billing::resync::customer(&state, id).await,
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
