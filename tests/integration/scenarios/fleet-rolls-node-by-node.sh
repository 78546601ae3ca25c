# A release that adds no migration is rolled through a fleet of three node by node, while the
# other nodes serve (docs/fleet.md, "Rolling a release with no migration"):
#  - v0.56.2 carries v0.56.1's change sets: `mbctl upgrade now` on n1 says "zero downtime: yes",
#    the rollout's mode is rolling; n1 goes first (stop, a pg_dump while n2 and n3 serve, swap,
#    start, settle), then n2 and n3 together (fleet.parallel 5, capped at N-1 = 2). A prober on
#    every node's port at 40 Hz sees no moment when no node answers 200, each node's history has
#    its own stop, and the stop windows of the three never overlap all at once. Nobody migrated.
#  - v0.56.3 (no migration either) fails to start on n2 alone (STANDIN_FAIL_v0_56_3 in n2's
#    unit), fleet.parallel 1: n2 rolls back by itself, n1 returns to v0.56.2 (JAR only, its
#    backup kept), n3 is never stopped; again no moment without a node serving, and the database
#    is as it was (pg_dump before and after the same).
#  - v0.56.5 (no migration, a 3 s start), fleet.parallel 1: n3's link is cut while n2 upgrades,
#    so n3 is lost mid-roll: the leader rolls the fleet back as an all-stop rollout would after a
#    stop, n1 and n2 return one at a time, n3 (not reached) is never stopped and, back, ends its
#    part as canceled; no moment without a node serving.
#  - (attack) v0.56.4 adds migrations: an all-stop rollout, its reason in mbctl fleet status. A
#    peer that can write the coordination database (psql as the role every node's Metabase has)
#    flips its mode to rolling while it stages: the row's signature (the fleet's key) no longer
#    verifies, the leader writes it back and ends the rollout; no node rolls a migrating release,
#    every node still serves v0.56.2, the database as before.
source "$MBUP_SRC/tests/integration/fleet-rollout-lib.sh"

PROBE_JOBS=()
# probe_start TAG: a prober in every node ($SB/probe.TAG.I.log), each seen answering first
probe_start() {
        local i
        PROBE_JOBS=()
        for i in $(fleet_nodes); do
                rm -f "$SB/n$i/probe.stop"
                # each node's Metabase on its port 3000 (fleet-node.sh), over http
                fleet_node_exec "$i" /usr/bin/python3 "$MBUP_SRC/tests/integration/version-prober.py" \
                        http://127.0.0.1:3000/api/session/properties - 25 "$SB/n$i/probe.stop" \
                        >"$SB/probe.$1.$i.log" 2>&1 &
                PROBE_JOBS+=($!)
        done
        for i in $(fleet_nodes); do
                wait_for 10 grep -q ' 200 ' "$SB/probe.$1.$i.log" || die "node $i's prober sees no 200: $(tail -n 3 "$SB/probe.$1.$i.log")"
        done
}

probe_stop() {
        local i
        for i in $(fleet_nodes); do touch "$SB/n$i/probe.stop"; done
        wait "${PROBE_JOBS[@]}" 2>/dev/null || true
}

# always_serving TAG FROM_MS TO_MS: between the two, at every moment some node answered 200 (a
# node counts as serving from one 200 to its next 200 only: a probe that failed in between ends
# it at the 200 before). Logs each node's probes and time without 200.
always_serving() {
        /usr/bin/python3 - "$@" "$SB" $(fleet_nodes) <<'EOF'
import sys
tag, t0, t1, sb, nodes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5:]
spans, report, last = [], [], 0
for n in nodes:
    probes = [l.split() for l in open("%s/probe.%s.%s.log" % (sb, tag, n)) if len(l.split()) == 3]
    probes = [(int(t), int(s), v) for t, s, v in probes]
    last = max([last] + [p[0] for p in probes])
    down = max_gap = 0
    for (a, sa, _), (b, sb_, _) in zip(probes, probes[1:]):
        if sa == 200 and sb_ == 200:
            spans.append((a, b))
        elif a >= t0 and b <= t1:
            down += b - a
    within = [p for p in probes if t0 <= p[0] <= t1]
    versions = []
    for p in within:
        if p[1] == 200 and (not versions or versions[-1] != p[2]):
            versions.append(p[2])
    report.append("n%s: %d probes, %.1f s without 200, served %s" % (n, len(within), down / 1000, " -> ".join(versions)))
# TO_MS is taken between two probes: what the last ones saw is as far as anyone knows
t1 = min(t1, last)
spans.sort()
cur, gaps = t0, []
for a, b in spans:
    if b < cur:
        continue
    if a > cur:
        gaps.append((cur, a))
    cur = max(cur, b)
