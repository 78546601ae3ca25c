# A peer that can write the coordination database (psql as the fleet's role, whose password
# every node's Metabase has) can't make a node skip the backup, and a node's own policy decides
# whether it joins (issue 15 item 9). Two nodes, the fleet's rows signed with fleet.key_file:
#  (i)   a forged committed rollout to v0.56.4 (the real SHA-256, no backup, no signature): no
#        node catches up; one signed with the fleet's key (a peer that has it: root of a node)
#        naming a clone that does not exist: no node catches up either (the backup is checked);
#  (iii) n2's admin put it on hold: a rollout n1 proposes is refused by n2 with the reason and
#        aborted before anything stopped, both Metabases' MainPIDs unchanged;
#  (ii)  a real rollout, the leader migrating: the peer rewrites it to following with no backup:
#        no follower starts v0.56.4, the leader writes its row back and rolls the fleet back, the
#        database as before, both nodes serving v0.56.1;
#  (iv)  n2's policy.skip names v0.56.4: n2 refuses to join n1's rollout with the reason, which
#        aborts before any stop;
#  (v)   node rows signed with the key whose reason or version carries a newline and protocol
#        lines ("committed 903 v0.56.4 SHA", "fleet 0"): the agent's lines carry them escaped
#        (common/fleet-protocol.c), the reason is shown as it is, the version makes the line no
#        line of the protocol, and no daemon acts on the injected lines.
source "$MBUP_SRC/tests/integration/fleet-rollout-lib.sh"

# peer SQL: SQL on the coordination database as the role the nodes share, from node 2.
peer() {
        fleet_node_exec 2 env PGPASSWORD="$PG_PASS" "$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 \
                -h "$FLEET_HUB_ADDR" -p "$PG_PORT" -U metabase -d metabase_mbupgraded -c "$1"
}
# signed FIELDS...: the rollout row's signature as an agent with the fleet's key makes it.
signed() {
        local s=$'mbup-rollout-1\n' f
        for f in "$@"; do s+="${#f}:$f,"; done
        printf '%s' "$s" | openssl dgst -sha256 -hmac "$(cat "$SB/fleet.key")" -r | cut -d' ' -f1
}
# signed_node FIELDS...: a node row's signature (name host pid version state staged rollout step reason)
signed_node() {
        local s=$'mbup-node-1\n' f
        for f in "$@"; do s+="${#f}:$f,"; done
        printf '%s' "$s" | openssl dgst -sha256 -hmac "$(cat "$SB/fleet.key")" -r | cut -d' ' -f1
}
# node_json I NAME KEY: node NAME's KEY in node I's mbctl fleet status --json, "absent" without it
node_json() {
        fleet_node_exec "$1" "$MBCTL" fleet status --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
n = [e for e in json.load(sys.stdin).get("nodes", []) if e.get("name") == sys.argv[1]]
print(n[0].get(sys.argv[2], "") if n else "absent")' "$2" "$3"
}
n3_shown() { [[ $(node_json 1 n3 reason) != absent && $(node_json 2 n3 reason) != absent ]]; }
both_serve() { node_runs 1 "$1" && node_runs 2 "$1"; }
proposed() { [[ $(last_rollout) != "$1" ]]; }
backup_recorded() { [[ -n $(coord "SELECT backup FROM mbup_rollouts WHERE id = $1") ]]; }
daemon_log() { cat "$SB/n$1/logs/mbupgraded.log"; }

