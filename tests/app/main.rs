//! Integration tests: the real app on port 0 against a fresh database, on SQLite and PostgreSQL.

mod harness;

mod auth;
mod billing;
mod binary;
mod binary_commands;
mod checkout;
mod coupons;
mod credit;
mod faults;
mod hardening;
mod health;
mod held_subscriptions;
mod hijack;
mod hostile;
mod identity;
mod jwks;
mod limits;
mod logs;
mod metrics;
mod money_back;
mod one_per_person;
mod pages;
mod plans;
mod replaced_prices;
mod scale_out;
mod schedules;
mod setup;
mod storage;
mod storm;
mod stripe_budget;
mod stripe_cli;
mod stripe_retries;
mod tokens;
mod webhook_outcomes;
mod webhooks;
