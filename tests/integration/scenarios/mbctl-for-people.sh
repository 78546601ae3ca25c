# mbctl as people see it. status in groups, coloured on a terminal (a real pty: script(1)) and
# never with NO_COLOR, TERM=dumb, --json or through a pipe; --json of every verb that has it
# parses; following an upgrade on a terminal draws the download's bar and the step list and ends
# with the operation's exit code (0 committed, 3 rolled back), while through a pipe it prints
# plain lines without escapes.

source "$MBUP_SRC/tests/integration/nginx.sh"
ESC=$'\033'

# on_pty EXPECTED_EXIT COMMAND...: runs COMMAND on a pseudo-terminal; its output in $OUT.
on_pty() {
        local want=$1 rc=0
        shift
        OUT=$(script -qec "$(printf '%q ' "$@")" /dev/null 2>&1) || rc=$?
        printf '%s\n' "$OUT" | cat -v | sed 's/^/#   pty: /' >&2
        [[ $rc -eq $want ]] || die "on a pty, $* exited $rc, expected $want"
}

scenario() {
        local v www=$SB/nginx/www
        nginx_start "$SB/nginx"
        trap 'rc=$?; set +e; nginx_stop; (exit $rc); sandbox_cleanup' EXIT
        install_metabase "$(make_release v0.56.1)"
        # served at 8 MB/s, so that its download reports progress on the way
        mirror_release v0.56.2 "$(make_release v0.56.2 v0.56.2 --pad-mb 24)" "$www"
        mirror_release v0.56.3 "$(make_release v0.56.3 v0.56.3 --fail crash-at-start)" "$www"
        mirror_release v0.56.4 "$(make_release v0.56.4)" "$www"
        MIRROR_ROOT=$www mirror_feed v0.56.2:2025-02-01 v0.56.1:2025-01-01
        # nothing is old enough to be staged unattended: upgrade now downloads while it is followed
        MBUP_FEED=$NGINX_URL/version-info.json MBUP_DOWNLOADS=$NGINX_URL/rate/8m MBUP_CA_FILE=$TEST_CA \
                MBUP_SETTLE=1s MBUP_MIN_AGE=3650d write_config
        start_daemon
        run_mbctl 0 check

        # through a pipe: plain, in groups, the lines scripts match
        run_mbctl 0 status
        assert_not_contains "$OUT" "$ESC" "escapes in piped status"
        assert_contains "$OUT" "      Daemon: idle"
        assert_contains "$OUT" "   Installed: v0.56.1"
        assert_contains "$OUT" "   Available: v0.56.2"
        [[ $(grep -c '^$' <<<"$OUT") -eq 3 ]] || die "status is not in four groups"
        # Daemon first, the versions after the service
        [[ $(grep -n 'Daemon:' <<<"$OUT" | cut -d: -f1) -eq 1 ]] || die "status does not start with the daemon's state"
        [[ $(grep -n 'Installed:' <<<"$OUT" | cut -d: -f1) -gt $(grep -n 'Unit:' <<<"$OUT" | cut -d: -f1) ]] ||
                die "versions before the service"

        # on a terminal: coloured (idle and active are green)
        TERM=xterm on_pty 0 "$MBCTL" status
        assert_contains "$OUT" "Daemon: ${ESC}[32midle${ESC}[0m"
        assert_contains "$OUT" "Unit state: ${ESC}[32mactive${ESC}[0m"
        for v in NO_COLOR=1 NO_COLOR=yes TERM=dumb; do
                OUT=$(env TERM=xterm "$v" script -qec "$MBCTL status" /dev/null)
                assert_contains "$OUT" "Daemon: idle"
                assert_not_contains "$OUT" "$ESC" "escapes with $v"
        done
        # an empty NO_COLOR does not count (no-color.org)
        OUT=$(env TERM=xterm NO_COLOR= script -qec "$MBCTL status" /dev/null)
        assert_contains "$OUT" "${ESC}[32m"
        TERM=xterm on_pty 0 "$MBCTL" status --json
        assert_not_contains "$OUT" "$ESC" "escapes in --json on a terminal"

        # --json of every verb that has it parses, and says what the text says
        local verb
        for verb in status check list history backups doctor "inspect $SB/opt/metabase/metabase.jar"; do
                # shellcheck disable=SC2086
                OUT=$("$MBCTL" $verb --json) || [[ $verb == doctor ]] || die "mbctl $verb --json failed"
                python3 -c 'import json, sys; json.loads(sys.argv[1])' "$OUT" || die "mbctl $verb --json: not JSON: $OUT"
        done
        OUT=$("$MBCTL" check --json)
        python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert "ok: 2 releases, newest v0.56.2" in d["check"], d
assert d["status"]["NewestAvailable"] == "v0.56.2" and d["status"]["Hold"] is False, d
' "$OUT" || die "check --json"
        OUT=$("$MBCTL" list --json)
        python3 -c '
import json, sys
assert [r["version"] for r in json.loads(sys.argv[1])] == ["v0.56.2", "v0.56.1"]
' "$OUT" || die "list --json"

        # help: short, one for each verb
        run_mbctl 0 --help
        [[ $(wc -l <<<"$OUT") -le 35 ]] || die "mbctl --help is long"
        for verb in status upgrade rollback cancel hold unhold history backup backups restore check list inspect config doctor; do
                run_mbctl 0 "$verb" --help
                assert_contains "$OUT" "mbctl $verb"
                # 'mbctl help VERB' is 'mbctl VERB --help' (issue 17, part 6)
                local by_flag=$OUT
                run_mbctl 0 help "$verb"
                assert_eq "$OUT" "$by_flag" "mbctl help $verb"
        done
        run_mbctl 2 frobnicate --help
        run_mbctl 2 help frobnicate
        # no verb: the status, as 'mbctl status' shows it
        run_mbctl 0
        assert_contains "$OUT" "Installed: v0.56.1"
        assert_eq "$(head -n 1 <<<"$OUT")" "$("$MBCTL" status | head -n 1)" "mbctl with no verb"

        # following an upgrade on a terminal: the download, then the steps, each done
        LANG=C.UTF-8 TERM=xterm on_pty 0 "$MBCTL" upgrade now --to v0.56.2
        assert_contains "$OUT" "download v0.56.2"
        grep -qE '\[#+-*\] +[0-9]+%  [0-9]+ MB' <<<"$OUT" || die "no progress bar for the download"
        local step
        for step in preflight stop backup swap start verify settle; do
                assert_contains "$OUT" "✓${ESC}[0m $step"
        done
        assert_not_contains "$OUT" "✗"
        assert_contains "$OUT" "upgrade v0.56.1 -> v0.56.2: ${ESC}[32mcommitted"
        assert_eq "$(running_version)" "v0.56.2"

        # a release that crashes at start: rolled back, the failed step marked, exit 3
        MIRROR_ROOT=$www mirror_feed v0.56.3:2025-03-01 v0.56.2:2025-02-01 v0.56.1:2025-01-01
        run_mbctl 0 check
        LANG=C.UTF-8 TERM=xterm NO_COLOR=1 on_pty 3 "$MBCTL" upgrade now --to v0.56.3
        # (the live area still moves the cursor, but sets no colour: no SGR "ESC[...m")
        local sgr="$ESC\[[0-9;]*m"
        [[ ! $OUT =~ $sgr ]] || die "colours with NO_COLOR"
        assert_contains "$OUT" "✓ start"
        assert_contains "$OUT" "✗ verify"
        assert_contains "$OUT" "✓ rollback-stop"
        assert_contains "$OUT" "✓ rollback-verify"
        assert_contains "$OUT" "rolled-back"
        assert_eq "$(running_version)" "v0.56.2"

        # through a pipe: one plain line per change, no escapes, the same exit code
        MIRROR_ROOT=$www mirror_feed v0.56.4:2025-04-01 v0.56.3:2025-03-01 v0.56.2:2025-02-01 v0.56.1:2025-01-01
        run_mbctl 0 check
        run_mbctl 0 upgrade now --to v0.56.4
        assert_not_contains "$OUT" "$ESC"
        assert_contains "$OUT" "[settle] "
        assert_contains "$OUT" "upgrade v0.56.2 -> v0.56.4: committed"

        # and status after it all: committed is green, the previous version named
        TERM=xterm on_pty 0 "$MBCTL" status
        assert_contains "$OUT" "Last result: ${ESC}[32mcommitted"
        assert_contains "$OUT" "Previous: v0.56.2 (mbctl rollback returns to it)"
}
