#!/bin/bash
# SPDX-License-Identifier: MIT
# The long fuzzing campaign: every libFuzzer target for SECONDS (600) each, JOBS (2) at a time,
# from the seed corpus (plus the generated JAR seeds), printing each target's executions, its
# corpus growth and any crash. run-all.sh runs the same targets for 20 s each.
#   tests/fuzz/run-long.sh [BUILD_FUZZ_DIR] (default build-fuzz; CC=clang meson setup build-fuzz -Dfuzz=true)
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build-fuzz}
SECONDS_EACH=${SECONDS_EACH:-600}
JOBS=${JOBS:-2}
OUT=$(mktemp -d /tmp/mbup-fuzz-long.XXXXXX)

run_one() {
        local t=$1 name corpus extra=() rc
        name=$(basename "$t")
        corpus=$OUT/$name
        mkdir -p "$corpus"
        cp -r "tests/fuzz/corpus/$name/." "$corpus/" 2>/dev/null || true
        case $name in
        fuzz-jar) cp "$BUILD"/tests/fuzz/*.jar "$BUILD"/tests/fuzz/structured-* "$corpus/" ;;
        fuzz-config) extra=(-dict=tests/fuzz/fuzz-config.dict) ;;
        esac
        local seeds=$(ls "$corpus" | wc -l)
        nice -n 10 "$t" -max_total_time="$SECONDS_EACH" -max_len=65536 -print_final_stats=1 \
                -artifact_prefix="$OUT/$name-" "${extra[@]}" "$corpus" >"$OUT/$name.log" 2>&1
        rc=$?
        printf '%-14s %s  execs %s  corpus %s -> %s  %s\n' "$name" \
                "$([[ $rc -eq 0 ]] && echo ok || echo "CRASH (see $OUT/$name.log)")" \
                "$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/$name.log")" \
                "$seeds" "$(ls "$corpus" | wc -l)" \
                "$(sed -n 's/^stat::average_exec_per_sec: *\(.*\)/(\1\/s)/p' "$OUT/$name.log")"
}

for t in "$BUILD"/tests/fuzz/fuzz-*; do
        [[ -x $t && -f $t ]] || continue
        while [[ $(jobs -r | wc -l) -ge $JOBS ]]; do sleep 1; done
        run_one "$t" &
done
wait
echo "logs and corpora in $OUT"
