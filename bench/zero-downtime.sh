#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/zero-downtime.sh BUILD_DIR
#
# What users see through nginx during an upgrade to a release with no migration (issue 18), three
# ways, in one integration sandbox (tests/integration/lib.sh): metabase.service (the stand-in,
# starting in BENCH_STARTUP_MS before it listens, as a real Metabase takes its time) on the
# sandbox's PostgreSQL, behind a real nginx over TLS (nginx.service of the sandbox's systemd, the
# shipped upstream snippet config/nginx-upstream.conf.in in its location and the maintenance
# snippet config/nginx-maintenance.conf.in in its server, as a site has them; proxy.url and
# proxy.ca_file point the daemon at it):
#   zero    mbctl upgrade now --jar NEW with upgrade.zero_downtime: auto: the zero-downtime path
#           (an online backup, the new JAR as mbupgraded-bridge.service, nginx switched to it,
#           metabase.service stopped, swapped and started, nginx switched back, the bridge stopped)
#   usual   the same with upgrade.zero_downtime: never: the usual path, the maintenance page while
#           Metabase is down (nginx's 503s count as failed: users do not get Metabase)
#   manual  the procedure of Metabase's docs (docs/upgrading-metabase.md), done by this script:
#           pg_dump while it serves, systemctl stop, copy the new JAR over the old, systemctl start,
#           wait for /api/health (no maintenance page: nginx answers 502 meanwhile)
# BENCH_ROUNDS rounds, each method once a round, the order rotated from round to round; each trial
# upgrades to the next release (v0.56.1 -> v0.56.2 -> ... all with v0.56.1's change sets: no
# migration), so that nothing is reset in between.
#
# bench/https-prober.py sends GET /api/session/properties through nginx (a new TLS connection each
# time, the sandbox's CA) every BENCH_PROBE_MS on a fixed schedule from before the operation's call
# to after its end. Per trial: the probes that did not get a 200 (failed connections apart), the
# longest period without a 200 (first probe not answered 200 -> the next 200, send times: the
# user-visible downtime), the versions the 200s named in order and how often they changed, the
# slowest 200, and the operation's duration (its call to its return; for manual, pg_dump to health).
# The zero path must have been taken, which the script checks rather than assumes: the history
# entry's zero_downtime is "yes" and "bridged" true, the daemon logged its bridge unit, and through nginx the new version
# answered before the old process exited (bench/exit-watch.c's pidfd). When it was not (a build
# without the path, or an ineligible setup) the run says so and FAILs.
#
# Target (issue 18): the zero path, 0 answers but 200 through nginx in every round. The others are
# reported beside it, with the ratios of the medians to the manual procedure's.
# Knobs (environment): BENCH_ROUNDS (3), BENCH_STARTUP_MS (3000), BENCH_PROBE_MS (50),
# BENCH_SETTLE (1s, the daemon's service.settle).
set -euo pipefail

export MBUP_BUILD=${1:?usage: bench/zero-downtime.sh BUILD_DIR}
ROUNDS=${BENCH_ROUNDS:-3}
PROBE_MS=${BENCH_PROBE_MS:-50}
STARTUP_MS=${BENCH_STARTUP_MS:-3000}
export MBUP_SETTLE=${BENCH_SETTLE:-1s}
METHODS=(zero usual manual)

source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
source "$BENCH_DIR/../tests/integration/lib.sh"
source "$BENCH_DIR/../tests/integration/nginx.sh"
sandbox_enter "$@"

sandbox_start
log "zero-downtime benchmark in $SB"
mkdir -p "$SB/bench" "$SB/manual-backups" "$SB/page"
EXIT_WATCH=$SB/bench/exit-watch
BRIDGE_UNIT=mbupgraded-bridge.service
build_tool exit-watch "$EXIT_WATCH"

