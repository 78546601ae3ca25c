#!/bin/bash
# SPDX-License-Identifier: MIT
# The bash completion of mbctl, offline: verbs, each verb's options, sub-verbs and files, with the
# real bash-completion framework and our completions/mbctl.bash. What needs the daemon (versions
# for --to, backup ids for restore) is the integration scenario completion-against-daemon; here
# only that it stays quiet when no daemon answers.
# Use: test-mbctl-completion.sh [MBCTL]   (MBCTL: an mbctl binary for the no-daemon case)
set -uo pipefail

MBCTL=${1:-}
[[ -r /usr/share/bash-completion/bash_completion ]] || { echo "SKIP: bash-completion is not installed"; exit 77; }
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

failures=0

expect() { # expect LINE WANTED: the offered words are exactly WANTED (space-separated, any order)
        local line=$1 want got
        want=$(printf '%s\n' $2 | sort | tr '\n' ' ' | sed 's/ $//')
        got=$(complete_line "$line")
        if [[ $got == "$want" ]]; then
                echo "ok: '$line' -> $got"
        else
                echo "FAIL: '$line' -> '$got', expected '$want'"
                failures=$((failures + 1))
        fi
}

all_verbs='status check list upgrade rollback cancel hold unhold history backup backups restore rehearse approve inspect config doctor fleet help'
expect 'mbctl ' "$all_verbs"
expect 'mbctl st' 'status'
expect 'mbctl back' 'backup backups'
expect 'mbctl do' 'doctor'
expect 'mbctl -' '--help --version'
expect 'mbctl upgrade ' 'now window'
expect 'mbctl upgrade now --' '--to --jar --dry-run --no-wait --force'
expect 'mbctl upgrade now --d' '--dry-run'
expect 'mbctl upgrade window --' '--dry-run --no-wait'
expect 'mbctl --no-wait upgrade ' 'now window'
expect 'mbctl rollback --' '--dry-run --no-wait --force --yes --keep-data'
expect 'mbctl restore --' '--yes --force --dry-run --no-wait'
expect 'mbctl rehearse --' '--no-wait'
expect 'mbctl re' 'restore rehearse'
expect 'mbctl appr' 'approve'
expect 'mbctl hold --' '--reason'
expect 'mbctl hold --reason ' ''
expect 'mbctl status --' '--json'
expect 'mbctl doctor --' '--json'
expect 'mbctl inspect --' '--json --no-hash'
expect 'mbctl backup --' '--dry-run --no-wait'
expect 'mbctl cancel ' ''
expect 'mbctl config ' 'check'
expect 'mbctl fleet ' 'status'
expect 'mbctl fleet status --' '--json'

# Files: a directory of our own, completed relative to it.
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/sub"
touch "$dir/metabase-v0.56.2.jar" "$dir/metabase-v0.56.3.jar" "$dir/mbupgraded.yaml"
cd "$dir" || exit 1
expect 'mbctl inspect metabase-v0.56.2' 'metabase-v0.56.2.jar'
expect 'mbctl inspect m' 'mbupgraded.yaml metabase-v0.56.2.jar metabase-v0.56.3.jar'
expect 'mbctl upgrade now --jar metabase-v0.56.3' 'metabase-v0.56.3.jar'
expect 'mbctl upgrade now --jar s' 'sub'
expect 'mbctl config check mbup' 'mbupgraded.yaml'
expect 'mbctl --json inspect metabase-v0.56.2.jar ' ''

# Without a daemon to ask, --to and restore offer nothing and say nothing.
if [[ -n $MBCTL ]]; then
        export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$dir/no-such-bus
        out=$(complete_line "$MBCTL upgrade now --to " 2>&1)
        [[ -z $out ]] && echo "ok: --to without a daemon: nothing" ||
                { echo "FAIL: --to without a daemon: '$out'"; failures=$((failures + 1)); }
        out=$(complete_line "$MBCTL restore " 2>&1)
        [[ -z $out ]] && echo "ok: restore without a daemon: nothing" ||
                { echo "FAIL: restore without a daemon: '$out'"; failures=$((failures + 1)); }
fi

[[ $failures -eq 0 ]] && echo "all passed" || echo "$failures failed"
[[ $failures -eq 0 ]]
