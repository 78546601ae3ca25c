# Pre-flight on PostgreSQL refuses before anything is touched: a held migration lock (with the
# fix named), a wrong password in the unit's EnvironmentFile= (the server's answer, never the
# password). Metabase keeps running, same process, and no backup is taken.
scenario() {
        local pid new wrong=Wr0ngPa55word envfile=$SB/opt/metabase/metabase.env
        new=$(make_release v0.56.2)
        postgres_start
        install_metabase_pg "$(make_release v0.56.1)" envfile
        start_daemon
        pid=$(main_pid)

        psql_mb "UPDATE databasechangeloglock SET locked = true, lockedby = 'mb-node-2 (10.0.0.7)', lockgranted = now() WHERE id = 1" >/dev/null
        run_mbctl 5 upgrade now --jar "$new"
        assert_contains "$OUT" "migration lock"
        assert_contains "$OUT" "mb-node-2 (10.0.0.7)"
        assert_contains "$OUT" "migrate release-locks"
        assert_contains "$OUT" "--force"
        psql_mb "UPDATE databasechangeloglock SET locked = false, lockedby = NULL, lockgranted = NULL WHERE id = 1" >/dev/null

        # the unit's secret changed on disk (Metabase still runs with the old one)
        printf 'MB_DB_PASS=%s\n' "$wrong" >"$envfile"
        run_mbctl 5 upgrade now --jar "$new"
        assert_contains "$OUT" "cannot connect to the application database PostgreSQL metabase@127.0.0.1:$PG_PORT/metabase"
        assert_contains "$OUT" "password authentication failed"
        assert_not_contains "$OUT" "$wrong"
        printf 'MB_DB_PASS=%s\n' "$PG_PASS" >"$envfile"

        assert_eq "$(main_pid)" "$pid" "MainPID after the refusals"
        assert_eq "$(running_version)" "v0.56.1"
        [[ -z "$(ls -A "$SB/backups")" ]] || die "a backup was taken for a refused upgrade"
        [[ ! -e "$SB/state/appdb.secret" ]] || die "the password file outlived the refusal"
        run_mbctl 0 history --json
        assert_eq "$(grep -o '"result":"refused"' <<<"$OUT" | wc -l)" "2" "refused entries"
        ! grep -rl -- "$wrong" "$SB/logs" "$SB/state" || die "the wrong password was written down"
        ! grep -rl -- "$PG_PASS" "$SB/logs" "$SB/state" || die "the password was written down"

        # and with everything right again, the upgrade goes through
        run_mbctl 0 upgrade now --jar "$new"
        assert_eq "$(running_version)" "v0.56.2"
}
