# The fleet sandbox itself (tests/integration/fleet-lib.sh), before any fleet code: three nodes,
# each in a network namespace of its own joined to a bridge in a hub namespace where PostgreSQL
# listens, each with its own bus, `systemd --user`, stand-in Metabase and mbupgraded. The three
# stand-ins share one application database (node 1 migrated it; 2 and 3 found it migrated, and a
# row written from node 2 is a card for node 3's Metabase); each node's mbctl talks to its own
# daemon, which reads the shared database over the bridge; no node reaches another's bus; node
# 2's link cut at the bridge leaves it without PostgreSQL while 1 and 3 keep it, until the link
# is back; node 3 stopped is gone entirely and comes back. Then nothing is left: no namespace, process or cgroup of the run, and the host's own
# interfaces, addresses and routes are as they were.
source "$MBUP_SRC/tests/integration/fleet-lib.sh"

# host_net: the root network namespace as the scenario must leave it.
host_net() {
        ip -o link show | awk '{print $2}'
        ip -o addr show | awk '{print $2, $3, $4}'
        ip route show table all
}

scenario() {
        local jar host_before i j pid ns_inode t0 t1 out ids
        host_before=$(host_net)
        jar=$(make_release v0.56.1)

        t0=$(date +%s%N)
        fleet_net_start 3
        fleet_postgres_start
        fleet_node_start --jar "$jar" --daemon 1 2 3
        t1=$(date +%s%N)
        log "3 nodes with Metabase and mbupgraded in $(((t1 - t0) / 1000000)) ms"

        # the host's own network namespace got nothing: the veth pairs live in the hub and nodes
        assert_eq "$(host_net)" "$host_before" "the host's network after the fleet started"
        [[ -z $(ip -o link show | grep -F "$FLEET_ID") ]] || die "an interface of the fleet in the root namespace"
        assert_eq "$(ip netns list | grep -c -F -- "-$FLEET_ID-")" "4" "the fleet's namespaces"

        # one database: node 1 migrated it, 2 and 3 found it so; every node's Metabase serves the same changelog
        assert_eq "$(psql_mb 'select id from databasechangelog order by orderexecuted desc limit 1')" "v56.001"
        ids=$(psql_mb "select string_agg('\"' || id || '\"', ',' order by orderexecuted) from databasechangelog")
        for i in 1 2 3; do
                assert_eq "$(fleet_node_exec "$i" running_version)" "v0.56.1" "node $i's Metabase"
                assert_eq "$(fleet_node_exec "$i" changelog | tr -d '[]')" "$ids" "node $i's changelog"
        done
        assert_contains "$(cat "$SB/n1/logs/metabase.log")" "Migration lock acquired." "node 1 migrating"
        for i in 2 3; do
                assert_not_contains "$(cat "$SB/n$i/logs/metabase.log")" "Migration lock acquired." "node $i migrating"
        done
        # each stand-in's connection comes over the bridge from its own node's address
        assert_eq "$(psql_mb "select string_agg(distinct host(client_addr), ' ' order by host(client_addr))
                from pg_stat_activity where usename = 'metabase' and client_addr <> '127.0.0.1'")" \
                "$(fleet_node_addr 1) $(fleet_node_addr 2) $(fleet_node_addr 3)" "the stand-ins' connections"
        # written on node 2 over the bridge, seen by node 3's Metabase
        fleet_node_exec 2 psql_mb "INSERT INTO report_card (id, name) VALUES (4, 'from node 2')" >/dev/null
        assert_eq "$(fleet_node_exec 3 http /api/standin/cards)" '{"count":4}' "node 3's cards"
        # password logins only, also from the fleet's network
        ! fleet_node_exec 1 env PGPASSWORD=wrong PGPASSFILE=/dev/null "$PG_BIN/psql" -X -w -h "$FLEET_HUB_ADDR" \
                -p "$PG_PORT" -U metabase -d metabase -c 'select 1' >/dev/null 2>&1 ||
                die "a wrong password got in from node 1"

        # each node's mbctl answers from that node's daemon, which reads the shared database
        for i in 1 2 3; do
                for _ in $(seq 1 50); do
                        [[ $(fleet_node_exec "$i" mbctl status) == *"Schema: v56.001"* ]] && break
                        sleep 0.2
                done
                out=$(fleet_node_exec "$i" mbctl status)
                assert_contains "$out" "JAR: $SB/n$i/opt/metabase/metabase.jar" "node $i's mbctl status"
                assert_contains "$out" "Database: PostgreSQL metabase@$FLEET_HUB_ADDR:$PG_PORT/metabase" "node $i"
                assert_contains "$out" "Schema: v56.001" "node $i"
                assert_contains "$out" "Running: v0.56.1" "node $i"
                # the daemon on the node's bus is the node's: its config, its network namespace
                pid=$(fleet_node_exec "$i" busctl --address="unix:path=$SB/n$i/rt/bus" status org.mbupgraded.Manager1 |
                        sed -n 's/^PID=//p')
                [[ $pid =~ ^[0-9]+$ ]] || die "no PID for org.mbupgraded.Manager1 on node $i's bus"
                assert_contains "$(tr '\0' ' ' <"/proc/$pid/cmdline")" "--config $SB/n$i/mbupgraded.yaml" "node $i's daemon"
                ns_inode=$(stat -L -c %i "/run/netns/$(fleet_ns "$i")")
                assert_eq "$(readlink "/proc/$pid/ns/net")" "net:[$ns_inode]" "node $i's daemon's network namespace"
        done

        # no node reaches another's bus (the scenario, outside, reaches them all: the test can fail)
        for i in 1 2 3; do
                busctl --address="unix:path=$SB/n$i/rt/bus" status org.freedesktop.systemd1 >/dev/null ||
                        die "node $i's bus does not answer the scenario"
                for j in 1 2 3; do
                        [[ $i != "$j" ]] || continue
                        ! fleet_node_exec "$i" busctl --timeout=2 --address="unix:path=$SB/n$j/rt/bus" \
                                status org.freedesktop.systemd1 >/dev/null 2>&1 ||
                                die "node $i reaches node $j's bus"
                done
        done

        # node 2's link cut at the bridge: no PostgreSQL for node 2, still there for 1 and 3
        for i in 1 2 3; do
                fleet_pg_reachable "$i" || die "node $i does not reach PostgreSQL before the cut"
        done
        fleet_link_down 2
        t0=$(date +%s%N)
        ! fleet_pg_reachable 2 3 || die "node 2 reaches PostgreSQL with its link cut"
        t1=$(date +%s%N)
        log "node 2: PostgreSQL unreachable, said in $(((t1 - t0) / 1000000)) ms"
        [[ $(((t1 - t0) / 1000000)) -lt 6000 ]] || die "node 2 took $(((t1 - t0) / 1000000)) ms to give up"
        fleet_pg_reachable 1 || die "node 1 lost PostgreSQL with node 2's link"
        fleet_pg_reachable 3 || die "node 3 lost PostgreSQL with node 2's link"
        assert_eq "$(fleet_node_exec 3 http /api/standin/cards)" '{"count":4}' "node 3's Metabase with node 2 cut"
        fleet_link_up 2
        wait_for 10 fleet_pg_reachable 2 1 || die "node 2 does not reach PostgreSQL with its link back"
        assert_eq "$(fleet_node_exec 2 psql_mb 'select count(*) from report_card')" "4" "node 2 after the cut"

        # node 3 down and up again, as a lost host that comes back: nothing of it runs meanwhile,
        # then its manager starts its Metabase again, on the shared database as it is now
        fleet_node_stop 3
        [[ -z $(ip netns pids "$(fleet_ns 3)") ]] || die "node 3 stopped, yet in its namespace: $(ip netns pids "$(fleet_ns 3)")"
        fleet_node_start 3
        fleet_node_exec 3 systemctl --user start metabase.service
        fleet_node_exec 3 wait_healthy 60 || die "node 3's Metabase did not come back"
        assert_eq "$(fleet_node_exec 3 http /api/standin/cards)" '{"count":4}' "node 3's cards after its restart"

        # all down: nothing of the run is left
        local inodes=() p
        for i in hub 1 2 3; do
                inodes+=("net:[$(stat -L -c %i "/run/netns/$(fleet_ns "$i")")]")
        done
        [[ -n $(ip netns pids "$(fleet_ns 2)") ]] || die "no process in node 2's namespace to begin with"
        fleet_cleanup
        fleet_cleanup # idempotent
        [[ -z $(ip netns list | grep -F -- "-$FLEET_ID-") ]] || die "namespaces left: $(ip netns list | grep -F -- "-$FLEET_ID-")"
        out=$(pgrep -a -f -- "$SB/n[0-9]|$SB/pg/" || true)
        [[ -z $out ]] || die "processes left: $out"
        for p in /proc/[0-9]*/ns/net; do
                [[ " ${inodes[*]} " != *" $(readlink "$p" 2>/dev/null) "* ]] || die "a process left in the fleet's namespaces: $p"
        done
        [[ -z $(ls -d /sys/fs/cgroup/*/mbup-"$FLEET_ID"-n* /sys/fs/cgroup/mbup-"$FLEET_ID"-n* 2>/dev/null) ]] ||
                die "cgroups left: $(ls -d /sys/fs/cgroup/*/mbup-"$FLEET_ID"-n* /sys/fs/cgroup/mbup-"$FLEET_ID"-n* 2>/dev/null)"
        [[ ! -e /run/mbup-fleet/$FLEET_NET ]] || die "the claim on $FLEET_NET.0/24 is left"
        assert_eq "$(host_net)" "$host_before" "the host's network after the fleet"
}
