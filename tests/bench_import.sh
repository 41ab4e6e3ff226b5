#!/usr/bin/env bash
# Statement import benchmark (issue #4): import + match + book a generated
# camt.053 and MT940 file against many case accounts, through the real
# `caseledger import` command, on a fresh database of the dev cluster.
#
#   1. fresh database, keygen, setup, N cases through the ledger API
#      (build/tests/bench_import_cases, timed)
#   2. per size (default 100,000 lines; --full adds 1,000,000) and format:
#      generate the file (build/tests/gen_statement), parse it alone
#      (build/tests/bench_parse), then `/usr/bin/time -v caseledger import`,
#      then `caseledger reconcile`: book balance must equal the closing
#      balance. All runs share the database: each file has its own bank
#      references and dates, and opens with the book balance the previous
#      run left, so nothing is a duplicate.
#   3. baseline on the same cluster, same run: COPY of the same rows (same
#      lines as tab-separated text, about the width of a statement line) into
#      a table with a primary key and two indexes.
#
# usage: tests/bench_import.sh [--full] [--cases N] [--lines "L1 L2 ..."]
#            [--threads T] [--keep]   (environment from scripts/dev env)
# BENCH_IMPORT_TIMEOUT (seconds, default 3600) bounds each import.
set -euo pipefail
shopt -s inherit_errexit

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN="$ROOT/build/api/caseledger"
TOOLS="$ROOT/build/tests"
CASES=100000
LINES_LIST="100000"
THREADS=4
KEEP=0
TIMEOUT_S=${BENCH_IMPORT_TIMEOUT:-3600}
ACCOUNT_NO=6222000099990001
while [ $# -gt 0 ]; do
    case "$1" in
        --full) LINES_LIST="100000 1000000"; shift ;;
        --cases) CASES=$2; shift 2 ;;
        --lines) LINES_LIST=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        *) echo "usage: tests/bench_import.sh [--full] [--cases N] [--lines \"L1 L2\"]" \
               "[--threads T] [--keep]" >&2; exit 2 ;;
    esac
done
: "${CASELEDGER_ADMIN_DSN:?run: eval \"\$(scripts/dev env)\"}"
[ -x /usr/bin/time ] || { echo "bench_import: /usr/bin/time is missing (apt-get install time)" >&2; exit 2; }
for tool in gen_statement bench_import_cases bench_parse; do
    [ -x "$TOOLS/$tool" ] || { echo "bench_import: build first ($TOOLS/$tool)" >&2; exit 2; }
done

DB="caseledger_bench_import_$$"
WORK=$(mktemp -d /tmp/caseledger-bench-import-XXXXXX)
base_dsn=${CASELEDGER_ADMIN_DSN% dbname=*}
admin_dsn="$CASELEDGER_ADMIN_DSN"
app_dsn="$base_dsn dbname=$DB user=caseledger_app"
owner_dsn="$base_dsn dbname=$DB user=caseledger_owner"

cleanup() {
    if [ "$KEEP" = 1 ]; then
        echo "bench_import: kept database $DB and $WORK" >&2
        return
    fi
    psql -X -q "$admin_dsn" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }
# peak RSS in MiB from a /usr/bin/time -v report
peak_mib() { awk '/Maximum resident set size/ { printf "%.0f", $6 / 1024 }' "$1"; }
cli() { "$BIN" "$@" --dsn "$app_dsn" --key-dir "$WORK/keys"; }
log() { printf '[bench_import] %s\n' "$*" >&2; }

