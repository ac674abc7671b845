//! The `landing` command: parse the arguments and configuration, then serve (or migrate).

use std::io::IsTerminal;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

use super::config::Config;
use super::startup;

const USAGE: &str = "usage: landing [serve | migrate]

  serve    run the site (the default)
  migrate  bring the database schema up to date and exit

Configuration comes from the environment and .env.local; see .env.example.";

enum Command {
    Serve,
    Migrate,
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

    let result = match command {
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
