#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/fleet-downtime.sh BUILD_DIR
#
# Downtime of a fleet rollout (docs/fleet.md) against a single node's upgrade. Each configuration
# runs in a fleet sandbox of its own (tests/integration/fleet-lib.sh: network namespaces, a bridge,
# PostgreSQL in a hub, each node with its own bus, systemd --user, stand-in Metabase and daemon):
#   single  one node, fleet.enabled false: the baseline (what one server's upgrade costs)
#   3, 5    that many nodes with fleet.enabled, fleet.parallel = N - 1 (every follower at once)
# BENCH_ROUNDS upgrades each (v0.56.1 -> v0.56.5 -> v0.56.9 ..., 4 migrations a hop), asked for
# with `mbctl upgrade now --to` on node 1. From each node's history entry (the stop and the first
# healthy answer, CLOCK_REALTIME on one machine):
#   down    from the first node's stop to the last node serving the new version: the fleet is
#           back at full strength (for the single node: its downtime)
#   outage  from the last node's stop to the first node serving again: no node answers, what a
#           load balancer's users see
# The stand-in's profile (BENCH_STARTUP_MS, default 3000, before it listens; BENCH_MIGRATION_MS,
# default 2000, between migrations) stands for Metabase's start and migrations, a tenth of a
# real one's; BENCH_PROFILE=bare runs it as it is (0 and 0).
# Target (issue 7): the median `down` of 5 nodes <= 1.3 x the single node's.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export MBUP_BUILD=${1:?usage: bench/fleet-downtime.sh BUILD_DIR}
ROUNDS=${BENCH_ROUNDS:-3}
TARGET_RATIO=1.3
if [[ ${BENCH_PROFILE:-} == bare ]]; then
        export BENCH_STARTUP_MS=0 BENCH_MIGRATION_MS=0
fi
export BENCH_STARTUP_MS=${BENCH_STARTUP_MS:-3000} BENCH_MIGRATION_MS=${BENCH_MIGRATION_MS:-2000}

if [[ ${2:-} == --run ]]; then
        # One configuration, in its own sandbox: bench/fleet-downtime.sh BUILD --run N|single
        shift 2
        CONF=$1
        source "$BENCH_DIR/bench-lib.sh"
        source "$BENCH_DIR/../tests/integration/lib.sh"
        sandbox_enter "$MBUP_BUILD" --run "$CONF"
        sandbox_start
        source "$BENCH_DIR/../tests/integration/fleet-rollout-lib.sh"
        export MBUP_SETTLE=1s
        n=$CONF
        [[ $CONF != single ]] || n=1
        fleet_net_start "$n"
        fleet_postgres_start
        pg_super "ALTER ROLE metabase CREATEDB" >/dev/null
        fleet_node_start --jar "$(make_release v0.56.1)" $(fleet_nodes)
        versions=()
        for r in $(seq 1 "$ROUNDS"); do
                versions+=("v0.56.$((1 + 4 * r))")
                fleet_add_release "v0.56.$((1 + 4 * r))" --startup-ms "$BENCH_STARTUP_MS" --migration-ms "$BENCH_MIGRATION_MS"
        done
        for i in $(fleet_nodes); do
                if [[ $CONF == single ]]; then
                        fleet_node_exec "$i" write_config
                else
                        FLEET_PARALLEL=$((n > 1 ? n - 1 : 1)) FLEET_LOST_AFTER=10s fleet_node_config "$i"
                fi
        done
        fleet_each "$(fleet_nodes)" start_daemon
        if [[ $CONF != single ]]; then
                for i in $(fleet_nodes); do
                        wait_for 30 fleet_is "$i" healthy "$n" || die "node $i does not see $n nodes"
                done
        fi
        fleet_each "$(fleet_nodes)" "$MBCTL" check >/dev/null
        for v in "${versions[@]}"; do
                fleet_node_exec 1 "$MBCTL" upgrade now --to "$v" >/dev/null || die "the upgrade to $v failed"
                for i in $(fleet_nodes); do
                        wait_for 60 node_runs "$i" "$v" || die "node $i does not run $v"
                        wait_for 60 node_idle "$i" || die "node $i is not idle"
                done
                stamps=$(for i in $(fleet_nodes); do
                        fleet_node_exec "$i" "$MBCTL" history --json | /usr/bin/python3 -c '
import json, sys
h = json.load(sys.stdin)
e = [x for x in h if x.get("to") == sys.argv[1] and x.get("result") == "committed"][-1]
print(e["stopped_usec"], e["serving_usec"])' "$v"
                done)
                read -r down outage < <(awk '{ s[NR] = $1; e[NR] = $2 } END {
                        mins = s[1]; maxs = s[1]; mine = e[1]; maxe = e[1]
                        for (i = 2; i <= NR; i++) {
                                if (s[i] < mins) mins = s[i]; if (s[i] > maxs) maxs = s[i]
                                if (e[i] < mine) mine = e[i]; if (e[i] > maxe) maxe = e[i]
                        }
                        printf "%d %d\n", (maxe - mins) / 1000, (mine - maxs) / 1000 }' <<<"$stamps")
                echo "RESULT $CONF $v $down $outage"
        done
        exit 0
fi

source "$BENCH_DIR/bench-lib.sh"
echo "fleet downtime: $ROUNDS rounds a configuration; stand-in start ${BENCH_STARTUP_MS} ms, ${BENCH_MIGRATION_MS} ms between migrations (4 a hop)"
declare -A DOWN OUTAGE
for conf in single 3 5; do
        out=$("$BENCH_DIR/fleet-downtime.sh" "$MBUP_BUILD" --run "$conf" 2>"${TMPDIR:-/tmp}/fleet-downtime-$conf.log") || {
                tail -n 30 "${TMPDIR:-/tmp}/fleet-downtime-$conf.log" >&2
                echo "VERDICT: FAIL the $conf configuration did not run"
                exit 1
        }
        printf '%s\n' "$out" | grep '^RESULT' | sed 's/^/  /'
        DOWN[$conf]=$(median $(awk '/^RESULT/ { print $4 }' <<<"$out"))
        OUTAGE[$conf]=$(median $(awk '/^RESULT/ { print $5 }' <<<"$out"))
done
single=${DOWN[single]}
printf '\n%-8s  %12s  %12s  %14s  %16s\n' nodes "down (ms)" "x single" "outage (ms)" "x sum of singles"
for conf in single 3 5; do
        n=$conf
        [[ $conf != single ]] || n=1
        printf '%-8s  %12s  %12s  %14s  %16s\n' "$conf" "${DOWN[$conf]}" "$(fmt 2 "$(calc "${DOWN[$conf]} / $single")")" \
                "${OUTAGE[$conf]}" "$(fmt 2 "$(calc "${DOWN[$conf]} / ($single * $n)")")"
done
r5=$(calc "${DOWN[5]} / $single")
r3=$(calc "${DOWN[3]} / $single")
summary fleet-down-3-vs-single "$(fmt 2 "$r3")" x "-" INFO
if le "$r5" "$TARGET_RATIO"; then v=PASS; else v=FAIL; fi
summary fleet-down-5-vs-single "$(fmt 2 "$r5")" x "<= $TARGET_RATIO" "$v"
echo "VERDICT: $v 5 nodes: ${DOWN[5]} ms down, $(fmt 2 "$r5") x the single node's ${single} ms (target <= $TARGET_RATIO); 3 nodes $(fmt 2 "$r3") x"
[[ $v == PASS ]]
