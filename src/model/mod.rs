//! Wire types shared by the server and the browser builds.

pub mod access;
pub mod admin;
pub mod auth;
pub mod billing;
pub mod catalog;
pub mod change;
pub mod checkout;
pub mod entitlements;
pub mod error;
