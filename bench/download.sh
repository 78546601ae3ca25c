#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/download.sh BUILD_DIR
#
# Download and verify a 512 MiB release from a local nginx over TLS, the way the daemon stages
# it (mbupgraded-fetch: hashing while it downloads; then the checksum and the JAR inspected),
# against two references in the same run, alternated, page cache warm:
#   - plain `curl -o F URL`: the transfer alone, the limit. Target: daemon <= 1.1x.
#   - `curl -o F URL && sha256sum F`: what an admin would do. Target: daemon <= 0.5x.
#   - no target, like for like: `curl -o` asking for the helper's cipher suites, AES-128-GCM
#     first (fetch/fetch.c). This nginx follows the client's order, so plain curl (AES-256-GCM
#     first) has this nginx and itself do more crypto than the helper does; this round shows how
#     much of the first ratio is that rather than the helper.
# A staging (the downloads of the JAR and of its checksum, side by side, and the JAR's
# verification) is timed from the daemon's Staged property saying "downloading" to it saying
# "verified", both seen by a `gdbus monitor` started before the `mbctl check` that starts it:
# nothing is spawned or polled meanwhile, which on two cores would take CPU from the download
# that curl, its baseline, has to itself. The time from `mbctl check` is shown too: it adds the
# feed's download and the decision (discovery, not the download the target is about), ~20 ms.
# Each ratio is the median of the rounds' ratios (each round's three ran back to back, so drift
# in the machine's load cancels); the ratio of the medians and of the fastest rounds are shown too.
# While the daemon downloads: its peak RSS (VmHWM, reset first; target <= 16 MiB), and, in rounds
# of their own, the latency of `mbctl status` called back to back (p99 over >= 200 calls; target
# <= 20 ms). Knobs: BENCH_JAR_MB (512), BENCH_ROUNDS (3).
set -euo pipefail

command -v gdbus >/dev/null || { echo "bench/download.sh needs gdbus (apt install libglib2.0-bin)" >&2; exit 77; }

export MBUP_BUILD=$(cd "${1:?usage: bench/download.sh BUILD_DIR}" && pwd)
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$BENCH_DIR/../tests/integration/lib.sh"
source "$BENCH_DIR/../tests/integration/nginx.sh"
source "$BENCH_DIR/bench-lib.sh"
sandbox_enter "$@"

JAR_MB=${BENCH_JAR_MB:-512}
ROUNDS=${BENCH_ROUNDS:-3}

sandbox_start
nginx_start "$SB/nginx"
# set +e first: under set -e, (exit $rc) with rc != 0 would end the trap before sandbox_cleanup,
# leaving the sandbox's systemd, D-Bus, daemon and Java stand-in running after a failed run.
trap 'rc=$?; set +e; nginx_stop; (exit $rc); sandbox_cleanup' EXIT
WWW=$SB/nginx/www
install_metabase "$(make_release v0.56.1)"
log "building a ${JAR_MB} MiB release"
BIG=$(make_release v0.56.2 big --pad-mb "$JAR_MB")
mirror_release v0.56.2 "$BIG" "$WWW"
MIRROR_ROOT=$WWW mirror_feed v0.56.2:2025-02-01 v0.56.1:2025-01-01
MBUP_FEED=$NGINX_URL/version-info.json MBUP_DOWNLOADS=$NGINX_URL MBUP_CA_FILE=$TEST_CA MBUP_APPLY=never write_config
start_daemon
PID=$(systemctl --user show -p MainPID --value mbupgraded.service)
URL=$NGINX_URL/v0.56.2/metabase.jar
# fetch/fetch.c's TLS12_CIPHERS and TLS13_CIPHERS.
HELPER_CIPHERS=ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305
HELPER_TLS13_CIPHERS=TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256
SIZE=$(stat -c %s "$BIG")
cat "$BIG" >/dev/null # warm

staged() { [[ "$("$MBCTL" status 2>/dev/null)" == *"Staged: v0.56.2 (verified)"* ]]; }

