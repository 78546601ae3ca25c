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
# a 200 to the first probe that gets a 200 again (send times; resolution PROBE_MS). It is split
# into the old JVM's shutdown (stops answering -> exits), the gap (old process exited -> new one
# forked, to the microsecond: bench/exit-watch.c's pidfd and systemd's
# ExecMainStartTimestampMonotonic: what the method does while nothing runs) and the new JVM's startup.
#
# Target (the project's issue): median downtime by mbupgraded <= 1.05 x by hand.
# Knobs (environment): BENCH_ROUNDS (10), BENCH_PROBE_MS (50), BENCH_SETTLE (1s, the daemon's
# settle; it comes after health is back, so it is not downtime).
set -euo pipefail

export MBUP_BUILD=${1:?usage: bench/downtime.sh BUILD_DIR}
ROUNDS=${BENCH_ROUNDS:-10}
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
EXIT_WATCH=$SB/bench/exit-watch
build_tool http-prober "$PROBER"
build_tool exit-watch "$EXIT_WATCH"

OLD=$(make_release v0.56.1)
NEW=$(make_release v0.56.2)
MB_DIR=$SB/opt/metabase
# the H2 file, in the metabase user's data directory (tests/integration/lib.sh)
DB_FILE=$SB/var/lib/metabase/metabase.db.mv.db
install_metabase "$OLD"
[[ $(running_version) == v0.56.1 ]] || die "v0.56.1 is not running"

# The database as v0.56.1 left it, taken with Metabase stopped.
systemctl --user stop metabase.service
DB_SNAPSHOT=$SB/bench/metabase.db.v0.56.1.mv.db
cp "$DB_FILE" "$DB_SNAPSHOT"
systemctl --user start metabase.service
wait_healthy 60 || die "v0.56.1 did not come back"
start_daemon

# Puts v0.56.1 and its database back, as the admin had them before the upgrade, and waits
# until it serves. A new inode for the JAR each time: the hand method's `cp` writes into it.
reset_to_old() {
        systemctl --user stop metabase.service
        cp "$OLD" "$MB_DIR/.metabase.jar.bench-reset"
        mv -f "$MB_DIR/.metabase.jar.bench-reset" "$MB_DIR/metabase.jar"
        cp "$DB_SNAPSHOT" "$DB_FILE"
        systemctl --user start metabase.service
        wait_healthy 60 || die "v0.56.1 did not come back after the reset"
        [[ $(running_version) == v0.56.1 ]] || die "the reset did not bring back v0.56.1"
        # Let the daemon see the unit change and the JVM finish its start-up work.
        sleep 0.5
}

# The upgrade by hand, as the docs describe it.
manual_upgrade() {
        local round=$1
        systemctl --user stop metabase.service
        cp "$DB_FILE" "$SB/manual-backups/metabase.db.mv.db.$round"
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
        local method=$1 round=$2 plog=$SB/bench/probe-$1-$2.log wlog=$SB/bench/exit-$1-$2.log
        local ppid wpid t0 t1 a own=- old_pid exit_us fork_us t0_mono
        local dt dtr nf np mg ag fl na su ofs oos codes shutdown gap startup
        old_pid=$(main_pid)
        "$EXIT_WATCH" "$old_pid" >"$wlog" &
        wpid=$!
        "$PROBER" 127.0.0.1 "$MB_PORT" /api/health "$PROBE_MS" 1000 >"$plog" &
        ppid=$!
        sleep 0.3 # a baseline of 200s
        grep -q watching "$wlog" || die "the exit watcher did not start"
        t0=$(now_ns)
        case $method in
        daemon) daemon_upgrade ;;
        manual) manual_upgrade "$round" ;;
        esac
        t1=$(now_ns)
        sleep 0.3 # 200s after the recovery: a flapping service would show here
        kill -TERM "$ppid"
        wait "$ppid" || true
        wait "$wpid" || die "the exit watcher failed"
        [[ $(running_version) == v0.56.2 ]] || die "$method: v0.56.2 is not running after the upgrade"
        a=$(analyze_probes "$plog")
        case $a in
        none | nobaseline | norecovery) die "$method round $round: the prober saw '$a' (log $plog)" ;;
        esac
        if [[ $method == daemon ]]; then
                own=$(last_history | sed -n 's/.*"downtime_ms": *\([0-9]*\).*/\1/p')
                [[ -n $own ]] || own=-
        fi
        read -r dt dtr nf np mg ag fl na su ofs oos codes <<<"$a"
        # The old process's exit and the new one's fork, both CLOCK_MONOTONIC: the gap is what the
        # method does while nothing runs (backup, swap, asking systemd to start); shutdown is the
        # old JVM's own end after it stopped answering, startup the new JVM's until the first 200.
        exit_us=$(tail -1 "$wlog")
        fork_us=$(systemctl --user show -p ExecMainStartTimestampMonotonic --value metabase.service)
        t0_mono=$(sed -n 's/^# .*t0_monotonic_us \([0-9]*\).*/\1/p' "$plog")
        read -r shutdown gap startup <<<"$(awk -v e="$exit_us" -v f="$fork_us" -v t="$t0_mono" -v s="$ofs" -v o="$oos" \
                'BEGIN { printf "%.1f %.1f %.1f\n", (e - t) / 1000 - s, (f - e) / 1000, o - (f - t) / 1000 }')"
        # 1 round 2 method 3 downtime 4 by-result 5 failed 6 probes 7 max-gap 8 mean-gap 9 flaps
        # 10 no-answer 11 starting 12 shutdown 13 gap 14 startup 15 own 16 wall 17 statuses
        echo "$round $method $dt $dtr $nf $np $mg $ag $fl $na $su $shutdown $gap $startup $own" \
                "$(((t1 - t0) / 1000000)) $codes" >>"$RESULTS"
        printf '  %5s  %-6s  %7s  %7s  %8s  %6s  %8s  %6s  %7s  %6s  %6s  %s\n' "$round" "$method" "$dt" "$na" "$su" \
                "$nf" "$shutdown" "$gap" "$startup" "$own" "$(((t1 - t0) / 1000000))" "$codes"
}

