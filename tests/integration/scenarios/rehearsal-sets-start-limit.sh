# A rehearsal measures a long server-side migration and the upgrade's start limit follows it. On
# PostgreSQL, v0.56.5's four migrations take 5 s each, run by the server (pg_sleep) while the JVM
# idles and the progress stays at 30%: the rehearsal's verifier watches the scratch database's
# statements and change sets, so the 20 s copy's migration is not a stall (stall_timeout 4s), and
# passes. start_timeout is 12s, shorter than the migration: the upgrade still commits, because a
# passed rehearsal sets the limit to its time x3 + 10m.
rehearsals() { grep '"kind":"rehearsal"' "$SB/state/history.jsonl" 2>/dev/null | grep "\"to\":\"$1\"" || true; }
rehearsed() { [[ -n $(rehearsals "$1") ]]; }
server_working() { mbctl status | grep -q "Rehearsal: v0.56.5: migrating a copy of .*(30%): migrating: .*the database server is working"; }

scenario() {
        local entry rehearsal_ms jar
        postgres_start
        runuser -u postgres -- "$PG_BIN/psql" -X -q -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres -d postgres \
                -c "ALTER ROLE metabase CREATEDB" >/dev/null
        install_metabase_pg "$(make_release v0.56.1)" envfile
        jar=$(make_release v0.56.5 v0.56.5 --migration-ms 5000 --migration-work server)
        mirror_release v0.56.5 "$jar"
        mirror_feed v0.56.5:2025-02-01 v0.56.1:2025-01-01
        MBUP_REHEARSE=always MBUP_STALL_TIMEOUT=4s MBUP_START_TIMEOUT=12s MBUP_REHEARSAL_TIMEOUT=2m write_config
        start_daemon

        run_mbctl 0 check
        # while it migrates, the Rehearsal property says what moves
        wait_for 60 server_working || die "the rehearsal's status never said the server was working: $(mbctl status)"
        wait_for 90 rehearsed v0.56.5 || die "v0.56.5 was not rehearsed: $(mbctl status)"
        entry=$(rehearsals v0.56.5)
        assert_contains "$entry" '"result":"passed"'
        rehearsal_ms=$(jq -r .rehearsal_ms <<<"$entry")
        [[ $rehearsal_ms -ge 20000 ]] || die "the rehearsal measured ${rehearsal_ms} ms for four migrations of 5 s"

        # 20 s and more at 30% against a start_timeout of 12s: the rehearsal's figure decides
        run_mbctl 0 upgrade now --jar "$jar"
        assert_contains "$OUT" "committed"
        assert_contains "$OUT" "v0.56.5 is starting (30%): migrating: "
        assert_eq "$(running_version)" "v0.56.5"
}