# One staging by the daemon: from `mbctl check` (which starts it) to "verified", as the daemon
# announces it (PropertiesChanged on Staged). The monitor is listening once it has printed who
# owns the name: that answer comes after its AddMatch, on the same connection.
daemon_round() {
        local t0 ts t1 line
        rm -rf "$SB/state/staging"
        echo 5 >"/proc/$PID/clear_refs" # resets VmHWM
        coproc MON { exec gdbus monitor --system --dest org.mbupgraded.Manager1 --object-path /org/mbupgraded/Manager1 2>&1; }
        while read -r line <&"${MON[0]}"; do
                [[ $line == "The name "*" is owned by "* ]] && break
        done
        t0=$(now_ns)
        ts=
        "$MBCTL" check >/dev/null
        while read -r line <&"${MON[0]}"; do
                [[ -z $ts && $line == *"'Staged': <'v0.56.2 (downloading"* ]] && ts=$(now_ns)
                [[ $line == *"'Staged': <'v0.56.2 (verified)'>"* ]] && break
                [[ $line == *"'Staged': <'v0.56.2 (refused"* || $line == *"'Staged': <'v0.56.2 (failed"* ]] &&
                        die "staging failed: $line"
        done
        t1=$(now_ns)
        kill "$MON_PID" 2>/dev/null || true
        wait "$MON_PID" 2>/dev/null || true
        [[ -n $line ]] || die "the D-Bus monitor ended before the staging did"
        awk '$1 == "VmHWM:" { print $2 }' "/proc/$PID/status" >>"$SB/hwm.kb"
        [[ -n $ts ]] || die "the daemon never said it was downloading"
        echo "$(((t1 - ts) / 1000000)) $(((t1 - t0) / 1000000))"
}
# A staging (untimed: 200 process spawns take CPU from the download) while mbctl status runs back
# to back, each call timed.
latency_round() {
        local a b st
        rm -rf "$SB/state/staging"
        "$MBCTL" check >/dev/null
        while :; do
                a=$(now_ns)
                st=$("$MBCTL" status 2>/dev/null || true)
                b=$(now_ns)
                echo $(((b - a) / 1000)) >>"$SB/latency.us"
                [[ $st == *"Staged: v0.56.2 (verified)"* ]] && break
                [[ $st == *"Staged: v0.56.2 (refused"* || $st == *"Staged: v0.56.2 (failed"* ]] && die "staging failed: $st"
        done
}
curl_round() { # curl_round [sha|ciphers]
        local t0 t1 opts=()
        [[ ${1:-} != ciphers ]] || opts=(--ciphers "$HELPER_CIPHERS" --tls13-ciphers "$HELPER_TLS13_CIPHERS")
        rm -f "$SB/curl.jar"
        t0=$(now_ns)
        curl -fsS --cacert "$TEST_CA" "${opts[@]}" -o "$SB/curl.jar" "$URL"
        [[ ${1:-} != sha ]] || sha256sum "$SB/curl.jar" >/dev/null
        t1=$(now_ns)
        echo $(((t1 - t0) / 1000000))
}

: >"$SB/latency.us"
: >"$SB/hwm.kb"
D=() F=() C=() S=() K=()
for i in $(seq 1 "$ROUNDS"); do
        r=$(daemon_round)
        read -r d f <<<"$r"
        D+=("$d")
        F+=("$f")
        C+=("$(curl_round)")
        S+=("$(curl_round sha)")
        K+=("$(curl_round ciphers)")
        log "round $i: daemon ${D[-1]} ms (${F[-1]} ms with the feed check), curl ${C[-1]} ms, curl+sha256sum ${S[-1]} ms, curl with the helper's ciphers ${K[-1]} ms"
done
# Latency rounds until at least 200 calls were made while downloading.
while (($(wc -l <"$SB/latency.us") < 200)); do
        latency_round
done
# ratios A B: the median of the rounds' A[i] / B[i].
ratios() {
        local -n a=$1 b=$2
        local i r=()
        for i in "${!a[@]}"; do
                r+=("$(calc "${a[i]} / ${b[i]}")")
        done
        median "${r[@]}"
}
smallest() { printf '%s\n' "$@" | sort -n | head -n 1; }
d=$(median "${D[@]}")
c=$(median "${C[@]}")
s=$(median "${S[@]}")
k=$(median "${K[@]}")
r_plain=$(ratios D C)
r_sha=$(ratios D S)
r_like=$(ratios D K)
r_feed=$(ratios F C)
n_lat=$(wc -l <"$SB/latency.us")
p99=$(sort -n "$SB/latency.us" | awk -v n="$n_lat" '{ a[NR] = $1 } END { i = int(n * 0.99 + 0.999); if (i < 1) i = 1; printf "%.1f", a[i] / 1000 }')
p50=$(sort -n "$SB/latency.us" | awk -v n="$n_lat" '{ a[NR] = $1 } END { printf "%.1f", a[int((n + 1) / 2)] / 1000 }')
hwm=$(sort -n "$SB/hwm.kb" | tail -1)

