# mbupgraded-db preflight against a real PostgreSQL that the stand-in Metabase migrated: the server
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
        assert_contains "$OUT" "lock free"
        assert_contains "$OUT" "done"
        [[ $(sed -n 's/^database_size //p' <<<"$OUT") -gt 1000000 ]] || die "no database size"

        psql_mb "UPDATE databasechangeloglock SET locked = true, lockedby = 'node-1 (10.0.0.1)', lockgranted = now() WHERE id = 1" >/dev/null
        OUT=$(MBUP_PG_CONNINFO=$conninfo PGPASSFILE=$pass "$helper" preflight)
        assert_contains "$OUT" "lock held node-1 (10.0.0.1) since"
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
}