RESULTS=$SB/bench/results.txt
: >"$RESULTS"
echo "== Downtime: mbupgraded vs by hand (v0.56.1 -> v0.56.2, stand-in, $ROUNDS rounds each, probe every ${PROBE_MS} ms)"
echo "   daemon: mbctl upgrade now --jar NEW (settle $MBUP_SETTLE, after health is back: not downtime)"
echo "   manual: systemctl stop; cp metabase.db.mv.db backup; cp NEW metabase.jar; systemctl start; wait for health"
echo "   down = first failed probe -> first 200 again = no-answer + starting (probe send times, 50 ms grain)"
echo "        = shutdown (old JVM stops answering -> exits) + gap (old process exited -> new one forked;"
echo "          exact: pidfd and systemd's ExecMainStartTimestampMonotonic) + startup (fork -> first 200)"
echo "   own: the daemon's history downtime_ms; wall: how long the method took, start to end"
printf '  %5s  %-6s  %7s  %7s  %8s  %6s  %8s  %6s  %7s  %6s  %6s  %s\n' round method down no-ans starting \
        failed shutdown gap startup own wall "failed probes by answer (-1 refused, 503 starting)"
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
{
        d_med=$(median $(col daemon 3)) m_med=$(median $(col manual 3))
        read -r d_mean d_se <<<"$(mean_se $(col daemon 3))"
        read -r m_mean m_se <<<"$(mean_se $(col manual 3))"
        d_own=$(median $(col daemon 15))
        d_na=$(median $(col daemon 10)) m_na=$(median $(col manual 10))
        d_su=$(median $(col daemon 11)) m_su=$(median $(col manual 11))
        d_sd=$(median $(col daemon 12)) m_sd=$(median $(col manual 12))
        d_gap=$(median $(col daemon 13)) m_gap=$(median $(col manual 13))
        d_st=$(median $(col daemon 14)) m_st=$(median $(col manual 14))
}
ratio=$(calc "$d_med / $m_med")
ratio_mean=$(calc "$d_mean / $m_mean")
ratio_mean_se=$(calc "$ratio_mean * sqrt(($d_se / $d_mean) ^ 2 + ($m_se / $m_mean) ^ 2)")
max_gap=$(awk '{ if ($7 > m) m = $7 } END { print m }' "$RESULTS")
mean_gap=$(awk '{ s += $8; n++ } END { printf "%.2f\n", s / n }' "$RESULTS")
flaps=$(awk '{ s += $9 } END { print s + 0 }' "$RESULTS")

echo
echo "Probe cadence: mean interval ${mean_gap} ms, longest ${max_gap} ms (asked: ${PROBE_MS} ms)"
printf '%-12s %8s %16s %10s %9s %9s %8s %8s\n' "" "median" "mean +- s.e." "no-answer" "starting" "shutdown" "gap" "startup"
printf '%-12s %8s %16s %10s %9s %9s %8s %8s\n' mbupgraded "$d_med" "$(fmt 1 "$d_mean") +- $(fmt 1 "$d_se")" "$d_na" "$d_su" "$d_sd" "$d_gap" "$d_st"
printf '%-12s %8s %16s %10s %9s %9s %8s %8s\n' "by hand" "$m_med" "$(fmt 1 "$m_mean") +- $(fmt 1 "$m_se")" "$m_na" "$m_su" "$m_sd" "$m_gap" "$m_st"
echo "(ms; all but the mean are medians. The daemon's own downtime figure, from its stop request to its"
echo " first passing health check at its 200 ms polling: median ${d_own} ms)"
echo "Ratio mbupgraded / by hand: medians $(fmt 3 "$ratio"), means $(fmt 3 "$ratio_mean") +- $(fmt 3 "$ratio_mean_se"); target <= $TARGET_RATIO"
echo "(each downtime is a multiple of the ${PROBE_MS} ms probe interval; the means resolve finer than the medians)"
[[ $flaps -eq 0 ]] || echo "WARNING: $flaps failed probes after a recovery (the service flapped)"

if le "$ratio" "$TARGET_RATIO"; then verdict=PASS; else verdict=FAIL; fi
summary "downtime mbupgraded (median)" "$d_med" ms "-" INFO
summary "downtime by hand (median)" "$m_med" ms "-" INFO
summary "downtime ratio mbupgraded/by hand (medians)" "$(fmt 3 "$ratio")" x "<= $TARGET_RATIO" "$verdict"
summary "downtime ratio (means, +- 1 s.e.)" "$(fmt 3 "$ratio_mean")+-$(fmt 2 "$ratio_mean_se")" x "-" INFO
summary "downtime mbupgraded (mean +- s.e.)" "$(fmt 1 "$d_mean")+-$(fmt 1 "$d_se")" ms "-" INFO
summary "downtime by hand (mean +- s.e.)" "$(fmt 1 "$m_mean")+-$(fmt 1 "$m_se")" ms "-" INFO
summary "exited->forked gap mbupgraded (median)" "$d_gap" ms "-" INFO
summary "exited->forked gap by hand (median)" "$m_gap" ms "-" INFO
echo "VERDICT: $verdict downtime ratio $(fmt 3 "$ratio") (medians: mbupgraded ${d_med} ms / by hand ${m_med} ms; target <= $TARGET_RATIO)"
[[ $verdict == PASS ]]
