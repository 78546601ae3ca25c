# The word of a release before anything changes, through a real HTTP listener (notify.webhook) and
# a command: a new release in the feed is told once as available (with what the policy will do and
# when the window opens), then staged, then due (policy.apply: window); a second check and a
# restart of the daemon tell none of it again. A release that needs a newer Java than the unit's is
# told as blocked, with what to do; so is one the window is too short for (policy.window_max, the
# plans' refusal). notify.command_events lists available and blocked only: the command hears
# nothing of staged, due or a committed upgrade while the webhook does. mbctl status says when the
# window opens, as systemd says its timer elapses next, and follows it when a reload moves it.
WEBHOOK_PID=

webhook_start() {
        mkdir -p "$SB/hook"
        rm -f "$SB/hook/port"
        /usr/bin/python3 "$MBUP_SRC/tests/integration/webhook-listener.py" "$SB/hook" 0 2>>"$SB/logs/webhook.log" &
        WEBHOOK_PID=$!
        wait_for 10 test -s "$SB/hook/port" || die "the webhook listener did not start"
        HOOK_PORT=$(cat "$SB/hook/port")
}

webhook_stop() {
        [[ -n $WEBHOOK_PID ]] || return 0
        kill "$WEBHOOK_PID" 2>/dev/null || true
        wait "$WEBHOOK_PID" 2>/dev/null || true
        WEBHOOK_PID=
}

# posts RESULT VERSION: how many POSTs told RESULT of VERSION
posts() {
        /usr/bin/python3 - "$SB/hook" "$1" "$2" <<'EOT'
import json, os, sys
d, result, version = sys.argv[1:]
n = 0
for f in os.listdir(d):
    if f.endswith(".json") and not f.startswith("."):
        b = json.loads(json.load(open(os.path.join(d, f)))["body"])
        n += b.get("result") == result and b.get("version_to") == version
print(n)
EOT
}

# post RESULT VERSION KEY: KEY of the POST that told RESULT of VERSION ("" for null)
post() {
        /usr/bin/python3 - "$SB/hook" "$1" "$2" "$3" <<'EOT'
import json, os, sys
d, result, version, key = sys.argv[1:]
for f in sorted(os.listdir(d)):
    if f.endswith(".json") and not f.startswith("."):
        b = json.loads(json.load(open(os.path.join(d, f)))["body"])
        if b.get("result") == result and b.get("version_to") == version:
            print("" if b.get(key) is None else b[key])
            break
EOT
}

# posted RESULT VERSION: a POST told it
posted() { [[ $(posts "$1" "$2") -ge 1 ]]; }

