# fleet.enabled before the fleet can upgrade its nodes together (docs/fleet.md): upgrading, rolling
# back or restoring this node alone is refused with the reason and what to do, nothing touched;
# a backup is still taken.
scenario() {
        install_metabase "$(make_release v0.56.1)"
        write_config
        printf 'fleet:\n  enabled: true\n  nodes: [%s, mb-2]\n  node: %s\n' "$(hostname)" "$(hostname)" >>"$SB/mbupgraded.yaml"
        start_daemon
        local pid sha
        pid=$(main_pid)
        sha=$(sha256sum "$SB/opt/metabase/metabase.jar")

        run_mbctl 5 upgrade now --jar "$(make_release v0.56.2)"
        assert_contains "$OUT" "fleet.enabled is set, and this version of mbupgraded cannot yet upgrade the nodes together"
        assert_contains "$OUT" "set fleet.enabled: false on a single node"
        run_mbctl 5 rollback
        assert_contains "$OUT" "cannot yet roll back the nodes together"
        assert_eq "$(main_pid)" "$pid" "Metabase's MainPID"
        assert_eq "$(sha256sum "$SB/opt/metabase/metabase.jar")" "$sha" "the JAR"
        assert_eq "$(running_version)" v0.56.1

        run_mbctl 0 backup
        ls "$SB"/backups/*/metabase.db.mv.db >/dev/null || die "no backup"
        run_mbctl 5 restore "$(ls "$SB/backups" | head -n 1)" --yes
        assert_contains "$OUT" "cannot yet restore the nodes together"
        run_mbctl 0 history --json
        assert_not_contains "$OUT" '"kind":"upgrade"'
}
