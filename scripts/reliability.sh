#!/usr/bin/env bash
# The whole reliability suite (issue #8) at full size: a storm of 5,000 distinct events replayed
# 3x shuffled 64 at a time on SQLite and PostgreSQL; PostgreSQL stopped, the server SIGKILLed and
# the mail server down in the middle of storms; 15,000 generated hostile requests and 750 raw
# connections; the fuzz targets (signature header, redirect check) ten times longer; the
# hardening and log-scan tests. scripts/test.sh runs the same tests, smaller.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

export TEST_POSTGRES_URL="${TEST_POSTGRES_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export RELIABILITY=full
started=$(date +%s)

step "tools"
ensure_aiosmtpd
ensure_postgres "$TEST_POSTGRES_URL"

mkdir -p target
log=target/reliability.log
step "fuzz targets (signature header, redirect check)"
cargo test --features ssr --lib -- signature redirect 2>&1 | tee "$log"
step "storms, faults, hostile input, hardening, logs"
cargo test --features ssr --test app -- --nocapture storm:: faults:: hostile:: hardening:: logs:: 2>&1 | tee -a "$log"

step "figures"
grep -E '^(storm on|PostgreSQL stopped|server killed|SMTP down|hostile input)' "$log" || true
grep -E '^test result' "$log"
step "reliability suite passed in $(( $(date +%s) - started )) s"
