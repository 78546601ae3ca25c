# Issue 15, item 3: no helper runs with the daemon's credentials. While a release is staged from a
# slow HTTP server, mbupgraded-fetch runs as the system user mbupgrade-fetch (its own group, no
# supplementary groups, no capabilities, NoNewPrivs 1) and holds the one file it fills, opened
# for it by the daemon (fd 3, the staging directory's .part, root's); that user can write nothing
# in the daemon's state directory. notify.command runs as nobody: what `id -u` says is nobody's
# uid, and it cannot write into the state directory either (it tries).
# Metabase runs on PostgreSQL, its password in the unit's EnvironmentFile (root's, 0600). While
# mbctl backup's pg_dump waits on a table another session holds, mbupgraded-db runs as the system
# user mbupgrade-db (the same checks as the fetch helper's), and so does its pg_dump child; it
# read the credentials from fd 3 and closed it, and holds the one file it fills (fd 4: backup.dir's
# metabase.dump.tmp, root's 0600, created by the daemon, renamed by it on "done"); its copy of the
# password is in a 0700 directory of its own. The attacks, as mbupgrade-db (runuser): write into
# the backup directory, the backup's .tmp by its path, the state directory; read the credentials
# file, the unit's EnvironmentFile with the password, the config (0640, as the package installs
# it). And as the Metabase user: read the helper's copy of the password. Each is refused; the
# backup completes, root's, 0600, and the helper's directory is gone.
SLOW_PID=
LOCK_PID=

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
        trap 'rc=$?; set +e; [[ -z $SLOW_PID ]] || kill "$SLOW_PID"; [[ -z $LOCK_PID ]] || kill "$LOCK_PID"; (exit $rc); sandbox_cleanup' EXIT
        local fuid fgid nobody pid i
        fuid=$(id -u mbupgrade-fetch)
        fgid=$(id -g mbupgrade-fetch)
        nobody=$(id -u nobody)
        mkdir -p "$SB/www" "$SB/out"
        # where the command may write: a directory of nobody's own
        chown nobody "$SB/out"
        postgres_start
        install_metabase_pg "$(make_release v0.56.1)" envfile
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

        db_helper_unprivileged
}

