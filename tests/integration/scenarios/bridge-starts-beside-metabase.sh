# The bridge (issue 18's building block, daemon/bridge.c): a second Metabase on the new JAR as the
# transient unit mbupgraded-bridge.service, beside metabase.service, on the LIVE PostgreSQL
# database, on a free loopback port, with the unit's user and environment and MB_DB_AUTOMIGRATE=
# false. The test-hooks-only D-Bus methods TestBridgeStart/TestBridgeStop run it alone (the engine's
# zero-downtime path is tested by zero-downtime-upgrade-through-nginx).
# metabase.service serves v0.56.1 on a schema that v0.56.2 migrated (the stand-in, like Liquibase,
# ignores change sets of its own major it does not know): v0.56.2 has no migration to run there.
# The bridge on v0.56.2 answers healthy on its own port while metabase.service's MainPID and
# answers stay the same throughout; it runs as metabase with the unit's environment; a stop leaves
# no unit and no process. v0.56.3 has a migration: the bridge refuses it itself ("Database
# requires manual upgrade.") and the live changelog keeps its rows. A bridge that crashes at start
# is reported and gone. A squatter (nobody) that binds the bridge's port before the bridge's JVM
# does answers "healthy, v0.56.2" and is not taken for it. H2 is refused with its reason.
bridge_gone() { [[ $(systemctl --user show -p LoadState --value mbupgraded-bridge.service) == not-found ]]; }
bridge_pid() { systemctl --user show -p MainPID --value mbupgraded-bridge.service; }
changelog_rows() { psql_mb "SELECT count(*) FROM databasechangelog"; }

# bridge_call EXPECT_RC METHOD [ARGS...]: the answer in $OUT
bridge_call() {
        local want=$1 rc=0
        shift
        OUT=$(busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" --timeout=180 call org.mbupgraded.Manager1 \
                /org/mbupgraded/Manager1 org.mbupgraded.Manager1 "$@" 2>&1) || rc=$?
        log "$1: $OUT"
        [[ $rc -eq $want ]] || die "$1 exited $rc, expected $want: $OUT"
}

# watch_metabase: every 0.1 s "CODE TAG" of metabase.service's own port, to $SB/watch.log
WATCH=
watch_metabase() {
        while :; do
                printf '%s\n' "$(curl -s --max-time 2 -w ' %{http_code}' "http://127.0.0.1:$MB_PORT/api/session/properties" |
                        sed -n 's/.*"tag":"\([^"]*\)".* \([0-9]*\)$/\2 \1/p')" >>"$SB/watch.log"
                sleep 0.1
        done &
        WATCH=$!
}

# install_bridge_jar NAME JAR: where a staged JAR would be, readable by the metabase user
install_bridge_jar() {
        install -o root -g root -m 0644 "$2" "$SB/opt/metabase/$1.jar"
        echo "$SB/opt/metabase/$1.jar"
}