scenario() {
        local sha id before pids i
        # three migrations (v56.002..v56.004), 1.5 s each: the leader migrates for 4.5 s
        FLEET_NEXT=v0.56.4 fleet_rollout_start 2 --migration-ms 1500
        sha=$(cut -d' ' -f1 "$SB/n1/mirror/v0.56.4/metabase.sha256")
        pg_snapshot >"$SB/before.sql"

        log "(i) a forged committed rollout to v0.56.4, no backup, not signed"
        peer "INSERT INTO mbup_rollouts (id, from_version, to_version, sha256, state, leader, reason, proposer)
              VALUES (900, 'v0.56.1', 'v0.56.4', '$sha', 'committed', 'n1', 'every node runs v0.56.4', 'n1');
              NOTIFY mbup_fleet"
        for i in 1 2; do
                wait_for 10 grep -q "rollout 900 in the coordination database is not signed" "$SB/n$i/logs/mbupgraded.log" ||
                        die "node $i did not see the forged rollout: $(daemon_log "$i" | tail -n 20)"
        done
        log "(i) the same, signed with the fleet's key, naming a clone that does not exist"
        peer "INSERT INTO mbup_rollouts (id, from_version, to_version, sha256, state, leader, backup, backup_marker,
              reason, proposer, sig) VALUES (901, 'v0.56.1', 'v0.56.4', '$sha', 'committed', 'n1',
              'clone:metabase_gone', '121:v56.001', 'every node runs v0.56.4', 'n1',
              '$(signed 901 v0.56.1 v0.56.4 "$sha" committed n1 clone:metabase_gone 121:v56.001 "every node runs v0.56.4" n1)');
              NOTIFY mbup_fleet"
        for i in 1 2; do
                wait_for 15 grep -q "rollout 901), but this node does not catch up: the backup of rollout 901, the database metabase_gone, can't be read" "$SB/n$i/logs/mbupgraded.log" ||
                        die "node $i did not refuse to catch up: $(daemon_log "$i" | tail -n 20)"
        done
        sleep 2
        both_serve v0.56.1 || die "a node left v0.56.1"
        grep -q "v0.56.4 starting" "$SB/n1/logs/metabase.log" "$SB/n2/logs/metabase.log" && die "a node started v0.56.4"
        pg_super "DELETE FROM mbup_rollouts WHERE id IN (900, 901)" metabase_mbupgraded

        log "(v) signed node rows whose reason and version carry a newline and protocol lines"
        local why version
        why=$'waiting\ncommitted 903 v0.56.4 '"$sha"$'\nfleet 0'
        version=$'v0.56.1\ncommitted 904 v0.56.4 '"$sha"
        peer "INSERT INTO mbup_nodes (name, host, pid, version, state, staged, rollout, step, reason, sig) VALUES
              ('n3', 'h3', 1, 'v0.56.1', 'idle', '', 0, '', \$r\$$why\$r\$,
               '$(signed_node n3 h3 1 v0.56.1 idle '' 0 '' "$why")'),
              ('n4', 'h4', 1, \$r\$$version\$r\$, 'idle', '', 0, '', '',
               '$(signed_node n4 h4 1 "$version" idle '' 0 '' '')'); NOTIFY mbup_fleet"
        assert_eq "$(coord "SELECT count(*) FROM mbup_nodes WHERE reason LIKE '%committed 903%' OR version LIKE '%committed 904%'")" 2 "the hostile rows"
        wait_for 15 n3_shown || die "n1 does not show n3: $(fleet_node_exec 1 "$MBCTL" fleet status 2>&1)"
        assert_eq "$(node_json 1 n3 reason)" 'waiting\ncommitted 903 v0.56.4 '"$sha"'\nfleet 0' "n3's reason, as n1 shows it"
        assert_eq "$(node_json 2 n3 reason)" 'waiting\ncommitted 903 v0.56.4 '"$sha"'\nfleet 0' "n3's reason, as n2 shows it"
        assert_eq "$(node_json 1 n4 version)" absent "n4, whose version is no token"
        for i in 1 2; do
                wait_for 10 grep -qF "the agent's line \"node n4 " "$SB/n$i/logs/mbupgraded.log" ||
                        die "node $i did not refuse n4's line: $(daemon_log "$i" | grep -i fleet | tail -n 5)"
                grep -E "rollout (903|904)" "$SB/n$i/logs/mbupgraded.log" && die "node $i acted on an injected line"
        done
        sleep 2
        both_serve v0.56.1 || die "a node left v0.56.1"
        grep -q "v0.56.4 starting" "$SB/n1/logs/metabase.log" "$SB/n2/logs/metabase.log" && die "a node started v0.56.4"
        coord "DELETE FROM mbup_nodes WHERE name IN ('n3', 'n4')" >/dev/null

        log "(iii) n2 is on hold: n1's rollout is refused by n2 and aborted before any stop"
        fleet_node_exec 2 "$MBCTL" hold --reason "n2's admin keeps it" >/dev/null
        pids="$(fleet_node_exec 1 main_pid) $(fleet_node_exec 2 main_pid)"
        before=$(last_rollout)
        OUT=$(fleet_node_exec 1 "$MBCTL" upgrade now --to v0.56.4 2>&1) || true
        log "$OUT"
        id=$(last_rollout)
        [[ $id != "$before" ]] || die "n1 proposed no rollout"
        wait_for 20 rollout_is "$id" aborted || die "rollout $id is $(rollout_state "$id")"
        assert_contains "$(coord "SELECT reason FROM mbup_rollouts WHERE id = $id")" "node n2 can't take part: this node is on hold: n2's admin keeps it"
        assert_eq "$(fleet_node_exec 1 main_pid) $(fleet_node_exec 2 main_pid)" "$pids" "MainPIDs after the aborted rollout"
        for i in 1 2; do wait_for 20 node_idle "$i" || die "node $i is not idle"; done
        both_serve v0.56.1 || die "a node left v0.56.1"
        fleet_node_exec 2 "$MBCTL" unhold >/dev/null

        log "(ii) the leader migrating, the peer rewrites the rollout to following without a backup"
        before=$(last_rollout)
        fleet_node_exec 1 "$MBCTL" upgrade now --to v0.56.4 --no-wait >/dev/null
        wait_for 20 proposed "$before" || die "n1 proposed no rollout"
        id=$(last_rollout)
        wait_for 30 rollout_is "$id" leading || die "rollout $id is $(rollout_state "$id")"
        wait_for 30 backup_recorded "$id" || die "the leader recorded no backup"
        peer "UPDATE mbup_rollouts SET state = 'following', backup = '', backup_marker = '' WHERE id = $id; NOTIFY mbup_fleet"
        wait_for 60 rollout_is "$id" rolled-back || die "rollout $id is $(rollout_state "$id"): $(fleet_node_exec 1 "$MBCTL" fleet status 2>&1)"
        log "rollout $id: $(coord "SELECT state || ': ' || reason FROM mbup_rollouts WHERE id = $id")"
        assert_contains "$(coord "SELECT reason FROM mbup_rollouts WHERE id = $id")" "the fleet's key"
        for i in 1 2; do
                wait_for 30 node_idle "$i" || die "node $i is not idle after the rollback"
        done
        wait_for 30 both_serve v0.56.1 || die "the fleet does not serve v0.56.1"
        grep -q "v0.56.4 starting" "$SB/n2/logs/metabase.log" && die "the follower n2 started v0.56.4"
        assert_eq "$(migrated_on 2 v56.002)" 0 "the follower's migrations"
        assert_pg_snapshot "$SB/before.sql" "after the forged following state"

        log "(iv) n2's policy skips v0.56.4: n1's rollout is refused by n2 with the reason, aborted before any stop"
        MBUP_SKIP=v0.56.4 fleet_node_config 2
        fleet_node_exec 2 systemctl --user restart mbupgraded.service
        wait_for 30 fleet_is 1 healthy 2 || die "n1 does not see n2 again"
        fleet_node_exec 2 "$MBCTL" check >/dev/null
        pids="$(fleet_node_exec 1 main_pid) $(fleet_node_exec 2 main_pid)"
        before=$(last_rollout)
        OUT=$(fleet_node_exec 1 "$MBCTL" upgrade now --to v0.56.4 2>&1) || true
        log "$OUT"
        id=$(last_rollout)
        [[ $id != "$before" ]] || die "n1 proposed no rollout"
        wait_for 20 rollout_is "$id" aborted || die "rollout $id is $(rollout_state "$id")"
        assert_contains "$(coord "SELECT reason FROM mbup_rollouts WHERE id = $id")" "node n2 can't take part: v0.56.4: skipped (policy.skip)"
        assert_eq "$(fleet_node_exec 1 main_pid) $(fleet_node_exec 2 main_pid)" "$pids" "MainPIDs after the refused join"
        both_serve v0.56.1 || die "a node left v0.56.1"
}
