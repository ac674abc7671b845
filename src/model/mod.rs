//! Wire types shared by the server and the browser builds.

pub mod catalog;
