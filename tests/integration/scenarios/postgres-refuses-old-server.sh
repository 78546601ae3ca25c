# A release whose supported-db-versions.edn (metabase/app_db/ in the JAR, read by Metabase's
# verify-db-connection at start) asks for a newer PostgreSQL than the server runs is refused in
# pre-flight, with both versions, before the stop: Metabase keeps running, same process, no
# backup. The same release asking for what the server has goes through.
# with_db_min JAR EDN: adds the resource to a stand-in JAR (a plain ZIP), as a release carries it
with_db_min() {
        local jar=$1 edn=$2 dir
        dir=$(mktemp -d "$SB/edn.XXXXXX")
        mkdir -p "$dir/metabase/app_db"
        printf '%s\n' "$edn" >"$dir/metabase/app_db/supported-db-versions.edn"
        (cd "$dir" && zip -q "$jar" metabase/app_db/supported-db-versions.edn) || die "zip failed"
        rm -rf "$dir"
}

scenario() {
        local pid new ok server
        postgres_start
        install_metabase_pg "$(make_release v0.56.1)" envfile
        start_daemon
        pid=$(main_pid)
        server=$(psql_mb "SHOW server_version" | cut -d' ' -f1)
        log "the sandbox's PostgreSQL: $server"

        new=$(make_release v0.56.2 v0.56.2-pg99)
        with_db_min "$new" ';; Minimum supported versions for Metabase application databases.
{:h2       {:major 2 :minor 1 :patch 214}
 :postgres {:major 99 :minor 0 :patch 0}
 :mysql    {:major 8 :minor 4 :patch 0}
 :mariadb  {:major 10 :minor 6 :patch 0}}'
        run_mbctl 5 upgrade now --jar "$new"
        assert_contains "$OUT" "PostgreSQL ${server%%.*}."
        assert_contains "$OUT" "is older than the 99.0 Metabase v0.56.2 requires"
        assert_contains "$OUT" "upgrade the database server first"
        assert_eq "$(main_pid)" "$pid" "MainPID after the refusal"
        assert_eq "$(running_version)" "v0.56.1"
        [[ -z "$(ls -A "$SB/backups")" ]] || die "a backup was taken for a refused upgrade"
        run_mbctl 0 history --json
        assert_contains "$OUT" '"result":"refused"'

        # Metabase's own file as it is today (PostgreSQL 14): the sandbox's server meets it
        ok=$(make_release v0.56.2 v0.56.2-pg14)
        with_db_min "$ok" ';; Minimum supported versions for Metabase application databases.
{:h2       {:major 2 :minor 1 :patch 214}
 :postgres {:major 14 :minor 0 :patch 0}
 :mysql    {:major 8 :minor 4 :patch 0}
 :mariadb  {:major 10 :minor 6 :patch 0}}'
        run_mbctl 0 upgrade now --jar "$ok"
        assert_contains "$OUT" "committed"
        assert_eq "$(running_version)" "v0.56.2"
}