if cur < t1:
    gaps.append((cur, t1))
print("; ".join(report))
if gaps:
    print("moments with no node serving: " + ", ".join("%d ms at +%d ms" % (b - a, a - t0) for a, b in gaps))
    sys.exit(1)
print("no moment without a node serving over %.1f s" % ((t1 - t0) / 1000))
EOF
}

# down_periods TAG I: node I's periods without a 200, "FROM-TO" each (the first probe that failed,
# the next 200), in order
down_periods() {
        awk 'BEGIN { d = 0 } $2 != 200 && !d { from = $1; d = 1 }
                $2 == 200 && d { printf "%s%s-%s", n++ ? " " : "", from, $1; d = 0 }' "$SB/probe.$1.$2.log"
}

hist() { fleet_node_exec "$1" "$MBCTL" history --json; }
# last_op I KEY: KEY of node I's newest upgrade in its history
last_op() {
        hist "$1" | /usr/bin/python3 -c '
import json, sys
ops = [o for o in json.load(sys.stdin) if o.get("kind") == "upgrade"]
print(max(ops, key=lambda o: o["id"]).get(sys.argv[1], ""))' "$2"
}

now_ms() { date +%s%3N; }
# peer SQL: SQL on the coordination database as the role the nodes share, from node 2.
peer() {
        fleet_node_exec 2 env PGPASSWORD="$PG_PASS" "$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 \
                -h "$FLEET_HUB_ADDR" -p "$PG_PORT" -U metabase -d metabase_mbupgraded -c "$1"
}
proposed() { [[ $(last_rollout) != "$1" ]]; }
# n2_down ID: n2's step in rollout ID says its Metabase is down (or it went down and came back)
n2_down() {
        [[ $(coord "SELECT step FROM mbup_nodes WHERE name = 'n2' AND rollout = $1") =~ ^(stopping|stopped|starting|healthy|settled)$ ]]
}
all_stop_shown() { [[ $(fleet_node_exec 1 "$MBCTL" fleet status) == *"every node stops at once: v0.56.4 adds 3 change sets"* ]]; }
rollout_ended() { [[ $(rollout_state "$1") == aborted || $(rollout_state "$1") == rolled-back ]]; }

