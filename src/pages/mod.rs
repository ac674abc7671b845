//! One module per route.

pub mod account;
pub mod home;
pub mod not_found;
pub mod pricing;
pub mod success;
