# Switching nginx between Metabase's own port and another loopback port (issue 18's building
# block, daemon/proxy.c), judged through nginx itself. A real nginx over TLS runs as nginx.service
# of the sandbox's systemd, with Debian's ExecReload (nginx -s reload), so that the daemon's
# ReloadUnit is the real thing; its site includes the shipped snippet (config/nginx-upstream.conf.in)
# in place of proxy_pass. metabase.service serves v0.56.1, a second stand-in (metabase-b.service,
# another port, its own H2 copy) v0.56.2. A prober through nginx at 50 Hz (a new TLS connection
# each time) must see no answer but 200, and the version change exactly once each way.
# The test-hooks-only D-Bus method TestProxySwitch runs proxy_switch() alone (the engine's
# zero-downtime path is tested by zero-downtime-upgrade-through-nginx).
# Then what must not switch: a dead port and a wrong version (refused before nginx is touched), a
# reload that nginx rejects (the job fails: switched back), the same with a unit that reloads by
# SIGHUP (the job says "done", nginx keeps its old configuration: caught through nginx, switched
# back); a squatter on the target port; and the attacks on the file: the metabase user cannot
# write, replace or plant a symlink at upstream_file, and a directory others can write is refused.
source "$MBUP_SRC/tests/integration/nginx.sh"

