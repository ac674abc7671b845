#!/usr/bin/env bash
# The benchmark (issue #7): builds the release site, starts it on loopback with the Stripe
# emulator, checks that it answers, then measures and prints one `name=value` line per figure,
# also written to bench/results/latest.txt so runs can be compared. Load comes from wrk (Debian)
# on the same two cores as the server, bounded by BENCH_SECONDS (default 10) per measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

# One build cache for every clone on the machine: the first run builds the release
# dependencies (~10 minutes with fat LTO); later runs, from any clone, rebuild only our crates.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/landing/target}"
started=$(date +%s)
SECONDS_EACH="${BENCH_SECONDS:-10}"
CONNECTIONS=50
WEBHOOK_EVENTS="${BENCH_WEBHOOK_EVENTS:-2000}"
WEBHOOK_RUNS="${BENCH_WEBHOOK_RUNS:-5}"
IDLE_STARTS="${BENCH_IDLE_STARTS:-9}"
# Sign-ins measured one after another (fewer than the 30 a client may make in 10 minutes).
SIGN_INS="${BENCH_SIGN_INS:-20}"
PG_URL="${TEST_POSTGRES_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"

step "tools"
ensure_wasm_target
ensure_cargo_leptos
ensure_wasm_bindgen
ensure_wasm_opt
command -v wrk >/dev/null || apt_install wrk
ensure_postgres "$PG_URL"

# Every clone builds in one folder, where only files whose bytes changed are rewritten: cargo
# then rebuilds what a change touched, not the whole server for a new path (bench/sync_tree.py).
root="${BENCH_BUILD_DIR:-$HOME/.cache/landing/src}"
step "release build (in $root)"
python3 bench/sync_tree.py "$(pwd)" "$root"
(
  cd "$root"
  # --precompress writes .gz and .br beside every asset: served as they are, never compressed
  # per request.
  cargo leptos build --release --precompress
  cargo build --release -q -p landing-bench
  # The emulator only serves the benchmark: optimised, without the minutes of whole-program LTO.
  cargo build --profile emulator -q -p stripe-emulator
)
bin_dir="$(target_dir)/release"
emulator_bin="$(target_dir)/emulator/stripe-emulator"
run_dir=$(mktemp -d)
mkdir -p bench/results
out=bench/results/latest.txt
: >"$out"
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && { wait "$pid" 2>/dev/null || true; }; done
  for i in $(seq 1 "$WEBHOOK_RUNS"); do
    psql "$PG_URL" -qc "DROP DATABASE IF EXISTS landing_bench_$i WITH (FORCE)" >/dev/null 2>&1 || true
  done
  psql "$PG_URL" -qc "DROP DATABASE IF EXISTS landing_bench_pages WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$run_dir"
  exit "$status"
}
trap cleanup EXIT

figure() { printf '%s=%s\n' "$1" "$2" | tee -a "$out"; }
ticks_per_s=$(getconf CLK_TCK)
# utime + stime of a process, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_kb() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }

start_emulator "$emulator_bin" "$root/plans.toml" "$run_dir/emulator.log"

# PostgreSQL's counters for DATABASE: "commits wal_syncs".
pg_counters() {
  echo "$(psql "$1" -qAtc "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()") $(psql "$1" -qAtc "SELECT wal_sync FROM pg_stat_wal")"
}
# CPU ticks of every PostgreSQL process (the site's connections stay open through a run).
pg_cpu_ticks() {
  local ticks=0 pid
  for pid in $(pgrep -u postgres); do
    ticks=$((ticks + $(cpu_ticks "$pid" 2>/dev/null || echo 0)))
  done
  echo "$ticks"
}

