# Three nodes (tests/integration/fleet-lib.sh: a network namespace, bus, systemd --user, stand-in
# Metabase and mbupgraded each, PostgreSQL on a bridge in a hub namespace), each daemon with
# fleet.enabled: every node's mbctl fleet status sees all three healthy through the coordination
# database beside the application database; node 2's link cut makes it lost to the others and
# tells node 2 it can't reach the fleet, until the link is back; node 3's daemon stopped makes it
# lost too.
source "$MBUP_SRC/tests/integration/fleet-lib.sh"

error_set() { [[ -n $(fleet_of "$1" error) ]]; }
# doctor_on I: mbctl doctor on node I, with its config and the built helpers (any exit)
doctor_on() {
        fleet_node_exec "$1" env MBUPGRADED_FETCH="$MBUP_BUILD/fetch/mbupgraded-fetch" \
                MBUPGRADED_DB="$MBUP_BUILD/dbhelper/mbupgraded-db" "$MBCTL" doctor --config "$SB/n$1/mbupgraded.yaml" 2>&1 || true
}

scenario() {
        local i
        fleet_net_start 3
        fleet_postgres_start
        pg_super "ALTER ROLE metabase CREATEDB" >/dev/null
        fleet_node_start --jar "$(make_release v0.56.1)" 1 2 3
        for i in 1 2 3; do
                fleet_node_exec "$i" write_config
                printf 'fleet:\n  enabled: true\n  node: n%s\n  nodes: [n1, n2, n3]\n  heartbeat: 1s\n  lost_after: 4s\n' \
                        "$i" >>"$SB/n$i/mbupgraded.yaml"
        done
        fleet_each "1 2 3" start_daemon

        log "every node sees the three"
        for i in 1 2 3; do
                wait_for 30 fleet_is "$i" healthy 3 || die "node $i does not see 3 healthy nodes: $(fleet_node_exec "$i" "$MBCTL" fleet status 2>&1)"
                assert_eq "$(fleet_of "$i" node)" "n$i" "node $i's name"
        done
        # mbctl doctor checks the fleet too
        OUT=$(doctor_on 1)
        assert_contains "$OUT" "fleet       3 of 3 nodes healthy"
        OUT=$(fleet_node_exec 1 "$MBCTL" fleet status) || die "fleet status on node 1 exited non-zero with all healthy: $OUT"
        assert_contains "$OUT" "Fleet: 3 of 3 nodes healthy; this node is n1"
        assert_contains "$OUT" "n1 (this)"
        # one coordination database, beside the application database
        assert_eq "$(pg_super "SELECT string_agg(name, ' ' ORDER BY name) FROM mbup_nodes" metabase_mbupgraded)" "n1 n2 n3"
        assert_eq "$(psql_mb "SELECT count(*) FROM pg_tables WHERE tablename = 'mbup_nodes'")" 0 "mbup_nodes in the application database"

        log "node 2's link cut: lost to the others; node 2 can't reach the fleet"
        fleet_link_down 2
        wait_for 30 lost_is 1 n2 True || die "node 1 does not see n2 lost"
        wait_for 30 lost_is 3 n2 True || die "node 3 does not see n2 lost"
        assert_eq "$(fleet_of 1 healthy)" 2 "healthy nodes seen by node 1"
        wait_for 60 error_set 2 || die "node 2 does not say it can't reach the fleet: $(fleet_node_exec 2 "$MBCTL" fleet status 2>&1)"
        OUT=$(doctor_on 2)
        assert_contains "$OUT" "the coordination database can't be reached"
        OUT=$(doctor_on 1)
        assert_contains "$OUT" "2 of 3 nodes healthy"
        ! fleet_node_exec 1 "$MBCTL" fleet status >/dev/null 2>&1 || die "fleet status exits 0 with a node lost"

        log "the link back: three healthy again everywhere"
        fleet_link_up 2
        for i in 1 2 3; do
                wait_for 90 fleet_is "$i" healthy 3 || die "node $i does not see 3 healthy nodes after the link came back: $(fleet_node_exec "$i" "$MBCTL" fleet status 2>&1)"
        done
        assert_eq "$(fleet_of 2 error)" "" "node 2's error after the link came back"

        log "node 3's daemon stopped: lost"
        fleet_node_exec 3 systemctl --user stop mbupgraded.service
        wait_for 30 lost_is 1 n3 True || die "node 1 does not see n3 lost"
        assert_eq "$(fleet_of 1 healthy)" 2 "healthy nodes seen by node 1 with n3 stopped"
}
