#!/bin/bash
# SPDX-License-Identifier: MIT
# One node of a fleet sandbox (tests/integration/fleet-lib.sh), as fleet_node_start runs it: in
# the node's network namespace and a mount namespace of its own, with a clean environment.
#   fleet-node.sh NODE_DIR CGROUP [OTHER_NODE_DIR...]
# It hides the other nodes' directories (their buses, state and logs are another host's) under
# empty tmpfs mounts, sets up a sandbox exactly like a scenario's (lib.sh's sandbox_init: the
# /run/systemd tmpfs, a private dbus-daemon and a real `systemd --user`) in NODE_DIR (the
# stand-in's port is 3000, Metabase's own), writes NODE_DIR/node.pid and then NODE_DIR/node.env (what fleet_node_exec
# needs; its appearance says the node is up), and sleeps. SIGTERM: sandbox_cleanup (units,
# manager, processes, /run/systemd, cgroup); the directory stays for the scenario to remove.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
SB=$1
SB_CGROUP=$2
shift 2
SB_KEEP_DIR=1

SLEEPER=
# node_stop_sleeping: the cleanup hook: the sleep that keeps the node up goes first.
node_stop_sleeping() {
        [[ -z $SLEEPER ]] || kill "$SLEEPER" 2>/dev/null
        SLEEPER=
        return 0
}
SANDBOX_CLEANUP_HOOKS=(node_stop_sleeping)
trap sandbox_cleanup EXIT
trap 'exit 0' TERM INT HUP

for d in "$@"; do
        mount -t tmpfs -o mode=700,size=64k mbup-fleet-hidden "$d" || die "cannot hide $d from this node"
done
sandbox_init
# Metabase's own default port: the node's network namespace is its own, and a node started
# again keeps the port its metabase.service was written with
export MB_PORT=3000

echo $$ >"$SB/node.pid"
for v in SB MBUP_BUILD XDG_RUNTIME_DIR XDG_CONFIG_HOME XDG_DATA_HOME SYSTEMD_UNIT_PATH \
        DBUS_SESSION_BUS_ADDRESS DBUS_SYSTEM_BUS_ADDRESS SYSTEMD_LOG_TARGET MB_PORT \
        PG_BIN PG_PORT PG_PASS PG_HOST PG_URI PG_PASSFILE FLEET_NODE; do
        [[ -n ${!v:-} ]] || continue
        printf 'export %s=%q\n' "$v" "${!v}"
done >"$SB/node.env.tmp"
mv "$SB/node.env.tmp" "$SB/node.env"
log "node $FLEET_NODE up: manager $SYSTEMD_PID, bus $DBUS_SYSTEM_BUS_ADDRESS, Metabase port $MB_PORT"

sleep infinity &
SLEEPER=$!
wait "$SLEEPER" || true
