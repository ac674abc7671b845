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

# Where cargo puts build output (honours CARGO_TARGET_DIR).
target_dir() {
  cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}
