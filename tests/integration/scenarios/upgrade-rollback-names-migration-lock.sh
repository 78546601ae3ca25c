# An upgrade forced past pre-flight's refusal while PostgreSQL's migration lock is held (an earlier
# migration interrupted): the new release fails to start with Metabase's "Database has migration
# lock; cannot run migrations." The verifier follows the unit's output, recognises the message
# (common/mblog.c) and the rollback's reason names it with Metabase's own fix.
scenario() {
        postgres_start
        install_metabase_pg "$(make_release v0.56.1)" uri
        start_daemon
        psql_mb "UPDATE databasechangeloglock SET locked = true, lockedby = 'mb-node-2 (10.0.0.7)', lockgranted = now() WHERE id = 1" >/dev/null
        run_mbctl 3 upgrade now --force --jar "$(make_release v0.56.2)"
        assert_contains "$OUT" "rolled-back"
        assert_contains "$OUT" "Metabase exited while starting"
        assert_contains "$OUT" ". Metabase said: migration lock held: "
        assert_contains "$OUT" "migrate release-locks"
        run_mbctl 0 history --json
        assert_contains "$OUT" "Metabase said: migration lock held"
        assert_eq "$(running_version)" "v0.56.1" "the version serving after the rollback"
}
