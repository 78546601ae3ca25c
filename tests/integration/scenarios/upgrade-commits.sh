# A good upgrade: the new version serves, the previous JAR is kept, the backup is there and
# matches the database as it was, and the history says committed.
scenario() {
        local old new pid_before backup
        old=$(make_release v0.56.1)
        new=$(make_release v0.56.2)
        install_metabase "$old"
        start_daemon
        pid_before=$(main_pid)
        assert_eq "$(changelog | grep -o 'v56\.[0-9]*' | tail -1)" "v56.001" "the old schema"

        run_mbctl 0 upgrade now --jar "$new"
        assert_contains "$OUT" "committed"
        # pre-flight went by the stand-in's classes (Java 11), said where Metabase's table differs
        # (v0.53+: Java 21), and that the unit lacks the --add-opens Metabase runs v0.53+ with
        assert_contains "$OUT" "needs Java 11, unit has Java 17"
        assert_contains "$OUT" "warning: the classes of v0.56.2 need Java 11 (class-file version 55"
        assert_contains "$OUT" "lacks '--add-opens java.base/java.nio=ALL-UNNAMED'"
        assert_eq "$(running_version)" "v0.56.2" "the running version"
        assert_eq "$(installed_version)" "v0.56.2" "the JAR on disk"
        [[ "$(main_pid)" != "$pid_before" ]] || die "Metabase was not restarted"
        assert_contains "$(changelog)" '"v56.002"' "the new migration"

        # the previous JAR is kept, byte for byte
        cmp -s "$old" "$SB/state/releases/v0.56.1/metabase.jar" || die "previous JAR not kept"
        # the backup is the database as v0.56.1 left it
        backup=$(ls "$SB"/backups/*/metabase.db.mv.db)
        [[ -f "$backup" ]] || die "no backup"
        grep -q '"sha256":"'"$(sha256sum "$backup" | cut -d' ' -f1)"'"' "$(dirname "$backup")/backup.json" ||
                die "backup.json does not record the backup's SHA-256"
        # no staged leftovers beside the JAR
        [[ -z "$(ls -A "$SB/opt/metabase" | grep mbup || true)" ]] || die "staging leftovers: $(ls -A "$SB/opt/metabase")"

        run_mbctl 0 history --json
        assert_contains "$OUT" '"result":"committed"'
        assert_contains "$OUT" '"from":"v0.56.1"'
        assert_contains "$OUT" '"downtime_ms"'
        run_mbctl 0 status
        assert_contains "$OUT" "v0.56.2"
        assert_contains "$OUT" "Previous: v0.56.1"
        [[ ! -e "$SB/state/operation.json" ]] || die "the journal was not removed"
}
