# The nginx maintenance page: a real nginx in front of Metabase (TLS, proxy_pass) includes the
# snippet meson builds (config/nginx-maintenance.conf.in), pointed at the sandbox's flag and page.
# While an upgrade has Metabase down, and while a rolled-back one does, every request gets the 503
# page with Retry-After, never nginx's 502; before and after, Metabase answers through nginx.
source "$MBUP_SRC/tests/integration/nginx.sh"

# front PATH: "STATUS RETRY-AFTER" of a request through the front, the body in $SB/front.body
front() {
        curl -s --cacert "$TEST_CA" --max-time 5 -o "$SB/front.body" -D "$SB/front.headers" \
                -w '%{http_code}' "$NGINX_FRONT_URL$1" || true
        printf ' %s\n' "$(sed -n 's/^[Rr]etry-[Aa]fter: *\([0-9]*\).*/\1/p' "$SB/front.headers" 2>/dev/null)"
}

# watch_upgrade RESULT JAR: runs the upgrade without waiting and requests the front every 100 ms
# until the daemon is idle again; counts the answers in SEEN_503, SEEN_502, SEEN_OTHER.
watch_upgrade() {
        local want=$1 jar=$2 r
        SEEN_503=0 SEEN_502=0 SEEN_OTHER=0 FLAG_TEXT=
        run_mbctl 0 upgrade now --no-wait --jar "$jar"
        for _ in $(seq 1 600); do
                [[ -e $SB/run/maintenance && -z $FLAG_TEXT ]] && FLAG_TEXT=$(cat "$SB/run/maintenance" 2>/dev/null)
                r=$(front /api/health)
                case $r in
                "503 30")
                        SEEN_503=$((SEEN_503 + 1))
                        assert_contains "$(cat "$SB/front.body")" "Metabase is being upgraded" "the 503 page"
                        ;;
                502*) SEEN_502=$((SEEN_502 + 1)) ;;
                "200 ") ;;
                *) SEEN_OTHER=$((SEEN_OTHER + 1)) ;;
                esac
                [[ $("$MBCTL" status 2>/dev/null) == *"Daemon: idle"* ]] && break
                sleep 0.1
        done
        log "during the upgrade: $SEEN_503 maintenance pages, $SEEN_502 502s, $SEEN_OTHER others"
        assert_contains "$(last_history)" "\"result\":\"$want\"" "the upgrade's result"
        ((SEEN_503 > 0)) || die "no maintenance page while Metabase was down"
        ((SEEN_502 == 0)) || die "nginx answered 502 $SEEN_502 times"
        [[ ! -e $SB/run/maintenance ]] || die "the flag is still there after the upgrade"
}

scenario() {
        install_metabase "$(make_release v0.56.1)"
        write_config
        start_daemon

        # the snippet as built, pointed at the sandbox's flag and a copy of the page
        mkdir -p "$SB/page"
        cp "$MBUP_SRC/config/maintenance.html" "$SB/page/index.html"
        sed -e "s|/run/mbupgraded/maintenance|$SB/run/maintenance|" \
                -e "s|^\( *root \).*/maintenance;|\1$SB/page;|" \
                "$MBUP_BUILD/config/maintenance.conf" >"$SB/maintenance.conf"
        grep -q "root $SB/page;" "$SB/maintenance.conf" || die "the built snippet has no root line to point at the page"
        chmod 755 "$SB" "$SB/page" "$SB/run"
        NGINX_FRONT_UPSTREAM=127.0.0.1:$MB_PORT NGINX_FRONT_INCLUDE=$SB/maintenance.conf nginx_start "$SB/nginx"
        trap 'rc=$?; set +e; nginx_stop; (exit $rc); sandbox_cleanup' EXIT

        assert_eq "$(front /api/health)" "200 " "Metabase through nginx before the upgrade"
        assert_contains "$(cat "$SB/front.body")" '"ok"'

        log "an upgrade to a release that takes 4 s to start"
        watch_upgrade committed "$(make_release v0.56.2 slow --startup-ms 4000)"
        assert_contains "$FLAG_TEXT" "upgrading v0.56.1 to v0.56.2" "the flag's text"
        assert_eq "$(front /api/session/properties)" "200 " "Metabase through nginx after the upgrade"
        assert_contains "$(cat "$SB/front.body")" '"tag":"v0.56.2"'

        log "an upgrade that is rolled back"
        watch_upgrade rolled-back "$(make_release v0.56.3 bad --fail crash-at-start)"
        assert_eq "$(front /api/session/properties)" "200 " "Metabase through nginx after the rollback"
        assert_contains "$(cat "$SB/front.body")" '"tag":"v0.56.2"'

        log "Metabase stopped by hand, no upgrade: nginx's own 502, the page is for upgrades only"
        systemctl --user stop metabase.service
        [[ $(front /api/health) == 502* ]] || die "not a 502 with Metabase stopped by hand: $(front /api/health)"
        systemctl --user start metabase.service
}