# release N: the stand-in v0.56.N with v0.56.1's change sets (no migration), starting in STARTUP_MS
release() { echo "$SB/jars/v0.56.$1.jar"; }
N_RELEASES=$((1 + ROUNDS * ${#METHODS[@]}))
for n in $(seq 1 "$N_RELEASES"); do
        make_release "v0.56.$n" "v0.56.$n" --changesets-of v0.56.1 --startup-ms "$STARTUP_MS" >/dev/null
done

postgres_start
install_metabase_pg "$(release 1)"
[[ $(running_version) == v0.56.1 ]] || die "v0.56.1 is not running"

log "nginx over TLS in front of it: the built upstream and maintenance snippets pointed at the sandbox"
NGINX_DIR=$SB/nginx
mkdir -p "$NGINX_DIR"/{tls,logs,tmp}
chmod 700 "$NGINX_DIR/tls"
{ _nginx_ca ca "mbupgraded test CA" && _nginx_server_cert server ca; } || die "no test certificates"
TEST_CA=$NGINX_DIR/tls/ca.pem
sed -e "s|/run/mbupgraded/upstream.con\[f\]|$SB/run/upstream.con[f]|" \
        -e "s|^set \$mbupgraded_upstream 127.0.0.1:3000;|set \$mbupgraded_upstream 127.0.0.1:$MB_PORT;|" \
        "$MBUP_BUILD/config/upstream.conf" >"$SB/upstream-snippet.conf"
grep -q "^include $SB/run/upstream.con\[f\];" "$SB/upstream-snippet.conf" || die "the upstream snippet has no include to point at"
cp "$MBUP_SRC/config/maintenance.html" "$SB/page/index.html"
sed -e "s|/run/mbupgraded/maintenance|$SB/run/maintenance|" -e "s|^\( *root \).*/maintenance;|\1$SB/page;|" \
        "$MBUP_BUILD/config/maintenance.conf" >"$SB/maintenance-snippet.conf"
grep -q "root $SB/page;" "$SB/maintenance-snippet.conf" || die "the maintenance snippet has no root line to point at the page"
FRONT_PORT=$(free_port)
FRONT_URL=https://127.0.0.1:$FRONT_PORT
nginx_sandbox_unit "$NGINX_DIR" "        server {
                listen 127.0.0.1:$FRONT_PORT ssl;
                ssl_certificate $NGINX_DIR/tls/server.pem;
                ssl_certificate_key $NGINX_DIR/tls/server.key;
                include $SB/maintenance-snippet.conf;
                location / {
                        include $SB/upstream-snippet.conf;
                        proxy_set_header Host \$host;
                        proxy_set_header X-Forwarded-Proto \$scheme;
                        proxy_connect_timeout 2s;
                }
        }"
mkdir -p "$SB/run"
chmod 755 "$SB/run" "$SB/page"
systemctl --user start nginx.service || die "nginx.service did not start"

through() { curl -s --cacert "$TEST_CA" --max-time 5 "$FRONT_URL/api/session/properties" | sed -n 's/.*"tag":"\([^"]*\)".*/\1/p'; }

# daemon_config auto|never: the daemon's config with that upgrade.zero_downtime; restarted when it changed.
ZD_SETTING=
daemon_config() {
        [[ $ZD_SETTING != "$1" ]] || return 0
        ZD_SETTING=$1
        MBUP_PROXY_URL=$FRONT_URL MBUP_PROXY_CA_FILE=$TEST_CA MBUP_ZERO_DOWNTIME=$1 write_config
        if [[ -f $SB/units/mbupgraded.service ]]; then
                systemctl --user restart mbupgraded.service || die "mbupgraded did not restart"
        else
                start_daemon
        fi
        wait_for 10 bash -c '[[ $("$0" status 2>/dev/null) == *"Daemon: idle"* ]]' "$MBCTL" || die "the daemon is not idle after its start"
}
daemon_config auto
wait_for 10 test -s "$SB/run/upstream.conf" || die "no upstream.conf after the daemon's start"
wait_for 10 bash -c "[[ \$(curl -s --cacert '$TEST_CA' '$FRONT_URL/api/session/properties') == *v0.56.1* ]]" ||
        die "nginx does not serve Metabase over TLS"
DRY=$("$MBCTL" upgrade now --jar "$(release 2)" --dry-run 2>&1) || die "mbctl upgrade --dry-run failed: $DRY"
ZD_DRY=$(sed -n 's/.*zero downtime: \(.*\)$/\1/p' <<<"$DRY" | head -n 1)
log "dry run of the zero path: zero downtime: ${ZD_DRY:-(not said)}"

# The manual procedure: the backup while it serves (backing-up-metabase-application-data.md:
# pg_dump), then stop, copy the JAR over the old one, start, and wait until it is healthy.
manual_upgrade() {
        PGPASSFILE=$PG_PASSFILE "$PG_BIN/pg_dump" -Fc -h 127.0.0.1 -p "$PG_PORT" -U metabase -d metabase \
                -f "$SB/manual-backups/metabase-$1.dump" || die "pg_dump failed"
        systemctl --user stop metabase.service
        cp "$2" "$SB/opt/metabase/metabase.jar"
        systemctl --user start metabase.service
        wait_healthy 120 || die "the manual upgrade did not come up"
}

# probe_stats LOG FROM_VERSION TO_VERSION: from an https-prober log, prints
#   n n_bad n_conn longest_ms bad_ms switches first_to_ms max_ok_ms max_send_gap_ms mixed_ms versions codes
# n_conn: probes with no HTTP answer (refused, timeout, broken); longest_ms: the longest run of
# probes without a 200, from its first probe's send to the next 200's (to the last probe's if none
# came); bad_ms: all such runs together; switches: how often the version of the 200s changed;
# first_to_ms: the send of the first 200 from TO_VERSION; max_ok_ms: the slowest 200;
# max_send_gap_ms: the prober's own cadence (the longest time between two sends); mixed_ms: from the
# first 200 from TO_VERSION to the last from FROM_VERSION (0 if none came after), the time both
# answered (nginx's reload lets the old workers finish their connections beside the new ones).
probe_stats() {
        sort -n -k1,1 "$1" | awk -v from="$2" -v to="$3" '
                /^#/ { next }
                {
                        n++; send = $2; st = $4; v = $5
                        if (n > 1 && send - last > maxgap) maxgap = send - last
                        last = send
                        if (st == 200) {
                                if (inrun) { len = send - rs; bad += len; if (len > longest) longest = len; inrun = 0 }
                                if (v != pv) { vs = vs (vs == "" ? "" : ">") v; if (pv != "") sw++; pv = v }
                                if (v == to && first == "") first = send
                                if (v == from) lastfrom = send
                                if ($3 - send > maxok) maxok = $3 - send
                        } else {
                                nb++; codes[st]++; if (st < 0) nc++
                                if (!inrun) { inrun = 1; rs = send }
                        }
                }
                END {
                        if (inrun) { len = last - rs; bad += len; if (len > longest) longest = len }
                        c = ""
                        for (k in codes) c = c (c == "" ? "" : ",") k ":" codes[k]
                        mixed = (first != "" && lastfrom > first) ? lastfrom - first : 0
                        printf "%d %d %d %.1f %.1f %d %s %.1f %.1f %.1f %s %s\n", n, nb + 0, nc + 0, longest + 0, bad + 0, sw + 0,
                                (first == "" ? "-" : first), maxok + 0, maxgap + 0, mixed, (vs == "" ? "-" : vs), (c == "" ? "-" : c)
                }'
}

# run_trial METHOD ROUND N: the upgrade from release N-1 to release N under the prober; appends a
# line to $RESULTS.
run_trial() {
        local method=$1 round=$2 n=$3 from=v0.56.$(($3 - 1)) to=v0.56.$3
        local plog=$SB/bench/probe-$1-$2.log wlog=$SB/bench/exit-$1-$2.log
        local ppid wpid t0 t1 out old_pid exit_us t0_us t0_mono t0_ms dur exit_ms log_off
        local s nn nb nc longest bad sw first maxok maxgap mixed vs codes unit_down=- zd=- bridged=false taken=-
        case $method in
        zero) daemon_config auto ;;
        usual) daemon_config never ;;
        esac
        [[ $(through) == "$from" ]] || die "$method round $round: nginx does not serve $from before the upgrade"
        old_pid=$(main_pid)
        "$EXIT_WATCH" "$old_pid" >"$wlog" &
        wpid=$!
        python3 "$BENCH_DIR/https-prober.py" 127.0.0.1 "$FRONT_PORT" /api/session/properties "$TEST_CA" \
                "$PROBE_MS" 2000 >"$plog" 2>"$SB/bench/prober.err" &
        ppid=$!
        wait_for 10 grep -q " 200 $from\$" "$plog" || die "the prober got no 200 through nginx"
        sleep 0.3 # a baseline of 200s
        grep -q watching "$wlog" || die "the exit watcher did not start"
        log_off=$(stat -c %s "$SB/logs/mbupgraded.log")
        t0=$(now_ns)
        case $method in
        zero | usual)
                out=$("$MBCTL" upgrade now --jar "$(release "$n")" 2>&1) || die "$method: mbctl upgrade failed: $out"
                [[ $out == *committed* ]] || die "$method: mbctl upgrade did not commit: $out"
                ;;
        manual) manual_upgrade "$round" "$(release "$n")" ;;
        esac
        t1=$(now_ns)
        sleep 0.5 # 200s after the end: a flapping service would show here
        kill -TERM "$ppid"
        wait "$ppid" || true
        wait "$wpid" || die "the exit watcher failed"
        [[ $(running_version) == "$to" ]] || die "$method: $to is not running after the upgrade"
        # whatever the path, it ends as it began: nginx on the unit's own port, no bridge left
        grep -q "^set \$mbupgraded_upstream 127\.0\.0\.1:$MB_PORT;\$" "$SB/run/upstream.conf" ||
                die "$method round $round: upstream.conf does not name the unit's port after the upgrade: $(cat "$SB/run/upstream.conf")"
        [[ $(systemctl --user show -p ActiveState --value "$BRIDGE_UNIT") != active ]] ||
                die "$method round $round: $BRIDGE_UNIT is still active after the upgrade"
        dur=$(((t1 - t0) / 1000000))
        # the old process's exit, on the prober's clock (both CLOCK_MONOTONIC)
        exit_us=$(tail -n 1 "$wlog")
        t0_mono=$(sed -n 's/^# .*t0_monotonic_us \([0-9]*\).*/\1/p' "$plog")
        t0_us=$(sed -n 's/^# t0_realtime_us \([0-9]*\).*/\1/p' "$plog")
        exit_ms=$(calc "($exit_us - $t0_mono) / 1000")
        t0_ms=$(calc "($t0 / 1000 - $t0_us) / 1000")
        s=$(probe_stats "$plog" "$from" "$to")
        read -r nn nb nc longest bad sw first maxok maxgap mixed vs codes <<<"$s"
        [[ $first != - ]] || die "$method round $round: no 200 from $to through nginx (log $plog)"
        if [[ $method != manual ]]; then
                local h
                h=$(last_history)
                unit_down=$(sed -n 's/.*"downtime_ms": *\([0-9]*\).*/\1/p' <<<"$h")
                [[ -n $unit_down ]] || unit_down=-
                zd=$(jq -r '.zero_downtime // "-"' <<<"$h")
                bridged=$(jq -r '.bridged // false' <<<"$h")
        fi
        if [[ $method == zero ]]; then
                # Taken, not merely eligible: the daemon's bridge, and the new version through nginx
                # while the old process still ran.
                taken=yes
                if [[ $zd != yes ]]; then
                        taken="no: the history says zero_downtime '$zd'"
                elif [[ $bridged != true ]]; then
                        taken="no: eligible, but the history entry is not 'bridged' (this build takes the usual path)"
                elif ! tail -c +"$((log_off + 1))" "$SB/logs/mbupgraded.log" | grep -q "$BRIDGE_UNIT"; then
                        taken="no: the daemon logged nothing of $BRIDGE_UNIT"
                elif ! le "$first" "$exit_ms"; then
                        taken="no: $to answered through nginx only after the old process exited"
                fi
                [[ $taken == yes ]] || ZERO_NOT_TAKEN+="${ZERO_NOT_TAKEN:+; }round $round: $taken"
        fi
        # 1 round 2 method 3 n 4 bad 5 conn 6 longest 7 bad_ms 8 switches 9 duration 10 unit_down
        # 11 first_new-t0 12 old_exit-t0 13 max_ok 14 versions 15 codes 16 taken 17 max_send_gap 18 mixed
        echo "$round $method $nn $nb $nc $longest $bad $sw $dur $unit_down $(calc "$first - $t0_ms") $(calc "$exit_ms - $t0_ms")" \
                "$maxok $vs $codes ${taken// /_} $maxgap $mixed" >>"$RESULTS"
        printf '  %5s  %-6s  %6s  %6s  %6s  %8s  %8s  %6s  %7s  %8s  %6s  %6s  %3s  %s  %s\n' "$round" "$method" "$nn" "$nb" "$nc" \
                "$longest" "$dur" "$unit_down" "$(fmt 0 "$(calc "$first - $t0_ms")")" "$(fmt 0 "$(calc "$exit_ms - $t0_ms")")" \
                "$(fmt 0 "$maxok")" "$(fmt 0 "$mixed")" "$sw" "$vs" "$codes"
        [[ $taken == yes || $taken == - ]] || echo "         zero path not taken: $taken"
}

