# Three nodes with fleet.enabled: `mbctl upgrade now` on node 2 upgrades all three as one rollout
# through the coordination database: each stages v0.56.2, all stop, one leader backs up (a clone on
# the shared server) and migrates, the others start on the migrated database; committed. Exactly
# one node ran the migration; the history of each node says which rollout; mbctl fleet status
# shows the committed rollout.
source "$MBUP_SRC/tests/integration/fleet-rollout-lib.sh"

scenario() {
        local i id leader
        fleet_rollout_start 3
        local pids=()
        for i in 1 2 3; do pids+=("$(fleet_node_exec "$i" main_pid)"); done

        log "node 2: mbctl upgrade now"
        OUT=$(fleet_node_exec 2 "$MBCTL" upgrade now 2>&1) || die "mbctl upgrade now on node 2 failed: $OUT
$(fleet_node_exec 2 "$MBCTL" fleet status 2>&1)"
        log "$OUT"
        id=$(last_rollout)
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
}
