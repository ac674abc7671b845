//! The one shared state: handed to every handler and server function; no globals.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use super::auth::limits::AuthLimits;
use super::config::Config;
use super::db::Db;
use crate::model::catalog::Catalog;

#[derive(Clone, Debug)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub catalog: Arc<Catalog>,
    pub leptos_options: LeptosOptions,
    pub limits: Arc<AuthLimits>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