RESULTS=$SB/bench/results.txt
: >"$RESULTS"
ZERO_NOT_TAKEN=
echo "== Zero downtime through nginx: the zero-downtime path vs the usual path vs the manual procedure"
echo "   $ROUNDS rounds each, order rotated; each trial v0.56.N-1 -> v0.56.N, no migration; PostgreSQL;"
echo "   the stand-in listens ${STARTUP_MS} ms after its start; settle $MBUP_SETTLE; a probe through nginx (TLS) every ${PROBE_MS} ms"
echo "   zero:   mbctl upgrade now --jar NEW, upgrade.zero_downtime: auto (dry run: zero downtime: ${ZD_DRY:-not said})"
echo "   usual:  mbctl upgrade now --jar NEW, upgrade.zero_downtime: never (maintenance page)"
echo "   manual: pg_dump; systemctl stop; cp NEW metabase.jar; systemctl start; wait for /api/health"
echo "   bad: probes not answered 200 (conn: of them, no HTTP answer); down: the longest time without a 200;"
echo "   dur: the operation, call to return; unit: the daemon's own downtime_ms of metabase.service;"
echo "   new/exit: the first 200 from the new version, the old process's exit (ms after the call);"
echo "   slow: the slowest 200 (ms); mixed: the old and the new version both answering (ms, nginx's reload);"
echo "   sw: how often the version of the 200s changed"
printf '  %5s  %-6s  %6s  %6s  %6s  %8s  %8s  %6s  %7s  %8s  %6s  %6s  %3s  %s  %s\n' round method probes bad conn down \
        dur unit new exit slow mixed sw versions "statuses not 200"
