#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/footprint.sh BUILD_DIR
#
# What mbupgraded costs while it waits, in the integration sandbox (tests/integration/lib.sh:
# the unit has WatchdogSec=60s, so sd-event pings the watchdog every 30-45 s):
#   - memory: VmRSS (and VmHWM, RssAnon/RssFile, Pss) from /proc. Target: VmRSS <= 8 MiB.
#   - wake-ups while idle, three windows of WINDOW seconds:
#       A. untraced: voluntary + involuntary context switches of all its threads, from
#          /proc/PID/task/*/status before and after (each wake-up of the event loop is one);
#       B. under strace -f: every return from epoll_wait with events is a wake-up; what it did
#          next says why (WATCHDOG=1 on the notify socket: the watchdog ping);
#       C. untraced again, after one upgrade (v0.56.1 -> v0.56.2) and its rollback: a timer left
#          armed by an operation (the verifier's 200 ms health probe, an HTTP timeout) would
#          show here. The memory after the operations is reported too (not judged: the target is
#          about the daemon as started); the JARs are padded to ~10 MB so that the daemon's
#          4 MiB copy buffer is filled, as any real Metabase JAR (300+ MB) fills it.
#     The armed timers are read from /proc/PID/fdinfo of its timerfds.
#     Target: no wake-up but the watchdog pings (at most one per 30 s).
# Knobs (environment): BENCH_WINDOW (20 seconds), BENCH_WINDOW_AFTER (10 seconds).
set -euo pipefail

export MBUP_BUILD=${1:?usage: bench/footprint.sh BUILD_DIR}
WINDOW=${BENCH_WINDOW:-20}
WINDOW_AFTER=${BENCH_WINDOW_AFTER:-10}
TARGET_RSS_KB=8192
export MBUP_SETTLE=${BENCH_SETTLE:-1s}

source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
source "$BENCH_DIR/../tests/integration/lib.sh"
sandbox_enter "$@"
command -v strace >/dev/null || { echo "strace is needed (apt-get install strace)" >&2; exit 2; }

sandbox_start
log "footprint benchmark in $SB"
mkdir -p "$SB/bench"
OLD=$(make_release v0.56.1 v0.56.1 --pad-mb 8)
NEW=$(make_release v0.56.2 v0.56.2 --pad-mb 8)
install_metabase "$OLD"
start_daemon
PID=$(systemctl --user show -p MainPID --value mbupgraded.service)
[[ $PID -gt 0 ]] || die "no main PID for mbupgraded"
[[ $(readlink "/proc/$PID/exe") == "$MBUPGRADED" ]] || die "PID $PID is not $MBUPGRADED"
WD_USEC=$(systemctl --user show -p WatchdogUSec --value mbupgraded.service)

status_kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$PID/status"; }
pss_kb() { awk '$1 == "Pss:" { print $2 }' "/proc/$PID/smaps_rollup" 2>/dev/null || echo "?"; }
# Voluntary + involuntary context switches, all threads.
ctxt() { cat /proc/"$PID"/task/*/status | awk '/^(non)?voluntary_ctxt_switches:/ { s += $2 } END { print s }'; }
# Time slices run (schedstat's third field), all threads.
slices() { cat /proc/"$PID"/task/*/schedstat | awk '{ s += $3 } END { print s }'; }
alive() { kill -0 "$PID" 2>/dev/null || die "mbupgraded (PID $PID) is gone"; }

memory() {
        printf '  VmRSS %s kB (RssAnon %s, RssFile %s, RssShmem %s), VmHWM %s kB, Pss %s kB, VmSize %s kB, threads %s\n' \
                "$(status_kb VmRSS)" "$(status_kb RssAnon)" "$(status_kb RssFile)" "$(status_kb RssShmem)" \
                "$(status_kb VmHWM)" "$(pss_kb)" "$(status_kb VmSize)" "$(status_kb Threads)"
}

# The daemon's timerfds: clock, when it next fires, its interval.
timers() {
        local fd info clk
        for fd in /proc/"$PID"/fd/*; do
                [[ $(readlink "$fd" 2>/dev/null) == "anon_inode:[timerfd]" ]] || continue
                info=/proc/$PID/fdinfo/${fd##*/}
                clk=$(awk '$1 == "clockid:" { print $2 }' "$info")
                case $clk in 0) clk=REALTIME ;; 1) clk=MONOTONIC ;; 7) clk=BOOTTIME ;; 8) clk=REALTIME_ALARM ;; 9) clk=BOOTTIME_ALARM ;; esac
                awk -v fd="${fd##*/}" -v clk="$clk" '
                        $1 == "it_value:" { gsub(/[(),]/, " "); v = $2 + $3 / 1e9 }
                        $1 == "it_interval:" { gsub(/[(),]/, " "); i = $2 + $3 / 1e9 }
                        $1 == "settime" { flags = $3 }
                        END {
                                if (v == 0) printf "  timerfd fd %s (%s): disarmed\n", fd, clk
                                else printf "  timerfd fd %s (%s): armed, fires in %.1f s%s\n", fd, clk, v,
                                        (i > 0 ? sprintf(", every %.1f s", i) : ", once")
                        }' "$info"
        done
}

