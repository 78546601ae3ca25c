# A failing release rolls the whole fleet back, the database as it was before:
#  - v0.56.2 fails half-way through its migration on the leader (n1, asked): every node goes
#    back to v0.56.1 without having started v0.56.2, the leader restores the database from its
#    clone before any node starts;
#  - v0.56.3 becomes healthy on every node and then crashes while settling: the nodes that run
#    it stop, the database comes back, all start v0.56.1 again.
# Each time: the rollout rolled-back with the reason, every node on v0.56.1 and idle, the
# database equal to its snapshot from before, each node's history saying rolled-back.
source "$MBUP_SRC/tests/integration/fleet-rollout-lib.sh"

# rollout_ends_rolled_back ASKED_NODE VERSION SNAPSHOT WHAT
rollout_ends_rolled_back() {
        local asked=$1 version=$2 snap=$3 what=$4 id i rc=0
        OUT=$(fleet_node_exec "$asked" "$MBCTL" upgrade now --to "$version" 2>&1) || rc=$?
        log "$OUT"
        assert_eq "$rc" 3 "mbctl upgrade now's exit status ($what)"
        id=$(last_rollout)
        wait_for 60 rollout_is "$id" rolled-back || die "rollout $id ($what) is $(rollout_state "$id"): $(fleet_node_exec 1 "$MBCTL" fleet status 2>&1)"
        for i in $(fleet_nodes); do
                wait_for 30 node_idle "$i" || die "node $i is not idle after the rollback ($what)"
                wait_for 30 node_runs "$i" v0.56.1 || die "node $i does not run v0.56.1 after the rollback ($what)"
                assert_contains "$(fleet_node_exec "$i" "$MBCTL" history --json)" '"result":"rolled-back"' "node $i's history ($what)"
        done
        log "rollout $id: $(coord "SELECT state || ': ' || reason FROM mbup_rollouts WHERE id = $id")"
        assert_pg_snapshot "$snap" "after the rollback of $version"
        assert_not_contains "$(coord "SELECT reason FROM mbup_rollouts WHERE id = $id")" "lost" "the reason ($what)"
}

scenario() {
        fleet_rollout_start 3 --fail half-migration
        pg_snapshot >"$SB/before.sql"

        log "v0.56.2 fails its migration on the leader"
        rollout_ends_rolled_back 1 v0.56.2 "$SB/before.sql" "half-migration"
        assert_eq "$(migrated_on 2 v56.002)$(migrated_on 3 v56.002)" 00 "followers that migrated"
        grep -q "v0.56.2 starting" "$SB/n2/logs/metabase.log" "$SB/n3/logs/metabase.log" && die "a follower started v0.56.2"
        assert_contains "$(coord "SELECT reason FROM mbup_rollouts WHERE id = $(last_rollout)")" "node n1:"

        log "v0.56.3 crashes while settling, on every node"
        fleet_add_release v0.56.3 --fail crash-after-ready --crash-after-ms 1000
        rollout_ends_rolled_back 2 v0.56.3 "$SB/before.sql" "crash-after-ready"
        for i in 1 2 3; do
                grep -q "v0.56.3 starting" "$SB/n$i/logs/metabase.log" || die "node $i never started v0.56.3"
        done
}