scenario() {
        local i id rc t0 t1 before pids=()
        FLEET_PARALLEL=5 fleet_rollout_start 3 --changesets-of v0.56.1
        for i in 1 2 3; do pids+=("$(fleet_node_exec "$i" main_pid)"); done

        log "v0.56.2 adds no migration: rolled node by node"
        OUT=$(fleet_node_exec 1 "$MBCTL" upgrade now --dry-run 2>&1) || die "mbctl upgrade now --dry-run on n1: $OUT"
        assert_contains "$OUT" "zero downtime: yes"
        probe_start roll
        t0=$(now_ms)
        rc=0
        OUT=$(fleet_node_exec 1 "$MBCTL" upgrade now 2>&1) || rc=$?
        log "$OUT"
        [[ $rc == 0 ]] || die "mbctl upgrade now on n1 exited $rc: $OUT
$(tail -n 40 "$SB/n1/logs/mbupgraded.log")"
        id=$(last_rollout)
        wait_for 90 rollout_is "$id" committed || die "rollout $id is $(rollout_state "$id"): $(fleet_node_exec 1 "$MBCTL" fleet status 2>&1)"
        for i in 1 2 3; do
                wait_for 30 node_runs "$i" v0.56.2 || die "node $i does not run v0.56.2"
                wait_for 30 node_idle "$i" || die "node $i is not idle after the rollout"
        done
        t1=$(now_ms)
        probe_stop
        log "rollout $id: $(coord "SELECT state || ', ' || mode || ': ' || mode_reason FROM mbup_rollouts WHERE id = $id")"
        assert_eq "$(coord "SELECT mode FROM mbup_rollouts WHERE id = $id")" rolling "the rollout's mode"
        always_serving roll "$t0" "$t1" || die "rollout $id left a moment with no node serving"
        local stops=()
        for i in 1 2 3; do
                [[ $(fleet_node_exec "$i" main_pid) != "${pids[$((i - 1))]}" ]] || die "node $i was not restarted"
                assert_eq "$(last_op "$i" fleet_rollout)/$(last_op "$i" result)/$(last_op "$i" zero_downtime)" \
                        "$id/committed/yes" "node $i's history"
                stops+=("$(last_op "$i" stopped_usec) $(last_op "$i" serving_usec)")
                [[ ${stops[-1]} != "0 "* && ${stops[-1]} != " "* ]] || die "node $i's history has no stop: ${stops[-1]}"
                assert_eq "$(migrated_on "$i" v56.002)" 0 "node $i's migrations"
        done
        log "stopped .. serving again (us): n1 ${stops[0]}, n2 ${stops[1]}, n3 ${stops[2]}"
        /usr/bin/python3 - "${stops[@]}" <<'EOF' || die "the nodes' stops are not node by node"
import sys
(s1, e1), (s2, e2), (s3, e3) = [tuple(map(int, a.split())) for a in sys.argv[1:]]
assert e1 <= s2 and e1 <= s3, "n2 or n3 stopped before n1 served again"
assert max(s2, s3) < min(e2, e3), "n2 and n3 were not down together (fleet.parallel capped at 2)"
EOF
        assert_contains "$(coord "SELECT backup FROM mbup_rollouts WHERE id = $id")" "dump:n1:"
        assert_contains "$(fleet_node_exec 2 "$MBCTL" fleet status)" "Last committed rollout: $id, to v0.56.2"

        log "v0.56.3 fails on n2 alone, fleet.parallel 1: the roll stops and goes back"
        for i in 1 2 3; do
                FLEET_PARALLEL=1 fleet_node_config "$i"
                fleet_node_exec "$i" systemctl --user restart mbupgraded.service
        done
        for i in 1 2 3; do
                wait_for 30 fleet_is "$i" healthy 3 || die "node $i does not see 3 healthy nodes after its restart"
        done
        fleet_node_exec 2 write_metabase_unit Environment=MB_DB_TYPE=postgres \
                "Environment=MB_DB_CONNECTION_URI=$FLEET_PG_URI" Environment=STANDIN_FAIL_v0_56_3=crash-at-start
        fleet_node_exec 2 systemctl --user daemon-reload
        fleet_add_release v0.56.3 --changesets-of v0.56.1
        pg_snapshot >"$SB/before.sql"
        pids=()
        for i in 1 2 3; do pids+=("$(fleet_node_exec "$i" main_pid)"); done
        probe_start fail
        t0=$(now_ms)
        rc=0
        OUT=$(fleet_node_exec 1 "$MBCTL" upgrade now --to v0.56.3 2>&1) || rc=$?
        log "$OUT"
        assert_eq "$rc" 3 "mbctl upgrade now's exit status (v0.56.3)"
        id=$(last_rollout)
        wait_for 90 rollout_is "$id" rolled-back || die "rollout $id is $(rollout_state "$id"): $(fleet_node_exec 1 "$MBCTL" fleet status 2>&1)"
        for i in 1 2 3; do
                wait_for 30 node_idle "$i" || die "node $i is not idle after the rollback"
                wait_for 30 node_runs "$i" v0.56.2 || die "node $i does not run v0.56.2 after the rollback"
        done
        t1=$(now_ms)
        probe_stop
        log "rollout $id: $(coord "SELECT state || ', ' || mode || ': ' || reason FROM mbup_rollouts WHERE id = $id")"
        always_serving fail "$t0" "$t1" || die "rollout $id's rollback left a moment with no node serving"
        assert_contains "$(coord "SELECT reason FROM mbup_rollouts WHERE id = $id")" "node n2:"
        assert_eq "$(last_op 1 result)/$(last_op 2 result)/$(last_op 3 result)" "rolled-back/rolled-back/canceled" \
                "the nodes' results"
        grep -q "Metabase v0.56.3 starting" "$SB/n1/logs/metabase.log" || die "n1 never started v0.56.3"
        grep -q "v0.56.3 starting" "$SB/n3/logs/metabase.log" && die "n3 started v0.56.3"
        [[ $(fleet_node_exec 3 main_pid) == "${pids[2]}" ]] || die "n3 was stopped"
        [[ $(last_op 3 stopped_usec) == "" || $(last_op 3 stopped_usec) == 0 ]] || die "n3's history has a stop"
        # the leader's backup (a pg_dump, taken while n2 and n3 served) is kept, and named
        local backup
        backup=$(last_op 1 backup)
        [[ -n $backup && -s $backup ]] || die "n1's history names no backup that exists: '$backup'"
        assert_contains "$(coord "SELECT backup FROM mbup_rollouts WHERE id = $id")" "dump:n1:"
        # no node restored the database (nothing to restore: the release changed no schema)
        for i in 1 2 3; do
                grep -q "Restoring .* from" "$SB/n$i/logs/mbupgraded.log" && die "node $i restored the database"
        done
        assert_pg_snapshot "$SB/before.sql" "after the rolling rollback of v0.56.3"

        log "v0.56.5: n3 lost while n2 upgrades (its link cut): the roll goes back"
        fleet_add_release v0.56.5 --changesets-of v0.56.1 --startup-ms 3000
        pids=()
        for i in 1 2 3; do pids+=("$(fleet_node_exec "$i" main_pid)"); done
        before=$(last_rollout)
        probe_start lost
        t0=$(now_ms)
        fleet_node_exec 1 "$MBCTL" upgrade now --to v0.56.5 --no-wait >/dev/null
        wait_for 30 proposed "$before" || die "n1 proposed no rollout"
        id=$(last_rollout)
        wait_for 60 n2_down "$id" || die "n2 never went down in rollout $id: $(fleet_node_exec 1 "$MBCTL" fleet status 2>&1)"
        fleet_link_down 3
        wait_for 90 rollout_is "$id" rolled-back || die "rollout $id is $(rollout_state "$id"): $(fleet_node_exec 1 "$MBCTL" fleet status 2>&1)"
        fleet_link_up 3
        for i in 1 2 3; do
                wait_for 60 node_idle "$i" || die "node $i is not idle after the rollback"
                wait_for 30 node_runs "$i" v0.56.2 || die "node $i does not run v0.56.2 after the rollback"
        done
        t1=$(now_ms)
        probe_stop
        log "rollout $id: $(coord "SELECT state || ', ' || mode || ': ' || reason FROM mbup_rollouts WHERE id = $id")"
        always_serving lost "$t0" "$t1" || die "rollout $id's rollback after a lost node left a moment with no node serving"
        assert_contains "$(coord "SELECT reason FROM mbup_rollouts WHERE id = $id")" "node n3 was lost during the rolling step"
        assert_eq "$(last_op 1 result)/$(last_op 2 result)/$(last_op 3 result)" "rolled-back/rolled-back/canceled" \
                "the nodes' results (a lost node)"
        [[ $(fleet_node_exec 3 main_pid) == "${pids[2]}" ]] || die "n3 was stopped"
        # n1 went down twice (up, then back); n2 twice, or once when it was still starting as the
        # fleet turned back; the last of each one after the other
        local p1 p2 l1 l2
        p1=$(down_periods lost 1)
        p2=$(down_periods lost 2)
        log "periods without 200 (ms since the epoch): n1 $p1; n2 $p2"
        [[ $(wc -w <<<"$p1") == 2 && -n $p2 ]] || die "n1 was not down twice, or n2 never"
        l1=${p1##* } l2=${p2##* }
        ((${l1#*-} <= ${l2%-*} || ${l2#*-} <= ${l1%-*})) || die "n1 and n2 went back at the same time: n1 $l1, n2 $l2"

        log "(attack) v0.56.4 migrates: all-stop; a peer without the fleet's key flips it to rolling"
        fleet_add_release v0.56.4
        local job
        before=$(last_rollout)
        fleet_node_exec 1 "$MBCTL" upgrade now --to v0.56.4 >"$SB/attack.out" 2>&1 &
        job=$!
        wait_for 30 proposed "$before" || die "n1 proposed no rollout: $(cat "$SB/attack.out")"
        id=$(last_rollout)
        wait_for 10 all_stop_shown || die "n1's fleet status does not show the all-stop rollout: $(fleet_node_exec 1 "$MBCTL" fleet status)"
        peer "UPDATE mbup_rollouts SET mode = 'rolling', mode_reason = 'no migration, trust me' WHERE id = $id; NOTIFY mbup_fleet"
        wait "$job" || true
        log "$(cat "$SB/attack.out")"
        wait_for 90 rollout_ended "$id" || die "rollout $id is $(rollout_state "$id"): $(fleet_node_exec 1 "$MBCTL" fleet status 2>&1)"
        log "rollout $id: $(coord "SELECT state || ', ' || mode || ': ' || reason FROM mbup_rollouts WHERE id = $id")"
        assert_contains "$(coord "SELECT reason FROM mbup_rollouts WHERE id = $id")" "changed by someone without the fleet's key"
        assert_contains "$(coord "SELECT mode || ': ' || mode_reason FROM mbup_rollouts WHERE id = $id")" \
                "all-stop: v0.56.4 adds 3 change sets to the application database (v56.002, v56.003, v56.004)"
        for i in 1 2 3; do
                wait_for 30 node_idle "$i" || die "node $i is not idle after the forged rollout"
                wait_for 30 node_runs "$i" v0.56.2 || die "node $i does not serve v0.56.2 after the forged rollout"
                grep -q "rollout $id -> rolling:\|Rollout $id rolls node by node" "$SB/n$i/logs/mbupgraded.log" &&
                        die "node $i rolled rollout $id node by node"
        done
        assert_pg_snapshot "$SB/before.sql" "after the forged rollout of v0.56.4"
}
