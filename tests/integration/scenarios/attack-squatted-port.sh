# Issue 15, items 4 and 5: whoever answers on the port. Any local user may bind a free port. The
# user nobody runs a listener (tests/integration/squatter.py) that answers like a healthy Metabase
# of the version being installed: 200 {"status":"ok"} and a forged version.tag.
#   0. Metabase down (crashed, stopped by hand), the squatter on its port: an upgrade stops
#      nothing, swaps nothing, and says whose the port is (uid, pid).
#   1. On Metabase's port, grabbed right after the stop: the start waits (status and log name the
#      squatter's uid and pid; the daemon never talks to it). Once it is gone, the real Metabase
#      binds and is the one verified: committed.
#   1b. A squatter that stays: after service.start_timeout the upgrade rolls back; the old
#      version's start waits for the port too, and serves once the squatter leaves; the new
#      version never started, nothing is lost (the H2 file as before).
#   2. On a rehearsal's port, grabbed before the rehearsal's JVM binds it: the squatter cannot
#      forge a pass; the port is not in the Rehearsal property before the rehearsal holds it.
# Nothing is lost: Metabase serves afterwards, a clean rehearsal passes.
SQUAT_PID=

squat() { # squat PORT TAG WAIT LOG: as nobody, in the background
        setpriv --reuid=nobody --regid=nogroup --clear-groups --no-new-privs -- \
                /usr/bin/python3 "$MBUP_SRC/tests/integration/squatter.py" "$1" "$2" "$3" >"$4" 2>&1 &
        SQUAT_PID=$!
}

# after the upgrade gave up on the port, the rollback's start waits for it too
rollback_waits() {
        grep -A1000 "could not have bound it" "$SB/logs/mbupgraded.log" |
                grep -q "metabase.service is not started with v0.56.2 until it is free"
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
        # how long a new version's start waits for its port before the upgrade rolls back
        MBUP_START_TIMEOUT=20s write_config
        start_daemon
        run_mbctl 0 check

        log "0. Metabase down, a squatter on its port $MB_PORT: an upgrade stops and swaps nothing"
        systemctl --user stop metabase.service
        squat "$MB_PORT" v0.56.2 10 "$SB/squat0.log"
        wait_for 10 grep -q "^bound" "$SB/squat0.log" || die "the squatter did not get the free port"
        local jar_before
        jar_before=$(sha256sum <"$SB/opt/metabase/metabase.jar")
        OUT=$("$MBCTL" upgrade now --to v0.56.2 2>&1) && die "the upgrade went on: $OUT"
        printf '%s\n' "$OUT" | sed 's/^/#   mbctl: /' >&2
        assert_contains "$OUT" "is held by a listener that is not the unit's (pid $SQUAT_PID, uid $nobody"
        assert_contains "$OUT" "so metabase.service was not stopped: it could not bind its port again"
        assert_contains "$(last_history)" '"result":"refused"'
        assert_eq "$(sha256sum <"$SB/opt/metabase/metabase.jar")" "$jar_before" "the JAR after the refusal"
        [[ -z $(ls "$SB/backups") ]] || die "a backup was taken: $(ls "$SB/backups")"
        unsquat
        systemctl --user start metabase.service
        wait_healthy 30 || die "Metabase does not serve after the squatter left"

        log "1. a squatter waits for Metabase's port $MB_PORT and answers as v0.56.2"
        squat "$MB_PORT" v0.56.2 120 "$SB/squat1.log"
        sleep 0.5
        grep -q bound "$SB/squat1.log" && die "the squatter bound the port while Metabase held it"
        "$MBCTL" upgrade now --to v0.56.2 >"$SB/upgrade.out" 2>&1 &
        local upid=$!
        wait_for 60 grep -q "^bound" "$SB/squat1.log" || die "the squatter never got the port"
        wait_for 30 grep -q "metabase.service is not started with v0.56.2 until it is free" "$SB/logs/mbupgraded.log" ||
                die "the start did not wait for the port: $(tail -n 20 "$SB/logs/mbupgraded.log")"
        line=$(grep "is not started with v0.56.2 until it is free" "$SB/logs/mbupgraded.log" | head -1)
        assert_contains "$line" "uid $nobody"
        assert_contains "$line" "pid $SQUAT_PID"
        wait_for 10 eval '[[ $(mbctl status) == *"Waiting to start metabase.service with v0.56.2: port $MB_PORT is held"* ]]' ||
                die "the status does not say what the start waits for: $(mbctl status)"
        sleep 2
        # nothing started on the port the squatter holds, and the daemon never talked to it
        grep -q "v0.56.2 starting" "$SB/logs/metabase.log" && die "v0.56.2 was started on a squatted port"
        if grep -q "^connected" "$SB/squat1.log"; then die "the daemon talked to the squatter"; fi
        log "the squatter goes away"
        unsquat
        wait "$upid" || true
        sed 's/^/#   upgrade: /' "$SB/upgrade.out" >&2
        grep -q "metabase.service's port is free again: starting it" "$SB/logs/mbupgraded.log" ||
                die "the daemon did not say the port was free again"
        assert_contains "$(last_history)" '"result":"committed"'
        # the real Metabase bound the port once the squatter was gone and was verified
        assert_eq "$(running_version)" v0.56.2
        assert_eq "$(unit_state)" active
        wait_healthy 30 || die "Metabase does not serve after the attack"

        log "1b. a squatter that stays: the upgrade to v0.56.3 rolls back, v0.56.2 waits for the port"
        mirror_release v0.56.3 "$(make_release v0.56.3 v0.56.3 --startup-ms 5000)"
        mirror_feed v0.56.3:2025-02-01 v0.56.2:2025-01-20 v0.56.1:2025-01-01
        run_mbctl 0 check
        local h2_before
        h2_before=$(http /api/standin/changelog)
        squat "$MB_PORT" v0.56.3 120 "$SB/squat1b.log"
        "$MBCTL" upgrade now --to v0.56.3 >"$SB/upgrade1b.out" 2>&1 &
        upid=$!
        wait_for 60 grep -q "^bound" "$SB/squat1b.log" || die "the squatter never got the port"
        wait_for 60 grep -q "could not have bound it; stop that process" "$SB/logs/mbupgraded.log" ||
                die "the upgrade did not give up on the port: $(tail -n 20 "$SB/logs/mbupgraded.log")"
        wait_for 60 rollback_waits ||
                die "the rollback's start did not wait for the port: $(tail -n 20 "$SB/logs/mbupgraded.log")"
        wait_for 10 eval '[[ $(mbctl status) == *"Waiting to start metabase.service with v0.56.2: port $MB_PORT is held"* ]]' ||
                die "the status does not say what the rollback waits for: $(mbctl status)"
        sleep 3
        # it goes on waiting: a start now could only fail
        [[ $(unit_state) != active ]] || die "metabase.service was started on a squatted port"
        log "the squatter goes away"
        unsquat
        wait "$upid" || true
        sed 's/^/#   upgrade: /' "$SB/upgrade1b.out" >&2
        hist=$(last_history)
        assert_contains "$hist" '"result":"rolled-back"'
        assert_contains "$hist" "uid $nobody"
        wait_healthy 30 || die "Metabase does not serve after the squatter left"
        assert_eq "$(running_version)" v0.56.2
        grep -q "v0.56.3 starting" "$SB/logs/metabase.log" && die "v0.56.3 was started"
        assert_eq "$(http /api/standin/changelog)" "$h2_before" "the database's changelog after the rollback"

        log "2. a squatter on a rehearsal's port"
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
