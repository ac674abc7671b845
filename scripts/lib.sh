# Shared by scripts/dev.sh and scripts/test.sh: install what is missing, and only that.
# Every step here must work on a fresh Debian machine with Rust, as root (or with sudo).

CARGO_LEPTOS_VERSION=0.3.10
BINARYEN_VERSION=132.0.0
TOOLS_DIR="${LANDING_TOOLS_DIR:-$HOME/.cache/landing-tools}"

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root for: $*"; fi
}

apt_install() {
  # `apt-get update` once per run, only when something must be installed.
  if [ -z "${APT_UPDATED:-}" ]; then
    as_root apt-get update -qq
    APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_wasm_target() {
  rustup target list --installed | grep -qx wasm32-unknown-unknown \
    || rustup target add wasm32-unknown-unknown
}

# cargo-leptos builds the site; without --debug the install takes ~25 min (fat LTO) for no gain.
ensure_cargo_leptos() {
  if cargo leptos --version 2>/dev/null | grep -qx "cargo-leptos $CARGO_LEPTOS_VERSION"; then return; fi
  step "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 10 minutes, once)"
  cargo install cargo-leptos --locked --version "$CARGO_LEPTOS_VERSION" --debug
}

# cargo-leptos runs the wasm-bindgen on PATH; it must match the crate pinned in Cargo.lock, and
# cargo-leptos's own fallback is a download, which fails without internet.
ensure_wasm_bindgen() {
  local want
  want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
  [ -n "$want" ] || die "wasm-bindgen not found in Cargo.lock"
  if wasm-bindgen --version 2>/dev/null | grep -q " $want\b"; then return; fi
  step "installing wasm-bindgen-cli $want (about 4 minutes, once)"
  cargo install wasm-bindgen-cli --version "$want" --force
}

ensure_node() {
  command -v npm >/dev/null || apt_install nodejs npm
}

# Release builds run wasm-opt; the npm package ships a working one. Debian's `binaryen` (108)
# builds a wasm that fails to hydrate, so it is never used.
ensure_wasm_opt() {
  ensure_node
  if [ ! -x "$TOOLS_DIR/node_modules/.bin/wasm-opt" ]; then
    step "installing wasm-opt (npm binaryen@$BINARYEN_VERSION)"
    mkdir -p "$TOOLS_DIR"
    npm install --prefix "$TOOLS_DIR" --no-audit --no-fund --silent "binaryen@$BINARYEN_VERSION"
  fi
  export PATH="$TOOLS_DIR/node_modules/.bin:$PATH"
}

# The tests' SMTP server (a real one, on loopback): Python's aiosmtpd from PyPI.
ensure_aiosmtpd() {
  python3 -c 'import aiosmtpd' 2>/dev/null && return
  step "installing aiosmtpd (PyPI)"
  python3 -m pip install --quiet aiosmtpd 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages aiosmtpd
}

# The deploy test's TLS front (the deploy kit's Caddyfile is for it) and systemd's unit checker.
ensure_caddy() {
  command -v caddy >/dev/null || { step "installing Caddy (Debian)"; apt_install caddy; }
  command -v systemd-analyze >/dev/null || { step "installing systemd-analyze (Debian)"; apt_install systemd; }
}

# The container test's engine: Debian's podman, runc beside its crun (see
# scripts/container-test.sh), and debootstrap for a base image made from Debian's packages.
ensure_podman() {
  command -v podman >/dev/null && command -v runc >/dev/null && command -v debootstrap >/dev/null && return
  step "installing podman, runc and debootstrap (Debian)"
  apt_install podman runc debootstrap
}

ensure_haproxy() {
  command -v haproxy >/dev/null && return
  step "installing HAProxy (Debian)"
  apt_install haproxy
  # Debian's package starts its own service; the tests run their own balancers.
  as_root systemctl stop haproxy 2>/dev/null || as_root service haproxy stop 2>/dev/null || true
}

ensure_chromium() {
  [ -x /usr/bin/chromium ] || { step "installing Chromium from Debian"; apt_install chromium; }
}

# PostgreSQL on 127.0.0.1:5432 with a `postgres` role the test URL can log in as.
ensure_postgres() {
  local url="$1"
  if ! command -v pg_ctlcluster >/dev/null; then
    step "installing PostgreSQL from Debian"
    apt_install postgresql
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    local version
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$version" ]; then
      version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
      as_root pg_createcluster "$version" main
    fi
    step "starting PostgreSQL $version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
    pg_isready -q -h 127.0.0.1 -p 5432 || die "PostgreSQL did not start"
  fi
  if ! psql "$url" -qAtc 'SELECT 1' >/dev/null 2>&1; then
    # Debian's default asks TCP clients for a password: give the role the one the URL carries.
    local password
    password=$(python3 -c 'import sys, urllib.parse as u; print(u.urlparse(sys.argv[1]).password or "")' "$url")
    as_root su postgres -c "psql -qc \"ALTER ROLE postgres PASSWORD '$password'\"" >/dev/null
  fi
  psql "$url" -qAtc 'SELECT 1' >/dev/null || die "cannot log in to PostgreSQL at $url"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

random_secret() {
  od -An -N32 -tx1 /dev/urandom | tr -d ' \n'
}

# Waits until URL answers (for up to SECONDS, default 10), or stops the script.
wait_http() {
  local tries=$((${2:-10} * 20))
  for _ in $(seq 1 "$tries"); do curl -fsS -o /dev/null "$1" 2>/dev/null && return; sleep 0.05; done
  die "$1 does not answer"
}

# The Stripe emulator for the measuring scripts (bench, the idle-code order): start_emulator BIN
# CATALOG LOG starts it on a free port and waits for it; sets $stripe and adds its pid to $pids.
start_emulator() {
  local port
  port=$(free_port)
  "$1" --port "$port" --catalog "$2" >"$3" 2>&1 &
  pids+=($!)
  stripe="http://127.0.0.1:$port"
  wait_http "$stripe/healthz"
}

# Where cargo puts build output (honours CARGO_TARGET_DIR).
target_dir() {
  cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}

# The site as the browser journeys and the screenshots drive it: the Stripe emulator, an SMTP
# server writing to a Maildir, and the server `cargo leptos build` made, each on a free port,
# with a fresh SQLite database in a temporary folder. Call `trap stop_test_site EXIT` first, so a
# start that fails halfway is cleaned up too. Sets run_dir, port, stripe_port, webhook_secret,
# jwt_secret and the *_pid variables, and exports what end2end/ reads: BASE_URL, STRIPE_URL,
# STRIPE_KEY, MAILDIR.
start_test_site() {
  local root bin emulator_bin
  root=$(pwd)
  bin="$(target_dir)/debug/landing"
  emulator_bin="$(target_dir)/debug/stripe-emulator"
  [ -x "$bin" ] || die "no server binary at $bin"
  [ -x "$emulator_bin" ] || die "no emulator binary at $emulator_bin"
  run_dir=$(mktemp -d)
  port=$(free_port)
  stripe_port=$(free_port)
  smtp_port=$(free_port)
  webhook_secret="whsec_$(random_secret)"
  jwt_secret="$(random_secret)"
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
  # Run from an empty folder with absolute paths, so no developer's .env.local leaks in. Each
  # Playwright project signs its own operator up (the projects share this database).
  local site_env=(DATABASE_URL="sqlite://$run_dir/e2e.db" SITE_URL="http://127.0.0.1:$port"
    LEPTOS_SITE_ADDR="127.0.0.1:$port" LEPTOS_SITE_ROOT="$root/target/site"
    PLANS_FILE="$root/plans.toml" AUTH_JWT_SECRET="$jwt_secret" RUST_LOG=info
    STRIPE_SECRET_KEY=sk_test_end2end STRIPE_WEBHOOK_SECRET="$webhook_secret"
    STRIPE_API_BASE="http://127.0.0.1:$stripe_port" SMTP_URL="smtp://127.0.0.1:$smtp_port"
    ADMIN_EMAILS="ops-js-off@example.com,ops-js-on@example.com"
    SIGN_UPS_PER_ADDRESS=1000 SIGN_INS_PER_ADDRESS=1000 CHECKOUTS_PER_ADDRESS=1000)
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
  export BASE_URL="http://127.0.0.1:$port" STRIPE_URL="http://127.0.0.1:$stripe_port"
  export STRIPE_KEY=sk_test_end2end MAILDIR="$run_dir/mail"
}

# Stops what start_test_site started and removes its folder; as an EXIT trap it keeps the
# script's own status, not that of the last process stopped here.
stop_test_site() {
  local status=$?
  for pid in "${server_pid:-}" "${emulator_pid:-}" "${smtp_pid:-}"; do
    # aiosmtpd dies of the signal (143): that is not the run's status.
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && { wait "$pid" 2>/dev/null || true; }
  done
  [ -n "${run_dir:-}" ] && rm -rf "$run_dir"
  exit "$status"
}