# ---- set-up ----
psql -X -q "$admin_dsn" -c "CREATE DATABASE $DB OWNER caseledger_owner" >/dev/null
"$BIN" migrate --dsn "$owner_dsn" --sql-dir "$ROOT/sql" >/dev/null
cli keygen >/dev/null
cli setup --bank-account "$ACCOUNT_NO" --bank-name "Bench Custody Bank" >/dev/null
cli user add --name bench-clerk --role clerk --owner-dsn "$owner_dsn" >/dev/null
cli user add --name bench-bank --role bank --owner-dsn "$owner_dsn" >/dev/null
log "opening $CASES cases through ledger_case_open ($THREADS threads)"
cases_json=$("$TOOLS/bench_import_cases" --cases "$CASES" --threads "$THREADS" \
    --out "$WORK/payins.txt" --dsn "$app_dsn" --key-dir "$WORK/keys" 2>&1 >/dev/null) \
    || { echo "bench_import: case set-up failed: $cases_json" >&2; exit 1; }
cases_seconds=$(echo "$cases_json" | json_field seconds)
cases_rate=$(echo "$cases_json" | json_field cases_per_s)

# ---- baseline: COPY into an indexed table ----
copy_baseline() { # copy_baseline LINES -> rows/s
    local lines=$1
    "$TOOLS/gen_statement" --format tsv --lines "$lines" --account "$ACCOUNT_NO" \
        --payins "$WORK/payins.txt" --ref-prefix T --out "$WORK/copy.tsv" >/dev/null 2>&1
    psql -X -q -v ON_ERROR_STOP=1 "$owner_dsn" >/dev/null <<'EOF'
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_copy;
CREATE TABLE bench_copy (
    id bigserial PRIMARY KEY, bank_ref text NOT NULL UNIQUE, value_date date NOT NULL,
    amount bigint NOT NULL CHECK (amount <> 0), currency char(3) NOT NULL,
    end_to_end_id text NOT NULL, counterparty_name text NOT NULL,
    counterparty_account text NOT NULL, remittance text NOT NULL, payin_no text NOT NULL,
    status text NOT NULL, rule text NOT NULL, reason text NOT NULL);
CREATE INDEX bench_copy_payin ON bench_copy (payin_no);
EOF
    local started finished
    started=$(now)
    psql -X -q -v ON_ERROR_STOP=1 "$owner_dsn" -c "\\copy bench_copy (bank_ref, value_date, \
amount, currency, end_to_end_id, counterparty_name, counterparty_account, remittance, payin_no, \
status, rule, reason) FROM '$WORK/copy.tsv'" >/dev/null
    finished=$(now)
    psql -X -q "$owner_dsn" -c "DROP TABLE bench_copy" >/dev/null
    rm -f "$WORK/copy.tsv"
    rate "$lines" "$(elapsed "$started" "$finished")"
}

# ---- the floor: only the rows an import has to write ----
# The lines of the statements just imported, and the postings of their
# entries, COPYed once more into the real tables (same indexes, same size;
# identities, line indexes and entry numbers shifted so that nothing
# collides), and each account's balance updated once, in one transaction
# that is rolled back, with triggers and foreign keys off
# (session_replication_role = replica, hence the superuser). No parsing,
# matching, look-ups, rule checks, chain or signatures: what no design that
# keeps a row per line, a posting per receipt and a balance per account can
# avoid writing. floor_rate FIRST_STATEMENT_ID LINES -> lines/s
floor_rate() {
    local first=$1 lines=$2
    local super_dsn="$base_dsn dbname=$DB user=postgres"
    local entries="SELECT DISTINCT s.entry_seq FROM statement_lines s WHERE\
 s.statement_id >= $first AND s.entry_seq IS NOT NULL"
    psql -X -q -v ON_ERROR_STOP=1 "$super_dsn" >/dev/null <<EOF
\copy (SELECT statement_id, line_index + 1000000000, bank_account_id, 'floor:' || identity, value_date, booking_date, amount, currency, reversal, bank_ref, end_to_end_id, counterparty_name, counterparty_account, remittance, return_reason, payin_no, status, rule, reason, candidates, entry_seq + 1000000000000, posting_idx, disbursement_id, duplicate_of FROM statement_lines WHERE statement_id >= $first) TO '$WORK/floor-lines.tsv'
\copy (SELECT entry_seq + 1000000000000, idx, account_id, amount, currency FROM postings WHERE entry_seq IN ($entries)) TO '$WORK/floor-postings.tsv'
\copy (SELECT account_id, sum(amount) FROM postings WHERE entry_seq IN ($entries) GROUP BY account_id) TO '$WORK/floor-balances.tsv'
EOF
    local started finished
    started=$(now)
    psql -X -q -v ON_ERROR_STOP=1 "$super_dsn" >/dev/null <<EOF
BEGIN;
SET LOCAL session_replication_role = replica;
\copy statement_lines (statement_id, line_index, bank_account_id, identity, value_date, booking_date, amount, currency, reversal, bank_ref, end_to_end_id, counterparty_name, counterparty_account, remittance, return_reason, payin_no, status, rule, reason, candidates, entry_seq, posting_idx, disbursement_id, duplicate_of) FROM '$WORK/floor-lines.tsv'
\copy postings (entry_seq, idx, account_id, amount, currency) FROM '$WORK/floor-postings.tsv'
CREATE TEMP TABLE floor_balances (account_id bigint, amount bigint);
\copy floor_balances FROM '$WORK/floor-balances.tsv'
UPDATE accounts a SET balance = a.balance + f.amount FROM floor_balances f
    WHERE a.id = f.account_id;
ROLLBACK;
EOF
    finished=$(now)
    rm -f "$WORK"/floor-*.tsv
    rate "$lines" "$(elapsed "$started" "$finished")"
}

