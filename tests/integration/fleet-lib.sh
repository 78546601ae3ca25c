#!/bin/bash
# SPDX-License-Identifier: MIT
# The fleet sandbox (docs/fleet.md, "Tests"): several Metabase nodes on one machine sharing one
# PostgreSQL application database. A scenario sources this after lib.sh (run.sh has sourced it).
#
#   hub netns  mbf-ID-hub: bridge mbfIDbr, FLEET_NET.1/24; PostgreSQL listens there (and on its
#              127.0.0.1, where the scenario's own psql_mb and pg_snapshot connect)
#   node netns mbf-ID-nI:  veth mbfIDnI, FLEET_NET.(10+I)/24; its peer mbfIDhI is a port of
#              the bridge (fleet_link_down/up cut and restore it there)
#
# ID is the sandbox's own suffix (mktemp's), in every namespace and interface name, so that two
# scenarios running side by side never meet; the /24 (10.200-254.x) is chosen at random among
# those the host does not use and no other run has claimed (/run/mbup-fleet/10.A.B). Nothing is
# added to the host's own network namespace: the veth pairs are made inside the hub.
#
# Each node runs tests/integration/fleet-node.sh: a sandbox like a scenario's (its own mount
# namespace, /run/systemd tmpfs, dbus-daemon, `systemd --user`) in $SB/nI, where the other
# nodes' directories are hidden. fleet_node_exec runs a command, or a lib.sh function, in a
# node's namespaces with the node's environment: `fleet_node_exec 2 mbctl status`,
# `fleet_node_exec 2 systemctl --user restart metabase.service`, `fleet_node_exec 2 running_version`.
# fleet_cleanup (a sandbox_cleanup hook, so on any exit; idempotent) takes it all down.

FLEET_ID=
FLEET_N=0
FLEET_NET=
FLEET_HUB_ADDR=
FLEET_CLAIM=
FLEET_NETNS=()
FLEET_NODE_PIDS=()

# fleet_ns hub|I: the name of the hub's (or node I's) network namespace.
fleet_ns() {
        if [[ $1 == hub ]]; then
                echo "mbf-$FLEET_ID-hub"
        else
                echo "mbf-$FLEET_ID-n$1"
        fi
}

