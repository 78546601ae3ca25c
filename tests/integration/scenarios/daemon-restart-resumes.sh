# The daemon killed in the middle of an upgrade resumes it from the journal when it starts again:
# during a long migration it waits for the new version and commits; killed while a bad release
# settles, it rolls back.
scenario() {
        MBUP_SETTLE=4s write_config
        install_metabase "$(make_release v0.56.1)"
        start_daemon
        local i
        run_mbctl 0 upgrade now --no-wait --jar "$(make_release v0.56.2 slow --migration-ms 2000)"
        for i in $(seq 1 100); do
                [[ -f "$SB/state/operation.json" ]] && grep -q '"step":"verify"' "$SB/state/operation.json" && break
                sleep 0.1
        done
        systemctl --user kill --signal=SIGKILL mbupgraded.service
        sleep 0.5
        [[ "$(systemctl --user show -p ActiveState --value mbupgraded.service)" != active ]] || die "daemon still alive"
        start_daemon
        for i in $(seq 1 300); do
                [[ ! -f "$SB/state/operation.json" ]] && break
                sleep 0.1
        done
        [[ ! -f "$SB/state/operation.json" ]] || die "the resumed upgrade did not finish"
        assert_eq "$(running_version)" "v0.56.2"
        run_mbctl 0 history --json
        assert_contains "$OUT" '"result":"committed"'
        # who asked is in the journal: the resumed operation still names them
        assert_contains "$("$MBCTL" history)" "by root (uid 0)"

        prober_start
        run_mbctl 0 upgrade now --no-wait --jar "$(make_release v0.56.3 bad --fail crash-after-ready --crash-after-ms 2500)"
        for i in $(seq 1 200); do
                grep -q '"step":"settle"' "$SB/state/operation.json" 2>/dev/null && break
                sleep 0.1
        done
        grep -q '"step":"settle"' "$SB/state/operation.json" || die "never reached settle"
        systemctl --user kill --signal=SIGKILL mbupgraded.service
        sleep 3 # the bad release crashes while no daemon watches
        start_daemon
        for i in $(seq 1 600); do
                [[ ! -f "$SB/state/operation.json" ]] && break
                sleep 0.1
        done
        [[ ! -f "$SB/state/operation.json" ]] || die "the resumed operation did not finish"
        assert_eq "$(running_version)" "v0.56.2"
        assert_not_contains "$(changelog)" '"v56.003"'
        run_mbctl 0 history --json
        assert_contains "$OUT" '"result":"rolled-back"'
        # the downtime counts what happened while no daemon watched (the crash, systemd's restart)
        # conservatively: never less than an independent prober saw
        prober_stop
        local entry recorded seen
        entry=$(grep '"result":"rolled-back"' "$SB/state/history.jsonl" | tail -n 1)
        recorded=$(jq -r .downtime_ms <<<"$entry")
        seen=$(prober_down_ms $(($(jq -r .stopped_usec <<<"$entry") / 1000 - 1000)) $(($(jq -r .finished_usec <<<"$entry") / 1000)))
        log "downtime across the daemon's death: prober ${seen} ms, recorded ${recorded} ms"
        [[ $recorded -ge $((seen - 300)) ]] || die "the recorded downtime (${recorded} ms) is less than the prober saw (${seen} ms)"
}
