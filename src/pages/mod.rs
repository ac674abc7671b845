//! One module per route.

pub mod account;
pub mod admin;
pub mod billing;
pub mod home;
pub mod not_found;
pub mod pricing;
pub mod product;
pub mod success;
