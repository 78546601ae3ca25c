# Releases from an internal HTTPS mirror (nginx, a certificate from the test CA given as
# releases.ca_file). A broken feed keeps the last good one and says why; a mirror with a
# certificate from another CA, a download cut short, a redirect to plain http and a 404 all end
# in a clear error with the service untouched.
source "$MBUP_SRC/tests/integration/nginx.sh"

scenario() {
        nginx_start "$SB/nginx"
        trap 'rc=$?; set +e; nginx_stop; (exit $rc); sandbox_cleanup' EXIT
        local www=$SB/nginx/www pid
        install_metabase "$(make_release v0.56.1)"
        mirror_release v0.56.2 "$(make_release v0.56.2)" "$www"
        mirror_release v0.56.3 "$(make_release v0.56.3)" "$www"
        MIRROR_ROOT=$www mirror_feed v0.56.2:2025-02-01 v0.56.1:2025-01-01

        MBUP_FEED=$NGINX_URL/version-info.json MBUP_DOWNLOADS=$NGINX_URL MBUP_CA_FILE=$TEST_CA write_config
        start_daemon
        run_mbctl 0 check
        assert_contains "$OUT" "ok: 2 releases, newest v0.56.2"
        run_mbctl 0 upgrade window
        assert_contains "$OUT" "committed"
        assert_eq "$(running_version)" "v0.56.2"
        grep -q 'GET /v0.56.2/metabase.jar' "$NGINX_ACCESS_LOG" || die "the JAR did not come from nginx"

        # a broken feed: the last good one stays, and the check says why
        echo '{"latest": {"version": "v0.56.3"' >"$www/version-info.json"
        run_mbctl 1 check
        assert_contains "$OUT" "not JSON"
        assert_contains "$OUT" "keeping the last good feed"
        run_mbctl 0 list
        assert_contains "$OUT" "v0.56.2"
        # a feed of 100 MB, one nested 10,000 deep: refused, the last good one kept
        head -c 100M /dev/zero | tr '\0' ' ' >"$www/version-info.json"
        run_mbctl 1 check
        assert_contains "$OUT" "keeping the last good feed"
        printf '%.0s[' $(seq 1 10000) >"$www/version-info.json"
        run_mbctl 1 check
        assert_contains "$OUT" "keeping the last good feed"
        # versions that would walk out of the staging directory or into a URL's query are dropped
        printf '%s' '{"latest":{"version":"v0.56.2","released":"2025-02-01"},"older":[{"version":"v0.56.4/../../x"},{"version":"v0.56.5?x=1"}]}' \
                >"$www/version-info.json"
        run_mbctl 0 check
        assert_contains "$OUT" "ignored entries"
        run_mbctl 0 list --json
        assert_not_contains "$OUT" "../"
        MIRROR_ROOT=$www mirror_feed v0.56.3:2025-03-01 v0.56.2:2025-02-01 v0.56.1:2025-01-01
        pid=$(main_pid)

        # hostile transports for the JAR, each refused or failed before any stop
        local case
        for case in "$NGINX_OTHER_URL|not trusted" "$NGINX_URL/truncated|" "$NGINX_URL/redirect-http|only https" \
                "$NGINX_URL/status/404|"; do
                local base=${case%%|*} want=${case#*|} rc=0
                systemctl --user stop mbupgraded.service
                rm -rf "$SB/state/staging"
                MBUP_FEED=$NGINX_URL/version-info.json MBUP_DOWNLOADS=$base MBUP_CA_FILE=$TEST_CA write_config
                start_daemon
                run_mbctl 0 check
                OUT=$("$MBCTL" upgrade now --to v0.56.3 2>&1) || rc=$?
                printf '#   mbctl (%s): %s\n' "$base" "$OUT" >&2
                [[ $rc -eq 1 || $rc -eq 5 ]] || die "upgrade from $base exited $rc, expected 1 or 5"
                [[ -z $want ]] || assert_contains "$OUT" "$want"
                assert_eq "$(main_pid)" "$pid" "MainPID after the failed download from $base"
                assert_eq "$(running_version)" "v0.56.2"
        done
        [[ $(ls "$SB"/backups | wc -l) -eq 1 ]] || die "a backup was taken for a failed download"
}
