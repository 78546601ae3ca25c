# A start that hangs (the stand-in's fail=hang): Metabase listens, reports progress 30%, opens the
# database, then nothing moves: no CPU, no change set, no output, no statement. It is rolled back
# about stall_timeout (4s) after it stopped moving, not after start_timeout (10m), and the reason
# names the stall and what was watched.
source "$MBUP_SRC/tests/integration/rollback-lib.sh"
scenario() {
        local bad log watcher t_rb s_pre t_last off0 shut gap
        MBUP_STALL_TIMEOUT=4s MBUP_START_TIMEOUT=10m write_config
        install_metabase "$(make_release v0.56.1)"
        start_daemon
        bad=$(make_release v0.56.2 bad --fail hang)
        log=$SB/logs/metabase.log
        off0=$(stat -c %s "$log")
        # A watcher: the unit's output's size over time, and when the rollback began.
        (
                while ! grep -q "Rolling back" "$SB/logs/mbupgraded.log"; do
                        echo "$(date +%s.%N) $(stat -c %s "$log")"
                        sleep 0.1
                done
                echo "rollback $(date +%s.%N)"
        ) >"$SB/watch" &
        watcher=$!
        expect_rolled_back "$bad" "no start-up progress for 4s (stall_timeout): nothing moved, a stall (progress at 30%"
        wait "$watcher" || true
        run_mbctl 0 history --json
        # the reason lists what was watched
        for w in "the progress figure" "the H2 file's size and time" "the unit's output ($log)" "the unit's CPU time"; do
                assert_contains "$OUT" "$w" "what was watched"
        done

        # When did it stop moving? Its output before its shutdown: the second "Shutting Down" after
        # the upgrade began is the hung one's (the first is the old version's at the stop).
        shut=$(tail -c +"$((off0 + 1))" "$log" | grep -b "Metabase Shutting Down" | sed -n 2p | cut -d: -f1)
        [[ -n $shut ]] || die "the hung Metabase's shutdown is not in its log"
        shut=$((off0 + shut))
        t_rb=$(sed -n 's/^rollback //p' "$SB/watch")
        # the biggest size seen before the shutdown line, and when it was first seen
        s_pre=$(awk -v s="$shut" '$1 != "rollback" && $2 <= s { if ($2 > m) m = $2 } END { print m }' "$SB/watch")
        t_last=$(awk -v m="$s_pre" '$1 != "rollback" && $2 == m { print $1; exit }' "$SB/watch")
        gap=$(awk -v a="$t_last" -v b="$t_rb" 'BEGIN { printf "%.1f", b - a }')
        log "the output stopped at $t_last, the rollback began at $t_rb: ${gap}s"
        # not before stall_timeout (less the output's 1 s sampling), and not much after it (the
        # JVM's CPU may settle for a few seconds after its last line)
        awk -v g="$gap" 'BEGIN { exit !(g >= 3 && g <= 12) }' || die "rolled back ${gap}s after the output stopped, expected 4s to 12s"
}
