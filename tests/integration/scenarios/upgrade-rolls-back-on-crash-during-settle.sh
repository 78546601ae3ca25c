# A release that migrates, becomes healthy, then crashes while settling: rolled back, and its
# migration is gone from the database (restored from the backup). The downtime recorded is what
# users saw: an independent prober (curl at ~10 Hz against /api/health) measures every period
# without a healthy answer; the history's figure is within a tolerance of it, and longer than the
# stop to the new version's first healthy answer (the crash to the old version's healthy answer
# counts too).
source "$MBUP_SRC/tests/integration/rollback-lib.sh"

scenario() {
        local entry stopped serving finished recorded old seen periods
        MBUP_SETTLE=6s write_config
        install_metabase "$(make_release v0.56.1)"
        start_daemon
        prober_start
        expect_rolled_back "$(make_release v0.56.2 bad --fail crash-after-ready --crash-after-ms 1500)" "Metabase"
        prober_stop

        entry=$(grep '"result":"rolled-back"' "$SB/state/history.jsonl" | tail -n 1)
        stopped=$(jq -r .stopped_usec <<<"$entry")
        serving=$(jq -r .serving_usec <<<"$entry")
        finished=$(jq -r .finished_usec <<<"$entry")
        recorded=$(jq -r .downtime_ms <<<"$entry")
        old=$(((serving - stopped) / 1000)) # the stop to the new version's first healthy answer
        # from a second before the stop to the end: the prober's view of the whole operation
        seen=$(prober_down_ms $((stopped / 1000 - 1000)) $((finished / 1000)))
        mapfile -t periods < <(prober_down_periods $((stopped / 1000 - 1000)) $((finished / 1000)))
        log "downtime: prober ${seen} ms (periods: ${periods[*]}), recorded ${recorded} ms, stop to first healthy ${old} ms"
        # users saw two: the stop to the new version's answer, its crash to the old version's
        ((${#periods[@]} == 2)) || die "the prober saw ${#periods[@]} periods without a healthy answer (${periods[*]} ms), not 2"
        # the second counted too: at least half of it on top of the first (the daemon dates the
        # crash from when it notices it, up to a health poll later; the total is held to the
        # prober's below)
        [[ $recorded -ge $((old + periods[1] / 2)) ]] ||
                die "the recorded downtime (${recorded} ms) does not count the crash to the rollback's healthy answer (${periods[1]} ms as the prober saw it; stop to first healthy: ${old} ms)"
        awk -v a="$recorded" -v b="$seen" 'BEGIN { d = a - b; if (d < 0) d = -d; t = b * 0.2; if (t < 1000) t = 1000; exit !(d <= t) }' ||
                die "the recorded downtime (${recorded} ms) is not within max(1 s, 20%) of what the prober saw (${seen} ms)"
        run_mbctl 0 history
        assert_contains "$OUT" "$(awk -v a="$recorded" 'BEGIN { printf "%.1fs", a / 1000 }')" "the downtime column"
}
