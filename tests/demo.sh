#!/bin/bash
# SPDX-License-Identifier: MIT
# The demonstration: builds mbupgraded, starts the sandbox (a private D-Bus and a real
# systemd --user running metabase.service with the stand-in Metabase on H2), upgrades
# v0.56.1 -> v0.56.2, then tries a broken v0.56.3 that crashes after its migrations and is
# rolled back by itself, JAR and database. Run as root from the source tree: tests/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${MBUP_IN_NS:-}" ]]; then
        tests/install-deps.sh
        [[ -d build ]] || meson setup build >/dev/null
        meson compile -C build >/dev/null
fi
export MBUP_BUILD=$PWD/build
source tests/integration/lib.sh
sandbox_enter "$@"

say() { printf '\n\033[1m>>> %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@" || printf '(exit status %d)\n' $?; }

sandbox_start
say "A sandbox: systemd --user on a private bus, in $SB"
good=$(make_release v0.56.1)
next=$(make_release v0.56.2)
bad=$(make_release v0.56.3 v0.56.3-broken --fail crash-after-ready --crash-after-ms 1500)
MBUP_SETTLE=4s write_config
install_metabase "$good"
start_daemon
say "metabase.service runs the stand-in Metabase v0.56.1; mbupgraded watches it"
show systemctl --user --no-pager status metabase.service mbupgraded.service --lines=0
show mbctl status

say "Inspect the new release before anything else (offline)"
show mbctl inspect "$next"

say "Upgrade to v0.56.2: pre-flight, stop, back up H2, swap, start, verify health and version"
show mbctl upgrade now --jar "$next"
show mbctl status
printf 'Metabase says: %s\n' "$(http /api/session/properties)"

say "Now a broken v0.56.3: it migrates, turns healthy, then crashes while settling"
show mbctl upgrade now --jar "$bad"
printf 'Metabase says: %s\n' "$(http /api/session/properties)"
printf 'Newest migration in the application database: %s\n' "$(changelog | grep -o '"v56\.[0-9]*"' | tail -1)"

say "What happened, in order, and who asked for it"
show mbctl history
show ls -l "$SB/state/releases" "$SB/backups"

say "A new release in the feed: mbctl list says what the policy would do with each"
mirror_release v0.56.4 "$(make_release v0.56.4)"
mirror_feed v0.56.4:2025-04-01 v0.56.3:2025-03-01 v0.56.2:2025-02-01 v0.56.1:2025-01-01
show mbctl check
show mbctl list
wait_for 30 eval '[[ $(mbctl status) == *"Staged: v0.56.4 (verified)"* ]]' || true
show mbctl status
say "Done: v0.56.2 serves, v0.56.3's migration is gone from the database, nothing was lost."
