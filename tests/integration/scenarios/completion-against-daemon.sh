# The bash completion of mbctl against the real daemon: `--to` offers the versions of the feed
# (`mbctl list --json`), `restore` the ids of the backups (`mbctl backups --json`); with the daemon
# stopped, both offer nothing and print nothing. (Verbs, options and files: the offline test
# tests/completion/test-mbctl-completion.sh.)

# completions LINE: what bash completes for LINE, in a shell of its own (the bash-completion
# framework is not written for set -eu).
completions() {
        bash -c 'set +euo pipefail; source "$1/tests/completion/lib.sh" && complete_line "$2"' _ "$MBUP_SRC" "$1" 2>&1
}

scenario() {
        install_metabase "$(make_release v0.56.1)"
        mirror_release v0.56.2 "$(make_release v0.56.2)"
        mirror_feed v0.56.3:2025-03-01 v0.56.2:2025-02-01 v0.56.1.1:2025-01-20 v0.56.1:2025-01-01
        MBUP_APPLY=never write_config
        start_daemon
        run_mbctl 0 check
        assert_contains "$OUT" "ok: 4 releases, newest v0.56.3"

        # every release of the feed, as the daemon lists them
        local got
        got=$(completions "$MBCTL upgrade now --to ")
        assert_eq "$got" "v0.56.1 v0.56.1.1 v0.56.2 v0.56.3" "--to completion"
        got=$(completions "$MBCTL upgrade now --to v0.56.1")
        assert_eq "$got" "v0.56.1 v0.56.1.1" "--to v0.56.1 completion"
        got=$(completions "$MBCTL --dry-run upgrade --to v0.56.2")
        assert_eq "$got" "v0.56.2" "--to completion after other options"
        got=$(completions "$MBCTL approve v0.56.")
        assert_eq "$got" "v0.56.1 v0.56.1.1 v0.56.2 v0.56.3" "approve completion"

        # no backups yet: nothing; after an upgrade (which takes one) and a backup: their ids
        got=$(completions "$MBCTL restore ")
        assert_eq "$got" "" "restore completion without backups"
        run_mbctl 0 upgrade now --to v0.56.2
        assert_contains "$OUT" "committed"
        local ids
        ids=$("$MBCTL" backups --json | sed -n 's/^ *"id": *"\([^"]*\)".*/\1/p' | sort | tr '\n' ' ' | sed 's/ $//')
        [[ -n $ids ]] || die "mbctl backups --json lists no backup after an upgrade"
        got=$(completions "$MBCTL restore ")
        assert_eq "$got" "$ids" "restore completion"
        got=$(completions "$MBCTL restore ${ids:0:3}")
        assert_eq "$got" "$(printf '%s\n' $ids | grep "^${ids:0:3}" | tr '\n' ' ' | sed 's/ $//')" "restore completion of a prefix"

        # the daemon stopped: nothing, quietly
        systemctl --user stop mbupgraded.service
        got=$(completions "$MBCTL upgrade now --to ")
        assert_eq "$got" "" "--to completion without the daemon"
        got=$(completions "$MBCTL restore ")
        assert_eq "$got" "" "restore completion without the daemon"
}