# ---- one import run ----
balance=0        # the custody account's book balance so far (fen)
start_offset=0   # each run's value dates follow the previous run's, 20 days apart
run_index=0
results=()
run_import() { # run_import FORMAT LINES COPY_RATE
    local format=$1 lines=$2 copy_rate=$3
    run_index=$((run_index + 1))
    local file="$WORK/statement-$run_index.$format"
    local start
    start=$(date -u -d "2024-01-01 + $start_offset days" +%F)
    start_offset=$((start_offset + 20))
    local gen_json
    gen_json=$("$TOOLS/gen_statement" --format "$format" --lines "$lines" --account "$ACCOUNT_NO" \
        --payins "$WORK/payins.txt" --seed "$run_index" --ref-prefix "R${run_index}X" \
        --start "$start" --days 10 --opening "$balance" --out "$file" 2>&1)
    local statements closing last_date
    statements=$(echo "$gen_json" | json_field statements)
    closing=$(echo "$gen_json" | json_field closing)
    last_date=$(echo "$gen_json" | json_field last_date)
    local size_mib
    size_mib=$(du -m "$file" | cut -f1)
    log "run $run_index: $format, $lines lines, $statements statements, $size_mib MiB: $gen_json"

    # parse only (default limits, else raised to the file's lines)
    local parse_rate="-" parse_mib="-" parse_json
    if parse_json=$(/usr/bin/time -v -o "$WORK/parse.time" "$TOOLS/bench_parse" "$format" \
        "$file" "$lines" 2>/dev/null); then
        parse_rate=$(echo "$parse_json" | json_field lines_per_s)
        parse_mib=$(peak_mib "$WORK/parse.time")
    else
        log "parse-only failed: $parse_json"
    fi

    # the import with the parsers' default limits; when they refuse the
    # file, again with --lines-max raised to the file's lines
    local import_out status started finished limits_note="" first_statement
    first_statement=$(psql -X -At "$owner_dsn" -c "SELECT coalesce(max(id), 0) + 1 FROM bank_statements")
    started=$(now)
    set +e
    import_out=$(timeout "$TIMEOUT_S" /usr/bin/time -v -o "$WORK/import.time" \
        "$BIN" import "$file" --bank-account "$ACCOUNT_NO" --format "$format" --as bench-bank \
        --dsn "$app_dsn" --key-dir "$WORK/keys" 2>"$WORK/import.err")
    status=$?
    set -e
    finished=$(now)
    if [ "$status" != 0 ] && grep -q too_many_lines <<<"$import_out"; then
        log "default limits refused the file: $import_out"
        limits_note=" (--lines-max)"
        started=$(now)
        set +e
        import_out=$(timeout "$TIMEOUT_S" /usr/bin/time -v -o "$WORK/import.time" \
            "$BIN" import "$file" --bank-account "$ACCOUNT_NO" --format "$format" --as bench-bank \
            --lines-max "$lines" --dsn "$app_dsn" --key-dir "$WORK/keys" 2>"$WORK/import.err")
        status=$?
        set -e
        finished=$(now)
    fi
    local seconds peak
    seconds=$(elapsed "$started" "$finished")
    peak=$(peak_mib "$WORK/import.time" 2>/dev/null || echo "-")
    local import_rate="-" ratio="-" floor="-" floor_ratio="-" check="FAILED"
    if [ "$status" = 0 ]; then
        import_rate=$(rate "$lines" "$seconds")
        ratio=$(awk -v a="$import_rate" -v b="$copy_rate" 'BEGIN { printf "%.3f", a / b }')
        floor=$(floor_rate "$first_statement" "$lines")
        floor_ratio=$(awk -v a="$import_rate" -v b="$floor" 'BEGIN { printf "%.3f", a / b }')
        log "import: $(echo "$import_out" | python3 -c 'import json,sys; d=json.load(sys.stdin)
print({k: d[k] for k in ("lines","booked","suspense","unmatched","duplicates","difference")})')"
        balance=$closing
        local report book difference booked suspense
        report=$(cli reconcile --bank-account "$ACCOUNT_NO" --date "$last_date")
        book=$(echo "$report" | json_field book_balance)
        difference=$(echo "$report" | json_field difference)
        booked=$(echo "$import_out" | json_field booked)
        suspense=$(echo "$import_out" | json_field suspense)
        if [ "$book" != "$closing" ] || [ "$difference" != 0 ]; then
            check="book $book != closing $closing"
        elif [ "$booked" != "$(echo "$gen_json" | json_field payin)" ] ||
            [ "$suspense" != $(($(echo "$gen_json" | json_field unidentified) +
                                $(echo "$gen_json" | json_field mistyped))) ]; then
            check="ok, but booked $booked / suspense $suspense differ from the generator's mix"
        else
            check="ok"
        fi
    else
        [ "$status" = 124 ] && log "import timed out after $TIMEOUT_S s"
        log "import failed (exit $status): $import_out $(tail -c 400 "$WORK/import.err")"
        # one transaction: nothing was booked; the balance stays
    fi
    rm -f "$file"
    results+=("$(printf '%-8s %9s %5s %9s %9s %9s %7s %9s %7s %9s %7s %9s %7s  %s' "$format" \
        "$lines" "$statements" "$seconds" "$import_rate" "${peak:--}" "$size_mib" "$parse_rate" \
        "$parse_mib" "$copy_rate" "$ratio" "$floor" "$floor_ratio" "$check$limits_note")")
}

for lines in $LINES_LIST; do
    log "baseline: COPY of $lines rows"
    copy_rate=$(copy_baseline "$lines")
    run_import camt053 "$lines" "$copy_rate"
    run_import mt940 "$lines" "$copy_rate"
done

printf 'bench_import: %d cases opened through ledger_case_open in %s s (%s cases/s, %d threads)\n' \
    "$CASES" "$cases_seconds" "$cases_rate" "$THREADS"
printf '%-8s %9s %5s %9s %9s %9s %7s %9s %7s %9s %7s %9s %7s  %s\n' format lines stmts seconds \
    lines/s "RSS MiB" "MiB" "parse/s" "p.RSS" "COPY/s" "/COPY" "floor/s" "/floor" "book = closing"
for row in "${results[@]}"; do
    echo "$row"
done
echo "(lines/s: import + match + book end to end, one process; RSS: its peak (/usr/bin/time -v);"
echo " MiB: file size; parse/s, p.RSS: parse alone; COPY/s: rows/s of COPY into an indexed table;"
echo " floor/s: lines/s of writing only the rows the import wrote: lines, postings, balances)"
