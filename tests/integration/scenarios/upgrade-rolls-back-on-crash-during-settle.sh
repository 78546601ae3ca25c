# A release that migrates, becomes healthy, then crashes while settling: rolled back, and its
# migration is gone from the database (restored from the backup).
source "$MBUP_SRC/tests/integration/rollback-lib.sh"
scenario() {
        MBUP_SETTLE=6s write_config
        install_metabase "$(make_release v0.56.1)"
        start_daemon
        expect_rolled_back "$(make_release v0.56.2 bad --fail crash-after-ready --crash-after-ms 1500)" "Metabase"
}
