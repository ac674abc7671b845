//! Everything that runs only on the server: configuration, storage, billing, HTTP wiring.

pub mod auth;
pub mod billing;
pub mod cli;
pub mod client_addr;
pub mod config;
pub mod db;
pub mod doctor;
pub mod error;
pub mod infra;
pub mod mail;
pub mod metrics;
pub mod outbound;
pub mod product;
pub mod secret;
pub mod security;
pub mod startup;
pub mod state;

/// How many cases a property test (the fuzz targets) runs: `short`, or ten times as many under
/// `RELIABILITY=full` (scripts/reliability.sh).
#[cfg(test)]
pub(crate) fn fuzz_cases(short: u32) -> u32 {
    match std::env::var("RELIABILITY").as_deref() {
        Ok("full") => short * 10,
        _ => short,
    }
}