# fleet_net_start N: the hub namespace with its bridge and N node namespaces joined to it, on a
# /24 of this run's own; loopback up everywhere. Sets FLEET_ID, FLEET_N, FLEET_NET (10.A.B),
# FLEET_HUB_ADDR (FLEET_NET.1) and makes the node directories $SB/n1..nN.
fleet_net_start() {
        local n=$1 i a b hub ns br
        [[ -n ${SB:-} && -d $SB ]] || die "fleet_net_start: no sandbox (sandbox_start first)"
        [[ $n =~ ^[1-9][0-9]?$ ]] || die "fleet_net_start: 1 to 99 nodes, not '$n'"
        if ! command -v ip >/dev/null || ! command -v nsenter >/dev/null; then
                die "the fleet needs iproute2 and util-linux"
        fi
        FLEET_ID=${SB##*.}
        FLEET_N=$n
        SANDBOX_CLEANUP_HOOKS=(fleet_cleanup "${SANDBOX_CLEANUP_HOOKS[@]}")

        mkdir -p /run/mbup-fleet
        for _ in $(seq 1 100); do
                a=$((200 + RANDOM % 55))
                b=$((RANDOM % 256))
                # an address or a route of the host's in it (the default route aside): taken
                [[ -z $(ip -o -4 addr show to "10.$a.$b.0/24") ]] || continue
                [[ -z $(ip -o -4 route show to match "10.$a.$b.0/24" | grep -v '^default') ]] || continue
                [[ -z $(ip -o -4 route show root "10.$a.$b.0/24") ]] || continue
                mkdir /run/mbup-fleet/10.$a.$b 2>/dev/null || continue # another run's
                FLEET_CLAIM=/run/mbup-fleet/10.$a.$b
                echo "$FLEET_ID $$" >"$FLEET_CLAIM/owner"
                FLEET_NET=10.$a.$b
                break
        done
        [[ -n $FLEET_NET ]] || die "no free 10.2xx.y.0/24 for the fleet"
        FLEET_HUB_ADDR=$FLEET_NET.1

        hub=$(fleet_ns hub)
        br=mbf${FLEET_ID}br
        ip netns add "$hub" || die "cannot make network namespace $hub"
        FLEET_NETNS+=("$hub")
        ip -n "$hub" link set lo up
        ip -n "$hub" link add "$br" type bridge forward_delay 0 stp_state 0 || die "cannot make bridge $br in $hub"
        ip -n "$hub" addr add "$FLEET_HUB_ADDR/24" dev "$br"
        ip -n "$hub" link set "$br" up
        for i in $(seq 1 "$n"); do
                ns=$(fleet_ns "$i")
                ip netns add "$ns" || die "cannot make network namespace $ns"
                FLEET_NETNS+=("$ns")
                ip -n "$ns" link set lo up
                ip -n "$hub" link add "mbf${FLEET_ID}h$i" type veth peer name "mbf${FLEET_ID}n$i" netns "$ns" ||
                        die "cannot make the veth pair of node $i"
                ip -n "$hub" link set "mbf${FLEET_ID}h$i" master "$br" up
                ip -n "$ns" addr add "$(fleet_node_addr "$i")/24" dev "mbf${FLEET_ID}n$i"
                ip -n "$ns" link set "mbf${FLEET_ID}n$i" up
                mkdir -p "$SB/n$i"
        done
        log "fleet $FLEET_ID: hub $hub ($FLEET_HUB_ADDR/24 on $br), $n nodes"
}

# fleet_node_addr I: node I's address on the bridge.
fleet_node_addr() { echo "$FLEET_NET.$((10 + $1))"; }

# fleet_postgres_start: the sandbox's PostgreSQL (postgres_start) in the hub namespace, listening
# on the bridge address too, password (scram-sha-256) logins allowed from the fleet's /24. Sets
# FLEET_PG_URI (postgres://metabase:PASS@HUB:PORT/metabase, what the nodes use); psql_mb and
# pg_snapshot keep working from the scenario (through the hub's 127.0.0.1).
fleet_postgres_start() {
        [[ -n $FLEET_NET ]] || die "fleet_postgres_start: fleet_net_start first"
        # shellcheck disable=SC2034 # postgres_start's
        PG_NETNS=$(fleet_ns hub)
        PG_LISTEN_EXTRA=$FLEET_HUB_ADDR
        PG_HBA_NET=$FLEET_NET.0/24
        postgres_start
        FLEET_PG_URI=postgres://metabase:$PG_PASS@$FLEET_HUB_ADDR:$PG_PORT/metabase
}

# fleet_node_start [--jar JAR] [--daemon] I...: starts the nodes' sandboxes side by side and waits
# for their managers; then, with --jar, installs JAR as each one's metabase.service on the shared
# database (install_metabase_pg, MB_DB_CONNECTION_URI to the hub), the first node named alone (it
# migrates a fresh database), the others together; with --daemon, each node's own mbupgraded
# (start_daemon; MBUP_* settings of the caller's environment apply).
fleet_node_start() {
        local jar='' daemon='' i dir others j
        while [[ $# -gt 0 ]]; do
                case $1 in
                --jar) jar=$2; shift 2 ;;
                --daemon) daemon=1; shift ;;
                *) break ;;
                esac
        done
        [[ $# -gt 0 ]] || die "fleet_node_start: which nodes?"
        local envs
        mapfile -t envs < <(fleet_passthrough)
        envs+=(PATH="$PATH" HOME="${HOME:-/root}" LANG=C.UTF-8 MBUP_BUILD="$MBUP_BUILD")
        [[ -z ${PG_PORT:-} ]] || envs+=(PG_BIN="$PG_BIN" PG_PORT="$PG_PORT" PG_PASS="$PG_PASS"
                PG_PASSFILE="$PG_PASSFILE" PG_HOST="$FLEET_HUB_ADDR" PG_URI="$FLEET_PG_URI")
        for i in "$@"; do
                [[ $i =~ ^[0-9]+$ && $i -ge 1 && $i -le $FLEET_N ]] || die "fleet_node_start: no node '$i'"
                [[ -z ${FLEET_NODE_PIDS[$i]:-} ]] || die "fleet_node_start: node $i is running"
                dir=$SB/n$i
                rm -f "$dir/node.env" "$dir/node.pid"
                others=()
                for j in $(seq 1 "$FLEET_N"); do
                        [[ $j == "$i" ]] || others+=("$SB/n$j")
                done
                nsenter --net="/run/netns/$(fleet_ns "$i")" -- unshare --mount --propagation private -- \
                        env -i "${envs[@]}" FLEET_NODE="$i" "$BASH" "$MBUP_SRC/tests/integration/fleet-node.sh" "$dir" "mbup-$FLEET_ID-n$i" "${others[@]}" \
                        >>"$SB/logs/node$i.log" 2>&1 &
                FLEET_NODE_PIDS[$i]=$!
        done
        for i in "$@"; do
                for _ in $(seq 1 300); do
                        [[ -f $SB/n$i/node.env ]] && break
                        kill -0 "${FLEET_NODE_PIDS[$i]}" 2>/dev/null || break
                        sleep 0.1
                done
                [[ -f $SB/n$i/node.env ]] || {
                        tail -n 30 "$SB/logs/node$i.log" >&2
                        die "node $i did not come up"
                }
        done
        if [[ -n $jar ]]; then
                [[ -n ${FLEET_PG_URI:-} ]] || die "fleet_node_start --jar: fleet_postgres_start first"
                fleet_node_exec "$1" install_metabase_pg "$jar" uri
                [[ $# -lt 2 ]] || fleet_each "${*:2}" install_metabase_pg "$jar" uri
        fi
        if [[ -n $daemon ]]; then
                fleet_each "$*" start_daemon
        fi
}

# fleet_passthrough: the caller's exported MBUP_* settings (write_config's knobs, MBUP_KEEP...),
# NAME=VALUE a line, for env (a value with a newline is not passed).
fleet_passthrough() {
        local v
        for v in $(compgen -e MBUP_); do
                [[ $v != MBUP_BUILD && ${!v} != *$'\n'* ]] || continue
                printf '%s=%s\n' "$v" "${!v}"
        done
}

# fleet_node_exec I COMMAND...: COMMAND (a program or a lib.sh function: mbctl, psql_mb, http,
# running_version, start_daemon, install_metabase_pg...) in node I's network and mount
# namespaces, with the node's environment only (its bus, XDG_RUNTIME_DIR, SYSTEMD_UNIT_PATH, SB,
# MB_PORT, PG_HOST=the hub...) and the caller's MBUP_* settings. Its exit status is COMMAND's.
fleet_node_exec() {
        local i=$1 dir pid envs
        shift
        dir=$SB/n$i
        pid=$(cat "$dir/node.pid" 2>/dev/null) || die "fleet_node_exec: node $i was not started"
        kill -0 "$pid" 2>/dev/null || die "fleet_node_exec: node $i ($pid) is not running"
        mapfile -t envs < <(fleet_passthrough)
        nsenter --target "$pid" --net --mount -- \
                env -i "${envs[@]}" PATH="$PATH" HOME="${HOME:-/root}" LANG=C.UTF-8 \
                "$BASH" -c 'source "$1"; source "$2"; shift 2; "$@"' fleet-node-exec \
                "$dir/node.env" "$MBUP_SRC/tests/integration/lib.sh" "$@"
}

# fleet_each "I J..." COMMAND...: fleet_node_exec on each of the nodes side by side; fails (after
# all have ended) if any did, saying which. Output goes to the nodes' own order of writing.
fleet_each() {
        local i rc=0 failed=''
        local -A pids=()
        for i in $1; do
                fleet_node_exec "$i" "${@:2}" &
                pids[$i]=$!
        done
        for i in $1; do
                wait "${pids[$i]}" || { rc=1 failed+=" $i"; }
        done
        [[ $rc -eq 0 ]] || die "fleet_each: '${*:2}' failed on node(s)$failed"
}

# fleet_nodes: the node numbers, 1..N, one line.
fleet_nodes() { seq -s ' ' 1 "$FLEET_N"; }

# fleet_link_down I: node I's link is cut at the bridge (its veth peer there set down): its
# packets go nowhere, as with a lost host; nothing in the node is told.
fleet_link_down() {
        ip -n "$(fleet_ns hub)" link set "mbf${FLEET_ID}h$1" down || die "cannot cut node $1's link"
}

# fleet_link_up I: node I's link restored.
fleet_link_up() {
        ip -n "$(fleet_ns hub)" link set "mbf${FLEET_ID}h$1" up || die "cannot restore node $1's link"
}

# fleet_pg_reachable I [SECONDS]: whether node I reaches PostgreSQL at the hub (pg_isready,
# SECONDS to answer, 3 by default).
fleet_pg_reachable() {
        fleet_node_exec "$1" "$PG_BIN/pg_isready" -q -t "${2:-3}" -h "$FLEET_HUB_ADDR" -p "$PG_PORT" -d metabase
}

# fleet_node_stop I...: the nodes' sandboxes down together (SIGTERM: fleet-node.sh stops its
# units and manager), waiting up to 60 s, then SIGKILL (fleet_cleanup kills what is left in the
# network namespaces).
fleet_node_stop() {
        local i pid alive
        for i in "$@"; do
                pid=${FLEET_NODE_PIDS[$i]:-}
                [[ -z $pid ]] || kill -TERM "$pid" 2>/dev/null
        done
        for _ in $(seq 1 600); do
                alive=''
                for i in "$@"; do
                        pid=${FLEET_NODE_PIDS[$i]:-}
                        [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && alive=1
                done
                [[ -n $alive ]] || break
                sleep 0.1
        done
        for i in "$@"; do
                pid=${FLEET_NODE_PIDS[$i]:-}
                [[ -n $pid ]] || continue
                kill -KILL "$pid" 2>/dev/null && log "fleet: node $i did not stop; killed"
                wait "$pid" 2>/dev/null
                unset "FLEET_NODE_PIDS[$i]"
                rm -f "$SB/n$i/node.pid" "$SB/n$i/node.env"
        done
        return 0
}

# fleet_of I KEY: a top-level member of node I's mbctl fleet status --json
fleet_of() {
        { fleet_node_exec "$1" "$MBCTL" fleet status --json || true; } |
                /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}
# lost_of I NAME: whether node I sees NAME as lost ("True"/"False"; "" when not listed)
lost_of() {
        { fleet_node_exec "$1" "$MBCTL" fleet status --json || true; } | /usr/bin/python3 -c '
import json, sys
for n in json.load(sys.stdin)["nodes"]:
    if n["name"] == sys.argv[1]:
        print(n["lost"])' "$2"
}
fleet_is() { [[ $(fleet_of "$1" "$2") == "$3" ]]; }
lost_is() { [[ $(lost_of "$1" "$2") == "$3" ]]; }

# fleet_cleanup: everything of the fleet, idempotent, on any exit (a SANDBOX_CLEANUP_HOOKS entry):
# the nodes (together), PostgreSQL, whatever still runs in the fleet's namespaces, the
# namespaces themselves (their interfaces go with them), the nodes' cgroups and the /24's claim.
fleet_cleanup() {
        local ns pids h d
        set +e
        fleet_node_stop "${!FLEET_NODE_PIDS[@]}"
        postgres_stop
        for ns in "${FLEET_NETNS[@]}"; do
                pids=$(ip netns pids "$ns" 2>/dev/null)
                # shellcheck disable=SC2086
                [[ -z $pids ]] || { log "fleet: killing what is left in $ns:" $pids; kill -KILL $pids; }
        done
        for ns in "${FLEET_NETNS[@]}"; do
                for _ in $(seq 1 50); do
                        [[ -z $(ip netns pids "$ns" 2>/dev/null) ]] && break
                        sleep 0.1
                done
                ip netns del "$ns" 2>/dev/null
        done
        FLEET_NETNS=()
        if [[ -n $FLEET_ID ]]; then
                for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified /sys/fs/cgroup; do
                        for d in "$h/mbup-$FLEET_ID-n"*; do
                                [[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
                        done
                done
        fi
        [[ -z $FLEET_CLAIM ]] || rm -rf "$FLEET_CLAIM"
        FLEET_CLAIM=
        return 0
}
