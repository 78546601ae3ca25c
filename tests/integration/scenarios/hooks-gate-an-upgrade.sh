# The administrator's hooks (hooks: and $SB/hooks/<type>.d/, found beside the config file). A
# pre-upgrade hook that fails refuses the upgrade (exit 5) with its output in the reason, the JAR
# and Metabase untouched; one that hangs is killed, with what it started, at hooks.timeout and
# counts as failed; a .d file that is a symbolic link, or group-writable (the metabase user, in
# its group, really writes into it), is refused and nothing of the gate runs. A verify hook that
# fails rolls back to the old version; post-rollback and post-commit hooks run as hooks.user after
# the end and, failing, change nothing. Every hook runs as nobody, no capabilities, no_new_privs,
# a clean environment with the operation's facts.
scenario() {
        local old jar_sum pid r
        old=$(make_release v0.56.1)
        install_metabase "$old"
        write_config
        # the hooks write what they saw here: the hooks' user's directory
        mkdir -p "$SB/out" "$SB/gate" "$SB/bin" "$SB/hooks"/{pre-upgrade,verify,post-commit,post-rollback}.d
        chown nobody "$SB/out"
        cat >"$SB/bin/pre-upgrade" <<EOT
#!/bin/sh
env >$SB/out/pre.env
grep -E '^(NoNewPrivs|CapEff|CapPrm|Groups):' /proc/self/status >$SB/out/pre.status
if [ -e $SB/gate/deny ]; then
        echo "change CHG-42 is not approved"
        echo "ask the change board first" >&2
        exit 3
fi
EOT
        chmod 755 "$SB/bin/pre-upgrade"
        cat >>"$SB/mbupgraded.yaml" <<EOT
hooks:
  pre_upgrade: '$SB/bin/pre-upgrade "\$MBUP_VERSION_TO"'
  timeout: 3s
EOT
        start_daemon
        jar_sum=$(sha256sum <"$SB/opt/metabase/metabase.jar")
        pid=$(main_pid)

        log "the pre-upgrade hook says no: refused, nothing touched"
        touch "$SB/gate/deny"
        run_mbctl 5 upgrade now --jar "$(make_release v0.56.2)"
        assert_contains "$OUT" "change CHG-42 is not approved | ask the change board first"
        assert_contains "$OUT" "exited with status 3"
        assert_eq "$(sha256sum <"$SB/opt/metabase/metabase.jar")" "$jar_sum" "the JAR"
        assert_eq "$(main_pid)" "$pid" "Metabase's MainPID"
        assert_eq "$(running_version)" v0.56.1
        assert_contains "$(last_history)" '"result":"refused"'
        assert_contains "$(last_history)" '"hooks":"pre-upgrade: 0 passed, then pre-upgrade hook'
        # how it ran: as nobody, nothing of the daemon's environment, the facts
        local env
        env=$(cat "$SB/out/pre.env")
        assert_contains "$env" "MBUP_HOOK=pre-upgrade"
        assert_contains "$env" "MBUP_OPERATION=upgrade"
        assert_contains "$env" "MBUP_VERSION_FROM=v0.56.1"
        assert_contains "$env" "MBUP_VERSION_TO=v0.56.2"
        grep -qx "MBUP_RESULT=" "$SB/out/pre.env" || die "MBUP_RESULT is not empty while under way: $env"
        assert_not_contains "$env" "DBUS_SYSTEM_BUS_ADDRESS" "the daemon's environment"
        assert_not_contains "$env" "MBUPGRADED_FETCH" "the daemon's environment"
        assert_eq "$(stat -c %U "$SB/out/pre.env")" nobody "the hook's user"
        assert_contains "$(cat "$SB/out/pre.status")" "NoNewPrivs:	1"
        assert_contains "$(cat "$SB/out/pre.status")" "CapEff:	0000000000000000"
        assert_contains "$(cat "$SB/out/pre.status")" "CapPrm:	0000000000000000"
        rm "$SB/gate/deny"

        log "a pre-upgrade hook that hangs, and leaves a child behind: killed at 3s, refused"
        cat >"$SB/hooks/pre-upgrade.d/20-hang" <<EOT
#!/bin/sh
echo "draining the load balancer"
sleep 613 &
sleep 614
EOT
        chmod 755 "$SB/hooks/pre-upgrade.d/20-hang"
        local t0=$SECONDS
        run_mbctl 5 upgrade now --jar "$(make_release v0.56.2)"
        assert_contains "$OUT" "pre-upgrade hook pre-upgrade.d/20-hang ran longer than hooks.timeout (3s): killed"
        assert_contains "$OUT" "its last output: draining the load balancer"
        ((SECONDS - t0 < 30)) || die "the hang took $((SECONDS - t0))s"
        wait_for 5 bash -c '! pgrep -f "sleep 61[34]" >/dev/null' || die "the hook's processes live on: $(pgrep -af 'sleep 61')"
        assert_eq "$(sha256sum <"$SB/opt/metabase/metabase.jar")" "$jar_sum" "the JAR"
        assert_eq "$(main_pid)" "$pid" "Metabase's MainPID"
        rm "$SB/hooks/pre-upgrade.d/20-hang"

        log "a .d file that is a symbolic link: refused, no hook of the gate runs"
        rm -f "$SB/out/pre.env"
        ln -s "$SB/bin/pre-upgrade" "$SB/hooks/pre-upgrade.d/30-link"
        run_mbctl 5 upgrade now --jar "$(make_release v0.56.2)"
        assert_contains "$OUT" "30-link: a symbolic link"
        [[ ! -e "$SB/out/pre.env" ]] || die "the config's command ran beside a refused hook"
        rm "$SB/hooks/pre-upgrade.d/30-link"

        log "the metabase user writes into a group-writable hook: refused, what it wrote never runs"
        printf '#!/bin/sh\necho drained\n' >"$SB/hooks/pre-upgrade.d/40-drain"
        chgrp "$MB_USER" "$SB/hooks/pre-upgrade.d/40-drain"
        chmod 775 "$SB/hooks/pre-upgrade.d/40-drain"
        runuser -u "$MB_USER" -- sh -c "echo 'touch $SB/out/pwned' >>'$SB/hooks/pre-upgrade.d/40-drain'" ||
                die "the metabase user could not write the group-writable file"
        run_mbctl 5 upgrade now --jar "$(make_release v0.56.2)"
        assert_contains "$OUT" "40-drain: writable by group or others"
        [[ ! -e "$SB/out/pwned" ]] || die "the hostile line ran"
        assert_eq "$(main_pid)" "$pid" "Metabase's MainPID"
        # made root's and 0755 again, it is a hook like any other
        printf '#!/bin/sh\necho drained\n' >"$SB/hooks/pre-upgrade.d/40-drain"
        chgrp root "$SB/hooks/pre-upgrade.d/40-drain"
        chmod 755 "$SB/hooks/pre-upgrade.d/40-drain"

        log "a verify hook fails on the new version: rolled back; post-rollback runs, its failure changes nothing"
        cat >"$SB/hooks/verify.d/50-smoke" <<EOT
#!/bin/sh
curl -fsS --max-time 5 http://127.0.0.1:$MB_PORT/api/session/properties >$SB/out/verify.props
if [ -e $SB/gate/smoke-fails ]; then
        echo "saved question 1 answered HTTP 500"
        exit 1
fi
echo "saved question 1 answered"
if [ -e $SB/gate/slow ]; then
        echo run >>$SB/out/verify.runs
        sleep 2
fi
EOT
        cat >"$SB/hooks/post-rollback.d/10-record" <<EOT
#!/bin/sh
echo "\$MBUP_RESULT \$MBUP_VERSION_FROM \$MBUP_VERSION_TO \$MBUP_HOOK" >$SB/out/post-rollback
exit 1
EOT
        cat >"$SB/hooks/post-commit.d/10-record" <<EOT
#!/bin/sh
echo "\$MBUP_RESULT \$MBUP_VERSION_FROM \$MBUP_VERSION_TO \$MBUP_HOOK" >$SB/out/post-commit
exit 2
EOT
        chmod 755 "$SB"/hooks/*/*
        touch "$SB/gate/smoke-fails"
        run_mbctl 3 upgrade now --jar "$(make_release v0.56.2)"
        assert_contains "$OUT" "verify hook verify.d/50-smoke exited with status 1; its last output: saved question 1 answered HTTP 500"
        # it ran once the new version answered
        assert_contains "$(cat "$SB/out/verify.props")" '"tag":"v0.56.2"'
        assert_eq "$(running_version)" v0.56.1
        assert_eq "$(installed_version)" v0.56.1
        wait_for 20 test -s "$SB/out/post-rollback" || die "the post-rollback hook did not run"
        assert_eq "$(cat "$SB/out/post-rollback")" "rolled-back v0.56.1 v0.56.2 post-rollback"
        assert_eq "$(stat -c %U "$SB/out/post-rollback")" nobody "the post-rollback hook's user"
        wait_for 10 grep -q "post-rollback hooks: post-rollback.d/10-record exited with status 1 (the result stays" \
                "$SB/logs/mbupgraded.log" || die "the post-rollback hook's failure is not logged"
        assert_contains "$(last_history)" '"result":"rolled-back"'
        assert_contains "$(last_history)" '"hooks":"pre-upgrade: 2 passed; verify: 0 passed, then verify hook'
        [[ ! -e "$SB/out/post-commit" ]] || die "post-commit ran after a rollback"
        rm "$SB/gate/smoke-fails"

        log "every hook passes: committed; post-commit runs, its failure changes nothing"
        run_mbctl 0 upgrade now --jar "$(make_release v0.56.2)"
        assert_contains "$OUT" "committed"
        assert_eq "$(running_version)" v0.56.2
        wait_for 20 test -s "$SB/out/post-commit" || die "the post-commit hook did not run"
        assert_eq "$(cat "$SB/out/post-commit")" "committed v0.56.1 v0.56.2 post-commit"
        assert_eq "$(stat -c %U "$SB/out/post-commit")" nobody "the post-commit hook's user"
        assert_contains "$(last_history)" '"result":"committed"'
        assert_contains "$(last_history)" '"hooks":"pre-upgrade: 2 passed; verify: 1 passed"'
        r=$(journal_or_log "verify hook verify.d/50-smoke: saved question 1 answered")
        [[ -n $r ]] || die "the verify hook's output is not in the log"
        run_mbctl 0 status
        assert_contains "$OUT" "v0.56.2"

        log "the daemon killed while a verify hook runs: it verifies again, runs the hook again, commits"
        touch "$SB/gate/slow"
        rm -f "$SB/out/post-commit"
        run_mbctl 0 upgrade now --no-wait --jar "$(make_release v0.56.3)"
        wait_for 60 test -s "$SB/out/verify.runs" || die "the verify hook did not start"
        systemctl --user kill --signal=SIGKILL mbupgraded.service
        wait_for 10 bash -c '[[ $(systemctl --user show -p ActiveState --value mbupgraded.service) != active ]]' ||
                die "the daemon is still alive"
        grep -q '"step":"settle"' "$SB/state/operation.json" || die "the journal is not at settle: $(cat "$SB/state/operation.json")"
        start_daemon
        wait_for 60 bash -c "[[ ! -e '$SB/state/operation.json' ]]" || die "the resumed upgrade did not finish"
        assert_eq "$(running_version)" v0.56.3
        assert_eq "$(wc -l <"$SB/out/verify.runs")" 2 "the verify hook's runs"
        assert_contains "$(last_history)" '"result":"committed"'
        assert_contains "$(last_history)" '"hooks":"pre-upgrade: 2 passed; verify: 1 passed"'
        wait_for 20 test -s "$SB/out/post-commit" || die "the post-commit hook did not run after the resumed upgrade"
        assert_eq "$(cat "$SB/out/post-commit")" "committed v0.56.2 v0.56.3 post-commit"
}

# journal_or_log TEXT: the daemon's log lines that hold TEXT.
journal_or_log() { grep -F "$1" "$SB/logs/mbupgraded.log" || true; }
