# A release whose migrations fail half-way (one applied, the lock left held): without the
# database restore the old JAR would refuse the schema ("Downgrade detected").
source "$MBUP_SRC/tests/integration/rollback-lib.sh"
scenario() {
        install_metabase "$(make_release v0.56.1)"
        start_daemon
        expect_rolled_back "$(make_release v0.56.3 bad --fail half-migration)" "rolled-back"
}
