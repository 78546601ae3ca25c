# mbctl backup, backups and restore. On PostgreSQL a backup is a pg_dump of the live database
# (Metabase keeps running); a restore stops Metabase, keeps the database as it is first, puts
# the backup back and starts Metabase again; it asks for --yes, refuses a backup of a newer
# version, a damaged one, one outside backup.dir. backup.keep prunes old backups but never the
# one mbctl rollback needs. On H2 a backup stops the service for the copy, and says so.
scenario() {
        local pid id snap=$SB/at-backup.sql n
        MBUP_KEEP_BACKUPS=3 write_config
        postgres_start
        install_metabase_pg "$(make_release v0.56.1)" uri
        start_daemon
        pid=$(main_pid)

        run_mbctl 0 backups
        assert_contains "$OUT" "No backups yet"
        psql_mb "INSERT INTO report_card (id, name) VALUES (100, 'in the backup')" >/dev/null
        pg_snapshot >"$snap"
        run_mbctl 0 backup
        assert_contains "$OUT" "backup of PostgreSQL metabase@127.0.0.1:$PG_PORT/metabase (v0.56.1)"
        assert_contains "$OUT" "database: done"
        assert_eq "$(main_pid)" "$pid" "MainPID: a PostgreSQL backup does not stop Metabase"
        run_mbctl 0 backups --json
        id=$(sed -n 's/.*"id":"\([^"]*\)".*/\1/p' <<<"$(tr -d ' \n' <<<"$OUT")")
        [[ -n $id ]] || die "no backup id in: $OUT"
        assert_contains "$OUT" '"kind":"postgres"'
        assert_contains "$OUT" '"version":"v0.56.1"'
        assert_contains "$OUT" '"schema":"v56.001"'
        assert_contains "$OUT" "\"sha256\":\"$(sha256sum "$SB/backups/$id/metabase.dump" | cut -d' ' -f1)\""
        run_mbctl 0 backups
        assert_contains "$OUT" "$id"

        # changed after the backup
        psql_mb "INSERT INTO report_card (id, name) VALUES (101, 'after the backup')" >/dev/null
        run_mbctl 2 restore "$id" </dev/null
        assert_contains "$OUT" "--yes"
        run_mbctl 5 restore no-such-backup --yes
        assert_contains "$OUT" "No backup 'no-such-backup'"
        run_mbctl 5 restore /etc/passwd --yes
        assert_contains "$OUT" "not a backup in backup.dir"
        run_mbctl 0 restore "$SB/backups/$id/metabase.dump" --yes
        assert_contains "$OUT" "database: done"
        assert_pg_snapshot "$snap" "after mbctl restore"
        [[ "$(main_pid)" != "$pid" ]] || die "Metabase was not restarted by the restore"
        assert_eq "$(running_version)" "v0.56.1"
        # the database as it was before the restore is a backup of its own, with row 101
        n=$(ls -d "$SB"/backups/*/ | wc -l)
        assert_eq "$n" "2" "backups after the restore"
        "$PG_BIN/pg_restore" --data-only --table=report_card -f - "$(ls "$SB"/backups/*/metabase.dump | tail -n 1)" |
                grep -q "after the backup" || die "the pre-restore backup lacks the row written after the backup"

        # a damaged backup is refused before the stop
        pid=$(main_pid)
        printf 'x' >>"$SB/backups/$id/metabase.dump"
        run_mbctl 5 restore "$id" --yes
        assert_contains "$OUT" "does not match its recorded SHA-256"
        assert_eq "$(main_pid)" "$pid" "MainPID after a refused restore"

        # a backup of a newer version is refused on an older one (unless --force)
        run_mbctl 0 upgrade now --jar "$(make_release v0.56.2)"
        run_mbctl 0 backup
        local newer
        newer=$(ls "$SB/backups" | tail -n 1)
        run_mbctl 0 rollback --yes
        assert_eq "$(running_version)" "v0.56.1"
        run_mbctl 5 restore "$newer" --yes
        assert_contains "$OUT" "the backup is of v0.56.2, newer than the installed v0.56.1"

        # retention: backup.keep=3, the rollback's backup kept besides, the newest first
        run_mbctl 0 upgrade now --jar "$(make_release v0.56.3)"
        local needed
        needed=$(sed -n 's/.*"backup": *"\([^"]*\)".*/\1/p' "$SB/state/last-upgrade.json")
        [[ -f $needed ]] || die "last-upgrade.json names no backup"
        for n in 1 2 3 4; do run_mbctl 0 backup; done
        assert_eq "$(ls -d "$SB"/backups/*/ | wc -l)" "4" "backups kept (3 newest + the one rollback needs)"
        [[ -f $needed ]] || die "the backup mbctl rollback needs was pruned"
        run_mbctl 0 backups
        assert_contains "$OUT" "(mbctl rollback needs it)"
        run_mbctl 0 rollback --yes
        assert_eq "$(running_version)" "v0.56.1"
        scenario_h2
}

# H2: the copy needs Metabase stopped; the backup says so and starts it again.
scenario_h2() {
        local pid id
        systemctl --user stop mbupgraded.service
        systemctl --user stop metabase.service
        rm -rf "$SB/backups"/* "$SB/state/last-upgrade.json"
        install_metabase "$(make_release v0.56.1)"
        start_daemon
        pid=$(main_pid)
        run_mbctl 0 backup
        assert_contains "$OUT" "H2 can only be copied while Metabase is stopped"
        assert_contains "$OUT" "database: done"
        [[ "$(main_pid)" != "$pid" ]] || die "the H2 backup did not restart Metabase"
        id=$(ls "$SB/backups")
        grep -q "\"sha256\":\"$(sha256sum "$SB/backups/$id/metabase.db.mv.db" | cut -d' ' -f1)\"" \
                "$SB/backups/$id/backup.json" || die "backup.json does not record the H2 copy's SHA-256"
        run_mbctl 0 restore "$id" --yes
        assert_contains "$OUT" "database: done"
        assert_eq "$(unit_state)" "active"
        run_mbctl 0 history
        assert_contains "$OUT" "restore"
        assert_contains "$OUT" "backup"
}
