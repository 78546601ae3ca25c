# A release whose migrations fail half-way (one applied and committed, the failed one rolled
# back, the lock released, as Metabase's Liquibase does): without the database restore the old
# JAR would run on a schema it does not know (a change set of v0.56.3 in it).
source "$MBUP_SRC/tests/integration/rollback-lib.sh"
scenario() {
        install_metabase "$(make_release v0.56.1)"
        start_daemon
        expect_rolled_back "$(make_release v0.56.3 bad --fail half-migration)" "rolled-back"
}
