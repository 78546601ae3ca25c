# policy.apply: immediately: the daemon finds the release at its first check, stages it and
# applies it with nobody asking. A release whose unattended upgrade was rolled back is not tried
# again unattended at the next check.
running_is() { [[ "$(running_version 2>/dev/null)" == "$1" ]]; }
history_has() { [[ $(mbctl history --json | grep -c "$1") -ge ${2:-1} ]]; }

scenario() {
        install_metabase "$(make_release v0.56.1)"
        mirror_release v0.56.2 "$(make_release v0.56.2)"
        mirror_feed v0.56.2:2025-02-01 v0.56.1:2025-01-01
        MBUP_APPLY=immediately write_config
        start_daemon
        wait_for 60 running_is v0.56.2 || die "v0.56.2 was not applied by itself"
        wait_for 20 history_has '"result":"committed"' || die "no committed entry"

        mirror_release v0.56.3 "$(make_release v0.56.3 bad --fail crash-at-start)"
        mirror_feed v0.56.3:2025-03-01 v0.56.2:2025-02-01 v0.56.1:2025-01-01
        run_mbctl 0 check
        wait_for 90 history_has '"result":"rolled-back"' || die "the bad release was not tried and rolled back"
        wait_for 30 running_is v0.56.2 || die "not back on v0.56.2"
        run_mbctl 0 check
        sleep 3
        [[ $(mbctl history --json | grep -c '"result":"rolled-back"') -eq 1 ]] || die "the failed release was retried"
        run_mbctl 5 upgrade window
        assert_contains "$OUT" "not retried unattended"
        assert_eq "$(running_version)" "v0.56.2"
}
