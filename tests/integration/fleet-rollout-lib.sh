# What the fleet rollout scenarios share (after fleet-lib.sh): a fleet of N nodes on the shared
# PostgreSQL, every node on v0.56.1 with fleet.enabled and its own mirror of the releases.
source "$MBUP_SRC/tests/integration/fleet-lib.sh"

coord() { pg_super "$1" metabase_mbupgraded; }

# rollout_state ID: the rollout's state in the coordination database
rollout_state() { coord "SELECT state FROM mbup_rollouts WHERE id = $1"; }
rollout_is() { [[ $(rollout_state "$1") == "$2" ]]; }
last_rollout() { coord "SELECT coalesce(max(id), 0) FROM mbup_rollouts"; }
node_runs() { [[ $(fleet_node_exec "$1" running_version 2>/dev/null) == "$2" ]]; }
node_idle() { [[ $(fleet_node_exec "$1" "$MBCTL" status --json 2>/dev/null | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin).get("State", ""))') == idle ]]; }
# migrated_on I VERSION_ID: how many times node I's Metabase ran migration VERSION_ID (Liquibase's
# "ChangeSet <file>::<id>::<author> ran successfully in Nms", logged as each one ends)
migrated_on() { grep -c "::$2::standin ran successfully in" "$SB/n$1/logs/metabase.log" || true; }

# fleet_add_release VERSION [MAKE_RELEASE_ARGS...]: VERSION (made with those, e.g. --fail
# crash-at-start) in every node's mirror and feed (the releases added before stay in it; dated a
# month apart from 2025-01-01); every node's daemon reads the feed again when it runs.
FLEET_FEED=(v0.56.1:2025-01-01)
fleet_add_release() {
        local version=$1 jar i
        shift
        jar=$(make_release "$version" "$version" "$@")
        FLEET_FEED=("$version:2025-$(printf %02d $((${#FLEET_FEED[@]} + 1)))-01" "${FLEET_FEED[@]}")
        for i in $(fleet_nodes); do
                mirror_release "$version" "$jar" "$SB/n$i/mirror"
                MIRROR_ROOT=$SB/n$i/mirror mirror_feed "${FLEET_FEED[@]}"
        done
        [[ ! -f $SB/n1/state/.mbup-started ]] || fleet_each "${FLEET_RUNNING:-$(fleet_nodes)}" "$MBCTL" check >/dev/null
}

# fleet_node_config I: node I's config, fleet.enabled with every node named (or, with FLEET_EXPECT,
# counted), FLEET_HEARTBEAT, FLEET_LOST_AFTER, FLEET_PARALLEL, and the fleet's key (the same on
# every node, root's 0600: $SB/fleet.key, copied to the node's directory) in fleet.key_file.
fleet_node_config() {
        local i=$1 j nodes=''
        for j in $(fleet_nodes); do nodes+="${nodes:+, }n$j"; done
        fleet_node_exec "$i" write_config
        [[ -s $SB/fleet.key ]] || (umask 077 && head -c 32 /dev/urandom | base64 >"$SB/fleet.key")
        install -m 0600 "$SB/fleet.key" "$SB/n$i/fleet.key"
        {
                printf 'fleet:\n  enabled: true\n  node: n%s\n  heartbeat: %s\n  lost_after: %s\n  parallel: %s\n' \
                        "$i" "${FLEET_HEARTBEAT:-1s}" "${FLEET_LOST_AFTER:-6s}" "${FLEET_PARALLEL:-2}"
                printf '  key_file: %s\n' "$SB/n$i/fleet.key"
                if [[ -n ${FLEET_EXPECT:-} ]]; then
                        printf '  expect: %s\n' "$FLEET_EXPECT"
                else
                        printf '  nodes: [%s]\n' "$nodes"
                fi
        } >>"$SB/n$i/mbupgraded.yaml"
}

# fleet_rollout_start N [MAKE_RELEASE_ARGS...]: N node namespaces; the first FLEET_UP (default N)
# nodes up on v0.56.1 with fleet.enabled (fleet_node_config), v0.56.2 (made with those args) in each
# one's mirror, the daemons up and seeing each other, the feed read.
fleet_rollout_start() {
        local n=$1 i up
        shift
        fleet_net_start "$n"
        up=$(seq -s ' ' 1 "${FLEET_UP:-$n}")
        fleet_postgres_start
        pg_super "ALTER ROLE metabase CREATEDB" >/dev/null
        # shellcheck disable=SC2086
        fleet_node_start --jar "$(make_release v0.56.1)" $up
        fleet_add_release "${FLEET_NEXT:-v0.56.2}" "$@"
        for i in $up; do fleet_node_config "$i"; done
        fleet_each "$up" start_daemon
        for i in $up; do
                wait_for 30 fleet_is "$i" healthy "${FLEET_UP:-$n}" || die "node $i does not see ${FLEET_UP:-$n} healthy nodes: $(fleet_node_exec "$i" "$MBCTL" fleet status 2>&1)"
        done
        touch "$SB/n1/state/.mbup-started"
        fleet_each "$up" "$MBCTL" check >/dev/null
}
