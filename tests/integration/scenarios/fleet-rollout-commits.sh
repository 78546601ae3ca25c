# Three nodes with fleet.enabled: `mbctl upgrade now` on node 2 upgrades all three as one rollout
# through the coordination database: each stages v0.56.2, all stop, one leader backs up (a clone on
# the shared server) and migrates, the others start on the migrated database; committed. Exactly
# one node ran the migration; the history of each node says which rollout; mbctl fleet status
# shows the committed rollout. The fleet counts its nodes (fleet.expect: 3); a fourth node that
# comes up afterwards with v0.56.1 (which refuses the migrated database) catches up with v0.56.2
# by itself, without a backup or a migration. Then the maintenance window opens on all four at
# once (mbctl upgrade window, as each one's timer would run it): one node's proposal wins, the
# others join it, and every node's mbctl reports the one committed rollout to v0.56.3.
source "$MBUP_SRC/tests/integration/fleet-rollout-lib.sh"

scenario() {
        local i id leader total
        FLEET_EXPECT=3 FLEET_UP=3 FLEET_RUNNING="1 2 3" fleet_rollout_start 4
        local pids=()
        for i in 1 2 3; do pids+=("$(fleet_node_exec "$i" main_pid)"); done

        log "node 2: mbctl upgrade now"
        local rc=0
        OUT=$(fleet_node_exec 2 "$MBCTL" upgrade now 2>&1) || rc=$?
        [[ $rc == 0 ]] || die "mbctl upgrade now on node 2 exited $rc: $OUT
$(fleet_node_exec 2 "$MBCTL" fleet status 2>&1)
$(tail -n 40 "$SB/n2/logs/mbupgraded.log")"
        log "$OUT"
        id=$(last_rollout)
        # v0.56.2 migrates: every node stops at once, and the rollout says why (docs/fleet.md)
        assert_contains "$(coord "SELECT mode || ': ' || mode_reason FROM mbup_rollouts WHERE id = $id")" "all-stop: v0.56.2 adds 1 change set to the application database (v56.002)"
        wait_for 60 rollout_is "$id" committed || die "rollout $id is $(rollout_state "$id"): $(fleet_node_exec 1 "$MBCTL" fleet status 2>&1)"
        for i in 1 2 3; do
                wait_for 30 node_runs "$i" v0.56.2 || die "node $i does not run v0.56.2"
                wait_for 30 node_idle "$i" || die "node $i is not idle after the rollout"
                [[ $(fleet_node_exec "$i" main_pid) != "${pids[$((i - 1))]}" ]] || die "node $i was not restarted"
                assert_contains "$(fleet_node_exec "$i" "$MBCTL" history --json)" "\"fleet_rollout\":$id" "node $i's history"
                assert_contains "$(fleet_node_exec "$i" "$MBCTL" history --json)" '"result":"committed"' "node $i's history"
        done
        leader=$(coord "SELECT leader FROM mbup_rollouts WHERE id = $id")
        assert_eq "$leader" n2 "the proposer leads"
        # the migration ran once, on the leader
        local total=0 ran
        for i in 1 2 3; do
                ran=$(migrated_on "$i" v56.002)
                total=$((total + ran))
                [[ $i != 2 || $ran == 1 ]] || die "the leader n2 did not migrate (ran v56.002 $ran times)"
        done
        assert_eq "$total" 1 "nodes that ran migration v56.002"
        # the leader's backup is a clone on the shared server, recorded in the rollout
        assert_contains "$(coord "SELECT backup FROM mbup_rollouts WHERE id = $id")" "clone:metabase_mbup_"
        OUT=$(fleet_node_exec 1 "$MBCTL" fleet status) || die "fleet status after the rollout: $OUT"
        assert_contains "$OUT" "Last committed rollout: $id, to v0.56.2"
        assert_contains "$OUT" "No rollout in progress"

        log "a fourth node comes up on v0.56.1: it catches up with the fleet's v0.56.2"
        fleet_node_start 4
        cp "$SB/jars/v0.56.1.jar" "$SB/n4/opt/metabase/metabase.jar"
        fleet_node_exec 4 write_metabase_unit Environment=MB_DB_TYPE=postgres "Environment=MB_DB_CONNECTION_URI=$FLEET_PG_URI"
        fleet_node_exec 4 systemctl --user daemon-reload
        fleet_node_exec 4 systemctl --user start metabase.service || true
        FLEET_EXPECT=3 fleet_node_config 4
        fleet_node_exec 4 start_daemon
        wait_for 60 node_runs 4 v0.56.2 || die "node 4 did not catch up: $(fleet_node_exec 4 "$MBCTL" status 2>&1)"
        wait_for 30 node_idle 4 || die "node 4 is not idle after catching up"
        OUT=$(fleet_node_exec 4 "$MBCTL" history --json)
        assert_contains "$OUT" '"fleet_converge":true'
        assert_contains "$OUT" '"result":"committed"'
        assert_not_contains "$OUT" '"backup"'
        assert_eq "$(migrated_on 4 v56.002)" 0 "node 4's migrations"
        assert_eq "$(coord "SELECT count(*) FROM mbup_rollouts")" 1 "rollouts"

        log "the window on all four nodes at once: one rollout"
        FLEET_RUNNING="1 2 3 4" fleet_add_release v0.56.3
        local rc
        pids=()
        for i in 1 2 3 4; do
                fleet_node_exec "$i" "$MBCTL" upgrade window >"$SB/window.$i.out" 2>&1 &
                pids+=($!)
        done
        for i in 1 2 3 4; do
                rc=0
                wait "${pids[$((i - 1))]}" || rc=$?
                [[ $rc == 0 ]] || die "mbctl upgrade window on node $i exited $rc: $(cat "$SB/window.$i.out")"
                assert_contains "$(cat "$SB/window.$i.out")" "upgrade v0.56.2 -> v0.56.3: committed" "node $i's mbctl upgrade window"
        done
        assert_eq "$(coord "SELECT count(*) FROM mbup_rollouts")" 2 "rollouts"
        assert_eq "$(coord "SELECT state FROM mbup_rollouts ORDER BY id DESC LIMIT 1")" committed "the window's rollout"
        for i in 1 2 3 4; do
                wait_for 30 node_runs "$i" v0.56.3 || die "node $i does not run v0.56.3"
        done
        total=0
        for i in 1 2 3 4; do total=$((total + $(migrated_on "$i" v56.003))); done
        assert_eq "$total" 1 "nodes that ran migration v56.003"
}