# Starts the release server on a free port: start_server NAME DATABASE_URL [VAR=VALUE…]; sets
# $server_pid and $site.
start_server() {
  local name=$1 db=$2
  shift 2
  local port
  port=$(free_port)
  (
    cd "$run_dir"
    exec env DATABASE_URL="$db" SITE_URL="http://127.0.0.1:$port" LEPTOS_SITE_ADDR="127.0.0.1:$port" \
      LEPTOS_SITE_ROOT="$root/target/site" LEPTOS_ENV=PROD PLANS_FILE="$root/plans.toml" \
      AUTH_JWT_SECRET="$(random_secret)" RUST_LOG=warn STRIPE_SECRET_KEY=sk_test_bench \
      STRIPE_API_BASE="$stripe" SIGN_UPS_PER_ADDRESS=1000 "$@" "$bin_dir/landing"
  ) >"$run_dir/$name.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  site="http://127.0.0.1:$port"
  wait_http "$site/healthz"
}

# Posts the bench account to `$site/api/auth/ACTION` (sign_up, sign_in) from the site's own
# origin; prints the answer's headers.
account() {
  curl -fsS -o /dev/null -D - -H 'accept: application/json' -H "origin: $site" \
    --data-urlencode email=bench@example.com --data-urlencode 'password=correct horse battery' \
    "$site/api/auth/$1"
}
# Signs the bench account in at `$site`; prints the session cookie (`landing_session=…`).
session_cookie() {
  account sign_in | awk -F'[ ;]' 'tolower($1) == "set-cookie:" && $2 ~ /^landing_session=/ { print $2 }'
}

# wrk for SECONDS_EACH at CONNECTIONS; prints "rps p50_ms p99_ms".
load() {
  wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_EACH}s" --latency "$@" | awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) } $1 == "Requests/sec:" { rps = $2 }
    END { printf "%.0f %.3f %.3f\n", rps, p50, p99 }'
}

# Runs `load` against the server, measuring its CPU per request: measure NAME URL [wrk args…].
measure() {
  local name=$1 url=$2
  shift 2
  local before after requests result
  before=$(cpu_ticks "$server_pid")
  result=$(load "$@" "$url")
  after=$(cpu_ticks "$server_pid")
  read -r rps p50 p99 <<<"$result"
  requests=$((rps * SECONDS_EACH))
  figure "${name}_rps" "$rps"
  figure "${name}_p50_ms" "$p50"
  figure "${name}_p99_ms" "$p99"
  figure "${name}_cpu_ms_per_request" "$(awk -v t=$((after - before)) -v hz="$ticks_per_s" -v n="$requests" 'BEGIN { printf "%.4f", t * 1000 / hz / n }')"
}

# Idle memory is mostly the binary's code, mapped from the file: the kernel maps the pages around
# each page touched, and address-space randomisation moves where those windows fall, so starts of
# one binary spread over 0.5 to 1 MiB. The figure is the median of IDLE_STARTS starts (each
# serves /pricing and /readyz once, then is measured), with the range.
step "idle memory (SQLite, median of $IDLE_STARTS starts)"
idle=()
for _ in $(seq 1 "$IDLE_STARTS"); do
  start_server idle "sqlite://$run_dir/idle.db"
  curl -fsS -o /dev/null "$site/pricing"
  curl -fsS -o /dev/null "$site/readyz"
  idle+=("$(rss_kb "$server_pid" VmRSS)")
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
done
mapfile -t idle < <(printf '%s\n' "${idle[@]}" | sort -n)
figure rss_idle_kb "${idle[$((IDLE_STARTS / 2))]}"
figure rss_idle_kb_range "${idle[0]}-${idle[$((IDLE_STARTS - 1))]}"

step "pricing (SQLite)"
start_server site "sqlite://$run_dir/site.db"
pricing=$(curl -fsS "$site/pricing")
grep -q 'Subscribe to Pro' <<<"$pricing" || die "/pricing does not show the plans"
grep -q 'action="/api/checkout"' <<<"$pricing" || die "/pricing's buy buttons are not forms"
curl -fsS "$site/readyz" >/dev/null
# Sign-up signs nobody in (it mails a link); an account with its email unproven can sign in.
account sign_up >/dev/null || die "sign-up"
cookie=$(session_cookie)
[ -n "$cookie" ] || die "sign-in gave no session"
curl -fsS -H "cookie: $cookie" "$site/pricing" | grep -q 'Signed in as' || die "signed-in pricing"
measure pricing_signed_out "$site/pricing"
measure pricing_signed_in "$site/pricing" -H "Cookie: $cookie"
figure rss_peak_kb "$(rss_kb "$server_pid" VmHWM)"

