# mbupgraded-db against a real PostgreSQL that the stand-in Metabase migrated: the server
# version, the size, the newest change set, a held migration lock; the password only ever in a
# 0600 PGPASSFILE, never on a command line; a wrong password is a clear error.
scenario() {
        postgres_start
        install_metabase_pg "$(make_release v0.56.1)" vars
        local helper=$MBUP_BUILD/dbhelper/mbupgraded-db conninfo pass
        conninfo="host='127.0.0.1' port='$PG_PORT' dbname='metabase' user='metabase'"
        pass=$SB/pgpass
        printf '127.0.0.1:%s:metabase:metabase:%s\n' "$PG_PORT" "$PG_PASS" >"$pass"
        chmod 600 "$pass"

        OUT=$(MBUP_PG_CONNINFO=$conninfo PGPASSFILE=$pass "$helper" preflight) || die "preflight failed: $OUT"
        printf '#   %s\n' "$OUT" >&2
        assert_contains "$OUT" "server_version 1"
        assert_contains "$OUT" "changelog_count 121"
        assert_contains "$OUT" "changelog_latest v56.001"
        # every applied change set, in ORDEREXECUTED order: the zero-downtime check's input
        assert_eq "$(grep -c '^changelog_id ' <<<"$OUT")" "121" "changelog_id lines"
        assert_eq "$(grep '^changelog_id ' <<<"$OUT" | sed -n '1p;$p' | tr '\n' ' ')" "changelog_id v50.001 changelog_id v56.001 " "first and last"
        assert_contains "$OUT" "lock free"
        assert_contains "$OUT" "done"
        [[ $(sed -n 's/^database_size //p' <<<"$OUT") -gt 1000000 ]] || die "no database size"

        psql_mb "UPDATE databasechangeloglock SET locked = true, lockedby = 'node-1 (10.0.0.1)', lockgranted = now() WHERE id = 1" >/dev/null
        OUT=$(MBUP_PG_CONNINFO=$conninfo PGPASSFILE=$pass "$helper" preflight)
        assert_contains "$OUT" "lock held node-1\\x20(10.0.0.1) "
        psql_mb "UPDATE databasechangeloglock SET locked = false WHERE id = 1" >/dev/null

        printf '127.0.0.1:%s:metabase:metabase:wrong\n' "$PG_PORT" >"$pass"
        local rc=0
        OUT=$(MBUP_PG_CONNINFO=$conninfo PGPASSFILE=$pass "$helper" preflight) || rc=$?
        [[ $rc -eq 1 ]] || die "a wrong password exited $rc"
        assert_contains "$OUT" "error connect"
        assert_contains "$OUT" "password authentication failed"
        assert_not_contains "$OUT" "$PG_PASS"
        rc=0
        "$helper" preflight >/dev/null 2>&1 || rc=$?
        [[ $rc -eq 2 ]] || die "no MBUP_PG_CONNINFO exited $rc, expected 2"
        scenario_backup_restore "$helper" "$conninfo" "$pass"
}

# backup and restore: what a rollback of a PostgreSQL application database needs. A dump taken
# with Metabase stopped, the new version's migrations, then the restore: the old version starts
# again on exactly the schema and rows it had.
scenario_backup_restore() {
        local helper=$1 conninfo=$2 pass=$3 dump=$SB/backups/metabase.dump rc=0 sha
        printf '127.0.0.1:%s:metabase:metabase:%s\n' "$PG_PORT" "$PG_PASS" >"$pass"
        psql_mb "INSERT INTO report_card (id, name) VALUES (100, 'before the upgrade')" >/dev/null
        systemctl --user stop metabase.service
        mkdir -p "$SB/backups"
        OUT=$(MBUP_PG_CONNINFO=$conninfo PGPASSFILE=$pass "$helper" backup "$dump") || die "backup failed: $OUT"
        printf '#   backup: %s\n' "$OUT" >&2
        sha=$(sha256sum "$dump" | cut -d' ' -f1)
        assert_contains "$OUT" "done $(stat -c %s "$dump") $sha"
        [[ $(stat -c %a "$dump") == 600 ]] || die "the dump is not 0600"
        [[ ! -e "$dump.tmp" ]] || die "a temporary dump was left behind"

        cp "$(make_release v0.56.2)" "$SB/opt/metabase/metabase.jar"
        systemctl --user start metabase.service
        wait_healthy 60 || die "v0.56.2 did not start"
        assert_contains "$(changelog)" '"v56.002"'
        psql_mb "DELETE FROM report_card WHERE id = 100" >/dev/null
        systemctl --user stop metabase.service

        OUT=$(MBUP_PG_CONNINFO=$conninfo PGPASSFILE=$pass "$helper" restore "$dump") || die "restore failed: $OUT"
        assert_contains "$OUT" "done"
        cp "$SB/jars/v0.56.1.jar" "$SB/opt/metabase/metabase.jar"
        systemctl --user start metabase.service
        wait_healthy 60 || die "v0.56.1 did not start on the restored database"
        assert_not_contains "$(changelog)" '"v56.002"' "the restored schema"
        assert_eq "$(psql_mb "SELECT name FROM report_card WHERE id = 100")" "before the upgrade" "the restored rows"
        assert_eq "$(psql_mb "SELECT count(*) FROM information_schema.tables WHERE table_name = 'mig_56_002'")" "0"

        # a damaged dump is refused and changes nothing
        head -c 1000 "$dump" >"$SB/backups/broken.dump"
        OUT=$(MBUP_PG_CONNINFO=$conninfo PGPASSFILE=$pass "$helper" restore "$SB/backups/broken.dump") || rc=$?
        [[ $rc -eq 1 ]] || die "restoring a damaged dump exited $rc"
        assert_contains "$OUT" "the database is as it was before"
        assert_eq "$(psql_mb "SELECT name FROM report_card WHERE id = 100")" "before the upgrade"

        # cut in the middle: pg_restore has already streamed part of it into the transaction
        # when it fails; nothing of it is committed, and nothing was dropped
        rc=0
        head -c "$(($(stat -c %s "$dump") * 2 / 3))" "$dump" >"$SB/backups/half.dump"
        psql_mb "INSERT INTO report_card (id, name) VALUES (101, 'after the backup')" >/dev/null
        OUT=$(MBUP_PG_CONNINFO=$conninfo PGPASSFILE=$pass "$helper" restore "$SB/backups/half.dump") || rc=$?
        [[ $rc -eq 1 ]] || die "restoring a dump cut in the middle exited $rc"
        assert_contains "$OUT" "the database is as it was before"
        assert_eq "$(psql_mb "SELECT name FROM report_card WHERE id = 101")" "after the backup" "a row the dump lacks"
        assert_eq "$(psql_mb "SELECT count(*) FROM information_schema.tables WHERE table_name = 'databasechangelog'")" "1"
}
