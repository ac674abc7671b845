//! View pieces shared by several pages.

pub mod buy_button;
pub mod nav;
pub mod plan_card;