# What one sign-in costs (argon2id, by design the dearest request we serve): SIGN_INS of the bench
# account, one after another, with the right password (a wrong one costs the same hash, and then
# the guessing limits' waits, which are not CPU).
step "sign-in (SQLite, $SIGN_INS one at a time)"
sign_in_ticks0=$(cpu_ticks "$server_pid")
sign_in_ns0=$(date +%s%N)
for _ in $(seq 1 "$SIGN_INS"); do account sign_in >/dev/null || die "sign-in"; done
sign_in_ns1=$(date +%s%N)
sign_in_ticks1=$(cpu_ticks "$server_pid")
figure sign_in_cpu_ms_per_request "$(awk -v t=$((sign_in_ticks1 - sign_in_ticks0)) -v hz="$ticks_per_s" -v n="$SIGN_INS" 'BEGIN { printf "%.1f", t * 1000 / hz / n }')"
figure sign_in_ms "$(awk -v d=$((sign_in_ns1 - sign_in_ns0)) -v n="$SIGN_INS" 'BEGIN { printf "%.1f", d / 1e6 / n }')"
kill "$server_pid"

# The same with `/metrics` on (a recorder, a request layer, per-scrape readings): what counting
# every request costs. The cookie is signed with the previous server's secret, so sign in again.
step "pricing with METRICS_ADDR set (SQLite)"
metrics_port=$(free_port)
start_server metrics "sqlite://$run_dir/site.db" METRICS_ADDR="127.0.0.1:$metrics_port"
cookie=$(session_cookie)
[ -n "$cookie" ] || die "sign-in gave no session (metrics on)"
measure pricing_signed_out_metrics_on "$site/pricing"
measure pricing_signed_in_metrics_on "$site/pricing" -H "Cookie: $cookie"
scrape=$(curl -fsS "http://127.0.0.1:$metrics_port/metrics")
grep -q '^landing_http_requests_total{route="/pricing",status="200"} [1-9]' <<<"$scrape" \
  || die "/metrics did not count the pricing requests"
figure metrics_scrape_bytes "${#scrape}"
figure rss_peak_kb_metrics_on "$(rss_kb "$server_pid" VmHWM)"

# The same pages on PostgreSQL, as several instances run: a signed-in page's plan lookup is a
# query to another process, whose CPU is counted too.
step "pricing (PostgreSQL)"
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true
psql "$PG_URL" -qc "DROP DATABASE IF EXISTS landing_bench_pages WITH (FORCE)" >/dev/null
psql "$PG_URL" -qc "CREATE DATABASE landing_bench_pages" >/dev/null
start_server pages_pg "${PG_URL%/*}/landing_bench_pages"
account sign_up >/dev/null || die "sign-up (PostgreSQL)"
cookie=$(session_cookie)
[ -n "$cookie" ] || die "sign-in gave no session (PostgreSQL)"
measure pricing_pg_signed_out "$site/pricing"
pg_ticks0=$(pg_cpu_ticks)
measure pricing_pg_signed_in "$site/pricing" -H "Cookie: $cookie"
pg_ticks1=$(pg_cpu_ticks)
rps=$(awk -F= '$1 == "pricing_pg_signed_in_rps" { print $2 }' "$out")
figure pricing_pg_signed_in_pg_cpu_ms_per_request "$(awk -v t=$((pg_ticks1 - pg_ticks0)) -v hz="$ticks_per_s" -v n=$((rps * SECONDS_EACH)) 'BEGIN { printf "%.4f", t * 1000 / hz / n }')"

