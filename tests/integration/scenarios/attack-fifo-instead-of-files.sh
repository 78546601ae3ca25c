# Blocking opens (issue 15, item 4), attacked by the Metabase user for real (runuser -u metabase):
# the unit's EnvironmentFile (in Metabase's data directory, which that user writes), the H2 file and
# the installed JAR (in a JAR directory given to that user) swapped for a FIFO (mkfifo, no writer: a blocking open() would wait forever, on the event loop
# for the EnvironmentFile) and for a link to a root file. While an upgrade pre-flight, a rehearsal
# and a backup are asked for, mbctl status answers within a second throughout (timed), each
# operation is refused with a message that names the file and what is wrong with it, Metabase keeps
# serving (the same process, healthy, its data intact), and once the files are back an upgrade
# commits.
STATUS_MAX_MS=0

# timed_status: one mbctl status, its time in STATUS_MAX_MS when the longest so far.
timed_status() {
        local t0 t1 ms
        t0=$(date +%s%N)
        timeout 5 "$MBCTL" status >/dev/null 2>&1 || die "mbctl status did not answer"
        t1=$(date +%s%N)
        ms=$(((t1 - t0) / 1000000))
        if ((ms > STATUS_MAX_MS)); then STATUS_MAX_MS=$ms; fi
}

# watch_status: mbctl status every 0.2 s in the background until stop_watch; each time over 1 s
# is a line in $SB/status-slow.
watch_status() {
        (
                while [[ ! -e $SB/stop-watch ]]; do
                        t0=$(date +%s%N)
                        timeout 5 "$MBCTL" status >/dev/null 2>&1 || echo "no answer" >>"$SB/status-slow"
                        t1=$(date +%s%N)
                        ms=$(((t1 - t0) / 1000000))
                        echo "$ms" >>"$SB/status-times"
                        ((ms < 1000)) || echo "$ms ms" >>"$SB/status-slow"
                        sleep 0.2
                done
        ) &
        WATCH_PID=$!
}

stop_watch() {
        touch "$SB/stop-watch"
        wait "$WATCH_PID" || true
        log "mbctl status: $(wc -l <"$SB/status-times") answers, longest $(sort -n "$SB/status-times" | tail -n 1) ms"
        [[ ! -s $SB/status-slow ]] || die "mbctl status was slow or silent: $(cat "$SB/status-slow")"
}

assert_serving() {
        assert_eq "$(main_pid)" "$PID" "$1: Metabase's process"
        wait_healthy 5 || die "$1: Metabase is not healthy"
        assert_eq "$(changelog)$(http /api/standin/cards)" "$SUM" "$1: Metabase's data"
}

scenario() {
        local data=$SB/var/lib/metabase env h2
        env=$data/metabase.env
        h2=$data/metabase.db.mv.db
        MB_PORT=$(free_port)
        install_jar "$(make_release v0.56.1)"
        write_metabase_unit "Environment=MB_DB_FILE=$data/metabase.db" "EnvironmentFile=$env"
        printf 'MB_EMOJI_IN_LOGS=false\n' >"$env"
        chown "$MB_USER:$MB_USER" "$env"
        systemctl --user daemon-reload
        systemctl --user start metabase.service
        wait_healthy 60 || die "Metabase did not become healthy"
        mirror_release v0.56.2 "$(make_release v0.56.2)"
        mirror_feed v0.56.2:2025-01-20 v0.56.1:2025-01-01
        start_daemon
        run_mbctl 0 check
        PID=$(main_pid)
        SUM=$(changelog)$(http /api/standin/cards)
        watch_status

        log "the EnvironmentFile swapped for a FIFO"
        runuser -u "$MB_USER" -- sh -c "mv '$env' '$env.real' && mkfifo '$env'" || die "the attack failed to set up"
        [[ -p $env ]] || die "no FIFO at $env"
        run_mbctl 5 upgrade now --to v0.56.2
        assert_contains "$OUT" "EnvironmentFile $env"
        assert_contains "$OUT" "not a regular file"
        assert_serving "after the upgrade refused"
        run_mbctl 1 rehearse v0.56.2
        assert_contains "$OUT" "EnvironmentFile $env"
        timed_status
        run_mbctl 0 status
        assert_contains "$OUT" "v0.56.1"
        assert_serving "after the rehearsal refused"

        log "the EnvironmentFile a link to a root file"
        runuser -u "$MB_USER" -- sh -c "rm '$env' && ln -s /etc/shadow '$env'"
        run_mbctl 5 upgrade now --to v0.56.2
        assert_contains "$OUT" "EnvironmentFile $env"
        assert_contains "$OUT" "symbolic link"
        assert_serving "after the upgrade refused"
        runuser -u "$MB_USER" -- sh -c "rm '$env' && mv '$env.real' '$env'"

        log "the H2 file swapped for a FIFO (Metabase keeps the real one open)"
        runuser -u "$MB_USER" -- sh -c "mv '$h2' '$h2.real' && mkfifo '$h2'" || die "the attack failed to set up"
        run_mbctl 1 rehearse v0.56.2
        assert_contains "$OUT" "$h2"
        assert_contains "$OUT" "not a regular file (a FIFO)"
        assert_serving "after the rehearsal refused"
        run_mbctl 5 upgrade now --to v0.56.2
        assert_contains "$OUT" "$h2 is not a regular file (a FIFO)"
        assert_serving "after the upgrade refused"
        run_mbctl 5 backup
        assert_contains "$OUT" "not a regular file (a FIFO)"
        assert_serving "after the backup refused"
        timed_status

        log "the H2 file a link to a root file"
        runuser -u "$MB_USER" -- sh -c "rm '$h2' && ln -s /etc/shadow '$h2'"
        run_mbctl 5 upgrade now --to v0.56.2
        assert_contains "$OUT" "not a regular file (a symbolic link)"
        run_mbctl 1 rehearse v0.56.2
        assert_contains "$OUT" "not a regular file (a symbolic link)"
        assert_serving "after the link was refused"
        runuser -u "$MB_USER" -- sh -c "rm '$h2' && mv '$h2.real' '$h2'"

        log "the installed JAR a FIFO, in a JAR directory the metabase user owns (as some installs have it)"
        local jar=$SB/opt/metabase/metabase.jar
        chown "$MB_USER:$MB_USER" "$SB/opt/metabase"
        runuser -u "$MB_USER" -- sh -c "mv '$jar' '$jar.real' && mkfifo '$jar'" || die "the attack failed to set up"
        run_mbctl 5 upgrade now --to v0.56.2
        assert_contains "$OUT" "$jar"
        assert_contains "$OUT" "not a JAR file"
        assert_serving "after the upgrade refused"
        timed_status
        runuser -u "$MB_USER" -- sh -c "rm '$jar' && mv '$jar.real' '$jar'"
        chown root:root "$SB/opt/metabase"
        # the daemon reads the JAR again by itself (every 5 s while it cannot), in a worker
        wait_for 15 sh -c "'$MBCTL' status | grep -q 'Installed: v0.56.1'" ||
                die "the daemon did not read the JAR again: $("$MBCTL" status)"

        stop_watch
        [[ ! -e $SB/state/rehearsal ]] || die "state_dir/rehearsal is left: $(ls -la "$SB/state/rehearsal")"
        # the files back: the upgrade goes through
        run_mbctl 0 upgrade now --to v0.56.2
        assert_contains "$OUT" "committed"
        assert_eq "$(running_version)" "v0.56.2"
}
