# When even the rollback cannot be done (here the kept JAR was damaged behind the daemon's back),
# mbctl exits 4 and says what state things are in and how to finish by hand; the backup is kept.
scenario() {
        MBUP_SETTLE=5s write_config
        install_metabase "$(make_release v0.56.1)"
        start_daemon
        local i
        run_mbctl 0 upgrade now --no-wait --jar "$(make_release v0.56.2 bad --fail crash-after-ready --crash-after-ms 2500)"
        for i in $(seq 1 200); do
                grep -q '"step":"settle"' "$SB/state/operation.json" 2>/dev/null && break
                sleep 0.1
        done
        echo "damage" >>"$SB/state/releases/v0.56.1/metabase.jar"
        for i in $(seq 1 300); do
                [[ ! -f "$SB/state/operation.json" ]] && break
                sleep 0.1
        done
        run_mbctl 0 history --json
        assert_contains "$OUT" '"result":"rollback-failed"'
        assert_contains "$OUT" "does not match its recorded SHA-256"
        assert_contains "$OUT" "To recover by hand"
        run_mbctl 0 status
        assert_contains "$OUT" "Rollback failed, needs a person"
        ls "$SB"/backups/*/metabase.db.mv.db >/dev/null || die "the backup is gone"
}
