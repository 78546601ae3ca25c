# A good upgrade on PostgreSQL: pre-flight reads the schema, the backup is a pg_dump taken with
# Metabase stopped (checksum recorded, 0600), the new version migrates and commits; then
# mbctl rollback puts v0.56.1 back on exactly the database it had. The password, kept in the
# unit's EnvironmentFile=, never shows in status, history, logs or the state directory.
scenario() {
        local old new backup before=$SB/before.sql i
        old=$(make_release v0.56.1)
        new=$(make_release v0.56.2)
        postgres_start
        install_metabase_pg "$old" envfile
        psql_mb "INSERT INTO report_card (id, name) VALUES (100, 'made before the upgrade')" >/dev/null
        start_daemon

        # status names the database and its newest change set (read by mbupgraded-db)
        for i in $(seq 1 50); do
                [[ $(mbctl status) == *"v56.001"* ]] && break
                sleep 0.2
        done
        run_mbctl 0 status
        assert_contains "$OUT" "Database: PostgreSQL metabase@127.0.0.1:$PG_PORT/metabase"
        assert_contains "$OUT" "Schema: v56.001"

        run_mbctl 0 upgrade now --jar "$new" --dry-run
        assert_contains "$OUT" "schema v56.001"
        [[ ! -e $SB/state/appdb.secret ]] || die "a dry run left the password file behind"

        pg_snapshot >"$before"
        run_mbctl 0 upgrade now --jar "$new"
        assert_contains "$OUT" "committed"
        assert_eq "$(running_version)" "v0.56.2"
        assert_eq "$(psql_mb 'select id from databasechangelog order by orderexecuted desc limit 1')" "v56.002"

        backup=$(ls "$SB"/backups/*/metabase.dump)
        [[ $(stat -c %a "$backup") == 600 ]] || die "the dump is not 0600"
        grep -q '"sha256":"'"$(sha256sum "$backup" | cut -d' ' -f1)"'"' "$(dirname "$backup")/backup.json" ||
                die "backup.json does not record the dump's SHA-256: $(cat "$(dirname "$backup")/backup.json")"
        assert_contains "$(cat "$(dirname "$backup")/backup.json")" '"kind":"postgres"'
        assert_contains "$(cat "$(dirname "$backup")/backup.json")" '"schema":"v56.001"'
        "$PG_BIN/pg_restore" --list "$backup" | grep -q "TABLE DATA public report_card" ||
                die "the dump has no report_card data"

        run_mbctl 0 history --json
        assert_contains "$OUT" '"database":"PostgreSQL metabase@127.0.0.1:'
        assert_contains "$OUT" '"schema":"v56.001"'
        [[ ! -e $SB/state/appdb.secret ]] || die "the password file outlived the upgrade"
        for i in $(seq 1 50); do
                [[ $(mbctl status) == *"Schema: v56.002"* ]] && break
                sleep 0.2
        done
        run_mbctl 0 status
        assert_contains "$OUT" "Schema: v56.002"

        # back to v0.56.1 with its database, as it was before the upgrade
        run_mbctl 0 rollback --yes
        assert_contains "$OUT" "committed"
        assert_eq "$(running_version)" "v0.56.1"
        assert_pg_snapshot "$before" "after mbctl rollback"
        assert_eq "$(psql_mb "SELECT name FROM report_card WHERE id = 100")" "made before the upgrade"

        # the password: in no log, no history, no state file, no backup metadata
        ! grep -rl -- "$PG_PASS" "$SB/logs" "$SB/state" "$SB"/backups/*/backup.json 2>/dev/null ||
                die "the database password was written to: $(grep -rl -- "$PG_PASS" "$SB/logs" "$SB/state" "$SB"/backups/*/backup.json)"
        assert_not_contains "$(mbctl status --json)" "$PG_PASS"
}
