# The leader killed in the middle of its migration (its daemon, agent and Metabase, as in a host
# crash): its session ends and the rollout's advisory lock with it; another node takes the lead
# from the recorded step, and since a node was lost after the stop, rolls the fleet back: the
# database from the leader's clone on the shared server (it holds no backup of its own), every
# node that is up back on v0.56.1. The old leader's daemon, started again, resumes its part,
# finds the rollout rolled back and goes back to v0.56.1 without touching the database again.
source "$MBUP_SRC/tests/integration/fleet-rollout-lib.sh"

proposed() { [[ $(last_rollout) != 0 ]]; }
backup_recorded() { [[ -n $(coord "SELECT backup FROM mbup_rollouts WHERE id = $1") ]]; }
# n1's Metabase started the upgrade's five migrations (its install ran 121 of its own before)
migrating_on_1() { grep -q "Running 5 migrations \.\.\." "$SB/n1/logs/metabase.log"; }

scenario() {
        local id i leader
        # five migrations (v56.002..v56.006), 2 s each
        FLEET_NEXT=v0.56.6 fleet_rollout_start 3 --migration-ms 2000
        pg_snapshot >"$SB/before.sql"

        fleet_node_exec 1 "$MBCTL" upgrade now --no-wait >/dev/null
        wait_for 30 proposed || die "n1 proposed no rollout"
        id=$(last_rollout)
        wait_for 30 rollout_is "$id" leading || die "rollout $id is $(rollout_state "$id")"
        wait_for 30 backup_recorded "$id" || die "the leader recorded no backup"
        wait_for 30 migrating_on_1 || die "n1 does not migrate"
        assert_eq "$(coord "SELECT leader FROM mbup_rollouts WHERE id = $id")" n1 "the leader"
        log "n1 killed while it migrates"
        fleet_node_exec 1 systemctl --user kill -s KILL mbupgraded.service metabase.service

        wait_for 60 rollout_is "$id" rolled-back || die "rollout $id is $(rollout_state "$id"): $(fleet_node_exec 2 "$MBCTL" fleet status 2>&1)"
        leader=$(coord "SELECT leader FROM mbup_rollouts WHERE id = $id")
        [[ $leader == n2 || $leader == n3 ]] || die "nobody took over from n1 (leader: $leader)"
        log "$leader took over: $(coord "SELECT reason FROM mbup_rollouts WHERE id = $id")"
        assert_contains "$(coord "SELECT reason FROM mbup_rollouts WHERE id = $id")" "node n1 was lost during the leading step"
        sed -n '/Running 5 migrations \.\.\./,$p' "$SB/n1/logs/metabase.log" | grep -q "Migration complete in" && die "n1 finished its migration: it was not killed in the middle of it"
        for i in 2 3; do
                wait_for 30 node_idle "$i" || die "n$i is not idle after the rollback"
                wait_for 30 node_runs "$i" v0.56.1 || die "n$i does not run v0.56.1 after the rollback"
                assert_contains "$(fleet_node_exec "$i" "$MBCTL" history --json)" '"result":"rolled-back"' "n$i's history"
        done
        assert_pg_snapshot "$SB/before.sql" "after the rollback by $leader"
        assert_eq "$(pg_super "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")" 0 "advisory locks held"

        log "n1's daemon started again: it finishes its part by going back to v0.56.1"
        fleet_node_exec 1 systemctl --user start mbupgraded.service
        wait_for 60 node_runs 1 v0.56.1 || die "n1 does not run v0.56.1: $(fleet_node_exec 1 "$MBCTL" status 2>&1)"
        wait_for 30 node_idle 1 || die "n1 is not idle"
        assert_contains "$(fleet_node_exec 1 "$MBCTL" history --json)" '"result":"rolled-back"' "n1's history"
        assert_pg_snapshot "$SB/before.sql" "with n1 back"
}
