# Whether an upgrade may take the zero-downtime path (issue 18), decided before anything is
# touched (daemon/zero-downtime.h), on PostgreSQL with the stand-in and a real nginx in front:
# shown in mbctl upgrade --dry-run ("zero downtime: yes" / "no: <reason>"), mbctl list and the
# history. v0.56.2 carries exactly v0.56.1's change sets (make-jar.sh --changesets-of, in its
# JAR's liquibase.yaml and migrations/, as Metabase ships them): no migration. v0.56.3 adds
# v56.002 and v56.003. Each condition failing alone names itself: a migration (from the JAR's
# change sets, then from a rehearsal's DATABASECHANGELOG before and after), upgrade.zero_downtime:
# never, the nginx integration missing or its directory writable by others, H2.
#
# The memory condition is the bridge's (bridge_memory_ok(): MemAvailable against the unit's
# MemoryCurrent and 256M more), which the sandbox's host passes: the eligible release says "yes".

source "$MBUP_SRC/tests/integration/nginx.sh"

# zd_eligible TEXT: TEXT's "zero downtime:" says every condition holds
zd_eligible() {
        local zd
        zd=$(sed -n 's/.*zero downtime: \(.*\)$/\1/p' <<<"$1" | head -n 1)
        [[ $zd == yes ]] || die "not eligible: 'zero downtime: $zd' in: $1"
}

write_nginx() {
        local d=$SB/nginx
        mkdir -p "$d"/{logs,tmp}
        sed -e "s|/run/mbupgraded/upstream.con\[f\]|$SB/run/upstream.con[f]|" \
                -e "s|^set \$mbupgraded_upstream 127.0.0.1:3000;|set \$mbupgraded_upstream 127.0.0.1:$MB_PORT;|" \
                "$MBUP_BUILD/config/upstream.conf" >"$SB/upstream-snippet.conf"
        nginx_sandbox_unit "$d" "        server {
                listen 127.0.0.1:$FRONT_PORT;
                location / {
                        include $SB/upstream-snippet.conf;
                        proxy_set_header Host \$host;
                }
        }"
}

wait_staged() {
        local i
        for i in $(seq 1 150); do
                [[ "$(mbctl status)" == *"Staged: $1 (verified)"* ]] && return 0
                sleep 0.2
        done
        mbctl status >&2
        die "$1 was not staged"
}

restart_daemon() {
        write_config
        systemctl --user restart mbupgraded.service || die "mbupgraded did not restart"
}