# fds_writable PID: the files (not pipes, sockets, /dev/null) PID has open for writing on fd 3 and
# up (0-2 are the daemon's pipe and log)
fds_writable() {
        local fd flags t
        for fd in /proc/"$1"/fd/*; do
                ((${fd##*/} >= 3)) || continue
                flags=$(sed -n 's/^flags:[[:space:]]*//p' "/proc/$1/fdinfo/${fd##*/}")
                t=$(readlink "$fd")
                if (((8#$flags & 3) != 0)) && [[ $t == /* && $t != /dev/null ]]; then
                        printf '%s\n' "$t"
                fi
        done
}

lock_held() {
        [[ $(psql_mb "SELECT count(*) FROM pg_locks WHERE relation = 'report_card'::regclass
                AND mode = 'AccessExclusiveLock' AND granted") == 1 ]]
}
# the server has pg_dump's session waiting on that lock
dump_waiting() {
        [[ $(psql_mb "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_dump'
                AND wait_event_type = 'Lock'") -ge 1 ]]
}

# refused WHAT COMMAND...: COMMAND must fail
refused() {
        local what=$1
        shift
        if "$@" 2>/dev/null; then
                die "$what: it worked"
        fi
        log "refused: $what"
}

db_helper_unprivileged() {
        local duid dgid pid dump target id dir i
        duid=$(id -u mbupgrade-db)
        dgid=$(id -g mbupgrade-db)
        chmod 0640 "$SB/mbupgraded.yaml" # as the package installs it (it may hold passwords)

        log "mbctl backup on PostgreSQL: mbupgraded-db as it runs"
        # a session holds report_card until it is cancelled: pg_dump waits for it meanwhile
        psql_mb "BEGIN; LOCK TABLE report_card IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60); COMMIT;" \
                >/dev/null 2>&1 &
        LOCK_PID=$!
        wait_for 10 lock_held || die "the lock on report_card was not taken"
        "$MBCTL" backup >"$SB/backup.out" 2>&1 &
        local bpid=$!
        pid= dump=
        for i in $(seq 1 150); do
                pid=$(pgrep -f 'dbhelper/mbupgraded-db backup ' | head -1) || true
                [[ -z $pid ]] || dump=$(pgrep -P "$pid" -x pg_dump | head -1) || true
                [[ -n $dump ]] && break
                sleep 0.1
        done
        [[ -n $dump ]] || die "no mbupgraded-db backup with its pg_dump: $(cat "$SB/backup.out")"
        wait_for 10 dump_waiting || die "pg_dump is not waiting on the lock"
        log "database helper pid $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline"); pg_dump pid $dump"
        assert_eq "$(status_field "$pid" Uid)" "$duid $duid $duid $duid" "the db helper's uids"
        assert_eq "$(status_field "$pid" Gid)" "$dgid $dgid $dgid $dgid" "the db helper's gids"
        assert_eq "$(status_field "$pid" Groups)" "" "the db helper's supplementary groups"
        assert_eq "$(status_field "$pid" NoNewPrivs)" 1 "the db helper's NoNewPrivs"
        assert_eq "$(status_field "$pid" CapEff)" 0000000000000000 "the db helper's capabilities"
        assert_eq "$(status_field "$pid" CapPrm)" 0000000000000000 "the db helper's permitted capabilities"
        assert_eq "$(status_field "$dump" Uid)" "$duid $duid $duid $duid" "pg_dump's uids"
        assert_eq "$(status_field "$dump" NoNewPrivs)" 1 "pg_dump's NoNewPrivs"
        # fd 3 was the credentials, read once and closed: nothing of the state directory is open;
        # fd 4: the backup's .tmp, root's, the only file it writes
        local open_state
        open_state=$(find /proc/"$pid"/fd -lname "$SB/state/*" 2>/dev/null) || true
        assert_eq "$open_state" "" "the db helper's descriptors in the state directory"
        target=$(readlink "/proc/$pid/fd/4")
        [[ $target == "$SB"/backups/*/metabase.dump.tmp ]] || die "the db helper's fd 4 is $target"
        id=$(basename "$(dirname "$target")")
        assert_eq "$(stat -c '%U %a' "$target")" "root 600" "the .tmp's owner and mode"
        assert_eq "$(fds_writable "$pid")" "$target" "files the db helper may write"
        # pg_dump writes the archive to its stdout, the same file, and holds no other
        assert_eq "$(readlink "/proc/$dump/fd/1")" "$target" "pg_dump's stdout"
        assert_eq "$(fds_writable "$dump")" "" "other files pg_dump may write"
        # its copy of the password: a directory of its own, 0700, the file 0600
        # (the helper holds it open, locked, while it lives)
        dir=$(find /proc/"$pid"/fd -lname '*/mbupgraded-db.*' -printf '%l\n' 2>/dev/null | head -1) || true
        [[ $dir == /tmp/mbupgraded-db.* || $dir == /dev/shm/mbupgraded-db.* ]] ||
                die "no private directory of the helper's under /tmp or /dev/shm: '$dir'"
        assert_eq "$(stat -c '%U %a' "$dir")" "mbupgrade-db 700" "the helper's directory"
        assert_eq "$(stat -c '%U %a' "$dir/secret")" "mbupgrade-db 600" "the helper's copy of the password"

        log "attacks as mbupgrade-db while the backup runs"
        refused "mbupgrade-db creates a file in the backup's directory" \
                runuser -u mbupgrade-db -- touch "$SB/backups/$id/evil"
        refused "mbupgrade-db creates a backup directory" runuser -u mbupgrade-db -- mkdir "$SB/backups/evil"
        refused "mbupgrade-db writes the backup's .tmp by its path" \
                runuser -u mbupgrade-db -- sh -c "echo forged >>'$target'"
        refused "mbupgrade-db replaces the backup's .tmp" \
                runuser -u mbupgrade-db -- mv -f "$SB/state/appdb.secret" "$target"
        refused "mbupgrade-db creates a file in the state directory" \
                runuser -u mbupgrade-db -- touch "$SB/state/evil"
        refused "mbupgrade-db reads the credentials file" runuser -u mbupgrade-db -- cat "$SB/state/appdb.secret"
        refused "mbupgrade-db reads the EnvironmentFile with the password" \
                runuser -u mbupgrade-db -- cat "$SB/opt/metabase/metabase.env"
        refused "mbupgrade-db reads the config" runuser -u mbupgrade-db -- cat "$SB/mbupgraded.yaml"
        refused "the Metabase user reads the helper's copy of the password" \
                runuser -u "$MB_USER" -- cat "$dir/secret"
        refused "the Metabase user lists the helper's directory" runuser -u "$MB_USER" -- ls "$dir"
        [[ ! -e $SB/backups/$id/evil && ! -e $SB/backups/evil && ! -e $SB/state/evil ]] ||
                die "a file of mbupgrade-db's appeared"

        # the lock goes; the backup completes
        psql_mb "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()" >/dev/null
        wait "$LOCK_PID" 2>/dev/null || true
        LOCK_PID=
        wait "$bpid" || die "mbctl backup failed: $(cat "$SB/backup.out")"
        assert_contains "$(cat "$SB/backup.out")" "done"
        assert_eq "$(stat -c '%U %a' "$SB/backups/$id/metabase.dump")" "root 600" "the backup's owner and mode"
        [[ ! -e $target ]] || die "the .tmp was left behind"
        "$PG_BIN/pg_restore" --list "$SB/backups/$id/metabase.dump" | grep -q 'TABLE DATA public report_card' ||
                die "the backup does not hold report_card"
        wait_for 5 test ! -e "$dir" || die "the helper's copy of the password was left behind in $dir"
        assert_eq "$(unit_state)" active "Metabase after the backup"
}