# Seconds until the first armed timerfd fires (idle, that is the watchdog's), or empty.
next_timer_s() {
        local fd
        for fd in /proc/"$PID"/fd/*; do
                [[ $(readlink "$fd" 2>/dev/null) == "anon_inode:[timerfd]" ]] || continue
                awk '$1 == "it_value:" { gsub(/[(),]/, " "); v = $2 + $3 / 1e9; if (v > 0) print v }' \
                        "/proc/$PID/fdinfo/${fd##*/}"
        done | sort -g | head -1
}

# The mappings holding the most resident memory.
top_mappings() {
        awk '
                /^[0-9a-f]+-[0-9a-f]+ / { name = ($6 == "" ? "[anon]" : $6) }
                $1 == "Rss:" { rss[name] += $2 }
                $1 == "Anonymous:" { anon[name] += $2 }
                END { for (n in rss) if (rss[n] > 0) printf "%8d kB  (anon %6d kB)  %s\n", rss[n], anon[n], n }
        ' "/proc/$PID/smaps" | sort -rn | head -"${1:-8}" | sed 's/^/    /'
}

# untraced_window SECONDS: prints "context-switches time-slices".
untraced_window() {
        local c0 s0 c1 s1
        alive
        c0=$(ctxt) s0=$(slices)
        sleep "$1"
        alive
        c1=$(ctxt) s1=$(slices)
        echo "$((c1 - c0)) $((s1 - s0))"
}

echo "== Footprint: mbupgraded idle in the sandbox (PID $PID, $(basename "$MBUPGRADED"), watchdog ${WD_USEC:-none})"
# The first release check runs a few seconds after start (then every check_every, 6h): idle is after it.
for _ in $(seq 1 150); do
        st=$("$MBCTL" status 2>/dev/null || true)
        [[ -n $st && $st != *"Last check: not yet"* ]] && break
        sleep 0.2
done
sleep 2 # its start-up D-Bus traffic is over
echo "Memory, idle after start:"
memory
RSS_IDLE=$(status_kb VmRSS)
echo "  largest resident mappings:"
top_mappings 6
echo "Timers armed:"
timers

# A. untraced
read -r A_CTXT A_SLICES <<<"$(untraced_window "$WINDOW")"
# Every ping is one wake-up; with a 60 s watchdog sd-event pings at 30-45 s intervals.
MAX_PINGS=$(((WINDOW + 29) / 30))
echo "A. Idle ${WINDOW}s, untraced: $A_CTXT context switches, $A_SLICES time slices run" \
        "(= $(calc "$A_CTXT * 60 / $WINDOW") wake-ups/min; watchdog pings possible in ${WINDOW}s: 0-$MAX_PINGS)"

# B. under strace; long enough to see the next watchdog ping (sd-event arms it 30-45 s ahead).
STRACE_LOG=$SB/bench/strace.log
alive
next=$(next_timer_s)
B_WINDOW=$WINDOW
[[ -z $next ]] || B_WINDOW=$(awk -v w="$WINDOW" -v n="$next" 'BEGIN { n = int(n + 2.999); m = (n > w && n < 60) ? n : w; print m }')
timeout -s INT "$B_WINDOW" strace -f -tt -s 80 -o "$STRACE_LOG" -p "$PID" 2>/dev/null || true
alive
# A wake-up: epoll_wait returning events (the attach interrupts the first call: not counted).
B_WAKE=$(grep -cE 'epoll_wait\(.*= [1-9][0-9]*$|epoll_wait resumed>.*= [1-9][0-9]*$' "$STRACE_LOG" || true)
B_PINGS=$(grep -c 'WATCHDOG=1' "$STRACE_LOG" || true)
B_OTHER=$((B_WAKE - B_PINGS))
((B_OTHER >= 0)) || B_OTHER=0
echo "B. Idle ${B_WINDOW}s, under strace (next timer was due in $(fmt 1 "${next:-0}") s): $B_WAKE wake-ups, of which $B_PINGS watchdog pings (WATCHDOG=1), $B_OTHER other"
echo "   syscalls seen:"
grep -v -e '--- SIG' -e '+++' -e 'strace: Process' "$STRACE_LOG" | sed -E 's/^[0-9]+ +//' | cut -c1-150 | sed 's/^/     /' | head -40 || true
[[ $(wc -l <"$STRACE_LOG") -le 40 ]] || echo "     ... ($(wc -l <"$STRACE_LOG") lines in all)"

