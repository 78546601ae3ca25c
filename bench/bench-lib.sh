#!/bin/bash
# SPDX-License-Identifier: MIT
# Helpers shared by the benchmarks in bench/ (sourced, not run).

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# median NUMBERS...: the median (the mean of the two middle values for an even count).
median() {
        printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
                if (NR == 0) { print "nan"; exit }
                if (NR % 2) printf "%.6g\n", v[(NR + 1) / 2]
                else printf "%.6g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# calc EXPR: floating-point arithmetic with awk, printed with up to 6 significant digits.
calc() { awk "BEGIN { printf \"%.6g\n\", $* }"; }

# fmt DECIMALS NUMBER
fmt() { awk -v d="$1" -v x="$2" 'BEGIN { printf "%.*f\n", d, x }'; }

# le A B / ge A B: float comparisons as exit statuses.
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

now_ns() { date +%s%N; }

# summary NAME VALUE UNIT TARGET PASS|FAIL|INFO: a machine-readable line for run-all.sh.
summary() { printf 'SUMMARY|%s|%s|%s|%s|%s\n' "$1" "$2" "$3" "$4" "$5"; }

# build_tool NAME OUT: compiles bench/NAME.c (http-prober, exit-watch) to OUT.
build_tool() {
        local cc=${CC:-cc}
        command -v "$cc" >/dev/null || cc=gcc
        "$cc" -O2 -Wall -o "$2" "$BENCH_DIR/$1.c" || { echo "cannot compile bench/$1.c" >&2; return 1; }
}

# analyze_probes FILE: from an http-prober log, prints
#   downtime_ms downtime_by_result_ms n_failed n_probes max_send_gap_ms mean_send_gap_ms flaps
#   no_answer_ms starting_ms outage_start_ms outage_end_ms statuses
# The outage starts at the first probe (in send order) that did not get a 200 after at least one
# 200, and ends at the first 200 after it; downtime is the time between those two probes' sends
# (the other figure uses the times their results arrived). no_answer_ms: from the outage's start
# to the first probe that got an HTTP answer (the new process listens, answering 503);
# starting_ms: from there to the first 200. flaps = non-200 probes after the recovery (there
# should be none). outage_start_ms/outage_end_ms: the send times of the first failed probe and of
# the first 200 after it, in ms since the prober's time 0. Prints "none" if there was no outage, "nobaseline" if the first probes failed
# already, "norecovery" if no 200 came back.
analyze_probes() {
        sort -n -k1,1 "$1" | awk '
                /^#/ { next }
                {
                        seq = $1; send = $2; res = $3; st = $4; n++
                        if (n > 1) { gap = send - prev; sum += gap; if (gap > maxgap) maxgap = gap }
                        prev = send
                        if (state == 0) { if (st == 200) state = 1; next }
                        if (state == 1) {
                                if (st != 200) { state = 2; fs = send; fr = res; nf = 1; codes[st]++; if (st > 0) ans = send }
                                next
                        }
                        if (state == 2) {
                                if (st == 200) { state = 3; os = send; ok_res = res; if (ans == "") ans = send }
                                else { nf++; codes[st]++; if (st > 0 && ans == "") ans = send }
                                next
                        }
                        if (state == 3 && st != 200) flaps++
                }
                END {
                        if (state == 0) { print "nobaseline"; exit }
                        if (state == 1) { print "none"; exit }
                        if (state == 2) { print "norecovery"; exit }
                        s = ""
                        for (c in codes) s = s (s == "" ? "" : ",") c ":" codes[c]
                        printf "%.1f %.1f %d %d %.1f %.2f %d %.1f %.1f %.3f %.3f %s\n", os - fs, ok_res - fr, nf, n,
                                maxgap, (n > 1 ? sum / (n - 1) : 0), flaps + 0, ans - fs, os - ans, fs, os, s
                }'
}

# mean_se NUMBERS...: prints "mean standard-error" (the error is 0 for fewer than two numbers).
mean_se() {
        printf '%s\n' "$@" | awk '{ s += $1; q += $1 * $1; n++ } END {
                if (n == 0) { print "nan nan"; exit }
                m = s / n; v = n > 1 ? (q - n * m * m) / (n - 1) : 0; if (v < 0) v = 0
                printf "%.6g %.6g\n", m, sqrt(v / n) }'
}
