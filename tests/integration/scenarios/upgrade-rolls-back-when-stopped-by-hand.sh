# Someone stops metabase.service by hand (systemctl stop) while an upgrade waits for the new
# version to become healthy, and once more while it settles. Either way the new version did not
# prove itself: the upgrade is rolled back (exit 3), the reason says the unit was stopped by someone
# else and not that Metabase crashed, and the old version serves again on its own database.

# stop_at STEP JAR: starts the upgrade, stops the unit by hand once the daemon is at STEP, and
# waits for mbctl; its output in $OUT.
stop_at() {
        local step=$1 jar=$2 i rc=0 pid
        "$MBCTL" upgrade now --jar "$jar" >"$SB/upgrade.out" 2>&1 &
        pid=$!
        for i in $(seq 1 300); do
                [[ "$("$MBCTL" status 2>/dev/null)" == *"Step: $step"* ]] && break
                sleep 0.05
        done
        [[ "$("$MBCTL" status)" == *"Step: $step"* ]] || die "the upgrade never got to step $step"
        log "systemctl --user stop metabase.service at step $step"
        systemctl --user stop metabase.service
        wait "$pid" || rc=$?
        OUT=$(cat "$SB/upgrade.out")
        printf '%s\n' "$OUT" | sed 's/^/#   mbctl: /' >&2
        [[ $rc -eq 3 ]] || die "the upgrade stopped by hand at step $step exited $rc, expected 3 (rolled back)"
}

assert_old_serving() {
        assert_contains "$OUT" "rolled-back"
        assert_contains "$OUT" "metabase.service was stopped by someone else" "the reason"
        assert_contains "$OUT" "$1" "the reason"
        assert_not_contains "$OUT" "crashed" "the reason"
        assert_eq "$(unit_state)" "active" "the unit after the rollback"
        assert_eq "$(running_version)" "v0.56.1"
        assert_eq "$(installed_version)" "v0.56.1"
        assert_not_contains "$(changelog)" '"v56.002"' "the database after the rollback"
        assert_contains "$(last_history)" "stopped by someone else"
}

scenario() {
        install_metabase "$(make_release v0.56.1)"
        start_daemon
        # a migration that takes a while: the daemon waits in step verify
        stop_at verify "$(make_release v0.56.2 slow --migration-ms 3000)"
        assert_old_serving "while starting"

        stop_at settle "$(make_release v0.56.2)"
        assert_old_serving "while settling, after it was healthy"

        # and the next upgrade, left alone, is taken
        run_mbctl 0 upgrade now --jar "$(make_release v0.56.2 good)"
        assert_eq "$(running_version)" "v0.56.2"
}
