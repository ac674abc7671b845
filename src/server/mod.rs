//! Everything that runs only on the server: configuration, storage, billing, HTTP wiring.

pub mod auth;
pub mod billing;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod mail;
pub mod page_cache;
pub mod secret;
pub mod startup;
pub mod state;
