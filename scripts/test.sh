#!/usr/bin/env bash
# Runs every test on a fresh machine: installs what is missing (wasm target, cargo-leptos,
# wasm-bindgen, Chromium, npm packages, PostgreSQL, aiosmtpd, HAProxy, Caddy), then format and lint
# checks for both builds, the cargo tests on SQLite and PostgreSQL, the deploy kit behind Caddy,
# and the browser journeys with JavaScript off and on.
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
ensure_caddy
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
trap stop_test_site EXIT
start_test_site
(
  cd end2end
  npm ci --no-audit --no-fund --silent
  npx playwright test
) || { echo "--- server log"; cat "$run_dir/server.log"; exit 1; }

step "the journeys' server log holds no secret"
for secret in "$webhook_secret" "$jwt_secret" sk_test_end2end 4242424242424242; do
  ! grep -qF -- "$secret" "$run_dir/server.log" || die "a secret is in the server log"
done
[ -s "$run_dir/server.log" ] || die "the server wrote no log"
# The journeys open live reset and confirmation links and Checkout's return address: their
# tokens and session ids are logged redacted, never as they are.
live_token='[?&](token|session_id)=[^[&" ]'
if grep -qE "$live_token" "$run_dir/server.log"; then
  grep -E "$live_token" "$run_dir/server.log" | head -3
  die "a live token is in the server log"
fi
for opened in '/verify-email?token=[redacted]' '/reset-password?token=[redacted]' 'session_id=[redacted]'; do
  grep -qF -- "$opened" "$run_dir/server.log" || die "no $opened in the log: the token check saw nothing"
done
echo "ok: $(wc -l <"$run_dir/server.log") lines, no secret"

# Last: the deploy test's `cargo test` links target/debug/landing again without cargo-leptos's
# settings (it names the site's files otherwise), so the journeys must run before it.
step "deploy kit: the dist tree, from an empty folder, behind Caddy over HTTPS"
dist_dir="$(mktemp -d)/dist"
scripts/dist.sh --debug "$dist_dir"
LANDING_DIST="$dist_dir" cargo test --features ssr --test app -- --ignored deploy::

step "deploy kit: the container image, built and run with podman"
scripts/container-test.sh "$dist_dir"
rm -rf "$(dirname "$dist_dir")"

step "all tests passed in $(( $(date +%s) - started )) s"