echo "== Download + verify $((SIZE >> 20)) MiB over TLS from a local nginx (median of $ROUNDS)"
printf '  mbupgraded staging (fetch helper, checksum, JAR check): %6.0f ms  %7.0f MB/s\n' "$d" "$(calc "$SIZE / $d / 1000")"
printf '  curl -o:                                                %6.0f ms  %7.0f MB/s\n' "$c" "$(calc "$SIZE / $c / 1000")"
printf '  curl -o && sha256sum:                                   %6.0f ms\n' "$s"
printf '  curl -o with the helper'"'"'s cipher suites:                 %6.0f ms  %7.0f MB/s\n' "$k" "$(calc "$SIZE / $k / 1000")"
printf '  ratio to curl: %s (<= 1.1); to curl+sha256sum: %s (<= 0.5) (medians of the rounds'"'"' ratios)\n' \
        "$(fmt 2 "$r_plain")" "$(fmt 2 "$r_sha")"
printf '  ratio of the medians: %s and %s; of the fastest rounds (%d, %d, %d ms): %s and %s\n' \
        "$(fmt 2 "$(calc "$d / $c")")" "$(fmt 2 "$(calc "$d / $s")")" \
        "$(smallest "${D[@]}")" "$(smallest "${C[@]}")" "$(smallest "${S[@]}")" \
        "$(fmt 2 "$(calc "$(smallest "${D[@]}") / $(smallest "${C[@]}")")")" \
        "$(fmt 2 "$(calc "$(smallest "${D[@]}") / $(smallest "${S[@]}")")")"
printf '  from mbctl check, with the feed'"'"'s download and parsing: median %.0f ms, %s x curl -o (no target)\n' \
        "$(median "${F[@]}")" "$(fmt 2 "$r_feed")"
printf '  like for like, to curl with the helper'"'"'s cipher suites: %s (no target; plain curl / this curl: %s)\n' \
        "$(fmt 2 "$r_like")" "$(fmt 2 "$(ratios C K)")"
printf '  daemon peak RSS during staging: %d kB (<= 16384)\n' "$hwm"
printf '  mbctl status while downloading: %d calls, p50 %s ms, p99 %s ms (<= 20, over >= 200 calls)\n' "$n_lat" "$p50" "$p99"

pass=1
verdict() { # verdict COND...: PASS or FAIL, and remembers a FAIL
        if "$@"; then echo PASS; else echo FAIL; fi
}
v1=$(verdict le "$r_plain" 1.1)
v2=$(verdict le "$r_sha" 0.5)
v3=$(verdict test "$hwm" -le 16384)
v4=$(verdict le "$p99" 20)
((n_lat >= 200)) || v4=FAIL
for v in "$v1" "$v2" "$v3" "$v4"; do [[ $v == PASS ]] || pass=0; done
summary "download ratio to curl -o" "$(fmt 2 "$r_plain")" x "<= 1.1" "$v1"
summary "download ratio to curl, with the feed check" "$(fmt 2 "$r_feed")" x "none (adds discovery)" "-"
summary "download ratio to curl, same ciphers" "$(fmt 2 "$r_like")" x "none (like for like)" "-"
summary "download ratio to curl+sha256sum" "$(fmt 2 "$r_sha")" x "<= 0.5" "$v2"
summary "daemon peak RSS while staging" "$hwm" kB "<= 16384" "$v3"
summary "mbctl status p99 while downloading" "$p99" ms "<= 20 ($n_lat calls)" "$v4"
if ((pass)); then
        echo "VERDICT: PASS download $(fmt 2 "$r_plain")x curl, $(fmt 2 "$r_sha")x curl+sha256sum, RSS $hwm kB, status p99 $p99 ms"
else
        echo "VERDICT: FAIL download $(fmt 2 "$r_plain")x curl (<= 1.1), $(fmt 2 "$r_sha")x curl+sha256sum (<= 0.5), RSS $hwm kB (<= 16384), status p99 $p99 ms over $n_lat calls (<= 20, >= 200)"
        exit 1
fi
