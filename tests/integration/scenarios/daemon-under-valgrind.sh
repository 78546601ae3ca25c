# The daemon under valgrind (memcheck) through a whole cycle: an upgrade, mbctl rollback, a release
# that crashes at start and is rolled back by itself, hold and unhold, the reads mbctl makes, and
# refused upgrades; then stopped. No error, no byte definitely lost.

scenario() {
        local vlog=$SB/logs/valgrind.log
        command -v valgrind >/dev/null || die "no valgrind (apt-get install valgrind)"
        install_metabase "$(make_release v0.56.1)"
        MBUP_WRAPPER="/usr/bin/valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 --track-fds=no --log-file=$vlog" \
                start_daemon

        run_mbctl 0 upgrade now --jar "$(make_release v0.56.2)"
        assert_contains "$OUT" "committed"
        run_mbctl 0 status
        run_mbctl 0 history
        run_mbctl 0 backups
        run_mbctl 0 rollback --yes
        assert_contains "$OUT" "committed"
        assert_eq "$(running_version)" "v0.56.1"
        # a release that crashes at start: the failure path, rolled back by itself
        run_mbctl 3 upgrade now --jar "$(make_release v0.56.2 crashing --fail crash-at-start)"
        assert_eq "$(running_version)" "v0.56.1"
        run_mbctl 0 hold --reason "valgrind"
        run_mbctl 5 upgrade now --jar "$(make_release v0.56.2)"
        run_mbctl 0 unhold
        run_mbctl 5 upgrade now --jar "$SB/opt/metabase/metabase.jar"
        systemctl --user stop mbupgraded.service

        grep -E "ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|Invalid|uninitialised" "$vlog" >&2 || true
        grep -q "ERROR SUMMARY: 0 errors" "$vlog" || { cat "$vlog" >&2; die "valgrind found errors in the daemon"; }
        assert_eq "$(systemctl --user show -p ExecMainStatus --value mbupgraded.service)" "0" "the daemon's exit status under valgrind"
}
