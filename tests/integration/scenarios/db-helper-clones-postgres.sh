# mbupgraded-db's clone method (backup.postgres: clone) against a real PostgreSQL that the
# stand-in Metabase migrated: clone-check says why a clone is impossible (no CREATEDB, Metabase
# connected, a PGPASSFILE entry for the application database only); a clone taken with Metabase
# stopped, the newer version's migrations, restore-clone: the old version starts on exactly the
# schema, rows and database settings it had, and the newer database is kept under KEEP_AS. A clone
# or a restore while Metabase runs fails and names its session; names not of a clone are refused;
# drop-clone never drops the database itself.
scenario() {
        postgres_start
        install_metabase_pg "$(make_release v0.56.1)" vars
        local helper=$MBUP_BUILD/dbhelper/mbupgraded-db conninfo pass rc size
        conninfo="host='127.0.0.1' port='$PG_PORT' dbname='metabase' user='metabase'"
        pass=$SB/pgpass
        db() { MBUP_PG_CONNINFO=$conninfo PGPASSFILE=$pass "$helper" "$@"; }
        pg_super() {
                runuser -u postgres -- "$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" \
                        -p "$PG_PORT" -U postgres -d postgres -c "$1"
        }
        # the database as plain SQL, for "exactly as it was" (without pg_dump's version comments and
        # the random key of its \restrict lines)
        snapshot() {
                PGPASSFILE=$pass "$PG_BIN/pg_dump" --no-owner -h 127.0.0.1 -p "$PG_PORT" -U metabase \
                        -d "${1:-metabase}" | grep -v '^-- Dumped \|^$\|^\\\(un\)\?restrict '
        }
        # what CREATE DATABASE does not copy from its template
        properties() {
                pg_super "SELECT d.datconnlimit, d.datacl, pg_get_userbyid(d.datdba),
                                 shobj_description(d.oid, 'pg_database'),
                                 (SELECT string_agg(coalesce(pg_get_userbyid(s.setrole), '') || ':' || array_to_string(s.setconfig, ','), ' ' ORDER BY s.setrole)
                                  FROM pg_db_role_setting s WHERE s.setdatabase = d.oid)
                          FROM pg_database d WHERE d.datname = '${1:-metabase}'"
        }

        # The clone verbs run from the maintenance database: an entry for metabase alone is not
        # enough, and clone-check says so.
        printf '127.0.0.1:%s:metabase:metabase:%s\n' "$PG_PORT" "$PG_PASS" >"$pass"
        chmod 600 "$pass"
        OUT=$(db clone-check) || die "clone-check failed: $OUT"
        assert_contains "$OUT" "clone impossible cannot connect to a maintenance database"
        assert_contains "$OUT" '"*" as its database'
        assert_eq "$(tail -n 1 <<<"$OUT")" "done"
        printf '127.0.0.1:%s:*:metabase:%s\n' "$PG_PORT" "$PG_PASS" >"$pass"

        # No CREATEDB, and Metabase connected: both reasons.
        OUT=$(db clone-check) || die "clone-check failed: $OUT"
        printf '#   %s\n' "$OUT" >&2
        assert_contains "$OUT" "clone impossible"
        assert_contains "$OUT" "the role metabase has neither SUPERUSER nor CREATEDB"
        assert_contains "$OUT" "'Metabase stand-in'"
        assert_eq "$(tail -n 1 <<<"$OUT")" "done"

        pg_super "ALTER ROLE metabase CREATEDB" >/dev/null
        # What a clone must carry beyond the template's contents: a per-database search_path (a
        # list), a setting for the role in this database, privileges, a connection limit, a comment.
        pg_super "ALTER DATABASE metabase SET search_path TO \"\$user\", public, \"odd \"\"name\"" >/dev/null
        pg_super "ALTER ROLE metabase IN DATABASE metabase SET work_mem TO '8MB'" >/dev/null
        pg_super "REVOKE ALL ON DATABASE metabase FROM PUBLIC" >/dev/null
        pg_super "GRANT CONNECT ON DATABASE metabase TO pg_monitor" >/dev/null
        pg_super "ALTER DATABASE metabase CONNECTION LIMIT 25" >/dev/null
        pg_super "COMMENT ON DATABASE metabase IS 'Metabase''s application database'" >/dev/null
        local props
        props=$(properties)

        # Metabase running: the clone fails and names the session that holds the database.
        rc=0
        OUT=$(db clone metabase_mbup_1) || rc=$?
        printf '#   %s\n' "$OUT" >&2
        [[ $rc -eq 1 ]] || die "a clone while Metabase runs exited $rc"
        assert_contains "$OUT" "error clone the database metabase is in use by"
        assert_contains "$OUT" "'Metabase stand-in' (pid"
        assert_contains "$OUT" "from 127.0.0.1"
        assert_contains "$OUT" "is Metabase still running?"
        assert_eq "$(pg_super "SELECT count(*) FROM pg_database WHERE datname = 'metabase_mbup_1'")" "0"

        psql_mb "INSERT INTO report_card (id, name) VALUES (100, 'before the upgrade')" >/dev/null
        systemctl --user stop metabase.service
        OUT=$(db clone-check) || die "clone-check failed: $OUT"
        assert_eq "$OUT" $'clone possible\ndone'
        local before
        before=$(snapshot)
        OUT=$(db clone metabase_mbup_1) || die "clone failed: $OUT"
        printf '#   clone: %s\n' "$OUT" >&2
        size=$(sed -n 's/^size //p' <<<"$OUT")
        [[ $size =~ ^[0-9]+$ && $size -gt 1000000 ]] || die "no clone size in: $OUT"
        assert_eq "$(tail -n 1 <<<"$OUT")" "done"
        assert_eq "$(properties metabase_mbup_1)" "$props" "the clone's settings, privileges, limit, comment"
        [[ "$(snapshot metabase_mbup_1)" == "$before" ]] || {
                diff <(echo "$before") <(snapshot metabase_mbup_1) | head -n 20 >&2
                die "the clone differs from the database"
        }
        rc=0
        OUT=$(db clone metabase_mbup_1) || rc=$?
        [[ $rc -eq 1 ]] || die "a second clone of the same name exited $rc"
        assert_contains "$OUT" "already exists"

        # The newer version migrates the database in place; the clone is untouched.
        cp "$(make_release v0.56.2)" "$SB/opt/metabase/metabase.jar"
        systemctl --user start metabase.service
        wait_healthy 60 || die "v0.56.2 did not start"
        assert_contains "$(changelog)" '"v56.002"'
        psql_mb "DELETE FROM report_card WHERE id = 100" >/dev/null

        # A restore while it runs is refused, and renames nothing.
        rc=0
        OUT=$(db restore-clone metabase_mbup_1 metabase_mbup_1_v0562) || rc=$?
        [[ $rc -eq 1 ]] || die "restore-clone while Metabase runs exited $rc"
        assert_contains "$OUT" "error restore the database metabase is in use by"
        assert_contains "$OUT" "'Metabase stand-in'"
        systemctl --user stop metabase.service

        OUT=$(db restore-clone metabase_mbup_1 metabase_mbup_1_v0562) || die "restore-clone failed: $OUT"
        assert_eq "$OUT" "done"
        [[ "$(snapshot)" == "$before" ]] || {
                diff <(echo "$before") <(snapshot) | head -n 20 >&2
                die "the restored database differs from the one cloned"
        }
        assert_eq "$(properties)" "$props" "the restored database's settings, privileges, limit, comment"
        assert_eq "$(pg_super "SELECT count(*) FROM pg_database WHERE datname = 'metabase_mbup_1'")" "0"
        assert_contains "$(PGPASSFILE=$pass "$PG_BIN/psql" -X -A -t -h 127.0.0.1 -p "$PG_PORT" -U metabase \
                -d metabase_mbup_1_v0562 -c "SELECT id FROM databasechangelog")" "v56.002" "the newer database, kept"
        OUT=$(db restore-clone metabase_mbup_1 metabase_mbup_1_v0562) || die "restore-clone again failed: $OUT"
        assert_eq "$OUT" $'already restored\ndone'

        cp "$SB/jars/v0.56.1.jar" "$SB/opt/metabase/metabase.jar"
        systemctl --user start metabase.service
        wait_healthy 60 || die "v0.56.1 did not start on the restored database"
        assert_not_contains "$(changelog)" '"v56.002"' "the restored schema"
        assert_eq "$(psql_mb "SELECT name FROM report_card WHERE id = 100")" "before the upgrade" "the restored rows"
        assert_eq "$(psql_mb "SELECT count(*) FROM information_schema.tables WHERE table_name = 'mig_56_002'")" "0"

        # Names that are not a clone's, and the database itself, are refused before anything.
        local bad
        for bad in metabase metabase_mbup_ metabase_mbupx_1 other_mbup_1 'metabase_mbup_1;DROP' \
                'metabase_mbup_a"b' "metabase_mbup_$(printf 'x%.0s' $(seq 1 50))"; do
                rc=0
                OUT=$(db clone "$bad") || rc=$?
                [[ $rc -eq 2 ]] || die "clone '$bad' exited $rc: $OUT"
                assert_contains "$OUT" "error usage"
                rc=0
                OUT=$(db drop-clone "$bad") || rc=$?
                [[ $rc -eq 2 ]] || die "drop-clone '$bad' exited $rc: $OUT"
        done
        rc=0
        OUT=$(db restore-clone metabase_mbup_2 metabase_mbup_2) || rc=$?
        [[ $rc -eq 2 ]] || die "restore-clone to the same name exited $rc"
        rc=0
        OUT=$(db restore-clone metabase_mbup_2 metabase) || rc=$?
        [[ $rc -eq 2 ]] || die "restore-clone keeping as the database's own name exited $rc"
        rc=0
        OUT=$(MBUP_PG_CONNINFO="host=127.0.0.1 port=$PG_PORT user=metabase" PGPASSFILE=$pass "$helper" clone-check) || rc=$?
        [[ $rc -eq 2 ]] || die "a conninfo without dbname exited $rc"
        assert_contains "$OUT" "names no database"
        assert_eq "$(pg_super "SELECT count(*) FROM pg_database WHERE datname = 'metabase'")" "1" "the database itself"

        # Retention: the kept database goes only when drop-clone is asked, and only that one.
        OUT=$(db drop-clone metabase_mbup_1_v0562) || die "drop-clone failed: $OUT"
        assert_eq "$OUT" "done"
        assert_eq "$(pg_super "SELECT count(*) FROM pg_database WHERE datname LIKE 'metabase%'")" "1"
        OUT=$(db drop-clone metabase_mbup_1_v0562) || die "drop-clone of a dropped clone failed: $OUT"
        assert_eq "$OUT" $'already gone\ndone'
        wait_healthy 10 || die "v0.56.1 is not serving at the end"

        # Without CREATEDB, the reason alone (Metabase stopped, nobody connected).
        systemctl --user stop metabase.service
        pg_super "ALTER ROLE metabase NOCREATEDB" >/dev/null
        OUT=$(db clone-check) || die "clone-check failed: $OUT"
        assert_eq "$OUT" $'clone impossible the role metabase has neither SUPERUSER nor CREATEDB (ALTER ROLE metabase CREATEDB)\ndone'
        rc=0
        OUT=$(db clone metabase_mbup_3) || rc=$?
        [[ $rc -eq 1 ]] || die "a clone without CREATEDB exited $rc"
        assert_contains "$OUT" "error clone"
        assert_contains "$OUT" "permission denied to create database"
        assert_not_contains "$OUT" "$PG_PASS"
}
