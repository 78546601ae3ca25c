# Rehearsals on PostgreSQL (issue 8), in one sandbox. A staged release is rehearsed by itself
# (policy.rehearse: always): its JAR migrates metabase_mbup_rehearsal, a copy of the application
# database, as the transient unit mbupgraded-rehearsal.service, while production keeps serving;
# the measured duration is in status, history, metrics and the notification, and is within 20% of
# the real upgrade's downtime. A release whose migration fails half-way fails its rehearsal with
# production untouched (MainPID, a full pg_dump), and the window refuses it with the log's lines
# until --force. The daemon SIGKILLed mid-rehearsal removes the unit and the copy at its next start.
scratch_count() { psql_mb "SELECT count(*) FROM pg_database WHERE datname = 'metabase_mbup_rehearsal'"; }
scratch_gone() { [[ $(scratch_count) == 0 ]]; }
scratch_there() { [[ $(scratch_count) == 1 ]]; }
rehearsal_unit_gone() {
        [[ $(systemctl --user show -p LoadState --value mbupgraded-rehearsal.service) == not-found ]]
}
rehearsal_unit_active() { systemctl --user is-active -q mbupgraded-rehearsal.service; }
# rehearsals VERSION: the history's rehearsal entries of VERSION, one a line
rehearsals() { grep '"kind":"rehearsal"' "$SB/state/history.jsonl" 2>/dev/null | grep "\"to\":\"$1\"" || true; }
rehearsed() { [[ -n $(rehearsals "$1") ]]; }

