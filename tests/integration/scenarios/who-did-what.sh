# Who did what (issue 17, part 4). A real unprivileged admin (mbup-test-admin, in admin_group)
# upgrades with mbctl: the history (mbctl history and --json), the journal entry (a real
# systemd-journald) and the notification (notify.command's environment) name that user and uid,
# and --force. policy.apply: immediately then applies a release by itself: the history names the
# policy. With policy.approve: true a release waits: status and list say so, the window refuses it,
# an unprivileged user's mbctl approve is refused (nothing written), an admin's is recorded in the
# history with the approver, and the window timer then applies it; with apply: immediately an
# approval applies the waiting release at once.

# The users, as() and as_mbctl() of hostile-callers (their scenario() is replaced by ours below).
source "$MBUP_SRC/tests/integration/scenarios/hostile-callers.sh"

# history_last EXPR: a Python expression over e, the newest history entry (mbctl history --json).
history_last() {
        "$MBCTL" history --json | /usr/bin/python3 -c 'import json, sys; e = json.load(sys.stdin)[-1]; print(eval(sys.argv[1]))' "$1"
}
running_is() { [[ "$(running_version 2>/dev/null)" == "$1" ]]; }
committed_to() { [[ "$(history_last 'e["result"] + " " + e["to"]')" == "committed $1" ]]; }
# journal_last ID FIELD: FIELD of the newest journal entry with MESSAGE_ID=ID
journal_last() {
        journalctl --no-pager -o json "MESSAGE_ID=$1" | tail -n 1 |
                /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$2"
}
ID_COMMITTED=0207a5fcdc8749d5a4cc5df14b489860

