#!/usr/bin/env bash
# Runs each statement parser fuzz target for DURATION seconds, seeded from the
# shared bank statement corpus (camt.053, MT940) and tests/fuzz/seeds (CSV),
# and fails when any target crashes, leaks, hangs or trips a sanitizer.
#
#   CC=clang cmake -S . -B build-fuzz -DENABLE_FUZZERS=ON
#   cmake --build build-fuzz --target fuzz_camt053 fuzz_mt940 fuzz_csv
#   tests/fuzz/run.sh build-fuzz 60
#
# New inputs and crash artifacts go to BUILD_DIR/fuzz-run/<target>/.
set -euo pipefail

if [ "$#" -ne 2 ]; then
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 2
fi
build_dir=$1
duration=$2
case "$duration" in
'' | *[!0-9]*)
    echo "run.sh: SECONDS must be a whole number" >&2
    exit 2
    ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
corpus=${CASELEDGER_CORPUS_DIR:-$here/../../../shared/corpus}
output=$build_dir/fuzz-run
status=0

for target in camt053 mt940 csv; do
    binary=$build_dir/tests/fuzz/fuzz_$target
    if [ ! -x "$binary" ]; then
        echo "run.sh: $binary is missing (configure with CC=clang -DENABLE_FUZZERS=ON)" >&2
        exit 2
    fi
    case "$target" in
    csv) seeds=$here/seeds/csv ;;
    *) seeds=$corpus/$target ;;
    esac
    dictionary=()
    if [ -f "$here/$target.dict" ]; then
        dictionary=("-dict=$here/$target.dict")
    fi
    work=$output/$target/corpus
    artifacts=$output/$target/artifacts
    mkdir -p "$work" "$artifacts"
    log=$output/$target/fuzz.log
    echo "fuzz_$target: ${duration}s, seeds from $seeds"
    if "$binary" -max_total_time="$duration" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" "${dictionary[@]}" \
        "$work" "$seeds" >"$log" 2>&1; then
        grep -E "^stat::number_of_executed_units|^stat::new_units_added" "$log" | sed 's/^/    /'
    else
        echo "fuzz_$target FAILED; see $log and $artifacts" >&2
        tail -n 30 "$log" >&2
        status=1
    fi
done
exit "$status"
