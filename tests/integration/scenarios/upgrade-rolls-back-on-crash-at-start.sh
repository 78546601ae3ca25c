# A release that exits at once: rolled back, old version and database serving.
source "$MBUP_SRC/tests/integration/rollback-lib.sh"
scenario() {
        install_metabase "$(make_release v0.56.1)"
        start_daemon
        expect_rolled_back "$(make_release v0.56.2 bad --fail crash-at-start)" "Metabase exited"
}