step "the same bytes from memory (the limit)"
printf '%s' "$pricing" >"$run_dir/pricing.html"
static_port=$(free_port)
"$bin_dir/static-pricing" "$run_dir/pricing.html" "127.0.0.1:$static_port" &
static_pid=$!
pids+=("$static_pid")
wait_http "http://127.0.0.1:$static_port/pricing"
read -r static_rps _ _ <<<"$(load "http://127.0.0.1:$static_port/pricing")"
figure static_pricing_rps "$static_rps"
figure pricing_vs_static "$(awk -v a="$(awk -F= '$1 == "pricing_signed_out_rps" { print $2 }' "$out")" -v b="$static_rps" 'BEGIN { printf "%.2f", a / b }')"
kill "$static_pid"

step "bytes shipped by /pricing and /billing"
assets=$(grep -oE '(href|src)="/pkg/[^"]+"' <<<"$pricing" | sed -E 's/^(href|src)="//; s/"$//' | sort -u)
js=$(grep -E '\.js$' <<<"$assets" | head -n 1)
# The wasm is loaded by the JS loader, named after it.
wasm="${js%.js}.wasm"
[ -n "$js" ] && curl -fsS -o /dev/null "$site$wasm" || wasm="${js%.js}_bg.wasm"
size() { curl -fsS -o /dev/null -w '%{size_download}' "$@"; }
total_gz=0
total_br=0
for kind in html css js wasm; do
  case $kind in
    html) path=/pricing ;;
    css) path=$(grep -E '\.css$' <<<"$assets" | head -n 1) ;;
    js) path=$js ;;
    wasm) path=$wasm ;;
  esac
  raw=$(size "$site$path")
  gz=$(size -H 'accept-encoding: gzip' "$site$path")
  br=$(size -H 'accept-encoding: br' "$site$path")
  figure "bytes_${kind}_raw" "$raw"
  figure "bytes_${kind}_gzip" "$gz"
  [ "$br" != "$raw" ] && figure "bytes_${kind}_br" "$br"
  case $kind in js | wasm) total_gz=$((total_gz + gz)); total_br=$((total_br + br)) ;; esac
done
figure bytes_js_wasm_gzip_total "$total_gz"
figure bytes_js_wasm_br_total "$total_br"
# /billing, signed in (this server's account): its HTML, and the JS+WASM it loads for its island.
billing=$(curl -fsS -H "cookie: $cookie" "$site/billing")
grep -q 'a billing account yet' <<<"$billing" || die "/billing did not render the signed-in overview"
figure bytes_billing_html_gzip "$(size -H 'accept-encoding: gzip' -H "cookie: $cookie" "$site/billing")"
billing_js=$(grep -oE '(href|src)="/pkg/[^"]+\.js"' <<<"$billing" | sed -E 's/^(href|src)="//; s/"$//' | head -n 1)
billing_gz=0
if [ -n "$billing_js" ]; then
  billing_wasm="${billing_js%.js}.wasm"
  curl -fsS -o /dev/null "$site$billing_wasm" || billing_wasm="${billing_js%.js}_bg.wasm"
  for path in "$billing_js" "$billing_wasm"; do
    billing_gz=$((billing_gz + $(size -H 'accept-encoding: gzip' "$site$path")))
  done
fi
figure bytes_billing_js_wasm_gzip_total "$billing_gz"
# Every buy button is a plain form posting to the server: usable before (and without) the wasm.
figure usable_before_wasm "$(grep -c 'action="/api/checkout"' <<<"$pricing" | awk '{ print ($1 > 0) ? "yes" : "no" }')"
kill "$server_pid"

