# The journal: with the daemon's output connected to a real systemd-journald, a new release, an
# upgrade committed, a rollback by hand, an upgrade rolled back and a failed rollback each leave one
# entry with its fixed MESSAGE_ID and the MBUP_VERSION_FROM, MBUP_VERSION_TO and MBUP_RESULT fields,
# which `journalctl MESSAGE_ID=...` finds (docs: mbupgraded(8), JOURNAL).
ID_COMMITTED=0207a5fcdc8749d5a4cc5df14b489860
ID_ROLLED_BACK=61ebd1e5ea354dc2b440215c454b3ccc
ID_ROLLBACK_FAILED=f8043dd99ee3445296bb6c04c46fd745
ID_NEW_RELEASE=0c6cb5f8b335419eb7e59752749ba5bb

# entries ID: the entries with that MESSAGE_ID, one JSON object a line
entries() { journalctl --no-pager -o json "MESSAGE_ID=$1" 2>/dev/null || true; }
count() { entries "$1" | grep -c . || true; }
# last_field ID FIELD: FIELD of the newest entry with that MESSAGE_ID
last_field() {
        entries "$1" | tail -n 1 | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$2"
}
# expect_entry ID N FROM TO RESULT OPERATION: the Nth entry with that MESSAGE_ID came, and says so
expect_entry() {
        wait_for 20 test "$(count "$1")" -ge "$2" || die "no entry $2 with MESSAGE_ID=$1; the journal has: $(journalctl --no-pager -n 30 2>&1)"
        assert_eq "$(count "$1")" "$2" "entries with MESSAGE_ID=$1"
        assert_eq "$(last_field "$1" MBUP_VERSION_FROM)" "$3" "MBUP_VERSION_FROM of $1"
        assert_eq "$(last_field "$1" MBUP_VERSION_TO)" "$4" "MBUP_VERSION_TO of $1"
        assert_eq "$(last_field "$1" MBUP_RESULT)" "$5" "MBUP_RESULT of $1"
        [[ -z ${6:-} ]] || assert_eq "$(last_field "$1" MBUP_OPERATION)" "$6" "MBUP_OPERATION of $1"
        assert_eq "$(last_field "$1" SYSLOG_IDENTIFIER)" mbupgraded "SYSLOG_IDENTIFIER of $1"
        assert_eq "$(last_field "$1" _PID)" "$(systemctl --user show -p MainPID --value mbupgraded.service)" "_PID of $1"
}

scenario() {
        journald_start
        install_metabase "$(make_release v0.56.1)"
        mirror_release v0.56.2 "$(make_release v0.56.2)"
        mirror_feed v0.56.2:2025-02-01 v0.56.1:2025-01-01
        MBUP_APPLY=never MBUP_SETTLE=5s write_config
        MBUP_DAEMON_OUTPUT=journal start_daemon
        wait_for 10 bash -c "journalctl --no-pager SYSLOG_IDENTIFIER=mbupgraded | grep -q 'Idle; metabase.service runs'" ||
                die "the daemon's plain lines do not reach the journal"

        log "a new release in the feed: one entry, however many checks see it"
        run_mbctl 0 check
        expect_entry "$ID_NEW_RELEASE" 1 v0.56.1 v0.56.2 available
        run_mbctl 0 check
        sleep 1
        assert_eq "$(count "$ID_NEW_RELEASE")" 1 "new-release entries after a second check"

        log "an upgrade committed"
        run_mbctl 0 upgrade now --to v0.56.2
        expect_entry "$ID_COMMITTED" 1 v0.56.1 v0.56.2 committed upgrade
        assert_contains "$(last_field "$ID_COMMITTED" MESSAGE)" "upgraded from v0.56.1 to v0.56.2"
        assert_eq "$(last_field "$ID_COMMITTED" PRIORITY)" 5 "PRIORITY of the commit"
        # natively, not also as a line on the stream
        assert_eq "$(journalctl --no-pager -o cat SYSLOG_IDENTIFIER=mbupgraded | grep -c 'upgraded from v0.56.1 to v0.56.2')" 1 \
                "the commit's message in the journal"

        log "mbctl rollback"
        run_mbctl 0 rollback --yes
        expect_entry "$ID_ROLLED_BACK" 1 v0.56.2 v0.56.1 committed rollback

        log "an upgrade rolled back"
        run_mbctl 3 upgrade now --jar "$(make_release v0.56.2 bad --fail crash-at-start)"
        expect_entry "$ID_ROLLED_BACK" 2 v0.56.1 v0.56.2 rolled-back upgrade
        assert_contains "$(last_field "$ID_ROLLED_BACK" MBUP_REASON)" "Metabase exited"
        assert_eq "$(last_field "$ID_ROLLED_BACK" PRIORITY)" 4 "PRIORITY of the rollback"

        log "a rollback that fails (the kept JAR damaged while the new version settles)"
        run_mbctl 0 upgrade now --no-wait --jar "$(make_release v0.56.2 crashes --fail crash-after-ready --crash-after-ms 2500)"
        wait_for 40 grep -q '"step":"settle"' "$SB/state/operation.json" || die "never settling"
        echo "damage" >>"$SB/state/releases/v0.56.1/metabase.jar"
        wait_for 60 test ! -e "$SB/state/operation.json" || die "the operation did not end"
        expect_entry "$ID_ROLLBACK_FAILED" 1 v0.56.1 v0.56.2 rollback-failed upgrade
        assert_eq "$(last_field "$ID_ROLLBACK_FAILED" PRIORITY)" 3 "PRIORITY of the failed rollback"
        assert_contains "$(last_field "$ID_ROLLBACK_FAILED" MESSAGE)" "NEEDS A PERSON"
        # and nothing else got those ids
        assert_eq "$(count "$ID_COMMITTED")" 1 "commit entries in all"
        assert_eq "$(count "$ID_ROLLED_BACK")" 2 "rolled-back entries in all"
}
