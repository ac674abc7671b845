#!/usr/bin/env bash
# Writes build/idle-code.order.gz: the functions the release server runs to start and serve its
# pages (signed out and in) and its health checks, as callgrind sees them. build.rs hands the
# list to the linker (lld's --symbol-ordering-file) so those functions sit next to each other
# in the binary: the kernel maps code in windows around each page touched, and with the code
# an idle server runs packed together, far fewer windows are resident.
#
# Run it after bench/run.sh has built the release site (it uses that build), and again after a
# dependency changes: a symbol a new build no longer has is skipped, so a stale list costs only
# memory, never correctness.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/landing/target}"
root="${BENCH_BUILD_DIR:-$HOME/.cache/landing/src}"
bin="$(target_dir)/release/landing"
emulator_bin="$(target_dir)/emulator/stripe-emulator"
[ -x "$bin" ] && [ -x "$emulator_bin" ] || die "no release build: run bench/run.sh first"
command -v valgrind >/dev/null || apt_install valgrind

run_dir=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && { wait "$pid" 2>/dev/null || true; }; done
  rm -rf "$run_dir"
}
trap cleanup EXIT

start_emulator "$emulator_bin" "$root/plans.toml" "$run_dir/emulator.log"

port=$(free_port)
site="http://127.0.0.1:$port"
(
  cd "$run_dir"
  # Mangled names, as the linker knows them.
  exec env DATABASE_URL="sqlite://$run_dir/order.db" SITE_URL="$site" LEPTOS_SITE_ADDR="127.0.0.1:$port" \
    LEPTOS_SITE_ROOT="$root/target/site" LEPTOS_ENV=PROD PLANS_FILE="$root/plans.toml" \
    AUTH_JWT_SECRET="$(random_secret)" RUST_LOG=warn STRIPE_SECRET_KEY=sk_test_order \
    STRIPE_API_BASE="$stripe" \
    valgrind --tool=callgrind --demangle=no --dump-instr=no --callgrind-out-file="$run_dir/callgrind.out" "$bin"
) >"$run_dir/server.log" 2>&1 &
server_pid=$!
pids+=("$server_pid")
# Under callgrind the server starts some fifty times slower.
wait_http "$site/healthz" 60

# What the bench's idle measurement does, and a signed-in visitor's pages.
for path in /pricing / /readyz /pricing?interval=year; do curl -fsS -o /dev/null "$site$path"; done
curl -fsS -o /dev/null -H 'accept: application/json' -H "origin: $site" \
  --data-urlencode email=order@example.com --data-urlencode 'password=correct horse battery' "$site/api/auth/sign_up"
cookie=$(curl -fsS -o /dev/null -D - -H 'accept: application/json' -H "origin: $site" \
  --data-urlencode email=order@example.com --data-urlencode 'password=correct horse battery' "$site/api/auth/sign_in" \
  | awk -F'[ ;]' 'tolower($1) == "set-cookie:" && $2 ~ /^landing_session=/ { print $2 }')
for path in /pricing / /billing /account; do curl -fsS -o /dev/null -H "cookie: $cookie" "$site$path"; done

kill -TERM "$server_pid"
wait "$server_pid" 2>/dev/null || true
# `fn=(id) name` (or `cfn=`, as a callee) names a function the first time callgrind mentions
# it; `'2` marks a recursion level, not another function. Rust's own symbols only.
sed -nE "s/^c?fn=\([0-9]+\) (_[RZ][^']*)('[0-9]+)?\$/\1/p" "$run_dir/callgrind.out" | awk '!seen[$0]++' >"$run_dir/order"
gzip -9 -n -c "$run_dir/order" >build/idle-code.order.gz
echo "build/idle-code.order.gz: $(wc -l <"$run_dir/order") functions"