step "cold start (process start to the first 200, new SQLite file)"
cold=$(python3 - "$bin_dir/landing" "$root" "$run_dir" <<'EOF'
import os, socket, subprocess, sys, time, urllib.request
binary, root, run_dir = sys.argv[1:]
best = []
for i in range(5):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    env = dict(PATH=os.environ["PATH"], DATABASE_URL=f"sqlite://{run_dir}/cold{i}.db",
               LEPTOS_SITE_ADDR=f"127.0.0.1:{port}", LEPTOS_SITE_ROOT=f"{root}/target/site",
               LEPTOS_ENV="PROD", PLANS_FILE=f"{root}/plans.toml", AUTH_JWT_SECRET="x" * 40, RUST_LOG="warn")
    start = time.perf_counter()
    p = subprocess.Popen([binary], env=env, cwd=run_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/pricing", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.001)
    best.append((time.perf_counter() - start) * 1000)
    p.terminate(); p.wait()
best.sort()
print(f"{best[len(best) // 2]:.1f}")
EOF
)
figure cold_start_ms "$cold"

# Webhooks: customer.subscription.updated events with real state changes (cancel at period end,
# on and off) are made at the emulator first, then delivered to a fresh server, 32 at a time;
# each is verified, re-read from Stripe and committed before its 200.
step "a subscription with $WEBHOOK_EVENTS changes at the emulator"
price=$(curl -fsS -u sk_test_bench: "$stripe/v1/prices?lookup_keys[]=pro_monthly" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
session_url=$(curl -fsS -u sk_test_bench: "$stripe/v1/checkout/sessions" -d mode=subscription \
  -d "line_items[0][price]=$price" -d "line_items[0][quantity]=1" -d customer_email=hooks@example.com \
  -d success_url=http://127.0.0.1/s -d cancel_url=http://127.0.0.1/c | python3 -c 'import json,sys; print(json.load(sys.stdin)["url"])')
curl -fsS -o /dev/null -d email=hooks@example.com -d card_number=4242424242424242 -d expiry=12/34 -d cvc=123 "$session_url"
sub=$(curl -fsS -u sk_test_bench: "$stripe/v1/subscriptions" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
python3 - "$stripe" "$sub" "$WEBHOOK_EVENTS" <<'EOF'
import sys, urllib.request, base64
stripe, sub, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
auth = "Basic " + base64.b64encode(b"sk_test_bench:").decode()
for i in range(n):
    body = f"cancel_at_period_end={'true' if i % 2 == 0 else 'false'}".encode()
    req = urllib.request.Request(f"{stripe}/v1/subscriptions/{sub}", data=body, headers={"Authorization": auth})
    urllib.request.urlopen(req).read()
EOF

# One delivery run against a fresh server on database DB: appends "events events_per_s cpu_ms"
# to $run_dir/runs-NAME.
webhook_run() {
  local name=$1 db=$2
  local hook_port secret endpoint before after start end delivered pg_before="" pg_ticks0=0 pg_ticks1=0
  hook_port=$(free_port)
  endpoint="http://127.0.0.1:$hook_port/api/stripe/webhook"
  secret=$(curl -fsS -u sk_test_bench: "$stripe/v1/webhook_endpoints" -d "url=$endpoint" -d 'enabled_events[]=*' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
  [ "$name" = postgres ] && pg_before=$(pg_counters "$db")
  (
    cd "$run_dir"
    exec env DATABASE_URL="$db" SITE_URL="http://127.0.0.1:$hook_port" LEPTOS_SITE_ADDR="127.0.0.1:$hook_port" \
      LEPTOS_SITE_ROOT="$root/target/site" LEPTOS_ENV=PROD PLANS_FILE="$root/plans.toml" \
      AUTH_JWT_SECRET="$(random_secret)" RUST_LOG=warn STRIPE_SECRET_KEY=sk_test_bench \
      STRIPE_API_BASE="$stripe" STRIPE_WEBHOOK_SECRET="$secret" "$bin_dir/landing"
  ) >"$run_dir/hooks-$name.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  wait_http "http://127.0.0.1:$hook_port/healthz"
  [ "$name" = postgres ] && pg_ticks0=$(pg_cpu_ticks)
  before=$(cpu_ticks "$server_pid")
  start=$(date +%s%N)
  delivered=$(curl -fsS "$stripe/_emulator/replay" -d times=1 -d seed=1 -d concurrency=32 -d "url=$endpoint" \
    | python3 -c 'import json,sys; a = json.load(sys.stdin); assert a["gave_up"] == 0, a; print(a["delivered"])')
  end=$(date +%s%N)
  after=$(cpu_ticks "$server_pid")
  [ "$name" = postgres ] && pg_ticks1=$(pg_cpu_ticks)
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  if [ "$name" = postgres ]; then
    # PostgreSQL's side of the same deliveries: transactions committed (from the empty
    # database's start, so the site's start-up is in them too: a few dozen), WAL flushes (what a
    # durable commit waits for; the machine's whole server), and the CPU of its processes, per
    # event. Backends report their counts when they end, the WAL writer within a second.
    sleep 1.5
    read -r c0 w0 <<<"$pg_before"
    read -r c1 w1 <<<"$(pg_counters "$db")"
    awk -v n="$delivered" -v ns=$((end - start)) -v c=$((c1 - c0)) -v w=$((w1 - w0)) -v t=$((pg_ticks1 - pg_ticks0)) -v hz="$ticks_per_s" \
      'BEGIN { printf "%.2f %.2f %.0f %.4f\n", c / n, w / n, c / (ns / 1e9), t * 1000 / hz / n }' >>"$run_dir/pg-$name"
  fi
  curl -fsS -u sk_test_bench: -X DELETE "$stripe/v1/webhook_endpoints/$(curl -fsS -u sk_test_bench: "$stripe/v1/webhook_endpoints" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')" >/dev/null
  awk -v n="$delivered" -v ns=$((end - start)) -v t=$((after - before)) -v hz="$ticks_per_s" \
    'BEGIN { printf "%d %.0f %.4f\n", n, n / (ns / 1e9), t * 1000 / hz / n }' >>"$run_dir/runs-$name"
}

# The same deliveries to WEBHOOK_RUNS fresh servers and databases (this machine's run-to-run
# spread is 10-25 %): the median of each figure, and every run's CPU per event. `fresh_db N`
# prints the URL of an empty database for run N.
webhooks() {
  local name=$1 fresh_db=$2 i
  for i in $(seq 1 "$WEBHOOK_RUNS"); do webhook_run "$name" "$($fresh_db "$i")"; done
  local runs="$run_dir/runs-$name"
  median() { awk -v f="$1" '{ print $f }' "$runs" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
  figure "webhooks_${name}_events" "$(median 1)"
  figure "webhooks_${name}_per_s" "$(median 2)"
  figure "webhooks_${name}_cpu_ms_per_event" "$(median 3)"
  figure "webhooks_${name}_cpu_ms_per_event_runs" "$(awk '{ print $3 }' "$runs" | paste -sd, -)"
  if [ -s "$run_dir/pg-$name" ]; then
    runs="$run_dir/pg-$name"
    figure "webhooks_${name}_pg_commits_per_event" "$(median 1)"
    figure "webhooks_${name}_pg_wal_syncs_per_event" "$(median 2)"
    figure "webhooks_${name}_pg_commits_per_s" "$(median 3)"
    figure "webhooks_${name}_pg_cpu_ms_per_event" "$(median 4)"
  fi
}

sqlite_db() { echo "sqlite://$run_dir/hooks-$1.db"; }
postgres_db() {
  psql "$PG_URL" -qc "DROP DATABASE IF EXISTS landing_bench_$1 WITH (FORCE)" >/dev/null
  psql "$PG_URL" -qc "CREATE DATABASE landing_bench_$1" >/dev/null
  echo "${PG_URL%/*}/landing_bench_$1"
}
step "webhooks (SQLite, $WEBHOOK_RUNS runs)"
webhooks sqlite sqlite_db
step "webhooks (PostgreSQL, $WEBHOOK_RUNS runs)"
webhooks postgres postgres_db

figure bench_seconds "$(($(date +%s) - started))"
step "figures written to $out"
