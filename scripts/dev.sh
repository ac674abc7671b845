#!/usr/bin/env bash
# Runs the site on SQLite with the local Stripe emulator beside it: installs what is missing,
# builds, serves the site on http://127.0.0.1:3000 and the emulator on http://127.0.0.1:12111, and
# rebuilds and reloads the page when a file is saved (`cargo leptos watch`). Extra arguments go to
# `cargo leptos watch` (e.g. --release).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_wasm_target
ensure_cargo_leptos
ensure_wasm_bindgen
case " $* " in *" --release "* | *" -r "*) ensure_wasm_opt ;; esac

if [ ! -f .env.local ]; then
  # Development secrets made here, on this machine, by this script; the app never makes one.
  step "creating .env.local: SQLite, the local Stripe emulator, fresh secrets"
  sed -e "s|^AUTH_JWT_SECRET=.*|AUTH_JWT_SECRET=$(random_secret)|" \
      -e "s|^STRIPE_SECRET_KEY=.*|STRIPE_SECRET_KEY=sk_test_emulator_local|" \
      -e "s|^STRIPE_WEBHOOK_SECRET=.*|STRIPE_WEBHOOK_SECRET=whsec_$(random_secret)|" \
      -e "s|^STRIPE_API_BASE=.*|STRIPE_API_BASE=http://127.0.0.1:12111|" \
      .env.example > .env.local
fi

env_value() { grep -E "^$1=" .env.local | tail -n 1 | cut -d= -f2- || true; }
api_base=$(env_value STRIPE_API_BASE)
site_url=$(env_value SITE_URL)
site_url=${site_url:-http://127.0.0.1:3000}

emulator_pid=""
stop_emulator() { [ -n "$emulator_pid" ] && kill "$emulator_pid" 2>/dev/null || true; }
trap stop_emulator EXIT

# The emulator runs when .env.local points Stripe at it (the default); with a real Stripe key and
# STRIPE_API_BASE=https://api.stripe.com the site talks to Stripe instead.
case "$api_base" in
  http://127.0.0.1:* | http://localhost:*)
    port=$(python3 -c 'import sys, urllib.parse as u; print(u.urlparse(sys.argv[1]).port or 80)' "$api_base")
    step "building the Stripe emulator"
    cargo build -q -p stripe-emulator
    "$(target_dir)/debug/stripe-emulator" --port "$port" --catalog plans.toml \
      --webhook-url "$site_url/api/stripe/webhook" --webhook-secret "$(env_value STRIPE_WEBHOOK_SECRET)" &
    emulator_pid=$!
    for _ in $(seq 1 50); do
      curl -fsS "$api_base/healthz" >/dev/null 2>&1 && break
      kill -0 "$emulator_pid" 2>/dev/null || die "the Stripe emulator did not start (is port $port taken?)"
      sleep 0.1
    done
    echo "Stripe emulator: $api_base (dashboard: $api_base/_emulator; pay with 4242 4242 4242 4242)"
    ;;
esac

step "building and serving the site (first build: about 10 minutes); it rebuilds on every save"
cargo leptos watch "$@"
