#!/usr/bin/env bash
# The scale-out suite (issue #17) at full size: three `landing` processes on one PostgreSQL
# behind HAProxy, a storm of 2,000 events replayed 3x through the balancer while each instance
# in turn is stopped with SIGTERM and started again and buyers load /pricing; the sign-in limit
# across instances; sign-out reaching every instance. scripts/test.sh runs it with 2 instances
# and 300 events. Prints the results as a table.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

export TEST_POSTGRES_URL="${TEST_POSTGRES_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export SCALE_OUT=full

step "tools"
ensure_aiosmtpd
ensure_haproxy
ensure_postgres "$TEST_POSTGRES_URL"

mkdir -p target
log=target/scale-out.log
step "instances behind HAProxy"
cargo test --features ssr --test app -- --nocapture scale_out:: 2>&1 | tee "$log"

step "results"
sed -n '/^scale-out results/,/^$/p' "$log" | tail -n +2
grep -E '^test result' "$log"
