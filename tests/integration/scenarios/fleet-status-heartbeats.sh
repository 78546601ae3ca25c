# mbctl fleet status --json whatever its exit status (1 while a node is lost or missing)
fleet_status_json() { "$MBCTL" fleet status --json || true; }
# fleet_json KEY: a top-level member of mbctl fleet status --json
fleet_json() { fleet_status_json | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
# node_field NAME KEY: a member of node NAME in mbctl fleet status --json ("" when absent)
node_field() {
        fleet_status_json | /usr/bin/python3 -c '
import json, sys
for n in json.load(sys.stdin)["nodes"]:
    if n["name"] == sys.argv[1]:
        print(n[sys.argv[2]])' "$1" "$2"
}

# node_is NAME KEY VALUE / fleet_is KEY VALUE: for wait_for, which runs its command again each time
node_is() { [[ $(node_field "$1" "$2") == "$3" ]]; }
fleet_is() { [[ $(fleet_json "$1") == "$2" ]]; }

OTHER_PID=
other_node_start() { # a second node's agent, heartbeating every 0.5 s until stopped
        printf '127.0.0.1:%s:*:metabase:%s\n' "$PG_PORT" "$PG_PASS" >"$SB/node-b.pass"
        chmod 600 "$SB/node-b.pass"
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin MBUP_FLEET_CONNINFO="host='127.0.0.1' port='$PG_PORT' dbname='metabase_mbupgraded' user='metabase'" \
                PGPASSFILE="$SB/node-b.pass" MBUP_FLEET_NODE=node-b MBUP_FLEET_HOST=other-host \
                bash -c 'while :; do echo "heartbeat v0.56.1 idle -"; sleep 0.5; done | "$0" fleet-agent' \
                "$MBUP_BUILD/dbhelper/mbupgraded-db" >"$SB/logs/node-b.out" 2>&1 &
        OTHER_PID=$!
}
other_node_stop() {
        [[ -n $OTHER_PID ]] || return 0
        pkill -P "$OTHER_PID" 2>/dev/null || true
        kill "$OTHER_PID" 2>/dev/null || true
        wait "$OTHER_PID" 2>/dev/null || true
        OTHER_PID=
}

scenario() {
        trap 'rc=$?; set +e; other_node_stop; (exit $rc); sandbox_cleanup' EXIT
        postgres_start
        pg_super "ALTER ROLE metabase CREATEDB" >/dev/null
        install_metabase_pg "$(make_release v0.56.1)"
        write_config
        printf 'fleet:\n  enabled: true\n  node: node-a\n  nodes: [node-a, node-b, node-c]\n  heartbeat: 1s\n  lost_after: 3s\n' \
                >>"$SB/mbupgraded.yaml"
        start_daemon

        log "this node, and the named nodes never seen"
        wait_for 20 node_is node-a version v0.56.1 || die "node-a is not in the fleet: $("$MBCTL" fleet status 2>&1)"
        assert_eq "$(node_field node-a state)" idle "node-a's state"
        assert_eq "$(node_field node-a self)" True "node-a is this node"
        run_mbctl 1 fleet status
        assert_contains "$OUT" "Fleet: 1 of 3 nodes healthy; this node is node-a"
        assert_contains "$OUT" "node-b                never seen"
        assert_eq "$(pg_super "SELECT count(*) FROM pg_database WHERE datname = 'metabase_mbupgraded'")" 1 "the coordination database"

        log "another node's agent: seen, then lost when silent"
        other_node_start
        wait_for 20 node_is node-b version v0.56.1 || die "node-b is not seen: $("$MBCTL" fleet status 2>&1)"
        wait_for 10 fleet_is healthy 2 || die "two healthy nodes expected: $("$MBCTL" fleet status 2>&1)"
        run_mbctl 1 fleet status
        assert_contains "$OUT" "Fleet: 2 of 3 nodes healthy"
        assert_contains "$OUT" "node-c                never seen"
        other_node_stop
        wait_for 20 node_is node-b lost True || die "node-b never lost: $("$MBCTL" fleet status 2>&1)"
        run_mbctl 1 fleet status
        assert_contains "$OUT" "LOST"

        log "the agent killed: the daemon starts it again"
        daemon=$(systemctl --user show -p MainPID --value mbupgraded.service)
        agent=$(pgrep -P "$daemon" -f -- "fleet-agent" || true)
        [[ -n $agent ]] || die "no fleet agent under the daemon"
        # its copy of the password (a 0700 directory of mbupgrade-db's, held open while it lives)
        local copy
        copy=$(find /proc/"$agent"/fd -lname '*/mbupgraded-db.*' -printf '%l\n' 2>/dev/null | head -1) || true
        [[ -n $copy && -e $copy/secret ]] || die "the agent holds no copy of the password: '$copy'"
        kill -KILL "$agent"
        wait_for 20 bash -c "pgrep -P '$daemon' -f -- fleet-agent | grep -vqx '$agent'" || die "the agent was not started again"
        # killed, it could not remove it: the next helper of that user does
        wait_for 10 test ! -e "$copy" || die "the killed agent's copy of the password is left in $copy"
        sleep 2
        age=$(node_field node-a age_ms)
        ((age < 3000)) || die "node-a's heartbeats stopped after the agent's restart (age $age ms)"

        log "the coordination database is not in the application database's dump; the password only in a 0600 file"
        PGPASSFILE=$PG_PASSFILE "$PG_BIN/pg_dump" -h 127.0.0.1 -p "$PG_PORT" -U metabase -d metabase >"$SB/app.sql"
        assert_not_contains "$(cat "$SB/app.sql")" "mbup_nodes"
        [[ $(stat -c %a "$SB/state/fleet.pass") == 600 ]] || die "fleet.pass is $(stat -c %a "$SB/state/fleet.pass")"
        assert_not_contains "$(fleet_status_json)" "$PG_PASS"
        systemctl --user stop mbupgraded.service
        [[ ! -e $SB/state/fleet.pass ]] || die "fleet.pass is left after the daemon stopped"
}
