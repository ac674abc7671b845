//! Integration tests: the real app on port 0 against a fresh database, on SQLite and PostgreSQL.

mod hardening;
mod support;

mod auth;
mod billing;
mod binary;
mod checkout;
mod health;
mod pages;
mod storage;
mod webhooks;
