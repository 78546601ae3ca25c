# dump_of DB: the database as SQL, for "the same content" (no owners, no version comments, no
# \restrict keys)
dump_of() {
        runuser -u postgres -- "$PG_BIN/pg_dump" -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres \
                --no-owner --no-privileges "$1" | grep -v '^--\|^\\\(un\)\?restrict\|^$'
}

scenario() {
        postgres_start
        install_metabase_pg "$(make_release v0.56.1)"
        local helper=$MBUP_BUILD/dbhelper/mbupgraded-db conninfo pass pid rc=0
        conninfo="host='127.0.0.1' port='$PG_PORT' dbname='metabase' user='metabase'"
        pass=$SB/pgpass
        printf '127.0.0.1:%s:*:metabase:%s\n' "$PG_PORT" "$PG_PASS" >"$pass"
        chmod 600 "$pass"
        db() { env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin MBUP_PG_CONNINFO="$conninfo" PGPASSFILE="$pass" "$helper" "$@"; }
        psql_mb "INSERT INTO report_card (id, name) VALUES (100, 'before the copy')" >/dev/null
        pid=$(main_pid)

        log "no CREATEDB: the fix, and nothing made"
        OUT=$(db scratch-copy) || rc=$?
        ((rc == 1)) || die "scratch-copy without CREATEDB exited $rc: $OUT"
        assert_contains "$OUT" "error create cannot create the scratch database metabase_mbup_rehearsal"
        assert_contains "$OUT" "ALTER ROLE metabase CREATEDB"
        assert_eq "$(pg_super "SELECT count(*) FROM pg_database WHERE datname = 'metabase_mbup_rehearsal'")" 0 "scratch databases"

        log "the copy while Metabase runs"
        pg_super "ALTER ROLE metabase CREATEDB" >/dev/null
        OUT=$(db scratch-copy) || die "scratch-copy failed: $OUT"
        printf '#   %s\n' "${OUT//$'\n'/ | }" >&2
        assert_contains "$OUT" "scratch metabase_mbup_rehearsal"
        assert_contains "$OUT" "done"
        [[ $(sed -n 's/^database_size //p' <<<"$OUT") -gt 1000000 ]] || die "no size for the copy: $OUT"
        assert_eq "$(main_pid)" "$pid" "Metabase's MainPID during the copy"
        wait_healthy 10 || die "Metabase is not healthy after the copy"
        [[ "$(dump_of metabase_mbup_rehearsal)" == "$(dump_of metabase)" ]] || die "the copy differs from the database"
        assert_eq "$(pg_super "SELECT name FROM report_card WHERE id = 100" metabase_mbup_rehearsal)" "before the copy"

        log "independent after: a change on either side stays there"
        psql_mb "INSERT INTO report_card (id, name) VALUES (101, 'after the copy')" >/dev/null
        pg_super "DELETE FROM report_card WHERE id = 100" metabase_mbup_rehearsal >/dev/null
        assert_eq "$(pg_super "SELECT count(*) FROM report_card WHERE id = 101" metabase_mbup_rehearsal)" 0 "101 in the copy"
        assert_eq "$(psql_mb "SELECT count(*) FROM report_card WHERE id = 100")" 1 "100 in the database"

        log "a copy left by a killed rehearsal is replaced; drop-scratch ends its sessions"
        OUT=$(db scratch-copy) || die "a second scratch-copy failed: $OUT"
        assert_eq "$(pg_super "SELECT count(*) FROM report_card WHERE id = 101" metabase_mbup_rehearsal)" 1 "101 in the new copy"
        # a session on the copy, as a rehearsal's Metabase would hold
        PGPASSFILE=$pass "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U metabase -d metabase_mbup_rehearsal \
                -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
        local sleeper=$!
        sessions_on_copy() { [[ $(pg_super "SELECT count(*) FROM pg_stat_activity WHERE datname = 'metabase_mbup_rehearsal'") -ge 1 ]]; }
        wait_for 10 sessions_on_copy || die "no session on the copy to end"
        OUT=$(db drop-scratch) || die "drop-scratch failed: $OUT"
        wait "$sleeper" 2>/dev/null || true
        assert_eq "$(pg_super "SELECT count(*) FROM pg_database WHERE datname = 'metabase_mbup_rehearsal'")" 0 "scratch databases after drop-scratch"
        OUT=$(db drop-scratch) || die "drop-scratch of nothing failed: $OUT"
        # and the application database is whole
        assert_eq "$(psql_mb "SELECT count(*) FROM report_card WHERE id IN (100, 101)")" 2 "the application database's rows"
        assert_eq "$(main_pid)" "$pid" "Metabase's MainPID at the end"
}
