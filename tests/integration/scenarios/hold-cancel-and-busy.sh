# Hold refuses upgrades (unless --force); a second upgrade while one runs is refused; cancel
# after the stop is refused with the reason; dry runs change nothing.
scenario() {
        install_metabase "$(make_release v0.56.1)"
        start_daemon
        local slow pid
        slow=$(make_release v0.56.2 slow --migration-ms 1500)

        run_mbctl 0 hold --reason "quarter-end reports"
        run_mbctl 0 status
        assert_contains "$OUT" "quarter-end reports"
        run_mbctl 5 upgrade now --jar "$slow"
        assert_contains "$OUT" "on hold"
        run_mbctl 0 unhold

        pid=$(main_pid)
        run_mbctl 0 upgrade now --dry-run --jar "$slow"
        assert_contains "$OUT" "v0.56.1 -> v0.56.2"
        assert_eq "$(main_pid)" "$pid" "MainPID after a dry run"

        run_mbctl 1 cancel
        assert_contains "$OUT" "No operation is running"

        run_mbctl 0 upgrade now --no-wait --jar "$slow"
        local i
        for i in $(seq 1 100); do
                [[ "$(mbctl status)" == *"Step: verify"* ]] && break
                sleep 0.1
        done
        run_mbctl 5 upgrade now --jar "$slow"
        assert_contains "$OUT" "already running"
        run_mbctl 1 cancel
        assert_contains "$OUT" "Too late to cancel"
        for i in $(seq 1 300); do
                [[ "$(mbctl status)" == *"Daemon: idle"* ]] && break
                sleep 0.1
        done
        assert_eq "$(running_version)" "v0.56.2"
}
