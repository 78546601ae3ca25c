# A journal (state_dir/operation.json) the daemon can't read back after a crash: nothing is
# guessed. The daemon sets a persistent hold (as `mbctl hold`) whose reason says what to check,
# keeps the maintenance flag, and leaves Metabase as it is: serving when it was serving, and
# stopped when it was stopped (no JAR is started that nobody can name). It stays so across
# restarts until a person removes the damaged journal and runs `mbctl unhold`.
held() { mbctl status --json | grep -q '"Hold": *true'; }

scenario() {
        install_metabase "$(make_release v0.56.1)"
        local next=$(make_release v0.56.2) pid bad=$SB/state/operation.json.unreadable
        start_daemon
        pid=$(main_pid)

        # 1. Metabase serving; the journal of an upgrade, damaged as an older daemon wrote it (a
        # path through "/../", which no daemon reads back), the maintenance flag as it left it
        systemctl --user stop mbupgraded.service
        cat >"$SB/state/operation.json" <<EOT
{"id":7,"kind":"upgrade","step":"swap","result":"","unit":"metabase.service",
 "jar_path":"$SB/opt/metabase/../metabase/metabase.jar","from_version":"v0.56.1","to_version":"v0.56.2"}
EOT
        echo "upgrading v0.56.1 to v0.56.2" >"$SB/run/maintenance"
        start_daemon
        wait_for 30 held || die "no hold after an unreadable journal: $(mbctl status)"
        run_mbctl 0 status
        assert_contains "$OUT" "journal of an interrupted operation can't be read"
        assert_contains "$OUT" "$bad"
        assert_contains "$OUT" "systemctl start metabase.service"
        [[ -e $SB/run/maintenance ]] || die "the maintenance flag was removed"
        [[ -e $bad && ! -e $SB/state/operation.json ]] || die "the damaged journal was not kept aside"
        assert_eq "$(main_pid)" "$pid" "Metabase's MainPID"
        assert_eq "$(running_version)" "v0.56.1"
        grep -q '"reason"' "$SB/state/hold.json" || die "the hold is not persisted"
        # unattended and manual upgrades are held
        run_mbctl 5 upgrade now --jar "$next"
        assert_eq "$(main_pid)" "$pid" "MainPID after a held upgrade"

        # persistent: a restart of the daemon keeps the hold, the flag and the reason
        systemctl --user restart mbupgraded.service
        wait_for 30 held || die "the hold did not survive a restart"
        assert_contains "$(mbctl status)" "can't be read"
        [[ -e $SB/run/maintenance ]] || die "the maintenance flag was removed by a restart"
        # unhold before the damaged journal is looked at: refused, with what to do
        run_mbctl 1 unhold
        assert_contains "$OUT" "remove $bad"
        held || die "unhold went through with the damaged journal still there"

        # a person checks, removes it and unholds: idle, no flag
        rm "$bad"
        run_mbctl 0 unhold
        held && die "still held after unhold"
        [[ ! -e $SB/run/maintenance ]] || die "the maintenance flag is left after unhold"
        assert_eq "$(main_pid)" "$pid" "Metabase's MainPID"

        # 2. Metabase stopped (the crash came after the stop), the journal garbage: Metabase is
        # left stopped (which JAR is on disk, which database state: nobody can say), held
        systemctl --user stop mbupgraded.service
        systemctl --user stop metabase.service
        head -c 300 /dev/urandom >"$SB/state/operation.json"
        echo "upgrading v0.56.1 to v0.56.2" >"$SB/run/maintenance"
        start_daemon
        wait_for 30 held || die "no hold after a garbage journal: $(mbctl status)"
        sleep 3
        assert_eq "$(unit_state)" "inactive" "metabase.service (a JAR nobody verified is never started)"
        assert_contains "$(mbctl status)" "Bad message"
        [[ -e $SB/run/maintenance ]] || die "the maintenance flag was removed"
        # the person's way out, as the status says
        systemctl --user start metabase.service
        wait_healthy 60 || die "Metabase did not start by hand"
        rm "$bad"
        run_mbctl 0 unhold
        run_mbctl 0 upgrade now --jar "$next"
        assert_contains "$OUT" "committed"
        assert_eq "$(running_version)" "v0.56.2"
}
