//! The one shared state: handed to every handler and server function; no globals.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use super::auth::limits::AuthLimits;
use super::auth::sessions::Sessions;
use super::billing::account::Billing;
use super::billing::webhook::ApplyEvents;
use super::client_addr::TrustedProxies;
use super::config::Config;
use super::db::Db;
use crate::model::catalog::Catalog;

/// Cloned for every request and every middleware that reads it: one reference count.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

#[derive(Debug)]
pub struct Shared {
    pub db: Db,
    pub config: Arc<Config>,
    /// The catalog as the pages show it (Stripe's amounts where Stripe differs from the file).
    pub catalog: Arc<Catalog>,
    /// The catalog as `plans.toml` says it: what prices are looked up by.
    pub source_catalog: Arc<Catalog>,
    pub leptos_options: LeptosOptions,
    pub limits: Arc<AuthLimits>,
    /// argon2 hashing, at most one per core at a time.
    pub hasher: super::auth::password::Hasher,
    /// `None` when billing is off.
    pub billing: Option<Arc<Billing>>,
    /// Wakes the outbox sender when a transaction has queued mail.
    pub mail_wake: Arc<tokio::sync::Notify>,
    /// Applies verified webhooks, several to a transaction under load.
    pub webhook_writer: super::infra::group_commit::Writer<ApplyEvents>,
    /// Which plan a signed-in person has, for the marketing pages: read in batches.
    pub plan_reads: super::billing::plan_reads::PlanReads,
    /// The marketing pages, rendered once per variant (signed out; signed in, per plan).
    pub page_cache: super::infra::page_cache::PageCache,
    /// What visitors make us read from Stripe: kept a short while, and limited per client.
    pub visitor_reads: super::billing::visitor_reads::budget::VisitorReads,
    /// Session tokens: issued, checked, renewed and revoked.
    pub sessions: Arc<super::auth::sessions::Sessions>,
    /// Checks Supabase's access tokens; `None` unless Supabase is configured.
    pub supabase: Option<Arc<super::auth::supabase::SupabaseVerifier>>,
    /// Set when the instance is stopping: `/readyz` answers 503 so a balancer sends no more.
    pub draining: std::sync::atomic::AtomicBool,
    /// Counts for `/metrics`; `None` unless `METRICS_ADDR` is set.
    pub metrics: Option<Arc<super::metrics::Metrics>>,
}

impl FromRef<AppState> for Arc<TrustedProxies> {
    fn from_ref(state: &AppState) -> Self {
        state.config.trusted_proxies.clone()
    }
}

impl FromRef<AppState> for Arc<Sessions> {
    fn from_ref(state: &AppState) -> Self {
        state.sessions.clone()
    }
}

impl FromRef<AppState> for Arc<Config> {
    fn from_ref(state: &AppState) -> Self {
        state.config.clone()
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
