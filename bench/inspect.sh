#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/inspect.sh BUILD_DIR
#
# `mbctl inspect` on a realistically large JAR (the stand-in with --pad-mb 300: ~300 MB, like
# a real Metabase release), page cache warm:
#   - `mbctl inspect --no-hash JAR`: wall time, median of RUNS_NOHASH runs. Target <= 50 ms.
#   - `mbctl inspect JAR` (SHA-256 of the whole file) against `sha256sum JAR`, alternating,
#     median of RUNS_HASH runs each, MB/s for both. Target: mbctl >= 3x faster than sha256sum.
#   - the SHA-256 mbctl prints must be sha256sum's.
# Uses hyperfine when it is installed (BENCH_HYPERFINE=0 to not), date +%s%N otherwise.
# Knobs (environment): BENCH_PAD_MB (300), BENCH_RUNS_NOHASH (10), BENCH_RUNS_HASH (5).
set -euo pipefail

BUILD=$(cd "${1:?usage: bench/inspect.sh BUILD_DIR}" && pwd)
MBCTL=$BUILD/cli/mbctl
BASE=$BUILD/tests/standin/standin-base.jar
PAD_MB=${BENCH_PAD_MB:-300}
RUNS_NOHASH=${BENCH_RUNS_NOHASH:-10}
RUNS_HASH=${BENCH_RUNS_HASH:-5}
TARGET_NOHASH_MS=50
TARGET_SPEEDUP=3

