# min_age, skip and hold each hold a release back from unattended upgrades, and mbctl list and
# status say why; an admin's `mbctl upgrade now` is not bound by min_age.
scenario() {
        install_metabase "$(make_release v0.56.1)"
        mirror_release v0.56.2 "$(make_release v0.56.2)"
        mirror_release v0.56.3 "$(make_release v0.56.3)"
        local today
        today=$(date -u +%Y-%m-%d)
        mirror_feed "v0.56.3:$today" v0.56.2:2025-02-01 v0.56.1:2025-01-01

        MBUP_MIN_AGE=7d MBUP_SKIP=v0.56.2 write_config
        start_daemon
        run_mbctl 0 check
        run_mbctl 0 list
        assert_contains "$OUT" "too new: released $today, min_age 7d"
        assert_contains "$OUT" "skipped (policy.skip)"
        run_mbctl 0 upgrade window
        assert_contains "$OUT" "nothing to do"
        assert_eq "$(running_version)" "v0.56.1"

        run_mbctl 0 hold --reason "month-end close"
        run_mbctl 5 upgrade now
        assert_contains "$OUT" "on hold"
        run_mbctl 0 unhold
        # the admin takes the newest release now: min_age is for unattended upgrades
        run_mbctl 0 upgrade now
        assert_contains "$OUT" "v0.56.1 -> v0.56.3: committed"
        assert_eq "$(running_version)" "v0.56.3"
        scenario_window_max
}

# policy.window_max: the window does not start what the past upgrades say will not fit.
scenario_window_max() {
        mirror_release v0.56.4 "$(make_release v0.56.4)"
        mirror_feed v0.56.4:2025-03-01 v0.56.3:2025-02-02 v0.56.1:2025-01-01
        systemctl --user stop mbupgraded.service
        MBUP_WINDOW_MAX=1s write_config
        start_daemon
        run_mbctl 0 check
        run_mbctl 5 upgrade window
        assert_contains "$OUT" "would not fit in the window"
        systemctl --user stop mbupgraded.service
        MBUP_WINDOW_MAX=1h write_config
        start_daemon
        run_mbctl 0 check
        run_mbctl 0 upgrade window
        assert_contains "$OUT" "v0.56.3 -> v0.56.4: committed"
}
