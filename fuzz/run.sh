#!/usr/bin/env bash
# Runs every cargo-fuzz target (or those named) for N seconds each, one after the other, and
# prints a summary line per target: executions, coverage, crashes.
#
#   fuzz/run.sh 600                       # every target, 10 minutes each
#   fuzz/run.sh 60 config webhook_request # two targets, a minute each
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`). The corpus
# grows in fuzz/corpus/<target> (not committed), seeded from fuzz/seeds/<target>; crashes land
# in fuzz/artifacts/<target>, and each run's libFuzzer output in fuzz/logs/<target>.log.
set -euo pipefail
cd "$(dirname "$0")"

if [ $# -lt 1 ] || ! [[ "$1" =~ ^[0-9]+$ ]]; then
    echo "usage: $0 <seconds per target> [target...]" >&2
    exit 2
fi
seconds=$1
shift
if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

mkdir -p logs
status=0
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    log="logs/$target.log"
    echo "== $target: ${seconds} s"
    if cargo +nightly fuzz run -O "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 >"$log" 2>&1; then
        result="no crash"
    else
        result="FAILED (see $log and artifacts/$target)"
        status=1
    fi
    runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -1)
    cov=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+' || true)
    corpus=$(find "corpus/$target" -type f | wc -l)
    echo "   $result; executions: ${runs:-?}; ${cov:-cov: ?}; corpus: $corpus files"
done
exit $status