# runs RESULT: how many times the command ran for RESULT
runs() { cat "$SB"/cmd/*.env 2>/dev/null | grep -c "^MBUP_RESULT=$1\$" || true; }
ran() { [[ $(runs "$1") -ge 1 ]]; }
all_posts() { ls "$SB/hook" | grep -c '^[0-9]*\.json$' || true; }
all_runs() { ls "$SB/cmd" | grep -c '\.env$' || true; }

# timer_next: the window timer's next elapse as systemctl says it (next_text), as @SECONDS
# (next_unix) and in UTC as the webhook's JSON says it (next_iso)
timer_next() {
        next_text=$(systemctl --user show -p NextElapseUSecRealtime --value mbupgraded-window.timer)
        next_unix=@$(date -d "$next_text" +%s) || die "the timer has no next elapse: '$next_text'"
        next_iso=$(date -u -d "$next_unix" +%Y-%m-%dT%H:%M:%SZ)
}

scenario() {
        trap 'rc=$?; set +e; webhook_stop; (exit $rc); sandbox_cleanup' EXIT
        webhook_start
        mkdir -p "$SB/cmd"
        cat >"$SB/notify-cmd.sh" <<EOT
#!/bin/sh
n=\$(ls "$SB/cmd" | grep -c '\.stdin\$')
cat >"$SB/cmd/\$n.stdin"
env | grep '^MBUP_' | sort >"$SB/cmd/\$n.env.tmp"
mv "$SB/cmd/\$n.env.tmp" "$SB/cmd/\$n.env"
EOT
        chmod 755 "$SB/notify-cmd.sh"
        chown nobody "$SB/cmd"

        # the maintenance window's timer as unit-files/ ships it; its service does nothing here
        cp "$MBUP_SRC/unit-files/mbupgraded-window.timer" "$SB/units/"
        printf '[Service]\nType=oneshot\nExecStart=/bin/true\n' >"$SB/units/mbupgraded-window.service"
        systemctl --user daemon-reload
        systemctl --user start mbupgraded-window.timer

        install_metabase "$(make_release v0.56.1)"
        mirror_release v0.56.2 "$(make_release v0.56.2)"
        mirror_feed v0.56.2:2025-02-01 v0.56.1:2025-01-01
        MBUP_NOTIFY_WEBHOOK=http://127.0.0.1:$HOOK_PORT/services/T000/B000/xyz \
                MBUP_NOTIFY_COMMAND=$SB/notify-cmd.sh write_config
        sed -i '/^notify:/a\  command_events: [available, blocked]' "$SB/mbupgraded.yaml"
        start_daemon
        local pid=$(main_pid)

        log "mbctl status: the window's next opening, as systemd says it"
        timer_next
        run_mbctl 0 status
        assert_contains "$OUT" "Next window: $next_text (in "
        run_mbctl 0 status --json
        local nw=$(/usr/bin/python3 -c 'import json, sys; print(json.loads(sys.argv[1])["NextWindow"] // 1000000)' "$OUT")
        assert_eq "@$nw" "$next_unix" "NextWindow in mbctl status --json"
        # a reload draws the timer's random delay (RandomizedDelaySec=) again: the daemon follows
        local before=$next_text
        for i in 1 2 3 4 5; do
                systemctl --user daemon-reload
                timer_next
                [[ $next_text == "$before" ]] || break
        done
        [[ $next_text != "$before" ]] || die "the timer's next elapse stayed $before after five reloads"
        wait_for 10 bash -c "'$MBCTL' status | grep -qF 'Next window: $next_text'" ||
                die "mbctl status did not follow the timer to $next_text: $(mbctl status | grep 'Next window')"

        log "a new release: available, staged, due; each once"
        run_mbctl 0 check
        wait_for 30 posted available v0.56.2 || die "no POST of the new release"
        wait_for 60 posted due v0.56.2 || die "no POST of the due release: $(mbctl status)"
        wait_for 20 posted staged v0.56.2 || die "no POST of the staged release"
        assert_eq "$(post available v0.56.2 version_from)" v0.56.1 "available: version_from"
        assert_eq "$(post available v0.56.2 operation)" release "available: operation"
        assert_eq "$(post available v0.56.2 apply)" window "available: apply"
        assert_eq "$(post available v0.56.2 policy)" eligible "available: the policy's verdict"
        assert_eq "$(post available v0.56.2 next_window)" "$next_iso" "available: the next window"
        assert_contains "$(post available v0.56.2 text)" "new Metabase release v0.56.2 available (installed: v0.56.1); staged now, applied in the next window ($next_text)"
        assert_contains "$(post staged v0.56.2 text)" "v0.56.2 is staged: downloaded and verified"
        assert_eq "$(post due v0.56.2 next_window)" "$next_iso" "due: the next window"
        assert_eq "$(post due v0.56.2 plan)" "v0.56.1 -> v0.56.2" "due: the plan"
        assert_contains "$(post due v0.56.2 text)" "v0.56.2 is due: the next window ($next_text) applies it"
        # the command: available only (notify.command_events)
        wait_for 20 ran available || die "notify.command did not hear of the new release"
        assert_contains "$(cat "$SB/cmd/0.env")" "MBUP_VERSION_TO=v0.56.2"
        assert_contains "$(cat "$SB/cmd/0.env")" "MBUP_NEXT_WINDOW=$next_iso"
        sleep 2
        assert_eq "$(all_runs)" 1 "commands run (staged and due are not in notify.command_events)"
        assert_eq "$(all_posts)" 3 "POSTs"
        assert_eq "$(main_pid)" "$pid" "the word of a release touches nothing"

        log "a second check and a restart tell none of it again"
        run_mbctl 0 check
        systemctl --user restart mbupgraded.service
        run_mbctl 0 check
        wait_for 30 bash -c "'$MBCTL' status | grep -q 'Staged: v0.56.2 (verified)'" || die "not staged after the restart"
        sleep 3
        assert_eq "$(all_posts)" 3 "POSTs after a second check and a restart"
        assert_eq "$(all_runs)" 1 "commands run after a second check and a restart"
        assert_eq "$(/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1])))' "$SB/state/release-news.json")" \
                "{'available': ['v0.56.2'], 'staged': ['v0.56.2'], 'due': ['v0.56.2'], 'blocked': []}" "release-news.json"

        log "a release that needs a newer Java than the unit's: available, then blocked, what to do"
        mirror_release v0.56.3 "$(make_release v0.56.3 java21 --java 21)"
        mirror_feed v0.56.3:2025-03-01 v0.56.2:2025-02-01 v0.56.1:2025-01-01
        run_mbctl 0 check
        wait_for 60 posted blocked v0.56.3 || die "no POST of the blocked release: $(mbctl status)"
        assert_eq "$(posts available v0.56.3)" 1 "POSTs of v0.56.3 available"
        assert_contains "$(post blocked v0.56.3 reason)" "v0.56.3 needs Java 21"
        assert_contains "$(post blocked v0.56.3 text)" "v0.56.3 won't be applied unattended: v0.56.3 needs Java 21"
        assert_contains "$(post blocked v0.56.3 what_to_do)" "it is staged again at the next check"
        wait_for 20 ran blocked || die "notify.command did not hear of the blocked release"
        assert_eq "$(runs available)" 2 "commands run for available releases"
        grep -q "^MBUP_REASON=v0.56.3 needs Java 21" "$SB"/cmd/*.env || die "no MBUP_REASON of the block"
        run_mbctl 0 check
        sleep 3
        assert_eq "$(posts blocked v0.56.3)" 1 "POSTs of v0.56.3 blocked after another check"
        assert_eq "$(posts due v0.56.3)" 0 "a blocked release is not due"
        assert_eq "$(main_pid)" "$pid" "a blocked release touches nothing"

        log "a window too short for the upgrades past: the plans tell the staged release blocked"
        systemctl --user stop mbupgraded.service
        MBUP_WINDOW_MAX=1s MBUP_NOTIFY_WEBHOOK=http://127.0.0.1:$HOOK_PORT/services/T000/B000/xyz \
                MBUP_NOTIFY_COMMAND=$SB/notify-cmd.sh write_config
        sed -i '/^notify:/a\  command_events: [available, blocked]' "$SB/mbupgraded.yaml"
        start_daemon
        run_mbctl 0 upgrade now --jar "$(make_release v0.56.4)"
        wait_for 20 posted committed v0.56.4 || die "no POST of the committed upgrade"
        mirror_release v0.56.5 "$(make_release v0.56.5)"
        mirror_feed v0.56.5:2025-04-01 v0.56.4:2025-03-15 v0.56.3:2025-03-01 v0.56.2:2025-02-01 v0.56.1:2025-01-01
        run_mbctl 0 check
        wait_for 60 posted blocked v0.56.5 || die "no POST of the release the window can't hold: $(mbctl status)"
        assert_eq "$(posts available v0.56.5)" 1 "POSTs of v0.56.5 available"
        assert_eq "$(posts staged v0.56.5)" 1 "POSTs of v0.56.5 staged"
        assert_contains "$(post blocked v0.56.5 reason)" "would not fit in the window"
        assert_contains "$(post blocked v0.56.5 reason)" "policy.window_max is 1s"
        assert_eq "$(post blocked v0.56.5 what_to_do)" \
                "mbctl upgrade now --to v0.56.5 outside the window, or widen policy.window_max" "blocked: what to do"
        wait_for 20 bash -c "ls '$SB'/cmd/*.env | xargs cat | grep -q '^MBUP_VERSION_TO=v0.56.5'" ||
                die "notify.command did not hear of v0.56.5"
        sleep 2
        assert_eq "$(posts due v0.56.5)" 0 "a release the window can't hold is not due"
        # the command: available and blocked, never committed (notify.command_events)
        assert_eq "$(runs committed)" 0 "commands run for the committed upgrade"
        assert_eq "$(runs available)" 3 "commands run for available releases"
        assert_eq "$(runs blocked)" 2 "commands run for blocked releases"
}