# through PATH: "STATUS VERSION" of one request through nginx
through() {
        local body code
        body=$(curl -s --cacert "$TEST_CA" --max-time 5 -w '\n%{http_code}' "$FRONT_URL/api/session/properties") || true
        code=${body##*$'\n'}
        printf '%s %s\n' "$code" "$(sed -n '1s/.*"tag":"\([^"]*\)".*/\1/p' <<<"$body")"
}

upstream_port() { sed -n 's/^set \$mbupgraded_upstream 127\.0\.0\.1:\([0-9]*\);$/\1/p' "$SB/run/upstream.conf"; }
cgroup_of() { systemctl --user show -p ControlGroup --value "$1"; }

# switch_nginx EXPECT_RC PORT VERSION CGROUP [TIMEOUT_S]: the daemon's proxy_switch(); its answer in $OUT
switch_nginx() {
        local want=$1 rc=0
        OUT=$(busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" --timeout=120 call org.mbupgraded.Manager1 \
                /org/mbupgraded/Manager1 org.mbupgraded.Manager1 TestProxySwitch qsst \
                "$2" "$3" "$4" "$((${5:-20} * 1000000))" 2>&1) || rc=$?
        log "switch to $2 ($3): $OUT"
        [[ $rc -eq $want ]] || die "TestProxySwitch $2 $3 exited $rc, expected $want: $OUT"
}

prober_begin() { nginx_prober_begin "$@"; }

# prober_end: every answer through nginx was a 200
prober_end() {
        nginx_prober_end
        [[ $N_BAD -eq 0 ]] || { awk '$2 != 200' "$PROBER_LOG" | head -5 >&2; die "$N_BAD answers through nginx were not 200"; }
}

write_nginx() { nginx_front_tls "$@"; }

scenario() {
        install_metabase "$(make_release v0.56.1)"

        log "a second stand-in, v0.56.2, on another port with its own H2 copy"
        B_PORT=$(free_port)
        mkdir -p "$SB/opt/metabase-b" "$SB/var/lib/metabase-b"
        cp "$(make_release v0.56.2)" "$SB/opt/metabase-b/metabase.jar"
        chmod 755 "$SB/opt/metabase-b" && chmod 644 "$SB/opt/metabase-b/metabase.jar"
        chown "$MB_USER:$MB_USER" "$SB/var/lib/metabase-b" && chmod 750 "$SB/var/lib/metabase-b"
        sed -e "s|$SB/opt/metabase/|$SB/opt/metabase-b/|; s|MB_JETTY_PORT=$MB_PORT|MB_JETTY_PORT=$B_PORT|" \
                -e "s|$SB/var/lib/metabase\b|$SB/var/lib/metabase-b|g; s|metabase.log|metabase-b.log|" \
                "$SB/units/metabase.service" >"$SB/units/metabase-b.service"
        systemctl --user daemon-reload
        systemctl --user start metabase-b.service
        wait_for 60 bash -c "curl -s http://127.0.0.1:$B_PORT/api/session/properties | grep -q v0.56.2" ||
                die "metabase-b did not serve v0.56.2"

        log "nginx as a unit, the built snippet pointed at the sandbox (Metabase's own port as its fallback)"
        write_nginx
        [[ ! -e $SB/run/upstream.conf ]] || die "upstream.conf before the daemon ran"
        systemctl --user start nginx.service || die "nginx.service did not start without upstream.conf (a fresh boot)"
        assert_eq "$(through)" "200 v0.56.1" "through nginx with no upstream.conf yet (the snippet's fallback)"

        log "the daemon writes upstream.conf at start: the unit's own port, root's 0644"
        MBUP_PROXY_URL=$FRONT_URL MBUP_PROXY_CA_FILE=$TEST_CA write_config
        start_daemon
        wait_for 10 test -s "$SB/run/upstream.conf" || die "no upstream.conf after the daemon's start"
        assert_eq "$(upstream_port)" "$MB_PORT" "upstream.conf names the unit's port"
        assert_eq "$(stat -c '%U %a' "$SB/run/upstream.conf")" "root 644" "upstream.conf's owner and mode"
        grep -q "Reloading nginx.service after writing" "$SB/logs/mbupgraded.log" &&
                die "the start's reload of nginx failed: $(grep 'Reloading nginx' "$SB/logs/mbupgraded.log")"
        assert_eq "$(through)" "200 v0.56.1"
        A_CG=$(cgroup_of metabase.service)
        B_CG=$(cgroup_of metabase-b.service)

        log "switch to metabase-b and back, a prober through nginx at 50 Hz"
        prober_begin switch
        sleep 1
        local s1a s1b s2a s2b
        s1a=$(date +%s%3N)
        switch_nginx 0 "$B_PORT" v0.56.2 "$B_CG"
        s1b=$(date +%s%3N)
        assert_contains "$OUT" "nginx serves v0.56.2 through 127.0.0.1:$B_PORT"
        assert_eq "$(upstream_port)" "$B_PORT" "upstream.conf after the switch"
        assert_eq "$(through)" "200 v0.56.2" "through nginx after the switch"
        sleep 1
        s2a=$(date +%s%3N)
        switch_nginx 0 "$MB_PORT" v0.56.1 "$A_CG"
        s2b=$(date +%s%3N)
        assert_eq "$(upstream_port)" "$MB_PORT"
        prober_end
        # Before the first switch only the old version, between the two only the new one, after
        # the second only the old one. Within a switch nginx's reload lets the old worker accept
        # beside the new one for a moment (until the master tells it to shut down): both versions
        # may alternate there; that overlap is measured and must be short.
        local verdict
        verdict=$(awk -v s1a="$s1a" -v s1b="$s1b" -v s2a="$s2a" -v s2b="$s2b" '
                function seen(v, t, w) { if (v != w) bad = bad sprintf(" %s at %+d ms", v, t - s1a) }
                $1 < s1a { seen($3, $1, "v0.56.1") }
                $1 > s1b && $1 < s2a { seen($3, $1, "v0.56.2") }
                $1 > s2b { seen($3, $1, "v0.56.1") }
                $1 >= s1a && $1 <= s1b { if ($3 == "v0.56.2" && !f1) f1 = $1; if ($3 == "v0.56.1") l1 = $1 }
                $1 >= s2a && $1 <= s2b { if ($3 == "v0.56.1" && !f2) f2 = $1; if ($3 == "v0.56.2") l2 = $1 }
                END {
                        o1 = (l1 > f1 && f1) ? l1 - f1 : 0; o2 = (l2 > f2 && f2) ? l2 - f2 : 0
                        printf "%d %d %d %d%s\n", o1, o2, s1b - s1a, s2b - s2a, bad
                }' "$PROBER_LOG")
        log "old and new alternating during the switches (nginx's reload overlap): ${verdict%% *} ms there, $(cut -d' ' -f2 <<<"$verdict") ms back; the switches took $(cut -d' ' -f3 <<<"$verdict") and $(cut -d' ' -f4 <<<"$verdict") ms"
        [[ $(wc -w <<<"$verdict") -eq 4 ]] || die "a version where there should be none:${verdict#* * * * }"
        (($(cut -d' ' -f1 <<<"$verdict") < 500 && $(cut -d' ' -f2 <<<"$verdict") < 500)) ||
                die "the old and the new version alternated for too long: $verdict"
        [[ $VERSIONS == v0.56.1\>v0.56.2*\>v0.56.1 ]] || die "the versions the prober saw: $VERSIONS"
        SWITCH_PROBES=$N_PROBES

        log "what must not switch, the prober watching: a dead port, a wrong version, a squatter"
        prober_begin refused
        switch_nginx 1 "$(free_port)" v0.56.2 ""
        assert_contains "$OUT" "does not serve v0.56.2"
        switch_nginx 1 "$B_PORT" v0.56.3 "$B_CG"
        assert_contains "$OUT" "it serves v0.56.2"
        # a listener of the metabase user's own, answering v0.56.2, asked for as if it were metabase-b
        local s_port
        s_port=$(free_port)
        runuser -u "$MB_USER" -- python3 "$MBUP_SRC/tests/integration/squatter.py" "$s_port" v0.56.2 10 \
                >"$SB/squatter.log" 2>&1 &
        SQUATTER=$!
        wait_for 10 grep -q bound "$SB/squatter.log" || die "the squatter did not bind"
        switch_nginx 1 "$s_port" v0.56.2 "$B_CG"
        assert_contains "$OUT" "is held by a listener that is not"
        kill "$SQUATTER"
        wait "$SQUATTER" 2>/dev/null || true
        grep -q answered "$SB/squatter.log" && die "the daemon asked the squatter"
        assert_eq "$(upstream_port)" "$MB_PORT" "upstream.conf after the refusals"

        log "a reload nginx rejects (nginx -s reload parses first: the job fails): switched back"
        echo "this is not nginx;" >"$SB/nginx/extra-broken.conf"
        switch_nginx 1 "$B_PORT" v0.56.2 "$B_CG" 5
        assert_contains "$OUT" "reloading nginx.service failed"
        assert_eq "$(upstream_port)" "$MB_PORT" "upstream.conf written back"
        assert_eq "$(through)" "200 v0.56.1"

        log "the same with a unit that reloads by SIGHUP: the job says done, nginx keeps its old configuration"
        write_nginx '/bin/kill -HUP $MAINPID'
        switch_nginx 1 "$B_PORT" v0.56.2 "$B_CG" 4
        assert_contains "$OUT" "nginx did not serve v0.56.2 within 4 s (it served v0.56.1)"
        assert_contains "$OUT" "points at 127.0.0.1:$MB_PORT again, which serves v0.56.1"
        assert_eq "$(upstream_port)" "$MB_PORT" "upstream.conf written back"
        grep -q "emerg.*unknown directive \"this\"" "$SB/nginx/logs/error.log" || die "nginx did not log the rejected reload"
        rm "$SB/nginx/extra-broken.conf"
        write_nginx
        systemctl --user reload nginx.service
        prober_end
        assert_eq "$VERSIONS" "v0.56.1" "the versions the prober saw while nothing switched"

        log "attack: the metabase user cannot write, replace or plant a symlink at upstream.conf"
        local before
        before=$(sha256sum "$SB/run/upstream.conf")
        runuser -u "$MB_USER" -- sh -c "echo 'set \$mbupgraded_upstream 127.0.0.1:1;' >'$SB/run/upstream.conf'" 2>/dev/null &&
                die "the metabase user wrote upstream.conf"
        runuser -u "$MB_USER" -- sh -c "echo x >/tmp/mb-upstream.$$; mv -f /tmp/mb-upstream.$$ '$SB/run/upstream.conf'" 2>/dev/null &&
                die "the metabase user replaced upstream.conf"
        runuser -u "$MB_USER" -- ln -sf /etc/shadow "$SB/run/upstream.conf.new" 2>/dev/null &&
                die "the metabase user created a file in upstream.conf's directory"
        rm -f "/tmp/mb-upstream.$$"
        assert_eq "$(sha256sum "$SB/run/upstream.conf")" "$before" "upstream.conf after the metabase user's attempts"

        log "attack: a directory others can write (a misconfiguration) is refused, a planted symlink left alone"
        chmod 1777 "$SB/run"
        rm "$SB/run/upstream.conf"
        runuser -u "$MB_USER" -- ln -s "$SB/planted-target" "$SB/run/upstream.conf"
        echo "the symlink's target" >"$SB/planted-target"
        switch_nginx 1 "$B_PORT" v0.56.2 "$B_CG"
        assert_contains "$OUT" "pointing nginx at 127.0.0.1:$B_PORT failed"
        grep -q "Refusing to write proxy.upstream_file" "$SB/logs/mbupgraded.log" || die "no refusal logged"
        assert_eq "$(cat "$SB/planted-target")" "the symlink's target" "the symlink's target"
        [[ -L $SB/run/upstream.conf ]] || die "the planted symlink was replaced"
        assert_eq "$(through)" "200 v0.56.1" "nginx still serves the old one"
        rm "$SB/run/upstream.conf"
        chmod 755 "$SB/run"
        log "ok: $SWITCH_PROBES probes through nginx while switching there and back, none failed"
}
