# On MariaDB, pre-flight reads the server's version as mbupgraded-db reports it and looks up the
# :mariadb entry of the new release's supported-db-versions.edn, as Metabase does (it takes a
# server whose JDBC product name is "MariaDB" for :mariadb, not :mysql): a minimum above the
# server's is refused with both versions, service untouched; a release whose only too-high
# minimum is MySQL's goes through.
with_db_min() {
        local jar=$1 edn=$2 dir
        dir=$(mktemp -d "$SB/edn.XXXXXX")
        mkdir -p "$dir/metabase/app_db"
        printf '%s\n' "$edn" >"$dir/metabase/app_db/supported-db-versions.edn"
        (cd "$dir" && zip -q "$jar" metabase/app_db/supported-db-versions.edn) || die "zip failed"
        rm -rf "$dir"
}

scenario() {
        local pid new ok
        mariadb_start
        install_metabase_my "$(make_release v0.56.1)"
        start_daemon
        pid=$(main_pid)

        new=$(make_release v0.56.2 v0.56.2-maria99)
        with_db_min "$new" '{:h2 {:major 2 :minor 1 :patch 214} :postgres {:major 14 :minor 0 :patch 0}
 :mysql {:major 8 :minor 4 :patch 0} :mariadb {:major 99 :minor 1 :patch 2}}'
        run_mbctl 5 upgrade now --jar "$new"
        assert_contains "$OUT" "MariaDB "
        assert_contains "$OUT" "is older than the 99.1.2 Metabase v0.56.2 requires"
        assert_eq "$(main_pid)" "$pid" "MainPID after the refusal"
        assert_eq "$(running_version)" "v0.56.1"
        [[ -z "$(ls -A "$SB/backups")" ]] || die "a backup was taken for a refused upgrade"

        # MySQL's minimum does not apply to a MariaDB server
        ok=$(make_release v0.56.2 v0.56.2-mysql99)
        with_db_min "$ok" '{:h2 {:major 2 :minor 1 :patch 214} :postgres {:major 14 :minor 0 :patch 0}
 :mysql {:major 99 :minor 0 :patch 0} :mariadb {:major 10 :minor 6 :patch 0}}'
        run_mbctl 0 upgrade now --jar "$ok"
        assert_contains "$OUT" "committed"
        assert_eq "$(running_version)" "v0.56.2"
}
