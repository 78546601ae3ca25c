# metrics_file: node_exporter's textfile, read with Prometheus's own text-format parser after every
# kind of change: start, a release check (good and broken feed), an upgrade, a rollback, a hold,
# a restart (the last upgrade comes back from the history).
# metrics: its samples as prom-parse.py prints them; fails (saying why) if the parser refuses it.
metrics() { "$MBUP_SRC/tests/integration/prom-parse.py" "$PROM"; }
# has_metric LINE: metrics_file parses and has exactly this sample
has_metric() {
        local m
        m=$(metrics) || return 1
        grep -qxF "$1" <<<"$m"
}
wait_metric() { wait_for 20 has_metric "$1" || die "no '$1' in metrics_file:"$'\n'"$(cat "$PROM")"; }
value() {
        local m
        m=$(metrics) || die "metrics_file is not the Prometheus text format"
        awk -v n="$1" '$1 == n { print $2 }' <<<"$m"
}

scenario() {
        PROM=$SB/textfile/mbupgraded.prom
        mkdir -p "$SB/textfile"
        install_metabase "$(make_release v0.56.1)"
        mirror_release v0.56.2 "$(make_release v0.56.2)"
        mirror_feed v0.56.2:2025-02-01 v0.56.1:2025-01-01
        MBUP_METRICS_FILE=$PROM MBUP_APPLY=never write_config
        start_daemon

        wait_for 20 test -s "$PROM" || die "no metrics_file after the start"
        wait_metric 'mbupgraded_installed_version_info{version="v0.56.1"} 1'
        has_metric 'mbupgraded_backups 0' || die "backups: $(metrics)"
        has_metric 'mbupgraded_hold 0' || die "hold: $(metrics)"
        has_metric 'mbupgraded_operation_in_progress 0' || die "operation: $(metrics)"
        [[ -z $(value mbupgraded_last_check_success) ]] || die "a check before any check"
        [[ $(stat -c %a "$PROM") == 644 ]] || die "metrics_file's mode is $(stat -c %a "$PROM")"

        log "a release check"
        before=$(date +%s)
        run_mbctl 0 check
        wait_metric 'mbupgraded_last_check_success 1'
        wait_metric 'mbupgraded_newest_available_version_info{version="v0.56.2"} 1'
        has_metric 'mbupgraded_update_available 1' || die "update_available: $(metrics)"
        t=$(value mbupgraded_last_check_timestamp_seconds)
        ((t >= before && t <= $(date +%s))) || die "last check at $t, not between $before and now"

        log "an upgrade"
        run_mbctl 0 upgrade now --to v0.56.2
        wait_metric 'mbupgraded_last_upgrade_info{from="v0.56.1",operation="upgrade",result="committed",to="v0.56.2"} 1'
        has_metric 'mbupgraded_last_upgrade_success 1' || die "success: $(metrics)"
        has_metric 'mbupgraded_installed_version_info{version="v0.56.2"} 1' || die "installed: $(metrics)"
        has_metric 'mbupgraded_update_available 0' || die "update_available: $(metrics)"
        has_metric 'mbupgraded_backups 1' || die "backups: $(metrics)"
        size=$(stat -c %s "$SB"/backups/*/metabase.db.mv.db)
        has_metric "mbupgraded_backups_size_bytes $size" || die "backup size $size: $(metrics)"
        /usr/bin/python3 -c 'import sys; d, w = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if 0 < w <= d < 600 else 1)' \
                "$(value mbupgraded_last_upgrade_duration_seconds)" "$(value mbupgraded_last_upgrade_downtime_seconds)" ||
                die "duration/downtime: $(metrics)"
        has_metric 'mbupgraded_operation_in_progress 0' || die "operation: $(metrics)"

        log "a release that crashes at start: rolled back"
        run_mbctl 3 upgrade now --jar "$(make_release v0.56.3 bad --fail crash-at-start)"
        wait_metric 'mbupgraded_last_upgrade_info{from="v0.56.2",operation="upgrade",result="rolled-back",to="v0.56.3"} 1'
        has_metric 'mbupgraded_last_upgrade_success 0' || die "success: $(metrics)"
        has_metric 'mbupgraded_backups 2' || die "backups: $(metrics)"
        # the total: the two operations' downtimes as the history has them (ms there), summed
        total=$(jq -s 'map(.downtime_ms // 0) | add' "$SB/state/history.jsonl")
        /usr/bin/python3 -c 'import sys; v, w = float(sys.argv[1]), float(sys.argv[2]) / 1000; sys.exit(0 if w > 0 and abs(v - w) < 0.01 else 1)' \
                "$(value mbupgraded_downtime_seconds_total)" "$total" || die "downtime total ($total ms in the history): $(metrics)"

        log "a hold, a broken feed"
        run_mbctl 0 hold --reason "metrics test"
        wait_metric 'mbupgraded_hold 1'
        echo "not json" >"$SB/mirror/version-info.json"
        run_mbctl 1 check
        wait_metric 'mbupgraded_last_check_success 0'

        log "a restart: the last upgrade from the history"
        systemctl --user restart mbupgraded.service
        wait_for 20 has_metric 'mbupgraded_operation_in_progress 0' || die "no metrics after the restart"
        wait_metric 'mbupgraded_last_upgrade_info{from="v0.56.2",operation="upgrade",result="rolled-back",to="v0.56.3"} 1'
        has_metric 'mbupgraded_hold 1' || die "hold after the restart: $(metrics)"
        /usr/bin/python3 -c 'import sys; v, w = float(sys.argv[1]), float(sys.argv[2]) / 1000; sys.exit(0 if abs(v - w) < 0.01 else 1)' \
                "$(value mbupgraded_downtime_seconds_total)" "$total" || die "downtime total after the restart: $(metrics)"
        # written with a temporary file and a rename: nothing else in the directory
        assert_eq "$(ls -A "$SB/textfile")" "mbupgraded.prom" "the textfile directory"
}
