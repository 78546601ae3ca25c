#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/exposure.sh BUILD_DIR
#
# How exposed mbupgraded.service is, as systemd scores it: `systemd-analyze security --offline=yes`
# on the unit the build installs (BUILD_DIR/unit-files/mbupgraded.service), 0 (sandboxed) to 10
# (unprotected). Target: <= 3.0. The baseline is the same unit with no hardening at all (its
# [Service] without the sandboxing lines), scored the same way. No root, no sandbox.
set -euo pipefail

BUILD=$(cd "${1:?usage: bench/exposure.sh BUILD_DIR}" && pwd)
source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
TARGET=3.0
UNIT=$BUILD/unit-files/mbupgraded.service
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mbup-bench-exposure.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# score FILE: the overall exposure, e.g. 2.2
score() {
        systemd-analyze security --offline=yes --no-pager "$1" 2>/dev/null |
                sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p'
}

[[ -f $UNIT ]] || { echo "VERDICT: FAIL no $UNIT (meson compile -C $BUILD)"; exit 1; }
# the baseline: the same unit without its sandboxing lines
mkdir -p "$WORK/bare"
grep -v -E '^(NoNewPrivileges|Protect[A-Za-z]*|Private[A-Za-z]*|Restrict[A-Za-z]*|ReadWritePaths|LockPersonality|MemoryDenyWriteExecute|SystemCall[A-Za-z]*|CapabilityBoundingSet|UMask|ProcSubset)=' \
        "$UNIT" >"$WORK/bare/mbupgraded.service"
hardened=$(score "$UNIT")
bare=$(score "$WORK/bare/mbupgraded.service")
[[ -n $hardened && -n $bare ]] || { echo "VERDICT: FAIL systemd-analyze security gave no score"; exit 1; }
systemd-analyze security --offline=yes --no-pager "$UNIT" 2>/dev/null | grep '✗' || true
echo "exposure: $hardened hardened, $bare without the hardening (systemd $(systemctl --version | sed -n '1s/systemd \([0-9]*\).*/\1/p'))"
verdict=PASS
le "$hardened" "$TARGET" || verdict=FAIL
summary "exposure: systemd-analyze security" "$hardened" "/10" "<= $TARGET" "$verdict"
summary "exposure: without the hardening" "$bare" "/10" "-" "INFO"
echo "VERDICT: $verdict exposure $hardened (<= $TARGET; $bare without the hardening)"
[[ $verdict == PASS ]]
