# notify.webhook and notify.command. A committed upgrade and a rolled-back one each reach a real
# HTTP listener (a JSON POST with a Slack-compatible "text"; a 500 is retried) and a command (the
# facts in its environment, the same JSON on its stdin). A webhook that is down delays no upgrade,
# and what it missed is delivered once the daemon has restarted.
WEBHOOK_PID=

webhook_start() { # webhook_start [PORT]
        mkdir -p "$SB/hook"
        rm -f "$SB/hook/port"
        /usr/bin/python3 "$MBUP_SRC/tests/integration/webhook-listener.py" "$SB/hook" "${1:-0}" \
                2>>"$SB/logs/webhook.log" &
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

# record N KEY: what the listener saw of its Nth request (method, path, content_type, body).
record() { /usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$SB/hook/$1.json" "$2"; }

# field FILE KEY: a member of the JSON in FILE ("" for null); for the listener's N.json, of its body.
field() {
        /usr/bin/python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
if "body" in o and "method" in o:
    o = json.loads(o["body"])
v = o[sys.argv[2]]
print("" if v is None else v)' "$1" "$2"
}

# received N: the listener's Nth request has come.
received() { [[ -e "$SB/hook/$1.json" ]]; }

# assert_delivery N RESULT FROM TO: the Nth POST and what it says.
assert_delivery() {
        local f=$SB/hook/$1.json
        assert_eq "$(record "$1" method)" POST "request $1's method"
        assert_eq "$(record "$1" path)" /services/T000/B000/xyz "request $1's path"
        assert_eq "$(record "$1" content_type)" application/json "request $1's Content-Type"
        assert_eq "$(field "$f" result)" "$2" "request $1's result"
        assert_eq "$(field "$f" version_from)" "$3" "request $1's version_from"
        assert_eq "$(field "$f" version_to)" "$4" "request $1's version_to"
        assert_eq "$(field "$f" operation)" upgrade "request $1's operation"
        assert_eq "$(field "$f" host)" "$(hostname)" "request $1's host"
        [[ $(field "$f" id) =~ ^[0-9]+$ ]] || die "request $1: no operation id"
        [[ $(field "$f" time) =~ ^20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9:]+Z$ ]] || die "request $1: no time"
        /usr/bin/python3 -c 'import sys; d = float(sys.argv[1]); sys.exit(0 if 0 < d < 600 else 1)' \
                "$(field "$f" duration_sec)" || die "request $1: duration_sec is $(field "$f" duration_sec)"
        /usr/bin/python3 -c 'import sys; d = float(sys.argv[1]); sys.exit(0 if 0 < d < 600 else 1)' \
                "$(field "$f" downtime_sec)" || die "request $1: downtime_sec is $(field "$f" downtime_sec)"
}

scenario() {
        trap 'rc=$?; set +e; webhook_stop; (exit $rc); sandbox_cleanup' EXIT
        webhook_start
        mkdir -p "$SB/cmd"
        # the command: its MBUP_ environment and its stdin, one pair of files a run
        cat >"$SB/notify-cmd.sh" <<EOT
#!/bin/sh
n=\$(ls "$SB/cmd" | grep -c '\.env\$')
cat >"$SB/cmd/\$n.stdin"
env | grep '^MBUP_' | sort >"$SB/cmd/\$n.env.tmp"
mv "$SB/cmd/\$n.env.tmp" "$SB/cmd/\$n.env"
EOT
        chmod 755 "$SB/notify-cmd.sh"

        install_metabase "$(make_release v0.56.1)"
        MBUP_NOTIFY_WEBHOOK=http://127.0.0.1:$HOOK_PORT/services/T000/B000/xyz \
                MBUP_NOTIFY_COMMAND=$SB/notify-cmd.sh write_config
        # the command runs as nobody (notify.user): its directory is nobody's
        chown nobody "$SB/cmd"
        start_daemon

        log "a committed upgrade; the webhook answers 500 first"
        echo 500 >"$SB/hook/status"
        run_mbctl 0 upgrade now --jar "$(make_release v0.56.2)"
        wait_for 20 received 1 || die "no POST after the upgrade"
        echo 200 >"$SB/hook/status"
        wait_for 30 received 2 || die "the POST answered 500 was not tried again"
        assert_delivery 1 committed v0.56.1 v0.56.2
        assert_delivery 2 committed v0.56.1 v0.56.2
        assert_contains "$(field "$SB/hook/2.json" text)" "upgraded from v0.56.1 to v0.56.2"
        assert_contains "$(cat "$SB/logs/mbupgraded.log")" "the server answered HTTP 500; trying again in 5s"
        wait_for 10 grep -q "notify.webhook: delivered" "$SB/logs/mbupgraded.log" || die "no delivery logged"

        wait_for 20 test -e "$SB/cmd/0.env" || die "notify.command did not run"
        env0=$(cat "$SB/cmd/0.env")
        assert_contains "$env0" "MBUP_RESULT=committed"
        assert_contains "$env0" "MBUP_OPERATION=upgrade"
        assert_contains "$env0" "MBUP_VERSION_FROM=v0.56.1"
        assert_contains "$env0" "MBUP_VERSION_TO=v0.56.2"
        assert_contains "$env0" "MBUP_HOST=$(hostname)"
        assert_contains "$env0" "MBUP_TEXT=Metabase on $(hostname) upgraded from v0.56.1 to v0.56.2"
        grep -q '^MBUP_DURATION_SEC=[0-9.e+-]*$' "$SB/cmd/0.env" || die "no MBUP_DURATION_SEC: $env0"
        # the same JSON on its stdin as the webhook's body
        /usr/bin/python3 -c '
import json, sys
a = json.load(open(sys.argv[1]))
b = json.loads(json.load(open(sys.argv[2]))["body"])
sys.exit(0 if a == b else "stdin %r\nwebhook %r" % (a, b))' "$SB/cmd/0.stdin" "$SB/hook/2.json"

        log "a release that crashes at start: rolled back"
        run_mbctl 3 upgrade now --jar "$(make_release v0.56.3 bad --fail crash-at-start)"
        wait_for 20 received 3 || die "no POST after the rollback"
        assert_delivery 3 rolled-back v0.56.2 v0.56.3
        assert_contains "$(field "$SB/hook/3.json" reason)" "Metabase exited"
        assert_contains "$(field "$SB/hook/3.json" text)" "failed and was rolled back, v0.56.2 is serving"
        wait_for 20 test -e "$SB/cmd/1.env" || die "notify.command did not run after the rollback"
        assert_contains "$(cat "$SB/cmd/1.env")" "MBUP_RESULT=rolled-back"

        log "the webhook down: the upgrade goes on, the POST waits"
        webhook_stop
        run_mbctl 0 upgrade now --jar "$(make_release v0.56.4)"
        assert_eq "$(running_version)" "v0.56.4"
        wait_for 20 test -e "$SB/cmd/2.env" || die "notify.command did not run with the webhook down"
        wait_for 20 grep -q "Connection refused\|Couldn't connect\|Failed to connect" "$SB/logs/mbupgraded.log" ||
                die "no failed attempt logged"
        ls "$SB"/state/notify/*-webhook.json >/dev/null 2>&1 || die "the undelivered POST is not kept"
        [[ ! -e "$SB/hook/4.json" ]] || die "a POST arrived with the listener down"

        log "the daemon restarts; the listener is back: the missed POST arrives"
        systemctl --user restart mbupgraded.service
        webhook_start "$HOOK_PORT"
        wait_for 60 received 4 || die "the undelivered POST was not sent after the restart"
        assert_delivery 4 committed v0.56.2 v0.56.4
        wait_for 10 bash -c "! ls '$SB'/state/notify/*.json >/dev/null 2>&1" || die "delivered files are left"
        sleep 1
        [[ ! -e "$SB/hook/5.json" ]] || die "a POST arrived twice"
        # each command ran once
        assert_eq "$(ls "$SB/cmd" | grep -c '\.env$')" 3 "commands run"
}
