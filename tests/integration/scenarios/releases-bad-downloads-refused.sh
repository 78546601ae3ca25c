# Downloads that must never reach the service: a checksum that does not match, a missing checksum
# with require_checksum, a JAR whose version.properties says another version, a JAR that needs a
# newer Java. Each is refused (exit 5) with the reason, before any stop.
scenario() {
        install_metabase "$(make_release v0.56.1)"
        mirror_release v0.56.2 "$(make_release v0.56.2)"
        echo "0000000000000000000000000000000000000000000000000000000000000000  metabase.jar" \
                >"$SB/mirror/v0.56.2/metabase.sha256"
        mirror_release v0.56.3 "$(make_release v0.56.3)"
        rm "$SB/mirror/v0.56.3/metabase.sha256"
        mirror_release v0.56.4 "$(make_release v0.56.5 mislabeled)"
        mirror_release v0.56.6 "$(make_release v0.56.6 java21 --java 21)"
        mirror_feed v0.56.6:2025-03-01 v0.56.4:2025-02-03 v0.56.3:2025-02-02 v0.56.2:2025-02-01 v0.56.1:2025-01-01
        start_daemon
        local pid=$(main_pid)
        run_mbctl 0 check

        run_mbctl 5 upgrade now --to v0.56.2
        assert_contains "$OUT" "does not match metabase.sha256"
        run_mbctl 5 upgrade now --to v0.56.3
        assert_contains "$OUT" "no metabase.sha256 is published"
        run_mbctl 5 upgrade now --to v0.56.4
        assert_contains "$OUT" "says it is v0.56.5"
        run_mbctl 5 upgrade now --to v0.56.6
        assert_contains "$OUT" "needs Java 21"
        run_mbctl 2 upgrade now --to 'v0.56.4/../../x'
        run_mbctl 5 upgrade now --to v0.56.9
        assert_contains "$OUT" "not in the release feed"

        assert_eq "$(main_pid)" "$pid" "MainPID after the refusals"
        assert_eq "$(running_version)" "v0.56.1"
        [[ -z "$(ls -A "$SB/backups")" ]] || die "a backup was taken for a refused upgrade"
}
