#!/usr/bin/env bash
# HTTP benchmark with wrk on loopback, in one run against one server on a
# fresh database: GET /healthz (the server's own ceiling), POST /v1/status,
# GET /v1/cases/{case_no}, POST /v1/receipts (signed bookings), at 16
# connections. Then the ledger core's own group-commit figure in the same
# run (bench_ledger, 16 clients, its group-commit run only), so that the
# receipts can be compared with it. Prints requests/s and p99 latency, and
# the ratios the HTTP issue asks for: status / healthz (goal 0.5, p99 under
# 10 ms), receipts / ledger core (goal 0.7). per-wkr: the fewest and the most
# connections a worker held midway through a run (one more than wrk's share
# is the benchmark's own /metrics request).
#
# usage: tests/bench_http.sh [SECONDS]   (environment from scripts/dev env;
#        BENCH_LEDGER=0 leaves the ledger core's run out)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN="${BENCH_HTTP_BIN:-$ROOT/build/api/caseledger}" # BENCH_HTTP_BIN: another build to compare
BENCH_LEDGER_BIN="$ROOT/build/tests/bench_ledger"
SECONDS_PER_RUN=${1:-10}
CONNECTIONS=16
DB="caseledger_bench_http_$$"
WORK=$(mktemp -d /tmp/caseledger-bench-http-XXXXXX)
PORT_FILE="$WORK/listening"
command -v wrk >/dev/null || { echo "bench_http: wrk is not installed" >&2; exit 2; }
: "${CASELEDGER_ADMIN_DSN:?run: eval \"\$(scripts/dev env)\"}"

base_dsn=${CASELEDGER_ADMIN_DSN% dbname=*}
admin_dsn="$CASELEDGER_ADMIN_DSN"
app_dsn="$base_dsn dbname=$DB user=caseledger_app"
owner_dsn="$base_dsn dbname=$DB user=caseledger_owner"
server_pid=""

cleanup() {
    [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    psql -X -q "$admin_dsn" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

psql -X -q "$admin_dsn" -c "CREATE DATABASE $DB OWNER caseledger_owner" >/dev/null
"$BIN" migrate --dsn "$owner_dsn" --sql-dir "$ROOT/sql" >/dev/null
cli() { "$BIN" "$@" --dsn "$app_dsn" --key-dir "$WORK/keys"; }
cli keygen >/dev/null
cli setup --bank-account BENCH-CUSTODY --bank-name Bench >/dev/null
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
clerk_token=$(cli user add --name bench-clerk --role clerk --owner-dsn "$owner_dsn" | json_field token)
case_no='(2026)沪0115执77号'
case_path='%282026%29%E6%B2%AA0115%E6%89%A777%E5%8F%B7'
opened=$(cli case open --as bench-clerk --case-no "$case_no" --court Bench --applicant A)
access_code=$(echo "$opened" | json_field access_code)
payin_no=$(echo "$opened" | json_field payin_no)
cli receipt --as bench-clerk --case-no "$case_no" --amount 100 --bank-ref SEED \
    --value-date 2026-11-20 >/dev/null

"$BIN" serve --port 0 --quiet --dsn "$app_dsn" --key-dir "$WORK/keys" >"$PORT_FILE" &
server_pid=$!
for _ in $(seq 1 100); do grep -q listening "$PORT_FILE" 2>/dev/null && break; sleep 0.1; done
url=$(json_field listening <"$PORT_FILE")

cat >"$WORK/status.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"case_no": "$case_no", "access_code": "$access_code"}'
EOF
cat >"$WORK/case.lua" <<EOF
wrk.headers["Authorization"] = "Bearer $clerk_token"
EOF
cat >"$WORK/receipts.lua" <<EOF
local counter = 0
local thread_id = 0
setup = function(thread) thread:set("id", thread_id); thread_id = thread_id + 1 end
request = function()
  counter = counter + 1
  local key = "bench-" .. id .. "-" .. counter
  local body = '{"payin_no": "$payin_no", "amount": 100, "bank_ref": "' .. key ..
               '", "value_date": "2026-11-21"}'
  return wrk.format("POST", "/v1/receipts", {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer $clerk_token", ["Idempotency-Key"] = key}, body)
end
EOF

# run NAME PATH [SCRIPT]: prints "NAME requests/s p99_ms non2xx"
run() {
    local name=$1 path=$2 script=${3:-}
    local out spread
    wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency ${script:+-s "$script"} \
        "$url$path" >"$WORK/wrk.out" &
    local wrk_pid=$!
    # How the server spread wrk's connections over its workers, midway
    # (the busiest and the idlest worker; a server without the metric: "").
    sleep "$((SECONDS_PER_RUN / 2))"
    spread=$(curl -s "$url/metrics" | awk '/^caseledger_http_worker_connections/ {
        n = $2 + 0; if (count == 0 || n > max) max = n; if (count == 0 || n < min) min = n
        count++ } END { if (count > 0) printf "%d-%d", min, max }')
    wait "$wrk_pid"
    out=$(cat "$WORK/wrk.out")
    local rate p99 errors
    rate=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    errors=$(echo "$out" | awk '/Non-2xx/ {print $5}')
    printf '%-28s %12s %10s %8s %8s\n' "$name" "$rate" "$p99" "${errors:-0}" "${spread:--}"
    eval "rate_${name//[^a-z]/_}=$rate"
}

printf 'bench_http: %s s per run, %d connections, 2 wrk threads, loopback\n' \
    "$SECONDS_PER_RUN" "$CONNECTIONS"
printf '%-28s %12s %10s %8s %8s\n' "endpoint" "requests/s" "p99" "non-2xx" "per-wkr"
run healthz /healthz
run status /v1/status "$WORK/status.lua"
run case "/v1/cases/$case_path" "$WORK/case.lua"
run receipts /v1/receipts "$WORK/receipts.lua"
metric() { curl -s "$url/metrics" | awk -v n="$1" '$1 == n {print $2}'; }
awk -v r="$(metric caseledger_booking_requests_total)" \
    -v b="$(metric caseledger_booking_batches_total)" \
    'BEGIN { if (b > 0) printf "receipts: %.1f entries per committer batch\n", r / b }'
"$BIN" verify --dsn "$app_dsn" --key-dir "$WORK/keys" | sed 's/^/verify: /'

# The ledger core's figure, now, on the same cluster: the server is idle.
rate_core=0
if [ "${BENCH_LEDGER:-1}" != 0 ] && [ -x "$BENCH_LEDGER_BIN" ]; then
    core=$("$BENCH_LEDGER_BIN" "$SECONDS_PER_RUN" grouped 2>/dev/null || true)
    echo "$core" | grep '^committer, 16 clients' | sed 's/^/bench_ledger: /' || true
    rate_core=$(echo "$core" | awk '/^ledger signed\+chained, group commit/ {print $NF}')
    printf '%-28s %12s\n' "ledger core, group commit" "${rate_core:-?}"
fi
awk -v h="$rate_healthz" -v s="$rate_status" -v c="$rate_case" -v r="$rate_receipts" \
    -v l="${rate_core:-0}" 'BEGIN {
    printf "status / healthz            %12.2f\n", s / h
    printf "case / healthz              %12.2f\n", c / h
    printf "receipts booked per second  %12.0f\n", r
    if (l > 0)
        printf "receipts / ledger core      %12.2f\n", r / l
}'