scenario() {
        local pid rows port pid_b env_b unit_uri jar squat
        postgres_start
        # the schema of v0.56.2 (v56.001..v56.002), served by v0.56.1
        install_metabase_pg "$(make_release v0.56.2)"
        install_metabase_pg "$(make_release v0.56.1)"
        assert_eq "$(running_version)" v0.56.1 "metabase.service"
        start_daemon
        pid=$(main_pid)
        unit_uri=$(tr '\0' '\n' </proc/"$pid"/environ | grep '^MB_DB_CONNECTION_URI=')
        rows=$(changelog_rows)
        watch_metabase

        # 1. v0.56.2, no migration: healthy on its own port, its own process, as metabase
        jar=$(install_bridge_jar v0.56.2 "$(make_release v0.56.2)")
        bridge_call 0 TestBridgeStart ss "$jar" v0.56.2
        port=$(sed -n 's/.*port=\([0-9]*\) .*/\1/p' <<<"$OUT")
        [[ -n $port && $port != "$MB_PORT" ]] || die "no port of its own in: $OUT"
        assert_contains "$OUT" "control_group=" "the answer"
        assert_contains "$(curl -fsS "http://127.0.0.1:$port/api/session/properties")" '"tag":"v0.56.2"' "the bridge's version"
        assert_contains "$(curl -fsS "http://127.0.0.1:$port/api/health")" '"ok"' "the bridge's health"
        pid_b=$(bridge_pid)
        [[ $pid_b -gt 0 && $pid_b != "$pid" ]] || die "the bridge has no process of its own ($pid_b)"
        assert_eq "$(stat -c %U /proc/"$pid_b")" "$MB_USER" "the bridge's user"
        env_b=$(tr '\0' '\n' </proc/"$pid_b"/environ)
        assert_contains "$env_b" "$unit_uri" "the bridge's database (the unit's)"
        assert_contains "$env_b" "MB_JETTY_PORT=$port" "the bridge's environment"
        assert_contains "$env_b" "MB_JETTY_HOST=127.0.0.1" "the bridge's environment"
        assert_contains "$env_b" "MB_DB_AUTOMIGRATE=false" "the bridge's environment"
        assert_not_contains "$env_b" "MB_JETTY_PORT=$MB_PORT" "the bridge's environment"
        assert_eq "$(readlink /proc/"$pid_b"/cwd)" "$SB/var/lib/metabase" "the bridge's working directory"
        assert_eq "$(changelog_rows)" "$rows" "the changelog after the bridge's start"
        bridge_call 1 TestBridgeStart ss "$jar" v0.56.2 # one at a time
        assert_contains "$OUT" "Device or resource busy" "a second start"
        grep -q 'Memory for a bridge: .*available, Metabase uses .*, a second one needs that and 256M more' \
                "$SB/logs/mbupgraded.log" || die "no memory figures: $(grep 'Memory for a bridge' "$SB/logs/mbupgraded.log")"
        # a daemon that dies leaves it running: while nginx names its port it is kept at the next
        # start, else stopped
        systemctl --user kill -s KILL mbupgraded.service
        wait_for 10 bash -c '! systemctl --user is-active -q mbupgraded.service' || die "mbupgraded still runs"
        sed -i "s/^set \$mbupgraded_upstream 127\.0\.0\.1:[0-9]*;$/set \$mbupgraded_upstream 127.0.0.1:$port;/" "$SB/run/upstream.conf"
        systemctl --user start mbupgraded.service
        wait_for 10 grep -q "A bridge left by an earlier run serves on 127.0.0.1:$port" "$SB/logs/mbupgraded.log" ||
                die "the leftover bridge that nginx names was not kept"
        assert_eq "$(bridge_pid)" "$pid_b" "the kept bridge's MainPID"
        systemctl --user kill -s KILL mbupgraded.service
        wait_for 10 bash -c '! systemctl --user is-active -q mbupgraded.service' || die "mbupgraded still runs"
        sed -i "s/^set \$mbupgraded_upstream 127\.0\.0\.1:[0-9]*;$/set \$mbupgraded_upstream 127.0.0.1:$MB_PORT;/" "$SB/run/upstream.conf"
        systemctl --user start mbupgraded.service
        wait_for 20 bridge_gone || die "the leftover bridge was not stopped at the daemon's start"
        ! kill -0 "$pid_b" 2>/dev/null || die "the leftover bridge's process $pid_b is left"
        [[ ! -e $SB/state/bridge.env ]] || die "the leftover's bridge.env (the password) is left"
        bridge_call 0 TestBridgeStart ss "$jar" v0.56.2
        pid_b=$(bridge_pid)
        bridge_call 0 TestBridgeStop
        bridge_gone || die "the bridge's unit is still there"
        ! pgrep -f "$jar" >/dev/null || die "a process of the bridge is left: $(pgrep -af "$jar")"
        ! kill -0 "$pid_b" 2>/dev/null || die "the bridge's process $pid_b is left"
        [[ ! -e $SB/state/bridge.env ]] || die "bridge.env (the password) is left"

        # 2. v0.56.3 has a migration: refused by the bridge itself, the live changelog unchanged
        jar=$(install_bridge_jar v0.56.3 "$(make_release v0.56.3)")
        bridge_call 1 TestBridgeStart ss "$jar" v0.56.3
        assert_contains "$OUT" "Database requires manual upgrade" "the refusal"
        assert_eq "$(changelog_rows)" "$rows" "the changelog after a release with a migration"
        bridge_gone || die "the refused bridge's unit is still there"
        ! pgrep -f "$jar" >/dev/null || die "a process of the refused bridge is left"

        # 3. a bridge that crashes at start: reported, nothing left
        jar=$(install_bridge_jar v0.56.2-crash "$(make_release v0.56.2 v0.56.2-crash --fail crash-at-start)")
        bridge_call 1 TestBridgeStart ss "$jar" v0.56.2
        bridge_gone || die "the crashed bridge's unit is still there"
        ! pgrep -f "$jar" >/dev/null || die "a process of the crashed bridge is left"

        # 4. a squatter: as soon as the bridge's process exists, nobody binds its port (read
        # from its environment) and answers everything with "ok" and v0.56.2. The JVM listens 3 s
        # after its start (a real Metabase takes longer to load), so the squatter is first.
        jar=$(install_bridge_jar v0.56.2-slow "$(make_release v0.56.2 v0.56.2-slow --startup-ms 3000)")
        (bridge_call 1 TestBridgeStart ss "$jar" v0.56.2 && echo "$OUT" >"$SB/squat.out") &
        local caller=$! squat_port=
        for _ in $(seq 1 500); do
                pid_b=$(bridge_pid)
                if [[ -n $pid_b && $pid_b != 0 ]]; then
                        squat_port=$(tr '\0' '\n' </proc/"$pid_b"/environ 2>/dev/null | sed -n 's/^MB_JETTY_PORT=//p')
                        [[ -n $squat_port ]] && break
                fi
                sleep 0.01
        done
        [[ -n $squat_port ]] || die "the bridge's port could not be read"
        runuser -u nobody -- python3 -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = b"{\"status\":\"ok\",\"version\":{\"tag\":\"v0.56.2\"}}"
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()' "$squat_port" &
        squat=$!
        wait "$caller" || die "the bridge was taken for healthy with a squatter on its port"
        OUT=$(cat "$SB/squat.out")
        log "with a squatter on $squat_port: $OUT"
        assert_contains "$(curl -s "http://127.0.0.1:$squat_port/api/health")" '"ok"' "the squatter (still there)"
        kill "$squat"
        bridge_gone || die "the bridge's unit is still there after the squatter"

        # metabase.service served v0.56.1 throughout, one process
        kill "$WATCH"
        assert_eq "$(main_pid)" "$pid" "metabase.service's MainPID"
        [[ $(wc -l <"$SB/watch.log") -gt 20 ]] || die "too few answers watched"
        ! grep -v '^200 v0.56.1$' "$SB/watch.log" || die "metabase.service answered otherwise"

        # 5. H2: refused with the reason
        write_metabase_unit "Environment=MB_DB_FILE=$SB/var/lib/metabase/metabase.db"
        systemctl --user daemon-reload
        systemctl --user restart metabase.service
        wait_healthy 60 || die "metabase.service on H2 did not become healthy"
        bridge_call 1 TestBridgeStart ss "$SB/opt/metabase/v0.56.2.jar" v0.56.2
        assert_contains "$OUT" "H2" "the refusal on H2"
        assert_not_contains "$OUT" "ERROR" "the refusal on H2 (no earlier bridge's output)"
        bridge_gone || die "a bridge unit on H2"
}