scenario() {
        postgres_start
        # rehearsals copy the database: the role needs CREATEDB
        runuser -u postgres -- "$PG_BIN/psql" -X -q -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres -d postgres \
                -c "ALTER ROLE metabase CREATEDB" >/dev/null
        install_metabase_pg "$(make_release v0.56.1)"
        mirror_release v0.56.2 "$(make_release v0.56.2 v0.56.2 --changesets-of v0.56.1)"
        mirror_release v0.56.3 "$(make_release v0.56.3)"
        mirror_feed v0.56.2:2025-02-01 v0.56.1:2025-01-01
        unzip -p "$SB/mirror/v0.56.2/metabase.jar" liquibase.yaml | grep -q 'path: "migrations/"' ||
                die "the stand-in's JAR has no liquibase.yaml including migrations/"

        log "nginx in front, with the shipped upstream snippet; proxy.url through it"
        FRONT_PORT=$(free_port)
        write_nginx
        systemctl --user start nginx.service || die "nginx did not start"
        export MBUP_PROXY_URL=http://127.0.0.1:$FRONT_PORT
        write_config
        start_daemon
        wait_for 10 test -s "$SB/run/upstream.conf" || die "no upstream.conf after the daemon's start"
        wait_for 10 bash -c "curl -sf $MBUP_PROXY_URL/api/session/properties | grep -q v0.56.1" ||
                die "nginx does not serve Metabase"

        log "not downloaded yet: not known"
        run_mbctl 0 upgrade now --to v0.56.2 --dry-run
        assert_contains "$OUT" "v0.56.2: zero downtime: no: whether v0.56.2 adds migrations is known once it is downloaded (staged) or rehearsed"

        log "a release without migrations, staged: eligible, in --dry-run and in mbctl list"
        run_mbctl 0 check
        wait_staged v0.56.2
        jq -e '.changesets | length == 121' "$SB/state/staging/v0.56.2/verified.json" >/dev/null ||
                die "verified.json does not record the JAR's 121 change sets"
        run_mbctl 0 upgrade now --to v0.56.2 --dry-run
        log "dry run: $OUT"
        zd_eligible "$OUT"
        mirror_feed v0.56.3:2025-03-01 v0.56.2:2025-02-01 v0.56.1:2025-01-01
        run_mbctl 0 check
        wait_staged v0.56.3
        run_mbctl 0 upgrade now --to v0.56.3 --dry-run
        assert_contains "$OUT" "zero downtime: no: v0.56.3 adds 2 change sets to the application database (v56.002, v56.003)"
        run_mbctl 0 list
        log "list: $OUT"
        zd_eligible "$(grep -A1 '^v0.56.2 ' <<<"$OUT")"
        assert_contains "$(grep -A1 '^v0.56.3 ' <<<"$OUT")" "zero downtime: no: v0.56.3 adds 2 change sets"
        run_mbctl 0 list --json
        assert_contains "$(jq -r '.[] | select(.version == "v0.56.3") | .zero_downtime' <<<"$OUT")" "(v56.002, v56.003)"
        [[ $(jq -r '.[] | select(.version == "v0.56.1") | .zero_downtime' <<<"$OUT") == null ]] ||
                die "the installed release has a zero-downtime verdict"

        log "a rehearsal decides too: what it added to the copy's DATABASECHANGELOG"
        run_mbctl 0 rehearse v0.56.3
        assert_contains "$OUT" "rehearsal of v0.56.3: passed"
        assert_eq "$(jq -c '."v0.56.3".changelog_new' "$SB/state/rehearsals.json")" '["v56.002","v56.003"]' \
                "the rehearsal's new change sets"
        run_mbctl 0 upgrade now --to v0.56.3 --dry-run
        assert_contains "$OUT" "zero downtime: no: v0.56.3 adds change sets to the application database: its rehearsal applied v56.002, v56.003"
        run_mbctl 0 rehearse v0.56.2
        assert_eq "$(jq -c '."v0.56.2".changelog_new' "$SB/state/rehearsals.json")" '[]' "v0.56.2's rehearsal"
        run_mbctl 0 upgrade now --to v0.56.2 --dry-run
        zd_eligible "$OUT"

        log "upgrade.zero_downtime: never"
        MBUP_ZERO_DOWNTIME=never restart_daemon
        run_mbctl 0 upgrade now --to v0.56.2 --dry-run
        assert_contains "$OUT" "zero downtime: no: upgrade.zero_downtime is never"

        log "the nginx integration missing: no proxy.url; then a directory others can write"
        MBUP_PROXY_URL= restart_daemon
        run_mbctl 0 upgrade now --to v0.56.2 --dry-run
        assert_contains "$OUT" "zero downtime: no: the nginx integration is not set up: set proxy.url"
        restart_daemon
        chmod 0777 "$SB/run"
        run_mbctl 0 upgrade now --to v0.56.2 --dry-run
        assert_contains "$OUT" "zero downtime: no: proxy.upstream_file's directory $SB/run (or the one above it) is not root's alone"
        assert_contains "$OUT" "chmod go-w"
        chmod 0755 "$SB/run"
        run_mbctl 0 upgrade now --to v0.56.2 --dry-run
        zd_eligible "$OUT"

        log "the upgrade itself (the zero-downtime path, which zero-downtime-upgrade-through-nginx tests): the history keeps the decision"
        run_mbctl 0 upgrade now --to v0.56.2
        assert_contains "$OUT" "committed"
        zd_eligible "zero downtime: $(grep '"kind":"upgrade"' "$SB/state/history.jsonl" | tail -n 1 | jq -r .zero_downtime)"
        assert_eq "$(running_version)" "v0.56.2"

        log "H2: two Metabase processes can't open it"
        systemctl --user stop metabase.service
        install_metabase "$(make_release v0.56.2)"
        restart_daemon
        run_mbctl 0 upgrade now --to v0.56.3 --dry-run
        assert_contains "$OUT" "zero downtime: no: the application database is H2"
        systemctl --user stop nginx.service
}
