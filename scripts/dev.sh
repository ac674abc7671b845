#!/usr/bin/env bash
# Runs the site on SQLite: installs what is missing, builds, serves on http://127.0.0.1:3000.
# Extra arguments go to `cargo leptos serve` (e.g. --release).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_wasm_target
ensure_cargo_leptos
ensure_wasm_bindgen
case " $* " in *" --release "* | *" -r "*) ensure_wasm_opt ;; esac

if [ ! -f .env.local ]; then
  # A development secret made here, on this machine, by this script; the app never makes one.
  step "creating .env.local from .env.example with a fresh AUTH_JWT_SECRET"
  sed "s/^AUTH_JWT_SECRET=.*/AUTH_JWT_SECRET=$(random_secret)/" .env.example > .env.local
fi

step "building and serving the site (first build: about 10 minutes)"
exec cargo leptos serve "$@"
