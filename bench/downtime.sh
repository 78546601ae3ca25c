#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/downtime.sh BUILD_DIR
#
# User-visible downtime of an upgrade: mbupgraded (`mbctl upgrade now --jar NEW`) against the
# same upgrade done by hand the way Metabase's docs describe it (stop; copy the H2 file aside;
# copy the new JAR over the old; start; wait for /api/health). Both run in one integration
# sandbox (tests/integration/lib.sh), on the same pair of stand-in releases (v0.56.1 -> v0.56.2,
# the same JAR but for the version), alternating, ROUNDS times each; before every trial v0.56.1
# is reinstalled with its database as it was.
#
# The downtime is what an outside client sees: bench/http-prober.c sends GET /api/health every
# PROBE_MS on a fixed schedule; the downtime is the time from the first probe that does not get
# a 200 to the first probe that gets a 200 again (send times; resolution PROBE_MS).
#
# Target (the project's issue): median downtime by mbupgraded <= 1.05 x by hand.
# Knobs (environment): BENCH_ROUNDS (5), BENCH_PROBE_MS (50), BENCH_SETTLE (1s, the daemon's
# settle; it comes after health is back, so it is not downtime).
set -euo pipefail

export MBUP_BUILD=${1:?usage: bench/downtime.sh BUILD_DIR}
ROUNDS=${BENCH_ROUNDS:-5}
PROBE_MS=${BENCH_PROBE_MS:-50}
TARGET_RATIO=1.05
export MBUP_SETTLE=${BENCH_SETTLE:-1s}

source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
source "$BENCH_DIR/../tests/integration/lib.sh"
sandbox_enter "$@"

sandbox_start
log "downtime benchmark in $SB"
PROBER=$SB/bench/http-prober
mkdir -p "$SB/bench" "$SB/manual-backups"
build_prober "$PROBER"

OLD=$(make_release v0.56.1)
NEW=$(make_release v0.56.2)
MB_DIR=$SB/opt/metabase
install_metabase "$OLD"
[[ $(running_version) == v0.56.1 ]] || die "v0.56.1 is not running"

# The database as v0.56.1 left it, taken with Metabase stopped.
systemctl --user stop metabase.service
DB_SNAPSHOT=$SB/bench/metabase.db.v0.56.1.mv.db
cp "$MB_DIR/metabase.db.mv.db" "$DB_SNAPSHOT"
systemctl --user start metabase.service
wait_healthy 60 || die "v0.56.1 did not come back"
start_daemon

# Puts v0.56.1 and its database back, as the admin had them before the upgrade, and waits
# until it serves. A new inode for the JAR each time: the hand method's `cp` writes into it.
reset_to_old() {
        systemctl --user stop metabase.service
        cp "$OLD" "$MB_DIR/.metabase.jar.bench-reset"
        mv -f "$MB_DIR/.metabase.jar.bench-reset" "$MB_DIR/metabase.jar"
        cp "$DB_SNAPSHOT" "$MB_DIR/metabase.db.mv.db"
        systemctl --user start metabase.service
        wait_healthy 60 || die "v0.56.1 did not come back after the reset"
        [[ $(running_version) == v0.56.1 ]] || die "the reset did not bring back v0.56.1"
        # Let the daemon see the unit change and the JVM finish its start-up work.
        sleep 1
}

# The upgrade by hand, as the docs describe it.
manual_upgrade() {
        local round=$1
        systemctl --user stop metabase.service
        cp "$MB_DIR/metabase.db.mv.db" "$SB/manual-backups/metabase.db.mv.db.$round"
        cp "$NEW" "$MB_DIR/metabase.jar"
        systemctl --user start metabase.service
        wait_healthy 60 || die "the hand upgrade did not come up"
}

daemon_upgrade() {
        local out
        out=$("$MBCTL" upgrade now --jar "$NEW" 2>&1) || die "mbctl upgrade failed: $out"
        [[ $out == *committed* ]] || die "mbctl upgrade did not commit: $out"
}