source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
[[ -x $MBCTL ]] || { echo "no mbctl at $MBCTL (meson compile -C $BUILD)" >&2; exit 2; }
[[ -f $BASE ]] || { echo "no stand-in base JAR at $BASE (meson compile -C $BUILD)" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mbup-bench-inspect.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
JAR=$WORK/metabase.jar

# The verdict goes to fd 3, the real stdout, also from inside $(...).
exec 3>&1
USE_HYPERFINE=0
if [[ ${BENCH_HYPERFINE:-1} != 0 ]] && command -v hyperfine >/dev/null; then USE_HYPERFINE=1; fi

# run_ms TIMEOUT_S CMD...: runs CMD once (output to $WORK/out), prints its wall time in ms.
# A non-zero exit or a timeout ends the benchmark with the reason.
run_ms() {
        local t=$1 t0 t1 rc=0
        shift
        t0=$(now_ns)
        timeout "$t" "$@" >"$WORK/out" 2>&1 || rc=$?
        t1=$(now_ns)
        if [[ $rc -eq 124 ]]; then
                echo "FAIL: '$*' did not finish within ${t}s (hung?)" >&2
                echo "VERDICT: FAIL '$*' did not finish within ${t}s" >&3
                exit 1
        elif [[ $rc -ne 0 ]]; then
                echo "FAIL: '$*' exited $rc: $(head -c 500 "$WORK/out")" >&2
                echo "VERDICT: FAIL '$*' exited $rc" >&3
                exit 1
        fi
        calc "($t1 - $t0) / 1000000"
}

# hyperfine_median RUNS TIMEOUT_S CMD...: median wall time in ms, measured by hyperfine.
hyperfine_median() {
        local runs=$1 t=$2
        shift 2
        hyperfine --style none --warmup 1 --runs "$runs" --export-json "$WORK/hf.json" \
                "timeout $t $*" >/dev/null 2>"$WORK/hf.err" || {
                echo "FAIL: hyperfine on '$*': $(tail -3 "$WORK/hf.err")" >&2
                echo "VERDICT: FAIL '$*' failed or hung under hyperfine" >&3
                exit 1
        }
        tr ',' '\n' <"$WORK/hf.json" | sed -n 's/^ *"median": *\([0-9.eE+-]*\).*/\1/p' | head -1 |
                awk '{ printf "%.6g\n", $1 * 1000 }'
}

echo "== Inspection: mbctl inspect on a ${PAD_MB} MiB stand-in JAR ($([[ $USE_HYPERFINE == 1 ]] && echo hyperfine || echo 'date +%s%N'))"
t0=$(now_ns)
"$BENCH_DIR/../tests/standin/make-jar.sh" --base "$BASE" --out "$JAR" --version v0.56.2 --pad-mb "$PAD_MB"
t1=$(now_ns)
SIZE=$(stat -c %s "$JAR")
SIZE_MB=$(calc "$SIZE / 1000000")
echo "JAR: $SIZE bytes ($(fmt 1 "$SIZE_MB") MB), built in $(((t1 - t0) / 1000000)) ms"

# Warm page cache for everything below.
cat "$JAR" >/dev/null
cat "$JAR" >/dev/null

# 1. --no-hash: reads the central directory and two small entries, whatever the size.
if [[ $USE_HYPERFINE == 1 ]]; then
        nohash_med=$(hyperfine_median "$RUNS_NOHASH" 10 "$MBCTL" inspect --no-hash "$JAR")
        nohash_list="(hyperfine)"
else
        run_ms 10 "$MBCTL" inspect --no-hash "$JAR" >/dev/null # warm-up
        nohash=()
        for _ in $(seq 1 "$RUNS_NOHASH"); do nohash+=("$(run_ms 10 "$MBCTL" inspect --no-hash "$JAR")"); done
        grep -q 'Version: v0.56.2' "$WORK/out" ||
                { echo "VERDICT: FAIL mbctl inspect --no-hash did not report v0.56.2: $(cat "$WORK/out")"; exit 1; }
        nohash_med=$(median "${nohash[@]}")
        nohash_list=$(printf '%s ' "${nohash[@]}" | awk '{ for (i = 1; i <= NF; i++) printf "%.1f ", $i }')
        # What the timing itself costs (two date and one timeout processes), not subtracted.
        overhead=()
        for _ in $(seq 1 "$RUNS_NOHASH"); do overhead+=("$(run_ms 10 true)"); done
        nohash_list="$nohash_list; timing overhead alone: median $(fmt 1 "$(median "${overhead[@]}")") ms, included"
fi
echo "mbctl inspect --no-hash: median $(fmt 1 "$nohash_med") ms over $RUNS_NOHASH runs [$nohash_list] (target <= $TARGET_NOHASH_MS ms)"

# 2. Hashing: sha256sum first, which also bounds how long mbctl may take before it counts as hung.
sha_ref=$(sha256sum "$JAR" | cut -d' ' -f1)
t_sum=$(run_ms 300 sha256sum "$JAR")
hang_s=$(awk -v t="$t_sum" 'BEGIN { s = int(3 * t / 1000) + 5; print s }')
mb_out=$(timeout "$hang_s" "$MBCTL" inspect "$JAR" 2>&1) || {
        rc=$?
        if [[ $rc -eq 124 ]]; then
                echo "mbctl inspect (with SHA-256) did not finish within ${hang_s}s (sha256sum takes $(fmt 0 "$t_sum") ms): it hangs or is > 3x slower"
                summary "inspect --no-hash (median)" "$(fmt 1 "$nohash_med")" ms "<= $TARGET_NOHASH_MS" \
                        "$(le "$nohash_med" "$TARGET_NOHASH_MS" && echo PASS || echo FAIL)"
                summary "inspect with SHA-256 vs sha256sum" "hang" x ">= $TARGET_SPEEDUP" FAIL
                echo "VERDICT: FAIL mbctl inspect with hashing did not finish within ${hang_s}s"
                exit 1
        fi
        echo "VERDICT: FAIL mbctl inspect exited $rc: $mb_out"
        exit 1
}
sha_mb=$(printf '%s\n' "$mb_out" | sed -n 's/^ *SHA-256: *\([0-9a-f]*\).*/\1/p')
if [[ $sha_mb == "$sha_ref" ]]; then sha_ok=PASS; else sha_ok=FAIL; fi
echo "SHA-256: mbctl $sha_mb"
echo "         sha256sum $sha_ref -> $([[ $sha_ok == PASS ]] && echo equal || echo DIFFERENT)"

if [[ $USE_HYPERFINE == 1 ]]; then
        mb_med=$(hyperfine_median "$RUNS_HASH" "$hang_s" "$MBCTL" inspect "$JAR")
        sum_med=$(hyperfine_median "$RUNS_HASH" 300 sha256sum "$JAR")
        mb_list="(hyperfine)" sum_list="(hyperfine)"
else
        mb=() sum=()
        for _ in $(seq 1 "$RUNS_HASH"); do
                # Alternating, so that both see the same state of the machine.
                mb+=("$(run_ms "$hang_s" "$MBCTL" inspect "$JAR")")
                sum+=("$(run_ms 300 sha256sum "$JAR")")
        done
        mb_med=$(median "${mb[@]}")
        sum_med=$(median "${sum[@]}")
        mb_list=$(printf '%s ' "${mb[@]}" | awk '{ for (i = 1; i <= NF; i++) printf "%.0f ", $i }')
        sum_list=$(printf '%s ' "${sum[@]}" | awk '{ for (i = 1; i <= NF; i++) printf "%.0f ", $i }')
fi
mb_rate=$(calc "$SIZE_MB / ($mb_med / 1000)")
sum_rate=$(calc "$SIZE_MB / ($sum_med / 1000)")
speedup=$(calc "$sum_med / $mb_med")
echo "mbctl inspect (SHA-256): median $(fmt 0 "$mb_med") ms = $(fmt 0 "$mb_rate") MB/s [$mb_list]"
echo "sha256sum:               median $(fmt 0 "$sum_med") ms = $(fmt 0 "$sum_rate") MB/s [$sum_list]"
echo "Speed-up mbctl over sha256sum: $(fmt 2 "$speedup")x (target >= ${TARGET_SPEEDUP}x)"

v1=FAIL v2=FAIL
le "$nohash_med" "$TARGET_NOHASH_MS" && v1=PASS
ge "$speedup" "$TARGET_SPEEDUP" && v2=PASS
summary "inspect --no-hash (median)" "$(fmt 1 "$nohash_med")" ms "<= $TARGET_NOHASH_MS" "$v1"
summary "inspect with SHA-256" "$(fmt 0 "$mb_rate")" MB/s "-" INFO
summary "sha256sum" "$(fmt 0 "$sum_rate")" MB/s "-" INFO
summary "inspect with SHA-256 vs sha256sum" "$(fmt 2 "$speedup")" x ">= $TARGET_SPEEDUP" "$v2"
summary "inspect SHA-256 equals sha256sum" "$([[ $sha_ok == PASS ]] && echo yes || echo no)" "-" "yes" "$sha_ok"
if [[ $v1 == PASS && $v2 == PASS && $sha_ok == PASS ]]; then verdict=PASS; else verdict=FAIL; fi
echo "VERDICT: $verdict inspect --no-hash $(fmt 1 "$nohash_med") ms (<= $TARGET_NOHASH_MS), hashing $(fmt 2 "$speedup")x sha256sum (>= $TARGET_SPEEDUP), SHA-256 $([[ $sha_ok == PASS ]] && echo matches || echo 'DOES NOT match')"
[[ $verdict == PASS ]]
