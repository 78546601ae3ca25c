# A long migration on H2: Metabase's progress stays at 30% for all of its migrations (core.clj
# init!*), here four of 5 s each, five times stall_timeout (4s). The JVM computes meanwhile, as an
# H2 migration does: CPU moves, so the upgrade waits and commits instead of calling it a stall.
scenario() {
        local old new t0 took
        MBUP_STALL_TIMEOUT=4s MBUP_START_TIMEOUT=10m write_config
        old=$(make_release v0.56.1)
        new=$(make_release v0.56.5 long --migration-ms 5000 --migration-work cpu)
        install_metabase "$old"
        start_daemon
        t0=$SECONDS
        run_mbctl 0 upgrade now --jar "$new"
        took=$((SECONDS - t0))
        assert_contains "$OUT" "committed"
        assert_eq "$(running_version)" "v0.56.5" "the running version"
        assert_contains "$(changelog)" '"v56.005"' "the last migration"
        # the progress figure stood still at 30% while the migrations ran, longer than stall_timeout
        assert_contains "$OUT" "v0.56.5 is starting (30%): "
        (( took >= 20 )) || die "took ${took}s: the four migrations of 5 s each did not run"
        # and the status said what moved
        assert_contains "$OUT" "CPU moving"
}
