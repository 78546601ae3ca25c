#!/bin/bash
# SPDX-License-Identifier: MIT
# Runs one integration scenario in a fresh sandbox: run.sh BUILD_DIR SCENARIO_NAME
# (tests/integration/scenarios/SCENARIO_NAME.sh defines scenario()).
set -euo pipefail
export MBUP_BUILD=${1:?usage: run.sh BUILD_DIR SCENARIO}
SCENARIO=${2:?usage: run.sh BUILD_DIR SCENARIO}
source "$(dirname "$0")/lib.sh"
sandbox_enter "$@"
source "$MBUP_SRC/tests/integration/scenarios/$SCENARIO.sh"
sandbox_start
log "scenario $SCENARIO in $SB"
scenario
echo "ok - $SCENARIO"
