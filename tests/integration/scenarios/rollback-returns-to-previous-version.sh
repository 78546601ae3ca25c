# mbctl rollback after a good upgrade: the previous JAR and the database as it was before the
# upgrade come back; a second rollback has nothing to return to.
scenario() {
        install_metabase "$(make_release v0.56.1)"
        start_daemon
        run_mbctl 0 upgrade now --jar "$(make_release v0.56.2)"
        assert_contains "$(changelog)" '"v56.002"'

        run_mbctl 0 rollback --dry-run
        assert_contains "$OUT" "v0.56.2 -> v0.56.1"
        assert_eq "$(running_version)" "v0.56.2" "a dry run changes nothing"

        run_mbctl 0 rollback
        assert_contains "$OUT" "committed"
        assert_eq "$(running_version)" "v0.56.1"
        assert_eq "$(installed_version)" "v0.56.1"
        assert_not_contains "$(changelog)" '"v56.002"' "the database after the rollback"
        run_mbctl 0 history --json
        assert_contains "$OUT" '"kind":"rollback"'

        run_mbctl 5 rollback
        assert_contains "$OUT" "no committed upgrade to roll back"
        # the database the v0.56.2 era had is kept as a backup too: nothing is lost
        [[ $(ls "$SB"/backups/*/metabase.db.mv.db | wc -l) -eq 2 ]] || die "expected two backups"
}
