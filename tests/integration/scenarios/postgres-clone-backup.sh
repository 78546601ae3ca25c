scenario() {
        local before=$SB/before.sql dbs i
        MBUP_PG_BACKUP=clone MBUP_KEEP_BACKUPS=1 write_config
        postgres_start
        pg_super "ALTER ROLE metabase CREATEDB" >/dev/null
        install_metabase_pg "$(make_release v0.56.1)" uri
        psql_mb "INSERT INTO report_card (id, name) VALUES (100, 'cloned')" >/dev/null
        start_daemon
        pg_snapshot >"$before"

        run_mbctl 3 upgrade now --jar "$(make_release v0.56.2 bad --fail half-migration)"
        assert_contains "$OUT" "rolled-back"
        assert_contains "$OUT" "as the database metabase_mbup_"
        assert_eq "$(running_version)" "v0.56.1"
        assert_pg_snapshot "$before" "after the rollback from the clone"
        dbs=$(pg_super "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database WHERE datname LIKE 'metabase%'")
        # the copy became metabase again; the half-migrated database is kept, renamed
        [[ $dbs =~ ^metabase,metabase_mbup_[0-9]+_new$ ]] || die "databases after the rollback: $dbs"
        ls "$SB"/backups/*/metabase.clone >/dev/null || die "no clone marker"
        assert_contains "$(cat "$SB"/backups/*/backup.json)" '"method":"clone"'

        # a good upgrade: its clone is the backup mbctl rollback needs
        run_mbctl 0 upgrade now --jar "$(make_release v0.56.3)"
        assert_eq "$(running_version)" "v0.56.3"
        # keep: 1 -> the older clone is dropped in the background, the needed one stays (its
        # directory goes after the drop: wait for both)
        for i in $(seq 1 50); do
                dbs=$(pg_super "SELECT count(*) FROM pg_database WHERE datname ~ '^metabase_mbup_[0-9]+$'")
                [[ $dbs == 1 && $(ls "$SB/backups" | wc -l) == 1 ]] && break
                sleep 0.2
        done
        assert_eq "$dbs" "1" "clones left after pruning"
        assert_eq "$(ls "$SB/backups" | wc -l)" "1" "backup directories after pruning"
        [[ ! -e $SB/state/appdb.drop && ! -e $SB/state/appdb.secret ]] || die "a password file was left behind"

        run_mbctl 0 rollback --yes
        assert_eq "$(running_version)" "v0.56.1"
        assert_eq "$(psql_mb "SELECT name FROM report_card WHERE id = 100")" "cloned"
        assert_eq "$(psql_mb 'select id from databasechangelog order by orderexecuted desc limit 1')" "v56.001"

        # no CREATEDB: a dump, and the log says why
        pg_super "ALTER ROLE metabase NOCREATEDB" >/dev/null
        run_mbctl 0 upgrade now --jar "$(make_release v0.56.4)"
        assert_eq "$(running_version)" "v0.56.4"
        ls "$SB"/backups/*/metabase.dump >/dev/null || die "no dump taken without CREATEDB"
        assert_contains "$(cat "$SB/logs/mbupgraded.log")" "can't be cloned: the role metabase has neither SUPERUSER nor CREATEDB"
}
