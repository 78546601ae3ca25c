# A node lost to the fleet (its link cut at the bridge, veth down):
#  - before the stop: the rollout asked for on n1 is aborted with the reason, nothing stopped on
#    the nodes still there (their MainPIDs unchanged);
#  - after the stop, while the leader migrates: the leader rolls the fleet back (the database
#    from its clone, every node that can be reached back on v0.56.1), and n3, its link back,
#    finds the rollout over and goes back to v0.56.1 by itself.
source "$MBUP_SRC/tests/integration/fleet-rollout-lib.sh"

healthy3() { fleet_is 1 healthy 3 && fleet_is 3 healthy 3; }

scenario() {
        local id i rc=0 pid1 pid2
        fleet_rollout_start 3 --migration-ms 4000
        pg_snapshot >"$SB/before.sql"
        pid1=$(fleet_node_exec 1 main_pid)
        pid2=$(fleet_node_exec 2 main_pid)

        log "n3 cut off before the rollout: aborted, nothing stopped"
        fleet_link_down 3
        wait_for 30 lost_is 1 n3 True || die "n1 does not see n3 lost"
        OUT=$(fleet_node_exec 1 "$MBCTL" upgrade now 2>&1) || rc=$?
        log "$OUT"
        assert_eq "$rc" 1 "mbctl upgrade now's exit status with n3 lost"
        assert_contains "$OUT" "node n3 is unreachable"
        id=$(last_rollout)
        assert_eq "$(rollout_state "$id")" aborted "rollout $id"
        assert_eq "$(fleet_node_exec 1 main_pid)" "$pid1" "n1's MainPID"
        assert_eq "$(fleet_node_exec 2 main_pid)" "$pid2" "n2's MainPID"
        wait_for 20 node_idle 2 || die "n2 is not idle after the abort"
        assert_eq "$(fleet_node_exec 2 main_pid)" "$pid2" "n2's MainPID"
        assert_pg_snapshot "$SB/before.sql" "after the aborted rollout"

        log "n3 back; cut off again once every node stopped, while the leader migrates"
        fleet_link_up 3
        wait_for 60 healthy3 || die "n3 did not come back: $(fleet_node_exec 3 "$MBCTL" fleet status 2>&1)"
        fleet_node_exec 1 "$MBCTL" upgrade now --no-wait >/dev/null
        wait_for 30 rollout_is "$((id + 1))" leading || die "rollout $((id + 1)) is $(rollout_state "$((id + 1))")"
        id=$((id + 1))
        fleet_link_down 3
        wait_for 60 rollout_is "$id" rolled-back || die "rollout $id is $(rollout_state "$id"): $(fleet_node_exec 1 "$MBCTL" fleet status 2>&1)"
        assert_contains "$(coord "SELECT reason FROM mbup_rollouts WHERE id = $id")" "node n3 was lost"
        for i in 1 2; do
                wait_for 30 node_idle "$i" || die "n$i is not idle after the rollback"
                wait_for 30 node_runs "$i" v0.56.1 || die "n$i does not run v0.56.1 after the rollback"
        done
        assert_pg_snapshot "$SB/before.sql" "after the rollback"

        log "n3's link back: it goes back to v0.56.1 by itself"
        fleet_link_up 3
        wait_for 90 node_runs 3 v0.56.1 || die "n3 does not run v0.56.1: $(fleet_node_exec 3 "$MBCTL" status 2>&1)"
        wait_for 30 node_idle 3 || die "n3 is not idle"
        assert_contains "$(fleet_node_exec 3 "$MBCTL" history --json)" '"result":"rolled-back"' "n3's history"
        assert_pg_snapshot "$SB/before.sql" "with n3 back"
}