# C. after one upgrade and its rollback
echo "One upgrade (v0.56.1 -> v0.56.2, $(($(stat -c %s "$NEW") / 1000000)) MB JARs, settle $MBUP_SETTLE) ..."
out=$("$MBCTL" upgrade now --jar "$NEW" 2>&1) || die "mbctl upgrade failed: $out"
[[ $out == *committed* ]] || die "the upgrade did not commit: $out"
sleep 1
echo "Memory, idle after the upgrade:"
memory
RSS_UPGRADE=$(status_kb VmRSS)
echo "Its rollback (v0.56.2 -> v0.56.1 and the database backup) ..."
out=$("$MBCTL" rollback --yes 2>&1) || die "mbctl rollback failed: $out"
[[ $out == *committed* ]] || die "the rollback did not commit: $out"
sleep 1
echo "Memory, idle after the upgrade and the rollback:"
memory
RSS_AFTER=$(status_kb VmRSS)
HWM=$(status_kb VmHWM)
echo "  largest resident mappings:"
top_mappings 8
echo "Timers armed:"
timers
read -r C_CTXT C_SLICES <<<"$(untraced_window "$WINDOW_AFTER")"
MAX_PINGS_C=$(((WINDOW_AFTER + 29) / 30))
echo "C. Idle ${WINDOW_AFTER}s after the operations, untraced: $C_CTXT context switches, $C_SLICES time slices" \
        "(= $(calc "$C_CTXT * 60 / $WINDOW_AFTER") wake-ups/min; watchdog pings possible: 0-$MAX_PINGS_C)"

# Each wake-up is one voluntary switch when the loop blocks again; allow one more per window
# for the scheduler's involuntary ones.
v_rss=FAIL v_wake=FAIL
((RSS_IDLE <= TARGET_RSS_KB)) && v_rss=PASS
((B_OTHER == 0 && B_PINGS <= (B_WINDOW + 29) / 30 && A_CTXT <= 2 * MAX_PINGS && C_CTXT <= 2 * MAX_PINGS_C)) && v_wake=PASS
# Wake-ups: the untraced windows count context switches, the traced one epoll_wait returns.
total_s=$((WINDOW + B_WINDOW + WINDOW_AFTER))
total_wake=$((A_CTXT + B_WAKE + C_CTXT))
wpm=$(calc "$total_wake * 60 / $total_s")
echo
echo "VmRSS idle: $RSS_IDLE kB ($(fmt 2 "$(calc "$RSS_IDLE / 1024")") MiB); after an upgrade: $RSS_UPGRADE kB; after its rollback too: $RSS_AFTER kB; peak (VmHWM) $HWM kB; target <= $TARGET_RSS_KB kB"
echo "Wake-ups idle: $total_wake in $total_s s (A+B+C) = $(fmt 1 "$wpm")/min; $B_PINGS watchdog ping(s) seen under strace, $B_OTHER other wake-up(s); the watchdog alone makes 1.3-2/min (60 s / 30-45 s)"
summary "daemon VmRSS idle" "$RSS_IDLE" kB "<= $TARGET_RSS_KB" "$( ((RSS_IDLE <= TARGET_RSS_KB)) && echo PASS || echo FAIL)"
# The target is about the idle daemon as started; after an upgrade it is reported, not judged.
summary "daemon VmRSS idle after an upgrade" "$RSS_UPGRADE" kB "<= $TARGET_RSS_KB" "$( ((RSS_UPGRADE <= TARGET_RSS_KB)) && echo PASS || echo WARN)"
summary "daemon VmRSS idle after upgrade+rollback" "$RSS_AFTER" kB "<= $TARGET_RSS_KB" "$( ((RSS_AFTER <= TARGET_RSS_KB)) && echo PASS || echo WARN)"
summary "daemon VmHWM (peak, during the operations)" "$HWM" kB "-" INFO
summary "daemon wake-ups idle" "$(fmt 1 "$wpm")" /min "watchdog only (<= 2)" "$v_wake"
if [[ $v_rss == PASS && $v_wake == PASS ]]; then verdict=PASS; else verdict=FAIL; fi
echo "VERDICT: $verdict VmRSS $RSS_IDLE kB idle (<= $TARGET_RSS_KB; after an upgrade and a rollback $RSS_AFTER kB$( ((RSS_AFTER > TARGET_RSS_KB)) && echo ', over')); wake-ups $(fmt 1 "$wpm")/min, $B_OTHER not the watchdog's"
[[ $verdict == PASS ]]
