# The daemon killed (SIGKILL, the test build's crash hook) right after each step of an upgrade,
# a rollback and a staging persists, then started again; and once the whole "host" (systemd
# --user, D-Bus, Metabase and the daemon) killed together mid-upgrade and booted again. After
# each: Metabase active and healthy on the old or the new version, never stopped, never on a
# half-written JAR; the JAR on disk is the version running; the database's newest migration is
# that version's; the history tells the end; the backup a rollback needs is there; no leftovers;
# and the next upgrade goes through (the next round is one).
# Every path given with "/../" (issue 15): the unit's -jar and MB_DB_FILE, and the JAR mbctl is
# given, relative to a working directory, through ".."; the journal written at each crash point
# must read back, or the daemon would throw it away and leave Metabase stopped. Then a crash in
# an online backup (PostgreSQL, Metabase running): discarded, the service never touched. Last, a
# keep-data rollback killed around Metabase's migrate down (PostgreSQL).
N=1 # the stand-in's patch level running now: v0.56.$N, newest migration v56.00$N

daemon_idle() { [[ $(mbctl status 2>/dev/null) == *"Daemon: idle"* ]]; }
daemon_dead() { [[ $(systemctl --user show -p ActiveState --value mbupgraded.service) != active ]]; }

# The daemon with the crash hook armed at POINT.
arm() {
        rm -f "$CRASHED"
        systemctl --user stop mbupgraded.service
        MBUP_DAEMON_ENV="MBUP_TEST_CRASH_AT=$1 MBUP_TEST_CRASH_ONCE=$CRASHED" start_daemon
}

# After the crash: the daemon started again (the hook no longer fires), until it is idle.
restart() {
        local point=$1
        wait_for 60 test -e "$CRASHED" || die "$point: the crash point was never reached"
        wait_for 30 daemon_dead || die "$point: the daemon did not die"
        systemctl --user reset-failed mbupgraded.service 2>/dev/null || true
        systemctl --user start mbupgraded.service || die "$point: the daemon did not start again"
        wait_for 120 daemon_idle || die "$point: the daemon did not finish what it resumed: $(mbctl status)"
}

# The end state after POINT: RESULT in the history (for operation kind KIND), v0.56.$N running.
check() {
        local point=$1 kind=$2 result=$3 last
        wait_healthy 60 || die "$point: Metabase is not healthy"
        assert_eq "$(unit_state)" "active" "$point: metabase.service"
        assert_eq "$(running_version)" "v0.56.$N" "$point: the version running"
        assert_eq "$(installed_version)" "v0.56.$N" "$point: the JAR on disk"
        assert_eq "$(changelog | grep -o 'v56\.[0-9]*' | tail -1)" "v56.00$N" "$point: the newest migration"
        last=$(last_history)
        assert_contains "$last" "\"kind\":\"$kind\"" "$point: the history's last entry"
        assert_contains "$last" "\"result\":\"$result\"" "$point: the history's last entry"
        local id=$(sed -n 's/.*"id":\([0-9]*\).*/\1/p' <<<"$last")
        assert_eq "$(mbctl history --json | grep -c "\"id\": *$id,")" "1" "$point: history entries for operation $id"
        [[ ! -e $SB/state/operation.json ]] || die "$point: the journal is still there"
        [[ ! -e $SB/state/appdb.secret ]] || die "$point: a password file is left"
        [[ -z "$(ls -A "$SB/opt/metabase" | grep mbup || true)" ]] || die "$point: leftovers: $(ls -A "$SB/opt/metabase")"
        if [[ -f $SB/state/last-upgrade.json ]]; then
                local b
                b=$(sed -n 's/.*"backup": *"\([^"]*\)".*/\1/p' "$SB/state/last-upgrade.json")
                [[ -z $b || -f $b ]] || die "$point: the backup mbctl rollback needs ($b) is gone"
        fi
        log "$point: $result, v0.56.$N serving"
}

# An upgrade to the next patch level with a crash at POINT; good tells whether it should commit.
upgrade_round() {
        local point=$1 expect=$2 fail=${3:-none} next=$((N + 1))
        local jar
        jar=$(make_release "v0.56.$next" "r$next-$fail" --fail "$fail")
        arm "$point"
        # relative, through "..": mbctl joins its working directory and makes it canonical
        (cd "$SB/jars" && "$MBCTL" upgrade now --jar "../jars/./$(basename "$jar")" >/dev/null 2>&1) || true
        restart "$point"
        [[ $expect == committed ]] && N=$next
        check "$point" upgrade "$expect"
        CRASHES=$((CRASHES + 1))
        RELEASES=$next
}