# run_trial METHOD ROUND: one upgrade under the prober; appends a line to $RESULTS.
run_trial() {
        local method=$1 round=$2 plog=$SB/bench/probe-$1-$2.log ppid t0 t1 a own=-
        "$PROBER" 127.0.0.1 "$MB_PORT" /api/health "$PROBE_MS" 1000 >"$plog" &
        ppid=$!
        sleep 0.5 # a baseline of 200s
        t0=$(now_ns)
        case $method in
        daemon) daemon_upgrade ;;
        manual) manual_upgrade "$round" ;;
        esac
        t1=$(now_ns)
        sleep 0.5 # 200s after the recovery: a flapping service would show here
        kill -TERM "$ppid"
        wait "$ppid" || true
        [[ $(running_version) == v0.56.2 ]] || die "$method: v0.56.2 is not running after the upgrade"
        a=$(analyze_probes "$plog")
        case $a in
        none | nobaseline | norecovery) die "$method round $round: the prober saw '$a' (log $plog)" ;;
        esac
        if [[ $method == daemon ]]; then
                own=$(last_history | sed -n 's/.*"downtime_ms": *\([0-9]*\).*/\1/p')
                [[ -n $own ]] || own=-
        fi
        # round method downtime by_result n_failed n_probes max_gap mean_gap flaps statuses own wall_ms
        read -r dt dtr nf np mg ag fl codes <<<"$a"
        printf '%s %s %s %s %s %s %s %s %s %s %s %s\n' "$round" "$method" "$dt" "$dtr" "$nf" "$np" "$mg" "$ag" \
                "$fl" "$codes" "$own" "$(((t1 - t0) / 1000000))" >>"$RESULTS"
        printf '  %5s  %-6s  %9s  %9s  %6s  %9s  %9s  %5s  %s\n' "$round" "$method" "$dt" "$dtr" "$nf" "$own" \
                "$(((t1 - t0) / 1000000))" "$fl" "$codes"
}

RESULTS=$SB/bench/results.txt
: >"$RESULTS"
echo "== Downtime: mbupgraded vs by hand (v0.56.1 -> v0.56.2, stand-in, $ROUNDS rounds each, probe every ${PROBE_MS} ms)"
echo "   daemon: mbctl upgrade now --jar NEW (settle $MBUP_SETTLE, after health is back: not downtime)"
echo "   manual: systemctl stop; cp metabase.db.mv.db backup; cp NEW metabase.jar; systemctl start; wait for health"
printf '  %5s  %-6s  %9s  %9s  %6s  %9s  %9s  %5s  %s\n' round method "down(ms)" "by-result" failed \
        "own(ms)" "wall(ms)" flaps "failed probes by answer (-1 refused, 503 starting)"
for round in $(seq 1 "$ROUNDS"); do
        # ABBA: each method goes first in half the rounds, so a drift in the machine's load
        # does not favour one.
        if ((round % 2)); then order=(daemon manual); else order=(manual daemon); fi
        for method in "${order[@]}"; do
                reset_to_old
                run_trial "$method" "$round"
        done
done

col() { awk -v m="$1" -v c="$2" '$2 == m { print $c }' "$RESULTS"; }
# shellcheck disable=SC2046
d_med=$(median $(col daemon 3))
m_med=$(median $(col manual 3))
d_own=$(median $(col daemon 11))
d_minmax=$(col daemon 3 | sort -g | sed -n '1p;$p' | paste -sd/)
m_minmax=$(col manual 3 | sort -g | sed -n '1p;$p' | paste -sd/)
d_res=$(median $(col daemon 4))
m_res=$(median $(col manual 4))
ratio=$(calc "$d_med / $m_med")
ratio_res=$(calc "$d_res / $m_res")
max_gap=$(awk '{ if ($7 > m) m = $7 } END { print m }' "$RESULTS")
mean_gap=$(awk '{ s += $8; n++ } END { printf "%.2f\n", s / n }' "$RESULTS")
flaps=$(awk '{ s += $9 } END { print s + 0 }' "$RESULTS")

echo
echo "Probe cadence: mean interval ${mean_gap} ms, longest ${max_gap} ms (asked: ${PROBE_MS} ms)"
echo "Median downtime, mbupgraded: ${d_med} ms (min/max ${d_minmax}); the daemon's own figure (history downtime_ms, stop requested -> its health check passes): ${d_own} ms"
echo "Median downtime, by hand:    ${m_med} ms (min/max ${m_minmax})"
echo "Ratio mbupgraded / by hand:  $(fmt 3 "$ratio") (by result times: $(fmt 3 "$ratio_res")); target <= $TARGET_RATIO"
[[ $flaps -eq 0 ]] || echo "WARNING: $flaps failed probes after a recovery (the service flapped)"

if le "$ratio" "$TARGET_RATIO"; then verdict=PASS; else verdict=FAIL; fi
summary "downtime mbupgraded (median)" "$d_med" ms "-" INFO
summary "downtime by hand (median)" "$m_med" ms "-" INFO
summary "downtime ratio mbupgraded/by hand" "$(fmt 3 "$ratio")" x "<= $TARGET_RATIO" "$verdict"
echo "VERDICT: $verdict downtime ratio $(fmt 3 "$ratio") (mbupgraded ${d_med} ms / by hand ${m_med} ms; target <= $TARGET_RATIO)"
[[ $verdict == PASS ]]