n=1
for round in $(seq 1 "$ROUNDS"); do
        k=$(((round - 1) % ${#METHODS[@]}))
        for method in "${METHODS[@]:k}" "${METHODS[@]:0:k}"; do
                n=$((n + 1))
                run_trial "$method" "$round" "$n"
        done
done

col() { awk -v m="$1" -v c="$2" '$2 == m { print $c }' "$RESULTS"; }
declare -A DOWN BAD DUR CONN
for m in "${METHODS[@]}"; do
        # shellcheck disable=SC2046
        DOWN[$m]=$(median $(col "$m" 6)) BAD[$m]=$(median $(col "$m" 4)) DUR[$m]=$(median $(col "$m" 9)) CONN[$m]=$(median $(col "$m" 5))
done
zero_bad_max=$(awk '$2 == "zero" { if ($4 > m) m = $4 } END { print m + 0 }' "$RESULTS")
zero_sw=$(col zero 8 | sort -u | tr '\n' ' ')
zero_mixed=$(awk '$2 == "zero" { if ($18 > m) m = $18 } END { print m + 0 }' "$RESULTS")
max_gap=$(awk '{ if ($17 > m) m = $17 } END { print m + 0 }' "$RESULTS")

echo
printf '%-8s %12s %12s %12s %14s %14s %14s\n' "" "down (ms)" "not 200" "no answer" "duration (ms)" "down/manual" "dur/manual"
for m in "${METHODS[@]}"; do
        printf '%-8s %12s %12s %12s %14s %14s %14s\n' "$m" "${DOWN[$m]}" "${BAD[$m]}" "${CONN[$m]}" "${DUR[$m]}" \
                "$(fmt 3 "$(calc "${DOWN[$m]} / ${DOWN[manual]}")")" "$(fmt 2 "$(calc "${DUR[$m]} / ${DUR[manual]}")")"
done
echo "(medians of $ROUNDS rounds; down is a multiple of the ${PROBE_MS} ms probe interval)"
echo "Probe cadence: the longest time between two probes' sends ${max_gap} ms (asked: ${PROBE_MS} ms)"
echo "zero path: most answers not 200 in a round: $zero_bad_max; version changes a round: $zero_sw; both versions answering: up to $zero_mixed ms"

verdict=PASS why="the zero-downtime path: 0 answers but 200 through nginx in all $ROUNDS rounds"
if [[ -n $ZERO_NOT_TAKEN ]]; then
        verdict=FAIL why="the zero-downtime path was not taken ($ZERO_NOT_TAKEN)"
elif ((zero_bad_max > 0)); then
        verdict=FAIL why="the zero-downtime path: up to $zero_bad_max answers not 200 in a round (target 0)"
fi
summary "zero-downtime path: not 200 (most in a round)" "$zero_bad_max" probes "0" "$verdict"
for m in "${METHODS[@]}"; do
        summary "$m: downtime through nginx (median)" "${DOWN[$m]}" ms "-" INFO
        summary "$m: not 200 (median)" "${BAD[$m]}" probes "-" INFO
        summary "$m: duration (median)" "${DUR[$m]}" ms "-" INFO
done
summary "usual/manual downtime (medians)" "$(fmt 3 "$(calc "${DOWN[usual]} / ${DOWN[manual]}")")" x "-" INFO
summary "zero: both versions answering (longest)" "$zero_mixed" ms "-" INFO
summary "zero/manual duration (medians)" "$(fmt 2 "$(calc "${DUR[zero]} / ${DUR[manual]}")")" x "-" INFO
echo "VERDICT: $verdict $why (downtime medians: zero ${DOWN[zero]} ms, usual ${DOWN[usual]} ms, manual ${DOWN[manual]} ms)"
[[ $verdict == PASS ]]
