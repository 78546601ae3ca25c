# The daemon killed (SIGKILL, the test build's crash hook) right after each step of the
# zero-downtime path (issue 18) persists, and in the online backup's dump, then started again; a
# prober through nginx (TLS, 50 Hz) runs from the upgrade's call to the resumed daemon's end.
# After each: the upgrade ended as the step allows (before the stop: failed, the old version never
# stopped; stop and swap: rolled back, the JAR put back and not the database; from the start on:
# committed), nginx points at the unit's own port and serves the version running, no
# mbupgraded-bridge.service and no bridge.env are left, nor the journal, nor a partial dump; and no
# answer through nginx was anything but a 200: a bridge that nginx names is kept across the
# daemon's death and serves until the resumed daemon switches nginx back.
source "$MBUP_SRC/tests/integration/nginx.sh"
N=1 # the stand-in's patch level running now: v0.56.$N
# ZD_POINTS: the crash points before the stop to try (all of them by default), for a rerun of one

daemon_idle() { [[ $("$MBCTL" status 2>/dev/null) == *"Daemon: idle"* ]]; }
daemon_dead() { [[ $(systemctl --user show -p ActiveState --value mbupgraded.service) != active ]]; }
upstream_port() { sed -n 's/^set \$mbupgraded_upstream 127\.0\.0\.1:\([0-9]*\);$/\1/p' "$SB/run/upstream.conf"; }
last_upgrade() { grep '"kind":"upgrade"' "$SB/state/history.jsonl" | tail -n 1; }

# round POINT RESULT: an upgrade to the next patch level (no migration) with the crash at POINT
round() {
        local point=$1 expect=$2 next=$((N + 1)) pid jar
        jar=$(make_release "v0.56.$next" "v0.56.$next" --changesets-of v0.56.1)
        pid=$(main_pid)
        rm -f "$CRASHED"
        systemctl --user stop mbupgraded.service 2>/dev/null || true
        MBUP_DAEMON_ENV="MBUP_TEST_CRASH_AT=$point MBUP_TEST_CRASH_ONCE=$CRASHED" start_daemon
        nginx_prober_begin "${point//:/-}"
        "$MBCTL" upgrade now --jar "$jar" >/dev/null 2>&1 || true
        wait_for 60 test -e "$CRASHED" || die "$point: the crash point was never reached"
        wait_for 30 daemon_dead || die "$point: the daemon did not die"
        systemctl --user reset-failed mbupgraded.service 2>/dev/null || true
        systemctl --user start mbupgraded.service || die "$point: the daemon did not start again"
        wait_for 120 daemon_idle || die "$point: the daemon did not finish what it resumed: $("$MBCTL" status)"
        nginx_prober_end
        [[ $expect == committed ]] && N=$next
        [[ $N_BAD -eq 0 ]] || { awk '$2 != 200' "$PROBER_LOG" | head -5 >&2; die "$point: $N_BAD answers through nginx were not 200"; }
        assert_contains "$(last_upgrade)" "\"result\":\"$expect\"" "$point: the history's last upgrade"
        assert_eq "$(running_version)" "v0.56.$N" "$point: the version running"
        assert_eq "$(installed_version)" "v0.56.$N" "$point: the JAR on disk"
        [[ $expect != failed ]] || assert_eq "$(main_pid)" "$pid" "$point: metabase.service's main process (never stopped)"
        assert_eq "$(upstream_port)" "$MB_PORT" "$point: upstream.conf"
        assert_eq "$(curl -s --cacert "$TEST_CA" "$FRONT_URL/api/session/properties" | jq -r .version.tag)" "v0.56.$N" \
                "$point: the version through nginx"
        wait_for 10 bash -c "[[ \$(systemctl --user show -p LoadState --value mbupgraded-bridge.service) == not-found ]]" ||
                die "$point: mbupgraded-bridge.service is left"
        [[ ! -e $SB/state/bridge.env && ! -e $SB/state/operation.json ]] || die "$point: bridge.env or the journal is left"
        [[ -z $(find "$SB/backups" -name '*.tmp') ]] || die "$point: a partial dump is left: $(find "$SB/backups" -name '*.tmp')"
        [[ -z $(find "$SB/backups" -mindepth 1 -maxdepth 1 -type d -empty) ]] || die "$point: an empty backup directory is left"
        log "$point: $expect, v0.56.$N serving through nginx, $N_PROBES probes all 200"
}

scenario() {
        "$MBUPGRADED" --version | grep -q test-hooks || {
                log "skipped: $MBUPGRADED has no crash hooks (meson configure -Dtest_hooks=true)"
                exit 77
        }
        CRASHED=$SB/crash-fired
        postgres_start
        install_metabase_pg "$(make_release v0.56.1)"
        nginx_front_tls
        systemctl --user start nginx.service || die "nginx did not start"
        export MBUP_PROXY_URL=$FRONT_URL MBUP_PROXY_CA_FILE=$TEST_CA
        MBUP_SETTLE=1s MBUP_STALL_TIMEOUT=5s write_config

        for point in ${ZD_POINTS:-step:online-backup dump step:bridge step:switch step:bridge-settle}; do
                round "$point" failed
        done
        round step:stop rolled-back
        round step:swap rolled-back
        for point in step:start step:verify step:settle step:switch-back; do
                round "$point" committed
        done
}
