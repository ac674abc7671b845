//! Wire types shared by the server and the browser builds.

pub mod billing;
pub mod catalog;
