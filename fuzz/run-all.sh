#!/usr/bin/env bash
# Run every fuzz target for SECONDS (default 60) each, JOBS at a time (default 2), and print
# a Markdown table of executions, coverage and outcome. Logs go to fuzz/logs/<target>.log,
# crashes to fuzz/artifacts/<target>/. Needs `cargo fuzz` (fuzz/README.md).
#   fuzz/run-all.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
shift || true
jobs=${JOBS:-2}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(RUSTC_BOOTSTRAP=1 cargo fuzz list)
fi
RUSTC_BOOTSTRAP=1 cargo fuzz build >/dev/null
mkdir -p logs
run_one() {
    local t=$1 secs=$2
    mkdir -p "corpus/$t"
    local rc=0
    RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" "corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"logs/$t.log" 2>&1 || rc=$?
    echo "$rc" >"logs/$t.rc"
}
export -f run_one
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c "run_one {} $secs"

echo "| target | executions | exec/s | cov | ft | corpus | result |"
echo "|---|---:|---:|---:|---:|---:|---|"
for t in "${targets[@]}"; do
    log="logs/$t.log"
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*' || echo "?")
    ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*' || echo "?")
    corp=$(ls "corpus/$t" | wc -l)
    rc=$(cat "logs/$t.rc")
    if [ "$rc" = 0 ]; then result="no crash"; else result="**FAILED** (exit $rc, see logs/$t.log)"; fi
    echo "| \`$t\` | $execs | $rate | $cov | $ft | $corp | $result |"
done
