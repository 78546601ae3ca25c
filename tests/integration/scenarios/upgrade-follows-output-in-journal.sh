# Metabase's output in the journal (StandardOutput=journal, a real systemd-journald for the
# sandbox): the verifier follows the unit's entries from right after its start (the sandbox's
# journald records the unit's control group, not its name: matched by _SYSTEMD_CGROUP). An upgrade
# forced past pre-flight while PostgreSQL's migration lock is held fails with Metabase's "Database
# has migration lock; cannot run migrations.", and the rollback's reason names it, read from the
# journal.
scenario() {
        journald_start
        postgres_start
        install_metabase_pg "$(make_release v0.56.1)" uri
        sed -i "s|^StandardOutput=.*|StandardOutput=journal|" "$SB/units/metabase.service"
        systemctl --user daemon-reload
        systemctl --user restart metabase.service
        wait_healthy 60 || die "Metabase logging to the journal did not become healthy"
        start_daemon
        psql_mb "UPDATE databasechangeloglock SET locked = true, lockedby = 'mb-node-2 (10.0.0.7)', lockgranted = now() WHERE id = 1" >/dev/null
        run_mbctl 3 upgrade now --force --jar "$(make_release v0.56.2)"
        assert_contains "$OUT" "rolled-back"
        assert_contains "$OUT" "Metabase exited while starting"
        assert_contains "$OUT" ". Metabase said: migration lock held: "
        assert_eq "$(running_version)" "v0.56.1" "the version serving after the rollback"
        # it came from the journal: the unit wrote nothing to a file
        # (read whole first: grep -q would close the pipe early, and pipefail would fail journalctl's SIGPIPE)
        local journal
        journal=$(journalctl --no-pager _SYSTEMD_CGROUP="$(systemctl --user show -p ControlGroup --value metabase.service)")
        grep -q "Database has migration lock; cannot run migrations" <<<"$journal" ||
                die "the journal does not have Metabase's message"
        [[ ! -s $SB/logs/metabase.log ]] || ! grep -q "migration lock; cannot" "$SB/logs/metabase.log" ||
                die "the message went to the file, not the journal"
}
