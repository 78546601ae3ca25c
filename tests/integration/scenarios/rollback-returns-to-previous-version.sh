# mbctl rollback after a good upgrade: the previous JAR and the database as it was before the
# upgrade come back; a second rollback has nothing to return to. Once the new version has served
# past settle, the rollback says when the backup was taken and that what was written since is
# lost: without a terminal (mbctl) or the confirmation flag (D-Bus) it is refused, nothing
# changed; on a terminal it asks; with --yes it rolls back.
scenario() {
        local pid
        install_metabase "$(make_release v0.56.1)"
        start_daemon
        run_mbctl 0 upgrade now --jar "$(make_release v0.56.2)"
        assert_contains "$(changelog)" '"v56.002"'

        run_mbctl 0 rollback --dry-run
        assert_contains "$OUT" "v0.56.2 -> v0.56.1"
        assert_eq "$(running_version)" "v0.56.2" "a dry run changes nothing"

        sleep 3.5 # settle (3s) past the commit: what users wrote since would be lost
        pid=$(main_pid)
        run_mbctl 5 rollback </dev/null
        assert_contains "$OUT" "puts back the database backup taken on 20"
        assert_contains "$OUT" "everything written to the application database since"
        assert_contains "$OUT" "pass --yes to roll back anyway"
        OUT=$(/usr/bin/python3 "$MBUP_SRC/tests/integration/bus-call.py" Rollback t 0 2>&1) && die "Rollback without flag 8 was accepted: $OUT"
        assert_contains "$OUT" "ERROR org.mbupgraded.Error.NeedsConfirmation: rolling back to v0.56.1"
        # on a terminal it asks; "n" changes nothing
        OUT=$(printf 'n\n' | script -qec "$MBCTL rollback" /dev/null 2>&1) || die "mbctl rollback answered n: $OUT"
        assert_contains "$OUT" "Go on? [y/N]"
        assert_contains "$OUT" "Nothing was changed."
        assert_eq "$(running_version)" "v0.56.2" "a refused rollback changes nothing"
        assert_eq "$(main_pid)" "$pid" "Metabase's MainPID after the refused rollbacks"
        assert_contains "$(changelog)" '"v56.002"' "the database after the refused rollbacks"
        run_mbctl 0 history --json
        assert_not_contains "$OUT" '"kind":"rollback"' "the history after the refused rollbacks"

        run_mbctl 0 rollback --yes
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