scenario() {
        "$MBUPGRADED" --version | grep -q test-hooks || {
                log "skipped: $MBUPGRADED has no crash hooks (meson configure -Dtest_hooks=true)"
                exit 77
        }
        CRASHED=$SB/crash-fired
        CRASHES=0 RELEASES=1
        MBUP_SETTLE=1s MBUP_STALL_TIMEOUT=5s write_config
        install_metabase "$(make_release v0.56.1)"
        # the unit names its JAR and H2 database through "/../", as an admin may write it
        sed -i "s|-jar $SB/opt/metabase/metabase.jar|-jar $SB/opt/metabase/../metabase/metabase.jar|; s|MB_DB_FILE=$SB/var/lib/metabase/metabase.db|MB_DB_FILE=$SB/var/lib/metabase/../metabase/metabase.db|" \
                "$SB/units/metabase.service"
        grep -q -- "-jar $SB/opt/metabase/../metabase/metabase.jar" "$SB/units/metabase.service" || die "unit not rewritten"
        systemctl --user daemon-reload
        systemctl --user restart metabase.service
        wait_healthy 60 || die "Metabase with /../ paths did not become healthy"
        start_daemon

        # before the stop: nothing changed; after it and before the swap is known: rolled back
        upgrade_round step:preflight failed
        upgrade_round step:stop rolled-back
        upgrade_round step:backup rolled-back
        upgrade_round step:swap rolled-back
        upgrade_round swapped rolled-back
        # the new version started: verified again and committed
        upgrade_round step:start committed
        upgrade_round step:verify committed
        upgrade_round step:settle committed
        upgrade_round done committed
        upgrade_round history committed
        # a release that crashes at start: every step of its rollback
        upgrade_round step:rollback-stop rolled-back crash-at-start
        upgrade_round step:rollback-restore rolled-back crash-at-start
        upgrade_round step:rollback-start rolled-back crash-at-start
        upgrade_round step:rollback-verify rolled-back crash-at-start
        N_BEFORE=$N

        # mbctl rollback, killed as it restores the older database: it rolls back itself, so the
        # newer version (and its database) stays
        arm step:restore-database
        mbctl rollback --yes >/dev/null 2>&1 || true
        restart step:restore-database
        check step:restore-database rollback rolled-back
        CRASHES=$((CRASHES + 1))

        # staging from the release feed: killed while downloading and while verifying; nothing
        # was touched, the next upgrade takes the release (resuming the partial download)
        local v=$((N + 1))
        mirror_release "v0.56.$v" "$(make_release "v0.56.$v" "feed$v" --pad-mb 32)"
        mirror_feed "v0.56.$v:2025-02-01" "v0.56.$N:2025-01-01"
        for point in download verify; do
                arm "$point"
                # the check stages the release at once: the daemon may die before its reply is out
                mbctl check >/dev/null 2>&1 || true
                mbctl upgrade now --to "v0.56.$v" >/dev/null 2>&1 || true
                wait_for 60 test -e "$CRASHED" || die "$point: the crash point was never reached"
                wait_for 30 daemon_dead || die "$point: the daemon did not die"
                systemctl --user reset-failed mbupgraded.service 2>/dev/null || true
                systemctl --user start mbupgraded.service
                wait_for 60 daemon_idle || die "$point: the daemon is not idle"
                assert_eq "$(running_version)" "v0.56.$N" "$point: the version running"
                [[ ! -e $SB/state/operation.json ]] || die "$point: a journal for a staging crash"
                log "$point: nothing touched, v0.56.$N serving"
                CRASHES=$((CRASHES + 1))
        done
        mbctl check >/dev/null
        run_mbctl 0 upgrade now --to "v0.56.$v"
        N=$v
        check "after the staging crashes" upgrade committed
        RELEASES=$v

        host_crash_round
        online_backup_rounds
        keep_data_rounds
        log "$CRASHES crash points, each ended consistent"
        [[ $CRASHES -eq 23 ]] || die "expected 23 crash points, ran $CRASHES"
}

