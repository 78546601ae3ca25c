# Every way a release fails after the stop, on PostgreSQL: it crashes at start, it never gets
# ready, its migrations fail half-way (one applied, the lock held), it crashes while settling.
# Each ends rolled back (exit 3) with v0.56.1 serving and the database equal, schema and rows,
# to a dump taken before the upgrade; then a good release still upgrades.
scenario() {
        local before=$SB/before.sql mode reason n=0
        MBUP_SETTLE=5s MBUP_STALL_TIMEOUT=4s write_config
        postgres_start
        install_metabase_pg "$(make_release v0.56.1)" vars
        psql_mb "INSERT INTO report_card (id, name) VALUES (100, 'kept through every rollback')" >/dev/null
        start_daemon
        pg_snapshot >"$before"

        for mode in crash-at-start:"Metabase exited" never-ready:"no start-up progress for 4s" \
                half-migration:"" crash-after-ready:"Metabase"; do
                reason=${mode#*:}
                mode=${mode%%:*}
                n=$((n + 1))
                log "release failing with $mode"
                run_mbctl 3 upgrade now --jar "$(make_release "v0.56.$((n + 1))" "bad-$mode" --fail "$mode")"
                assert_contains "$OUT" "rolled-back"
                assert_contains "$OUT" "$reason" "the reason for $mode"
                assert_eq "$(unit_state)" "active" "the unit after $mode"
                assert_eq "$(running_version)" "v0.56.1" "the version serving after $mode"
                assert_pg_snapshot "$before" "after the rollback from $mode"
                [[ ! -e "$SB/state/operation.json" ]] || die "the journal was not removed after $mode"
                [[ ! -e "$SB/state/appdb.secret" ]] || die "the password file outlived $mode"
        done
        assert_eq "$(ls "$SB"/backups/*/metabase.dump | wc -l)" "4" "one dump per attempt"
        run_mbctl 0 history --json
        assert_eq "$(grep -o '"result":"rolled-back"' <<<"$OUT" | wc -l)" "4" "rolled-back entries"

        run_mbctl 0 upgrade now --jar "$(make_release v0.56.6 good)"
        assert_eq "$(running_version)" "v0.56.6"
        assert_eq "$(psql_mb "SELECT name FROM report_card WHERE id = 100")" "kept through every rollback"
}
