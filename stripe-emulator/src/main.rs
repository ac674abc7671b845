//! `stripe-emulator`: run the local Stripe beside the site.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use stripe_emulator::{spawn, Options};

const USAGE: &str =
    "usage: stripe-emulator [--port N] [--host IP] [--catalog plans.toml] [--secret-key sk_test_…] [--rate-limit N]

  --port        port to listen on (default 12111; 0 picks a free one)
  --host        address to listen on (default 127.0.0.1)
  --catalog     a plans.toml whose products and prices exist from the start
  --secret-key  accept only this key (default: any sk_test_… key)
  --rate-limit  API requests per second per key, answered 429 past it (default: no limit)";

fn parse(args: &[String]) -> Result<Options, String> {
    let mut host = "127.0.0.1".to_string();
    let mut port: u16 = 12111;
    let mut options = Options::default();
    let mut webhook_url = None;
    let mut webhook_secret = std::env::var("STRIPE_WEBHOOK_SECRET")
        .ok()
        .filter(|s| !s.is_empty());
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--port" => {
                port = value()?
                    .parse()
                    .map_err(|_| "--port takes a number".to_string())?
            }
            "--host" => host = value()?,
            "--catalog" => options.catalog = Some(PathBuf::from(value()?)),
            "--secret-key" => options.secret_key = Some(value()?),
            "--rate-limit" => {
                options.rate_limit = Some(
                    value()?
                        .parse()
                        .map_err(|_| "--rate-limit takes a number of requests per second")?,
                )
            }
            "--webhook-url" => webhook_url = Some(value()?),
            "--webhook-secret" => webhook_secret = Some(value()?),
            "--retry-attempts" => {
                options.retry.max_attempts = value()?
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or("--retry-attempts takes a number of at least 1")?
            }
            "--retry-backoff-ms" => {
                let ms: u64 = value()?
                    .parse()
                    .map_err(|_| "--retry-backoff-ms takes a number")?;
                options.retry.first_backoff = std::time::Duration::from_millis(ms);
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    options.webhook = match (webhook_url, webhook_secret) {
        (Some(url), Some(secret)) if secret.starts_with("whsec_") => Some((url, secret)),
        (Some(_), Some(_)) => return Err("--webhook-secret must start with whsec_".into()),
        (Some(_), None) => return Err("--webhook-url needs --webhook-secret".into()),
        (None, _) => None,
    };
    options.addr = format!("{host}:{port}")
        .parse::<SocketAddr>()
        .map_err(|_| format!("`{host}` is not an IP address"))?;
    Ok(options)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let options = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let emulator = match spawn(options).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("stripe-emulator listening on {}", emulator.base_url);
    println!("dashboard: {}/_emulator", emulator.base_url);
    // Ctrl-C or SIGTERM (what scripts send) both end it cleanly.
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot listen for SIGTERM: {e}");
            return ExitCode::FAILURE;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    drop(emulator);
    ExitCode::SUCCESS
}