# mbctl backup on PostgreSQL is a pg_dump of the running Metabase: killed as the step is
# journaled and while the dump runs, the daemon discards the partial backup and leaves the
# service alone (before issue 15 it resumed as a rollback: a stop of production).
online_backup_rounds() {
        local point pid backups
        postgres_start
        install_metabase_pg "$(make_release "v0.56.$N" "pg$N")"
        systemctl --user stop mbupgraded.service
        start_daemon
        run_mbctl 0 backup
        for point in step:backup dump; do
                pid=$(main_pid)
                backups=$(ls "$SB/backups" | sort)
                arm "$point"
                mbctl backup >/dev/null 2>&1 || true
                restart "$point"
                wait_healthy 30 || die "$point: Metabase is not healthy"
                assert_eq "$(unit_state)" "active" "$point: metabase.service"
                assert_eq "$(main_pid)" "$pid" "$point: Metabase's MainPID (the service must not be touched)"
                local last=$(last_history)
                assert_contains "$last" '"kind":"backup"' "$point: the history's last entry"
                assert_contains "$last" '"result":"failed"' "$point: the history's last entry"
                assert_contains "$last" "online backup" "$point: the history's reason"
                assert_eq "$(ls "$SB/backups" | sort)" "$backups" "$point: a partial backup is left"
                [[ ! -e $SB/state/operation.json ]] || die "$point: the journal is still there"
                [[ ! -e $SB/state/appdb.secret ]] || die "$point: a password file is left"
                [[ ! -e $SB/run/maintenance ]] || die "$point: the maintenance flag is set"
                mbctl status --json | grep -q '"Hold": *false' || die "$point: a hold: $(mbctl status)"
                log "$point: online backup discarded, Metabase untouched (MainPID $pid)"
                CRASHES=$((CRASHES + 1))
        done
        run_mbctl 0 backup
        assert_eq "$(main_pid)" "$pid" "the next online backup"
}

# mbctl rollback --keep-data from v0.57.1 on PostgreSQL, killed as migrate down is journaled, while
# its unit runs (systemd runs it on) and once it has run (before the changelog is read): resumed,
# the migrate down unit is stopped and the fresh backup goes back, so v0.57.1 serves again with its
# v57 change sets and every row.
keep_data_rounds() {
        local point last
        run_mbctl 0 upgrade now --jar "$(make_release v0.57.1 "pg57")"
        psql_mb "INSERT INTO report_card VALUES (57, 'Written under v0.57.1')" >/dev/null
        for point in step:migrate-down migrate-down-running migrated-down; do
                arm "$point"
                log "$point: $(mbctl rollback --keep-data --yes 2>&1 | tail -n 3)"
                restart "$point"
                wait_healthy 60 || die "$point: Metabase is not healthy"
                assert_eq "$(running_version)" "v0.57.1" "$point: the version running"
                assert_eq "$(installed_version)" "v0.57.1" "$point: the JAR on disk"
                assert_eq "$(psql_mb "select count(*) from databasechangelog where id like 'v57.%'")" "1" \
                        "$point: the v57 change set"
                assert_eq "$(psql_mb "select name from report_card where id = 57")" "Written under v0.57.1" \
                        "$point: the row written after the upgrade"
                last=$(last_history)
                assert_contains "$last" '"kind":"rollback"' "$point: the history's last entry"
                assert_contains "$last" '"result":"rolled-back"' "$point: the history's last entry"
                assert_contains "$last" "migrate down" "$point: the history's reason"
                assert_eq "$(systemctl --user show -p ActiveState --value mbupgraded-migrate-down.service)" "inactive" \
                        "$point: the migrate down unit"
                [[ ! -e $SB/state/operation.json ]] || die "$point: the journal is still there"
                [[ ! -e $SB/state/migrate-down.env ]] || die "$point: the unit's environment is left"
                log "$point: the fresh backup back, v0.57.1 serving"
                CRASHES=$((CRASHES + 1))
        done
}

# The whole host: everything of the sandbox SIGKILLed at once while the new version settles,
# then "booted": the manager, then Metabase and the daemon as enabled units would start.
host_crash_round() {
        local next=$((RELEASES + 1))
        MBUP_SETTLE=20s MBUP_STALL_TIMEOUT=5s write_config
        systemctl --user stop mbupgraded.service
        start_daemon
        mbctl upgrade now --no-wait --jar "$(make_release "v0.56.$next" "host$next")" >/dev/null
        wait_for 60 eval '[[ $(mbctl status 2>/dev/null) == *"Step: settle"* ]]' || die "never reached settle"
        host_crash
        host_boot
        systemctl --user start metabase.service mbupgraded.service
        wait_for 120 daemon_idle || die "host crash: the daemon did not finish: $(mbctl status)"
        N=$next
        check "a host crash while settling" upgrade committed
        CRASHES=$((CRASHES + 1))
}
