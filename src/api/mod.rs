//! Server functions, by feature: thin adapters into `server::…` with stable URLs under `/api`.

pub mod auth;
pub mod billing;
pub mod checkout;
