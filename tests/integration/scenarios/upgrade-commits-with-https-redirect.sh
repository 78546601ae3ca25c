# Metabase with an https site URL and "Redirect all requests to HTTPS" on answers 301 to every
# request that does not look like https except /api/health, /livez and /readyz
# (src/metabase/server/middleware/ssl.clj), /api/session/properties included. The version check
# says it came over https as a TLS-terminating proxy does (X-Forwarded-Proto: https, the first
# header Metabase's https? check reads), so a good upgrade commits. Without the header the
# stand-in does redirect (the check below), so this scenario fails if the header goes.
scenario() {
        local old new pid_before code
        old=$(make_release v0.56.1)
        new=$(make_release v0.56.2)
        install_metabase "$old"
        write_metabase_unit "Environment=MB_DB_FILE=$SB/var/lib/metabase/metabase.db" \
                Environment=MB_SITE_URL=https://metabase.example.com \
                Environment=MB_REDIRECT_ALL_REQUESTS_TO_HTTPS=true
        systemctl --user daemon-reload
        systemctl --user restart metabase.service
        wait_healthy 60 || die "Metabase did not come back with the redirect on"

        # the mode is on: a plain request is redirected off this host, a proxied one is not
        code=$(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' --max-time 5 "http://127.0.0.1:$MB_PORT/api/session/properties")
        assert_eq "$code" "301 https://metabase.example.com/api/session/properties" "a plain request"
        code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 -H 'X-Forwarded-Proto: https' "http://127.0.0.1:$MB_PORT/api/session/properties")
        assert_eq "$code" "200" "a request with X-Forwarded-Proto: https"

        start_daemon
        pid_before=$(main_pid)
        run_mbctl 0 upgrade now --jar "$new"
        assert_contains "$OUT" "committed"
        [[ "$(main_pid)" != "$pid_before" ]] || die "Metabase was not restarted"
        assert_eq "$(curl -fsS --max-time 5 -H 'X-Forwarded-Proto: https' "http://127.0.0.1:$MB_PORT/api/session/properties" |
                sed -n 's/.*"tag":"\([^"]*\)".*/\1/p')" "v0.56.2" "the running version"
        run_mbctl 0 history --json
        assert_contains "$OUT" '"result":"committed"'
}
