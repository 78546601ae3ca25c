# A rehearsal on PostgreSQL whose scratch copy holds Metabase's migration lock (copied from a
# production database where an earlier migration left it held): the release's start fails with
# Metabase's "Database has migration lock; cannot run migrations." and the rehearsal's reason names
# that condition and Metabase's own fix before the log's last lines. Production is untouched.
scratch_gone() { [[ $(psql_mb "SELECT count(*) FROM pg_database WHERE datname = 'metabase_mbup_rehearsal'") == 0 ]]; }
rehearsals() { grep '"kind":"rehearsal"' "$SB/state/history.jsonl" 2>/dev/null | grep "\"to\":\"$1\"" || true; }
rehearsed() { [[ -n $(rehearsals "$1") ]]; }

scenario() {
        local pid entry
        postgres_start
        runuser -u postgres -- "$PG_BIN/psql" -X -q -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres -d postgres \
                -c "ALTER ROLE metabase CREATEDB" >/dev/null
        install_metabase_pg "$(make_release v0.56.1)" envfile
        mirror_release v0.56.5 "$(make_release v0.56.5)"
        mirror_feed v0.56.5:2025-02-01 v0.56.1:2025-01-01
        MBUP_REHEARSE=always write_config
        start_daemon
        pid=$(main_pid)

        psql_mb "UPDATE databasechangeloglock SET locked = true, lockedby = 'mb-node-2 (10.0.0.7)', lockgranted = now() WHERE id = 1" >/dev/null
        run_mbctl 0 check
        wait_for 120 rehearsed v0.56.5 || die "v0.56.5 was not rehearsed: $(mbctl status)"
        entry=$(rehearsals v0.56.5)
        assert_contains "$entry" '"result":"failed"'
        assert_contains "$entry" "migration lock held: "
        assert_contains "$entry" "java --add-opens java.base/java.nio=ALL-UNNAMED -jar metabase.jar migrate release-locks"
        assert_contains "$entry" "Last lines: "
        run_mbctl 0 status
        assert_contains "$OUT" "migration lock held"
        assert_eq "$(main_pid)" "$pid" "a rehearsal does not touch production"
        assert_eq "$(running_version)" "v0.56.1"
        wait_for 20 scratch_gone || die "the scratch copy was not dropped"
}
