# A release that never becomes ready and whose progress does not move: rolled back after
# stall_timeout, not after the (long) start_timeout.
source "$MBUP_SRC/tests/integration/rollback-lib.sh"
scenario() {
        MBUP_STALL_TIMEOUT=4s MBUP_START_TIMEOUT=10m write_config
        install_metabase "$(make_release v0.56.1)"
        start_daemon
        local t0=$SECONDS
        expect_rolled_back "$(make_release v0.56.2 bad --fail never-ready)" "no start-up progress for 4s"
        (( SECONDS - t0 < 120 )) || die "took $((SECONDS - t0))s: start_timeout was waited instead of stall_timeout"
}