scenario() {
        local pid before=$SB/before.sql after=$SB/after.sql entry rehearsal_ms downtime_ms
        postgres_start
        # the copy is a database of its own: the role needs CREATEDB (mbupgraded-db says so otherwise)
        runuser -u postgres -- "$PG_BIN/psql" -X -q -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres -d postgres \
                -c "ALTER ROLE metabase CREATEDB" >/dev/null
        install_metabase_pg "$(make_release v0.56.1)" envfile
        # v0.56.5: four migrations of 0.7 s each, the most of a start, as a big upgrade's would be
        mirror_release v0.56.5 "$(make_release v0.56.5 v0.56.5 --migration-ms 700)"
        mirror_feed v0.56.5:2025-02-01 v0.56.1:2025-01-01
        MBUP_REHEARSE=always MBUP_METRICS_FILE=$SB/metrics.prom \
                MBUP_NOTIFY_COMMAND="env | grep ^MBUP_ >>$SB/notify.env" write_config
        # the command runs as nobody (notify.user): the file it appends to is nobody's
        install -o nobody -m 0644 /dev/null "$SB/notify.env"
        start_daemon
        pid=$(main_pid)

        # the check stages v0.56.5, which is rehearsed by itself before anyone applies it
        run_mbctl 0 check
        wait_for 60 rehearsed v0.56.5 || die "v0.56.5 was not rehearsed: $(mbctl status)"
        entry=$(rehearsals v0.56.5)
        assert_contains "$entry" '"result":"passed"'
        rehearsal_ms=$(jq -r .rehearsal_ms <<<"$entry")
        # four migrations of 0.7 s each (at least three 0.7 s waits, as the stand-in once had them)
        [[ $rehearsal_ms -ge 2100 ]] || die "the rehearsal measured ${rehearsal_ms} ms for four migrations 0.7 s apart"
        assert_eq "$(main_pid)" "$pid" "a rehearsal does not touch production"
        assert_eq "$(running_version)" "v0.56.1"
        assert_eq "$(psql_mb 'select id from databasechangelog order by orderexecuted desc limit 1')" "v56.001" \
                "production's database was not migrated"
        wait_for 10 rehearsal_unit_gone || die "the rehearsal's unit is still there"
        wait_for 10 scratch_gone || die "the scratch copy was not dropped"
        [[ ! -e $SB/state/rehearsal ]] || die "state_dir/rehearsal outlived the rehearsal: $(ls -la "$SB/state/rehearsal")"
        # what kept the rehearsal from reaching anyone, as the stand-in saw its environment
        grep -q "scheduler disabled, email-smtp-host 127.0.0.1, email-smtp-port 9, check-for-updates false" \
                "$SB/state/rehearsal-last.log" || die "the rehearsal ran with the scheduler or e-mail on: $(cat "$SB/state/rehearsal-last.log")"
        grep -q "(stand-in) connecting to jdbc:postgresql://.*/metabase_mbup_rehearsal" "$SB/state/rehearsal-last.log" ||
                die "the rehearsal did not run on the copy"
        run_mbctl 0 status
        assert_contains "$OUT" "Rehearsal: v0.56.5 passed"
        run_mbctl 0 history
        assert_contains "$OUT" "rehearsal"
        wait_for 10 grep -q 'mbupgraded_last_rehearsal_success 1' "$SB/metrics.prom" || die "metrics: $(cat "$SB/metrics.prom")"
        grep -q 'mbupgraded_last_rehearsal_info{version="v0.56.5",result="passed"} 1' "$SB/metrics.prom" ||
                die "metrics: $(grep rehearsal "$SB/metrics.prom")"
        wait_for 10 grep -q MBUP_OPERATION=rehearsal "$SB/notify.env" || die "no notification of the rehearsal"
        grep -q MBUP_RESULT=passed "$SB/notify.env" || die "notification: $(cat "$SB/notify.env")"

        # the dry run shows the measured downtime; the window applies it; the two within 20%
        run_mbctl 0 upgrade now --dry-run
        assert_contains "$OUT" "v0.56.5: expected downtime"
        run_mbctl 0 upgrade window
        assert_contains "$OUT" "committed"
        downtime_ms=$(grep '"kind":"upgrade"' "$SB/state/history.jsonl" | tail -n 1 | jq -r .downtime_ms)
        log "rehearsal ${rehearsal_ms} ms, real downtime ${downtime_ms} ms"
        awk -v a="$rehearsal_ms" -v b="$downtime_ms" 'BEGIN { r = a / b; printf "# ratio %.2f\n", r; exit !(r >= 0.8 && r <= 1.2) }' >&2 ||
                die "the rehearsal (${rehearsal_ms} ms) is not within 20% of the downtime (${downtime_ms} ms)"
        [[ ! -e $SB/state/appdb.secret ]] || die "the password file outlived the upgrade"

        # a release whose migration fails half-way: the rehearsal fails, production is untouched
        mirror_release v0.56.6 "$(make_release v0.56.6 v0.56.6 --fail half-migration)"
        mirror_feed v0.56.6:2025-03-01 v0.56.5:2025-02-01 v0.56.1:2025-01-01
        pid=$(main_pid)
        pg_snapshot >"$before"
        run_mbctl 0 check
        wait_for 60 rehearsed v0.56.6 || die "v0.56.6 was not rehearsed: $(mbctl status)"
        assert_contains "$(rehearsals v0.56.6)" '"result":"failed"'
        assert_contains "$(rehearsals v0.56.6)" "MigrationFailedException"
        wait_for 10 rehearsal_unit_gone || die "the failed rehearsal's unit is still there"
        wait_for 10 scratch_gone || die "the failed rehearsal's copy was not dropped"
        pg_snapshot >"$after"
        cmp -s "$before" "$after" || die "the failed rehearsal changed production's database: $(diff "$before" "$after" | head)"
        assert_eq "$(main_pid)" "$pid" "a failed rehearsal does not touch production"
        run_mbctl 0 status
        assert_contains "$OUT" "Rehearsal: v0.56.6 failed"
        wait_for 10 grep -q MBUP_RESULT=failed "$SB/notify.env" || die "no notification of the failed rehearsal"
        # and the word of the release: blocked, with what to do (once, however many windows refuse it)
        wait_for 10 grep -q MBUP_RESULT=blocked "$SB/notify.env" || die "no word of the blocked release"
        grep -q "^MBUP_WHAT_TO_DO=.*mbctl upgrade now --to v0.56.6 --force" "$SB/notify.env" ||
                die "the blocked release's what to do: $(grep MBUP_WHAT_TO_DO "$SB/notify.env")"
        # refused unattended with the log's lines, and by hand without --force; --force may
        run_mbctl 5 upgrade window
        assert_contains "$OUT" "the rehearsal of v0.56.6 on a copy of the application database failed"
        assert_contains "$OUT" "MigrationFailedException"
        assert_contains "$OUT" "mbctl upgrade now --to v0.56.6 --force"
        assert_eq "$(grep -c MBUP_RESULT=blocked "$SB/notify.env")" 1 "words of the blocked v0.56.6"
        run_mbctl 5 upgrade now --to v0.56.6
        run_mbctl 0 upgrade now --to v0.56.6 --force --dry-run
        assert_contains "$OUT" "v0.56.5 -> v0.56.6"
        assert_eq "$(main_pid)" "$pid"

        # a newer release is not blocked; the daemon SIGKILLed while it is rehearsed
        mirror_release v0.56.7 "$(make_release v0.56.7 v0.56.7 --migration-ms 4000)"
        mirror_feed v0.56.7:2025-04-01 v0.56.6:2025-03-01 v0.56.5:2025-02-01 v0.56.1:2025-01-01
        MBUP_REHEARSE=never MBUP_METRICS_FILE=$SB/metrics.prom write_config
        systemctl --user restart mbupgraded.service
        run_mbctl 0 check
        run_mbctl 0 upgrade window --dry-run
        assert_contains "$OUT" "v0.56.5 -> v0.56.7"
        # mbctl cancel stops a rehearsal: no verdict, the unit and the copy gone
        run_mbctl 0 rehearse v0.56.7 --no-wait
        wait_for 30 rehearsal_unit_active || die "the rehearsal's unit did not start"
        run_mbctl 0 cancel
        wait_for 20 rehearsal_unit_gone || die "the rehearsal's unit outlived mbctl cancel"
        wait_for 20 scratch_gone || die "the scratch copy outlived mbctl cancel"
        wait_for 10 eval '[[ -n $(rehearsals v0.56.7) ]]' || die "the canceled rehearsal is not in the history"
        assert_contains "$(rehearsals v0.56.7)" '"result":"canceled"'
        assert_contains "$(rehearsals v0.56.7)" "mbctl cancel"
        run_mbctl 1 cancel
        assert_contains "$OUT" "No operation is running, nor a rehearsal"
        run_mbctl 0 rehearse v0.56.7 --no-wait
        assert_contains "$OUT" "Rehearsing v0.56.7"
        wait_for 30 rehearsal_unit_active || die "the rehearsal's unit did not start"
        scratch_there || die "no scratch copy while rehearsing"
        systemctl --user kill -s KILL mbupgraded.service
        wait_for 10 eval '! systemctl --user is-active -q mbupgraded.service' || die "the daemon is still there"
        rehearsal_unit_active || die "the rehearsal's unit did not outlive the daemon (test premise)"
        systemctl --user reset-failed mbupgraded.service || true
        systemctl --user start mbupgraded.service
        wait_for 20 rehearsal_unit_gone || die "the rehearsal's unit outlived the restart"
        wait_for 20 scratch_gone || die "the scratch copy outlived the restart"
        wait_for 10 eval '[[ ! -e $SB/state/rehearsal ]]' || die "state_dir/rehearsal outlived the restart"
        assert_contains "$(rehearsals v0.56.7)" '"result":"canceled"'
        assert_eq "$(main_pid)" "$pid" "production through all of it"
        run_mbctl 0 status
        assert_contains "$OUT" "Daemon: idle"

        # the password: in no log, state file or the history
        ! grep -rl -- "$PG_PASS" "$SB/logs" "$SB/state" 2>/dev/null ||
                die "the database password was written to: $(grep -rl -- "$PG_PASS" "$SB/logs" "$SB/state")"
}
