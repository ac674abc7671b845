#!/usr/bin/env bash
# Runs every test on a fresh machine: installs what is missing (wasm target, cargo-leptos,
# wasm-bindgen, Chromium, npm packages, PostgreSQL, aiosmtpd, HAProxy), then format and lint checks for both builds,
# the cargo tests on SQLite and PostgreSQL, and the browser journeys with JavaScript off and on.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

export TEST_POSTGRES_URL="${TEST_POSTGRES_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
started=$(date +%s)

step "tools"
ensure_wasm_target
ensure_cargo_leptos
ensure_wasm_bindgen
ensure_node
ensure_chromium
ensure_aiosmtpd
ensure_haproxy
ensure_postgres "$TEST_POSTGRES_URL"
# Test databases of runs that were killed before they could drop them.
psql "$TEST_POSTGRES_URL" -qAtc "SELECT datname FROM pg_database WHERE datname LIKE 'landing_test_%'" \
  | while read -r db; do psql "$TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"; done

step "format"
cargo fmt --all -- --check

step "no module cycle"
# Every module the shared state is built from must not import it, and no two modules may need
# each other: scripts/module_cycles.py lists any cycle in the crate's module graph.
python3 scripts/module_cycles.py src

step "clippy: server build"
cargo clippy --features ssr --all-targets -- -D warnings

step "clippy: Stripe emulator and the benchmark's server"
cargo clippy -p stripe-emulator -p landing-bench --all-targets -- -D warnings

step "clippy: browser build"
cargo clippy --features hydrate --target wasm32-unknown-unknown --lib -- -D warnings

step "the browser build pulls in no server crate"
forbidden=$(cargo tree --features hydrate --target wasm32-unknown-unknown -e normal --prefix none \
  | grep -E '^(sqlx|sqlx-[a-z]+|tokio|async-stripe[a-z-]*|jsonwebtoken|argon2) ' | sort -u || true)
[ -z "$forbidden" ] || die "the hydrate build depends on: $forbidden"
echo "ok: no sqlx, tokio, async-stripe, jsonwebtoken or argon2 in the wasm dependency tree"

step "cargo tests (SQLite and PostgreSQL)"
cargo test --features ssr

step "Stripe emulator tests"
cargo test -p stripe-emulator

step "site build (cargo leptos) and the Stripe emulator"
cargo leptos build
cargo build -q -p stripe-emulator

step "browser journeys (JavaScript off and on)"
bin="$(target_dir)/debug/landing"
emulator_bin="$(target_dir)/debug/stripe-emulator"
[ -x "$bin" ] || die "no server binary at $bin"
root=$(pwd)
run_dir=$(mktemp -d)
port=$(free_port)
stripe_port=$(free_port)
webhook_secret="whsec_$(random_secret)"
jwt_secret="$(random_secret)"
smtp_port=$(free_port)
server_pid=""
emulator_pid=""
smtp_pid=""
cleanup() {
  local status=$?
  for pid in "$server_pid" "$emulator_pid" "$smtp_pid"; do
    # aiosmtpd dies of the signal (143): that is not the run's status.
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && { wait "$pid" 2>/dev/null || true; }
  done
  rm -rf "$run_dir"
  # The script's own status, not that of the last process stopped here.
  exit "$status"
}
trap cleanup EXIT
"$emulator_bin" --port "$stripe_port" --catalog "$root/plans.toml" \
  --webhook-url "http://127.0.0.1:$port/api/stripe/webhook" --webhook-secret "$webhook_secret" \
  --retry-attempts 1 >"$run_dir/emulator.log" 2>&1 &
emulator_pid=$!
# The mail the journeys expect lands in a Maildir they read.
python3 -m aiosmtpd -n -l "127.0.0.1:$smtp_port" -c aiosmtpd.handlers.Mailbox "$run_dir/mail" \
  >"$run_dir/smtp.log" 2>&1 &
smtp_pid=$!
for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$stripe_port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
# Run from an empty folder with absolute paths, so no developer's .env.local leaks in.
site_env=(DATABASE_URL="sqlite://$run_dir/e2e.db" SITE_URL="http://127.0.0.1:$port"
  LEPTOS_SITE_ADDR="127.0.0.1:$port" LEPTOS_SITE_ROOT="$root/target/site"
  PLANS_FILE="$root/plans.toml" AUTH_JWT_SECRET="$jwt_secret" RUST_LOG=info
  STRIPE_SECRET_KEY=sk_test_end2end STRIPE_WEBHOOK_SECRET="$webhook_secret"
  STRIPE_API_BASE="http://127.0.0.1:$stripe_port" SMTP_URL="smtp://127.0.0.1:$smtp_port"
  ADMIN_EMAILS="ops@example.com" SIGN_UPS_PER_ADDRESS=1000 CHECKOUTS_PER_ADDRESS=1000)
# As an operator sets an account up: the portal configuration the journeys use and the
# endpoint's events come from `landing stripe setup` (the endpoint exists: it is updated).
(cd "$run_dir" && env "${site_env[@]}" "$bin" stripe setup) >"$run_dir/setup.log" 2>&1 \
  || { cat "$run_dir/setup.log"; die "landing stripe setup failed"; }
grep -q "customer-portal configuration" "$run_dir/setup.log" || { cat "$run_dir/setup.log"; die "setup saved no portal"; }
(cd "$run_dir" && exec env "${site_env[@]}" "$bin") >"$run_dir/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$run_dir/server.log"; die "the server exited"; }
  sleep 0.2
done
(
  cd end2end
  npm ci --no-audit --no-fund --silent
  BASE_URL="http://127.0.0.1:$port" STRIPE_URL="http://127.0.0.1:$stripe_port" \
    STRIPE_KEY=sk_test_end2end MAILDIR="$run_dir/mail" npx playwright test
) || { echo "--- server log"; cat "$run_dir/server.log"; exit 1; }

step "the journeys' server log holds no secret"
for secret in "$webhook_secret" "$jwt_secret" sk_test_end2end 4242424242424242; do
  ! grep -qF -- "$secret" "$run_dir/server.log" || die "a secret is in the server log"
done
[ -s "$run_dir/server.log" ] || die "the server wrote no log"
echo "ok: $(wc -l <"$run_dir/server.log") lines, no secret"

step "all tests passed in $(( $(date +%s) - started )) s"
