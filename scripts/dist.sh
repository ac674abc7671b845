#!/usr/bin/env bash
# Lays out exactly what ships, in one folder: the server, the site's assets and the catalog.
#   scripts/dist.sh [--debug] [OUT]      (OUT defaults to dist/; `make dist` runs it)
# OUT/landing          the server (one binary: the site, the webhook route, the commands)
# OUT/site/            its assets: LEPTOS_SITE_ROOT (the pages' JS, WASM, CSS, precompressed)
# OUT/plans.toml       the catalog: PLANS_FILE
# OUT/env.example      every setting, to fill in for the service's environment
# The container image (deploy/Dockerfile) copies this tree to /opt/landing, and the systemd unit
# (deploy/landing.service) runs it from there. --debug lays out the debug build (quick, for the
# tests); otherwise the release build (fat LTO, wasm-opt).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

profile=release
out=dist
for arg in "$@"; do
  case $arg in
    --debug) profile=debug ;;
    -*) die "usage: scripts/dist.sh [--debug] [OUT]" ;;
    *) out=$arg ;;
  esac
done

ensure_wasm_target
ensure_cargo_leptos
ensure_wasm_bindgen
step "building the site ($profile)"
if [ "$profile" = release ]; then
  ensure_wasm_opt
  cargo leptos build --release --precompress
else
  cargo leptos build
fi

step "laying out $out"
rm -rf "$out"
mkdir -p "$out"
cp "$(target_dir)/$profile/landing" "$out/landing"
cp -R target/site "$out/site"
cp plans.toml "$out/plans.toml"
cp .env.example "$out/env.example"
echo "$out: $(du -sh "$out" | cut -f1) ($(du -sh "$out/landing" | cut -f1) of it the server)"
