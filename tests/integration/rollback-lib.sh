# SPDX-License-Identifier: MIT
# Shared by the "a bad release is rolled back" scenarios: upgrade from v0.56.1 to a broken JAR,
# expect exit 3, the old version serving again and the database without the new migrations.
expect_rolled_back() {
        local bad=$1 want_reason=$2 old_sha
        old_sha=$(sha256sum "$SB/opt/metabase/metabase.jar" | cut -d' ' -f1)
        run_mbctl 3 upgrade now --jar "$bad"
        assert_contains "$OUT" "rolled-back"
        assert_contains "$OUT" "$want_reason" "the reason"
        assert_eq "$(unit_state)" "active" "the unit after the rollback"
        assert_eq "$(running_version)" "v0.56.1" "the version serving after the rollback"
        assert_eq "$(sha256sum "$SB/opt/metabase/metabase.jar" | cut -d' ' -f1)" "$old_sha" "the JAR on disk"
        assert_not_contains "$(changelog)" '"v56.002"' "the new version's migration after the rollback"
        assert_contains "$(changelog)" '"v56.001"'
        run_mbctl 0 history --json
        assert_contains "$OUT" '"result":"rolled-back"'
        run_mbctl 0 status
        assert_contains "$OUT" "Installed: v0.56.1"
        [[ ! -e "$SB/state/operation.json" ]] || die "the journal was not removed"
        ls "$SB"/backups/*/metabase.db.mv.db >/dev/null || die "the backup is gone"
        # and the daemon takes the next upgrade
        run_mbctl 0 upgrade now --jar "$(make_release v0.56.2 good)"
        assert_eq "$(running_version)" "v0.56.2"
}
