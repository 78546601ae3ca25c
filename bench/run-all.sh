#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/run-all.sh BUILD_DIR
#
# Runs bench/downtime.sh, bench/inspect.sh, bench/java-scan.sh, bench/footprint.sh, bench/download.sh,
# bench/db-backup.sh, bench/exposure.sh, bench/fleet-downtime.sh and bench/zero-downtime.sh one after the other (each
# prints its own figures as it goes) and ends with one table of the figures to quote, each with
# its target and whether it was met. Exit status 0 when every benchmark passed.
# The environment knobs of the scripts apply (BENCH_ROUNDS, BENCH_PAD_MB, BENCH_WINDOW...).
set -euo pipefail

BUILD=$(cd "${1:?usage: bench/run-all.sh BUILD_DIR}" && pwd)
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$(mktemp -d "${TMPDIR:-/tmp}/mbup-bench-all.XXXXXX")
trap 'rm -rf "$OUT"' EXIT

declare -A rc secs
for b in downtime inspect java-scan footprint download db-backup exposure fleet-downtime zero-downtime; do
        echo "################ bench/$b.sh"
        t0=$(date +%s)
        rc[$b]=0
        # Shown as it runs, kept for the table.
        "$BENCH_DIR/$b.sh" "$BUILD" 2>&1 | tee "$OUT/$b.log" || rc[$b]=$?
        secs[$b]=$(($(date +%s) - t0))
        echo
done

echo "################ Summary ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(uname -r), build $BUILD)"
printf '%-44s %12s %-6s %-22s %s\n' "figure" "value" "unit" "target" "result"
printf '%-44s %12s %-6s %-22s %s\n' "------" "-----" "----" "------" "------"
for b in downtime inspect footprint download db-backup exposure fleet-downtime zero-downtime; do
        if ! grep -q '^SUMMARY|' "$OUT/$b.log"; then
                printf '%-44s %12s %-6s %-22s %s\n' "bench/$b.sh" "-" "-" "-" "ERROR (exit ${rc[$b]}, see above)"
                continue
        fi
        grep '^SUMMARY|' "$OUT/$b.log" | while IFS='|' read -r _ name value unit target result; do
                printf '%-44s %12s %-6s %-22s %s\n' "$name" "$value" "$unit" "$target" "$result"
        done
done
echo
all=0
for b in downtime inspect footprint download db-backup exposure fleet-downtime zero-downtime; do
        verdict=$(grep '^VERDICT:' "$OUT/$b.log" | tail -1)
        [[ -n $verdict ]] || verdict="VERDICT: ERROR (exit ${rc[$b]}, no verdict)"
        printf '%-10s %4ss  %s\n' "$b" "${secs[$b]}" "$verdict"
        [[ ${rc[$b]} -eq 0 ]] || all=1
done
if [[ $all -eq 0 ]]; then echo "VERDICT: PASS all benchmarks met their targets"; else echo "VERDICT: FAIL some benchmark missed its target or failed"; fi
exit $all
