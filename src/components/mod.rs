//! View pieces shared by several pages.

pub mod nav;
pub mod plan_card;
pub mod server_forms;
