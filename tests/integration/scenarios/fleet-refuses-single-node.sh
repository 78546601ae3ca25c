# fleet.enabled on a node that can't reach its fleet (here: no coordination database, the
# application database being H2): an upgrade is proposed to the fleet only, and refused with the
# fleet's error, nothing touched; rolling back or restoring one node alone is refused with what
# to do instead; a backup is still taken.
scenario() {
        install_metabase "$(make_release v0.56.1)"
        write_config
        printf 'fleet:\n  enabled: true\n  nodes: [%s, mb-2]\n  node: %s\n' "$(hostname)" "$(hostname)" >>"$SB/mbupgraded.yaml"
        start_daemon
        local pid sha
        pid=$(main_pid)
        sha=$(sha256sum "$SB/opt/metabase/metabase.jar")

        run_mbctl 5 upgrade now --jar "$(make_release v0.56.2)"
        assert_contains "$OUT" "fleet.database must name the coordination database"
        run_mbctl 5 rollback
        assert_contains "$OUT" "one node alone must not roll back"
        assert_contains "$OUT" "A failed rollout rolls the whole fleet back by itself"
        assert_eq "$(main_pid)" "$pid" "Metabase's MainPID"
        assert_eq "$(sha256sum "$SB/opt/metabase/metabase.jar")" "$sha" "the JAR"
        assert_eq "$(running_version)" v0.56.1

        run_mbctl 0 backup
        ls "$SB"/backups/*/metabase.db.mv.db >/dev/null || die "no backup"
        run_mbctl 5 restore "$(ls "$SB/backups" | head -n 1)" --yes
        assert_contains "$OUT" "one node alone must not restore a backup"
        assert_eq "$(running_version)" v0.56.1
        run_mbctl 0 history --json
        assert_not_contains "$OUT" '"kind":"upgrade","result":"committed"'
}
