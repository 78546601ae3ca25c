# Issue 15, item 5: whoever answers on the port. Any local user may bind a free port. The user
# nobody runs a listener (tests/integration/squatter.py) that answers like a healthy Metabase of
# the version being installed: 200 {"status":"ok"} and a forged version.tag.
#   1. On Metabase's port, grabbed between the stop and the new version's bind (the release
#      sleeps 4 s before it listens): its answers do not count (the daemon says whose listener it
#      is: uid 65534). Once it is gone, the real Metabase binds and is the one verified.
#   2. On a rehearsal's port, grabbed before the rehearsal's JVM binds it: the squatter cannot
#      forge a pass; the port is not in the Rehearsal property before the rehearsal holds it.
# Nothing is lost: Metabase serves afterwards, a clean rehearsal passes.
SQUAT_PID=

squat() { # squat PORT TAG WAIT LOG: as nobody, in the background
        setpriv --reuid=nobody --regid=nogroup --clear-groups --no-new-privs -- \
                /usr/bin/python3 "$MBUP_SRC/tests/integration/squatter.py" "$1" "$2" "$3" >"$4" 2>&1 &
        SQUAT_PID=$!
}

unsquat() {
        [[ -n $SQUAT_PID ]] || return 0
        kill "$SQUAT_PID" 2>/dev/null || true
        wait "$SQUAT_PID" 2>/dev/null || true
        SQUAT_PID=
}

scenario() {
        trap 'rc=$?; set +e; unsquat; (exit $rc); sandbox_cleanup' EXIT
        local nobody pid port i status
        nobody=$(id -u nobody)
        install_metabase "$(make_release v0.56.1)"
        mirror_release v0.56.2 "$(make_release v0.56.2 v0.56.2 --startup-ms 4000)"
        mirror_feed v0.56.2:2025-01-20 v0.56.1:2025-01-01
        start_daemon
        run_mbctl 0 check

        log "1. a squatter waits for Metabase's port $MB_PORT and answers as v0.56.2"
        squat "$MB_PORT" v0.56.2 120 "$SB/squat1.log"
        sleep 0.5
        grep -q bound "$SB/squat1.log" && die "the squatter bound the port while Metabase held it"
        "$MBCTL" upgrade now --to v0.56.2 >"$SB/upgrade.out" 2>&1 &
        local upid=$!
        wait_for 60 grep -q "^bound" "$SB/squat1.log" || die "the squatter never got the port"
        wait_for 30 grep -q "an answer on its port does not count" "$SB/logs/mbupgraded.log" ||
                die "the squatter's answers were taken for Metabase's: $(cat "$SB/squat1.log")"
        # the daemon connected, saw whose listener it was and sent nothing
        grep -q "^connected" "$SB/squat1.log" || die "the squatter was never reached"
        if grep -q "^answered" "$SB/squat1.log"; then die "the daemon asked the squatter"; fi
        line=$(grep "an answer on its port does not count" "$SB/logs/mbupgraded.log" | head -1)
        assert_contains "$line" "uid $nobody"
        assert_contains "$line" "pid $SQUAT_PID"
        log "the squatter goes away"
        unsquat
        wait "$upid" || true
        sed 's/^/#   upgrade: /' "$SB/upgrade.out" >&2
        hist=$(last_history)
        if [[ $hist == *'"result":"committed"'* ]]; then
                # the real Metabase bound the port once the squatter was gone and was verified
                assert_eq "$(running_version)" v0.56.2
                assert_eq "$(unit_state)" active
        else
                # or it had given up on the port: rolled back, the reason naming the squatter
                assert_contains "$hist" '"result":"rolled-back"'
                assert_contains "$hist" "uid $nobody"
                assert_eq "$(running_version)" v0.56.1
        fi
        wait_healthy 30 || die "Metabase does not serve after the attack"

        log "2. a squatter on a rehearsal's port"
        mirror_release v0.56.3 "$(make_release v0.56.3 v0.56.3 --startup-ms 5000)"
        mirror_feed v0.56.3:2025-02-01 v0.56.2:2025-01-20 v0.56.1:2025-01-01
        run_mbctl 0 check
        "$MBCTL" rehearse v0.56.3 >"$SB/rehearse.out" 2>&1 &
        local rpid=$!
        for i in $(seq 1 150); do
                pid=$(systemctl --user show -p MainPID --value mbupgraded-rehearsal.service 2>/dev/null)
                [[ -n $pid && $pid != 0 ]] && break
                sleep 0.2
        done
        [[ -n $pid && $pid != 0 ]] || die "no rehearsal started"
        # the attacker learns the port (here from the JVM's environment, as root: the daemon no
        # longer publishes it before the rehearsal holds it)
        port=$(tr '\0' '\n' <"/proc/$pid/environ" | sed -n 's/^MB_JETTY_PORT=//p')
        [[ -n $port ]] || die "no MB_JETTY_PORT in the rehearsal's environment"
        # the rehearsal's unit is hardened like a service (issue 15, item 3)
        local props
        props=$(systemctl --user show mbupgraded-rehearsal.service -p User -p NoNewPrivileges -p ProtectSystem \
                -p CapabilityBoundingSet -p ReadWritePaths -p PrivateDevices -p RestrictNamespaces)
        printf '%s\n' "$props" | sed 's/^/#   rehearsal unit: /' >&2
        assert_contains "$props" "User=$MB_USER"
        assert_contains "$props" "NoNewPrivileges=yes"
        assert_contains "$props" "ProtectSystem=strict"
        assert_contains "$props" "CapabilityBoundingSet="$'\n'
        assert_contains "$props" "ReadWritePaths=$SB/state/rehearsal/data -$SB/var/lib/metabase"
        assert_contains "$props" "PrivateDevices=yes"
        systemd-analyze --user security --no-pager mbupgraded-rehearsal.service 2>&1 | grep -i "overall" |
                sed 's/^/#   /' >&2 || true
        status=$("$MBCTL" status)
        assert_not_contains "$status" "127.0.0.1:$port" "the rehearsal's port published before it holds it"
        squat "$port" v0.56.3 10 "$SB/squat2.log"
        wait_for 10 grep -q "^bound" "$SB/squat2.log" || die "the squatter did not get the rehearsal's port"
        wait "$rpid" || true
        out=$(cat "$SB/rehearse.out")
        printf '%s\n' "$out" | sed 's/^/#   rehearse: /' >&2
        assert_not_contains "$out" "rehearsal of v0.56.3: passed" "the squatter forged a pass"
        # the reason names the squatter
        assert_contains "$out" "answers that did not count: port $port is held by a listener"
        assert_contains "$out" "uid $nobody"
        grep -q "^connected" "$SB/squat2.log" || die "the squatter was never reached"
        grep "mbupgraded-rehearsal.service: an answer on its port does not count" "$SB/logs/mbupgraded.log" |
                grep -q "uid $nobody" || die "the squatter's answers were not refused by name"
        unsquat

        log "without the squatter the same rehearsal passes, production untouched"
        run_mbctl 0 rehearse v0.56.3
        assert_contains "$OUT" "rehearsal of v0.56.3: passed"
        wait_healthy 10 || die "Metabase does not serve"
}
