#!/usr/bin/env bash
# Takes the README's pictures (docs/screenshots/*.png): builds the site and the Stripe emulator,
# starts them as the browser journeys do (fresh SQLite database in a temporary folder, local
# SMTP), and drives Debian's Chromium through end2end/screenshots.ts: the pricing page (light and
# dark, 1280 px and 360 px wide), the emulator's Checkout, the success page, /billing with a
# subscription, and the customer portal.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

step "tools"
ensure_wasm_target
ensure_cargo_leptos
ensure_wasm_bindgen
ensure_node
ensure_chromium
ensure_aiosmtpd

step "site build (cargo leptos) and the Stripe emulator"
cargo leptos build
cargo build -q -p stripe-emulator

step "screenshots"
trap stop_test_site EXIT
start_test_site
out="$(pwd)/docs/screenshots"
(
  cd end2end
  npm ci --no-audit --no-fund --silent
  SCREENSHOTS_DIR="$out" npx playwright test --config screenshots.config.ts
) || { echo "--- server log"; cat "$run_dir/server.log"; exit 1; }
ls -l "$out"/*.png
