# The rehearsal directory (issue 15, item 1), attacked by the Metabase user for real (runuser -u
# metabase). state_dir/rehearsal holds root's files (the rehearsal unit's environment file with the
# database password, the marker, the database secret) and stays root's, 0755: the metabase user
# can put nothing there, swap nothing there. The H2 copy lives in rehearsal/data, the metabase
# user's, where root opens nothing by path; the rehearsal's output goes to the journal, not to a
# file systemd (root, following links, O_CREAT|O_TRUNC) would open. So while a rehearsal runs, the
# metabase user's links to a root file (a canary), to a file that does not exist yet, and to
# /etc/shadow, and a FIFO, under every name root used to open, change nothing: the canary keeps its
# bytes, nothing is created, the rehearsal's reason and history quote its own log (Metabase's
# words) and no byte of the files pointed at, and mbctl status answers within a second throughout.
scenario() {
        local canary=$SB/root-canary secret=$SB/root-secret absent=$SB/root-made-by-link
        local canary_sum rpid name t0 t1 ms max=0 entry shadow_line pid out version
        # The attack needs time, not a tight limit: on two busy cores (two scenarios at once, the
        # next release staging meanwhile) the rehearsal's JVM once took longer than 60 s to start.
        export MBUP_START_TIMEOUT=180s
        install_metabase "$(make_release v0.56.1)"
        # v0.56.2: a migration of 8 s, time for the attack; v0.56.3 fails half-way
        mirror_release v0.56.2 "$(make_release v0.56.2 v0.56.2 --migration-ms 8000)"
        mirror_release v0.56.3 "$(make_release v0.56.3 v0.56.3 --fail half-migration --migration-ms 8000)"
        mirror_feed v0.56.3:2025-02-01 v0.56.2:2025-01-20 v0.56.1:2025-01-01
        start_daemon
        pid=$(main_pid)
        run_mbctl 0 check

        # root's files the attacker aims at
        echo "root's canary: not to be truncated" >"$canary"
        echo "TOPSECRET-$RANDOM$RANDOM-not-for-the-reason" >"$secret"
        chmod 600 "$canary" "$secret"
        canary_sum=$(sha256sum <"$canary")
        shadow_line=$(head -n 1 /etc/shadow)

        # The rehearsal copies the H2 file Metabase has open: H2 writes it from a thread of its own
        # a moment after each commit, so a copy taken right after the start can be a file with
        # nothing in it yet (a fresh database, all migrations again: seen once on a loaded
        # machine). What this scenario attacks is the directory, not the copy: wait for the file
        # to settle first.
        h2_settled() {
                local f=$SB/var/lib/metabase/metabase.db.mv.db a b
                a=$(stat -c %s "$f" 2>/dev/null) || return 1
                sleep 1
                b=$(stat -c %s "$f" 2>/dev/null) || return 1
                [[ $a -gt 0 && $a == "$b" ]]
        }
        wait_for 30 h2_settled || die "the H2 file does not settle"
        for version in v0.56.2 v0.56.3; do
                log "rehearsing $version while the metabase user attacks its directory"
                "$MBCTL" rehearse "$version" >"$SB/rehearse-$version.out" 2>&1 &
                rpid=$!
                wait_for 60 test -d "$SB/state/rehearsal/data" || die "no rehearsal/data: $(cat "$SB/rehearse-$version.out")"
                assert_eq "$(stat -c '%U:%G:%a' "$SB/state/rehearsal")" "root:root:755" "state_dir/rehearsal"
                assert_eq "$(stat -c '%U:%a' "$SB/state/rehearsal/data")" "$MB_USER:700" "state_dir/rehearsal/data"

                # root's directory: no link, no FIFO, no rename, no removal by the metabase user
                for name in rehearsal.log rehearsal.env rehearsal.json appdb.secret metabase.db.mv.db; do
                        ! runuser -u "$MB_USER" -- ln -sfn "$canary" "$SB/state/rehearsal/$name" 2>/dev/null ||
                                die "the metabase user put a link at state_dir/rehearsal/$name"
                done
                ! runuser -u "$MB_USER" -- mkfifo "$SB/state/rehearsal/rehearsal.log" 2>/dev/null ||
                        die "the metabase user put a FIFO in state_dir/rehearsal"
                ! runuser -u "$MB_USER" -- mv "$SB/state/rehearsal/data" "$SB/state/rehearsal/x" 2>/dev/null ||
                        die "the metabase user renamed state_dir/rehearsal/data"
                wait_for 20 test -e "$SB/state/rehearsal/rehearsal.env" || die "no environment file"
                ! runuser -u "$MB_USER" -- cat "$SB/state/rehearsal/rehearsal.env" >/dev/null 2>&1 ||
                        die "the metabase user reads the rehearsal's environment file"
                ! runuser -u "$MB_USER" -- rm -f "$SB/state/rehearsal/rehearsal.env" 2>/dev/null ||
                        die "the metabase user removed the environment file"
                [[ -f $SB/state/rehearsal/rehearsal.env && ! -L $SB/state/rehearsal/rehearsal.env ]] ||
                        die "the environment file was replaced"

                # its own directory: links to root's files and a FIFO under every name root used
                # to open, and beside the copy
                for name in rehearsal.log rehearsal.env rehearsal.json appdb.secret metabase.db.trace.db; do
                        runuser -u "$MB_USER" -- ln -sfn "$canary" "$SB/state/rehearsal/data/$name" ||
                                die "the metabase user cannot write its own data directory"
                done
                runuser -u "$MB_USER" -- ln -sfn "$absent" "$SB/state/rehearsal/data/new.log"
                runuser -u "$MB_USER" -- ln -sfn "$secret" "$SB/state/rehearsal/data/secret.log"
                runuser -u "$MB_USER" -- ln -sfn /etc/shadow "$SB/state/rehearsal/data/shadow.log"
                runuser -u "$MB_USER" -- mkfifo "$SB/state/rehearsal/data/fifo.log"

                # the daemon answers while it runs
                while kill -0 "$rpid" 2>/dev/null; do
                        t0=$(date +%s%N)
                        "$MBCTL" status >/dev/null 2>&1 || die "mbctl status failed during the rehearsal"
                        t1=$(date +%s%N)
                        ms=$(((t1 - t0) / 1000000))
                        if ((ms > max)); then max=$ms; fi
                        sleep 0.2
                done
                wait "$rpid" || true
                cat "$SB/rehearse-$version.out" | sed 's/^/#   mbctl rehearse: /' >&2
                [[ ! -e $SB/state/rehearsal ]] || die "state_dir/rehearsal outlived the rehearsal: $(ls -laR "$SB/state/rehearsal")"
        done
        log "mbctl status answered in at most ${max} ms during the rehearsals"
        ((max < 1000)) || die "mbctl status took ${max} ms during a rehearsal"

        assert_contains "$(cat "$SB/rehearse-v0.56.2.out")" "rehearsal of v0.56.2: passed"
        out=$(cat "$SB/rehearse-v0.56.3.out")
        assert_contains "$out" "rehearsal of v0.56.3: warning"
        # the reason quotes the unit's own output, from the journal
        assert_contains "$out" "MigrationFailedException"

        # nothing of root's touched, created or quoted
        assert_eq "$(sha256sum <"$canary")" "$canary_sum" "the canary a link pointed at"
        [[ ! -e $absent ]] || die "root created $absent through a link"
        entry=$(cat "$SB/state/rehearsals.json" "$SB/state/history.jsonl" "$SB/state/rehearsal-last.log")
        assert_not_contains "$entry" "$(cat "$secret")" "the secret a link pointed at"
        assert_not_contains "$entry" "root's canary" "the canary a link pointed at"
        [[ -z $shadow_line ]] || assert_not_contains "$entry" "$shadow_line" "/etc/shadow"
        run_mbctl 0 status
        assert_not_contains "$OUT" "TOPSECRET"
        # the whole log of the last rehearsal, written by root from the journal into its own state_dir
        assert_eq "$(stat -c '%U:%a' "$SB/state/rehearsal-last.log")" "root:600" "rehearsal-last.log"
        grep -q "MigrationFailedException" "$SB/state/rehearsal-last.log" ||
                die "rehearsal-last.log lacks the log: $(cat "$SB/state/rehearsal-last.log")"

        # production untouched
        assert_eq "$(main_pid)" "$pid" "a rehearsal does not touch production"
        assert_eq "$(running_version)" "v0.56.1"
}