scenario() {
        local admin_uid
        test_users_ensure
        admin_uid=$(id -u "$TEST_ADMIN")
        chmod 711 "$SB" "$SB/rt"
        bus_policies_write
        bus_policy ours
        journald_start
        mkdir -p "$SB/cmd"
        # notify.command: its MBUP_ environment, one file a run
        cat >"$SB/notify-cmd.sh" <<EOT
#!/bin/sh
n=\$(ls "$SB/cmd" | grep -c '\.env\$')
env | grep '^MBUP_' | sort >"$SB/cmd/\$n.env.tmp"
mv "$SB/cmd/\$n.env.tmp" "$SB/cmd/\$n.env"
EOT
        chmod 755 "$SB/notify-cmd.sh"
        install_metabase "$(make_release v0.56.1)"
        mirror_feed v0.56.1:2025-01-01
        MBUP_APPLY=immediately MBUP_NOTIFY_COMMAND=$SB/notify-cmd.sh write_config
        sed -i "s/^admin_group: .*/admin_group: $TEST_GROUP/" "$SB/mbupgraded.yaml"
        # the command hears of operations only, not the word of a release (available, staged)
        sed -i '/^notify:/a\  command_events: [committed, rolled-back, rollback-failed, failed, refused]' "$SB/mbupgraded.yaml"
        chown nobody "$SB/cmd"
        MBUP_DAEMON_OUTPUT=journal start_daemon

        log "an admin upgrades with mbctl --force: the history, the journal and the notification name them"
        local jar
        jar=$(make_release v0.56.2)
        chmod 755 "$SB/jars"
        as_mbctl "$TEST_ADMIN" 0 upgrade now --force --jar "$jar"
        assert_eq "$(running_version)" v0.56.2
        run_mbctl 0 history
        assert_contains "$OUT" "by $TEST_ADMIN (uid $admin_uid), --force"
        assert_eq "$(history_last 'e["initiator"]["kind"]')" mbctl "the initiator's kind"
        assert_eq "$(history_last 'e["initiator"]["user"]')" "$TEST_ADMIN" "the initiator's user"
        assert_eq "$(history_last 'e["initiator"]["uid"]')" "$admin_uid" "the initiator's uid"
        assert_eq "$(history_last 'e["initiator"]["force"]')" True "--force recorded"
        wait_for 20 test -n "$(journal_last $ID_COMMITTED MBUP_INITIATOR_USER)" || die "no journal entry naming the initiator"
        assert_eq "$(journal_last $ID_COMMITTED MBUP_INITIATOR_USER)" "$TEST_ADMIN" "the journal's MBUP_INITIATOR_USER"
        assert_eq "$(journal_last $ID_COMMITTED MBUP_INITIATOR_UID)" "$admin_uid" "the journal's MBUP_INITIATOR_UID"
        assert_eq "$(journal_last $ID_COMMITTED MBUP_INITIATOR)" mbctl "the journal's MBUP_INITIATOR"
        assert_contains "$(journal_last $ID_COMMITTED MESSAGE)" "by $TEST_ADMIN (uid $admin_uid), --force"
        wait_for 20 test -e "$SB/cmd/0.env" || die "notify.command did not run"
        assert_contains "$(cat "$SB/cmd/0.env")" "MBUP_INITIATOR=mbctl"
        assert_contains "$(cat "$SB/cmd/0.env")" "MBUP_INITIATOR_USER=$TEST_ADMIN"
        assert_contains "$(cat "$SB/cmd/0.env")" "MBUP_INITIATOR_UID=$admin_uid"
        assert_contains "$(cat "$SB/cmd/0.env")" "MBUP_INITIATED_BY=by $TEST_ADMIN (uid $admin_uid), --force"
        # a dry run leaves no history, but the journal has who asked for it
        as_mbctl "$TEST_ADMIN" 0 rollback --dry-run
        wait_for 10 bash -c "journalctl --no-pager -o cat SYSLOG_IDENTIFIER=mbupgraded | grep -q 'Rollback asked by $TEST_ADMIN (uid $admin_uid), --dry-run'" ||
                die "the dry run's caller is not in the journal"

        log "policy.apply: immediately applies a new release by itself: the history names the policy"
        mirror_release v0.56.3 "$(make_release v0.56.3)"
        mirror_feed v0.56.3:2025-03-01 v0.56.2:2025-02-01 v0.56.1:2025-01-01
        run_mbctl 0 check
        wait_for 60 committed_to v0.56.3 || die "v0.56.3 was not applied by itself"
        assert_eq "$(history_last 'e["initiator"]["kind"]')" immediately "the initiator of the automatic upgrade"
        run_mbctl 0 history
        assert_contains "$OUT" "by policy.apply: immediately"
        wait_for 20 test -e "$SB/cmd/1.env" || die "notify.command did not run for the automatic upgrade"
        assert_contains "$(cat "$SB/cmd/1.env")" "MBUP_INITIATOR=immediately"

        log "policy.approve: true: the release waits for mbctl approve"
        sed -i -e 's/^  approve: false$/  approve: true/' -e 's/^  apply: immediately$/  apply: window/' "$SB/mbupgraded.yaml"
        systemctl --user restart mbupgraded.service
        mirror_release v0.56.4 "$(make_release v0.56.4)"
        mirror_feed v0.56.4:2025-04-01 v0.56.3:2025-03-01 v0.56.2:2025-02-01 v0.56.1:2025-01-01
        wait_for 20 "$MBCTL" check >/dev/null 2>&1 || die "the restarted daemon does not answer"
        wait_for 60 bash -c "'$MBCTL' list | grep -q '^v0.56.4 .*staged'" || die "v0.56.4 was not staged"
        run_mbctl 0 status
        assert_contains "$OUT" "waiting for approval (mbctl approve v0.56.4)"
        run_mbctl 0 list
        assert_contains "$(grep '^v0.56.4 ' <<<"$OUT")" "waiting for approval (mbctl approve v0.56.4)"
        run_mbctl 5 upgrade window
        assert_contains "$OUT" "v0.56.4 is waiting for approval (mbctl approve v0.56.4)"
        sleep 2
        assert_eq "$(running_version)" v0.56.3 "the running version before the approval"

        log "an unprivileged user may not approve: refused, nothing written"
        as_mbctl "$TEST_USER" 1 approve v0.56.4
        assert_contains "$OUT" "permission denied"
        bus_policy open
        as_mbctl "$TEST_USER" 1 approve v0.56.4
        assert_contains "$OUT" "Only root and members of the group '$TEST_GROUP' may do this"
        bus_policy ours
        [[ ! -e $SB/state/approved.json ]] || die "a refused approval wrote $SB/state/approved.json"
        run_mbctl 5 upgrade window

        log "an admin approves; the window timer applies it"
        as_mbctl "$TEST_ADMIN" 0 approve v0.56.4
        assert_contains "$OUT" "v0.56.4 approved"
        assert_eq "$(stat -c '%u %a' "$SB/state/approved.json")" "0 600" "approved.json's owner and mode"
        assert_eq "$(history_last 'e["kind"] + " " + e["to"] + " " + e["initiator"]["user"]')" \
                "approve v0.56.4 $TEST_ADMIN" "the approval in the history"
        run_mbctl 0 status
        assert_not_contains "$OUT" "waiting for approval" "the status after the approval"
        run_mbctl 0 upgrade window
        wait_for 60 committed_to v0.56.4 || die "v0.56.4 was not applied after the approval"
        assert_eq "$(running_version)" v0.56.4
        assert_eq "$(history_last 'e["initiator"]["kind"] + " " + str(e["initiator"]["uid"])')" "window 0" \
                "the window's initiator"
        run_mbctl 0 history
        assert_contains "$OUT" "by the window timer"
        assert_contains "$OUT" "by $TEST_ADMIN (uid $admin_uid)"
        printf '%s\n' "$OUT" >"$SB/logs/history.txt"

        log "with policy.apply: immediately, an approval applies the waiting release at once"
        sed -i 's/^  apply: window$/  apply: immediately/' "$SB/mbupgraded.yaml"
        systemctl --user restart mbupgraded.service
        mirror_release v0.56.5 "$(make_release v0.56.5)"
        mirror_feed v0.56.5:2025-05-01 v0.56.4:2025-04-01 v0.56.3:2025-03-01 v0.56.2:2025-02-01 v0.56.1:2025-01-01
        wait_for 20 "$MBCTL" check >/dev/null 2>&1 || die "the restarted daemon does not answer"
        wait_for 60 bash -c "'$MBCTL' status | grep -q 'waiting for approval (mbctl approve v0.56.5)'" ||
                die "v0.56.5 does not wait for an approval"
        sleep 2
        assert_eq "$(running_version)" v0.56.4 "the running version before the approval"
        as_mbctl "$TEST_ADMIN" 0 approve v0.56.5
        wait_for 60 committed_to v0.56.5 || die "v0.56.5 was not applied after the approval"
        assert_eq "$(history_last 'e["initiator"]["kind"]')" immediately "the initiator after the approval"
}
