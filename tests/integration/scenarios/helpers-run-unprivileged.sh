# Issue 15, item 3: no helper runs with the daemon's credentials. While a release is staged from a
# slow HTTP server, mbupgraded-fetch runs as the system user mbupgrade-fetch (its own group, no
# supplementary groups, no capabilities, NoNewPrivs 1) and holds the one file it fills, opened
# for it by the daemon (fd 3, the staging directory's .part, root's); that user can write nothing
# in the daemon's state directory. notify.command runs as nobody: what `id -u` says is nobody's
# uid, and it cannot write into the state directory either (it tries).
SLOW_PID=

slow_start() { # a file server for $SB/www that sends metabase.jar in small pieces over ~6 s
        cat >"$SB/slow.py" <<'EOT'
import http.server, os, sys, time
root = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        p = os.path.join(root, self.path.lstrip("/"))
        if not os.path.isfile(p):
            self.send_error(404); return
        data = open(p, "rb").read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if p.endswith(".jar"):
            n = max(1, len(data) // 60)
            for i in range(0, len(data), n):
                self.wfile.write(data[i:i + n]); self.wfile.flush(); time.sleep(0.1)
        else:
            self.wfile.write(data)
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(os.path.join(sys.argv[2]), "w").write(str(s.server_port))
s.serve_forever()
EOT
        /usr/bin/python3 "$SB/slow.py" "$SB/www" "$SB/slow.port" 2>>"$SB/logs/slow.log" &
        SLOW_PID=$!
        wait_for 10 test -s "$SB/slow.port" || die "the slow server did not start"
        SLOW_URL=http://127.0.0.1:$(cat "$SB/slow.port")
}

# status_field PID KEY: a line of /proc/PID/status, its value with the tabs as spaces
status_field() { sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status" | tr '\t' ' ' | sed 's/ *$//'; }

scenario() {
        trap 'rc=$?; set +e; [[ -z $SLOW_PID ]] || kill "$SLOW_PID"; (exit $rc); sandbox_cleanup' EXIT
        local fuid fgid nobody pid i
        fuid=$(id -u mbupgrade-fetch)
        fgid=$(id -g mbupgrade-fetch)
        nobody=$(id -u nobody)
        mkdir -p "$SB/www" "$SB/out"
        # where the command may write: a directory of nobody's own
        chown nobody "$SB/out"
        install_metabase "$(make_release v0.56.1)"
        mirror_release v0.56.2 "$(make_release v0.56.2)" "$SB/www"
        MIRROR_ROOT=$SB/www mirror_feed v0.56.2:2025-01-20 v0.56.1:2025-01-01
        slow_start
        MBUP_FEED=$SLOW_URL/version-info.json MBUP_DOWNLOADS=$SLOW_URL \
                MBUP_NOTIFY_COMMAND="id -u >$SB/out/uid; touch $SB/state/written-by-notify 2>/dev/null; id -G >$SB/out/groups" \
                write_config
        start_daemon
        run_mbctl 0 check

        log "staging v0.56.2 from the slow server: the fetch helper as it runs"
        "$MBCTL" upgrade now --to v0.56.2 >"$SB/upgrade.out" 2>&1 &
        local upid=$!
        for i in $(seq 1 100); do
                pid=$(pgrep -f 'mbupgraded-fetch --url http://127.0.0.1:[0-9]*/v0.56.2/metabase.jar' | head -1)
                [[ -n $pid ]] && break
                sleep 0.1
        done
        [[ -n $pid ]] || die "no fetch helper downloading the JAR"
        log "fetch helper pid $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline")"
        assert_eq "$(status_field "$pid" Uid)" "$fuid $fuid $fuid $fuid" "the helper's uids"
        assert_eq "$(status_field "$pid" Gid)" "$fgid $fgid $fgid $fgid" "the helper's gids"
        assert_eq "$(status_field "$pid" Groups)" "" "the helper's supplementary groups"
        assert_eq "$(status_field "$pid" NoNewPrivs)" 1 "the helper's NoNewPrivs"
        assert_eq "$(status_field "$pid" CapEff)" 0000000000000000 "the helper's capabilities"
        assert_eq "$(status_field "$pid" CapPrm)" 0000000000000000 "the helper's permitted capabilities"
        # its output: fd 3, the .part in the staging directory, which is root's and root-only
        local target
        target=$(readlink "/proc/$pid/fd/3")
        assert_eq "$target" "$SB/state/staging/v0.56.2/metabase.jar.part" "the helper's fd 3"
        assert_eq "$(stat -c %U "$SB/state/staging/v0.56.2/metabase.jar.part")" root "the .part's owner"
        # and the only file it has open for writing
        local fd w=()
        for fd in /proc/"$pid"/fd/*; do
                local flags
                flags=$(sed -n 's/^flags:[[:space:]]*//p' "/proc/$pid/fdinfo/${fd##*/}")
                # O_WRONLY (1) or O_RDWR (2) on a file (not the pipe to the daemon, not a socket)
                if (((8#$flags & 3) != 0)) && [[ $(readlink "$fd") == /* && $(readlink "$fd") != /dev/null ]]; then
                        w+=("$(readlink "$fd")")
                fi
        done
        assert_eq "${w[*]}" "$SB/state/staging/v0.56.2/metabase.jar.part" "files the helper may write"
        # its user can write nothing of the daemon's
        if setpriv --reuid=mbupgrade-fetch --regid=mbupgrade-fetch --clear-groups \
                touch "$SB/state/staging/v0.56.2/x" 2>/dev/null; then
                die "mbupgrade-fetch can write the staging directory"
        fi

        wait "$upid" || die "the upgrade failed: $(cat "$SB/upgrade.out")"
        assert_contains "$(cat "$SB/upgrade.out")" "committed"
        assert_eq "$(running_version)" v0.56.2

        log "notify.command ran as nobody"
        wait_for 20 test -s "$SB/out/groups" || die "notify.command did not run"
        assert_eq "$(cat "$SB/out/uid")" "$nobody" "notify.command's uid"
        [[ $(cat "$SB/out/uid") != 0 ]] || die "notify.command ran as root"
        assert_eq "$(cat "$SB/out/groups")" "$(id -g nobody)" "notify.command's groups"
        [[ ! -e $SB/state/written-by-notify ]] || die "notify.command wrote into the state directory"
}
