# Callers who may look but not touch. An unprivileged user reads status, history, the releases,
# the backups and every property, and is refused every mutating method (Upgrade, Window, Rollback,
# Backup, Restore, their dry runs, Cancel, Hold, Unhold, Properties.Set) with a clear message:
# first by the bus policy (org.mbupgraded.Manager1.conf), then, on a bus whose policy lets anyone
# through, by the daemon's own credential check. Nothing changes: Metabase's MainPID, the history,
# the hold, the backups, state_dir. A member of admin_group may do what root may.
#
# The users: mbup-test (no groups) and mbup-test-admin (in group mbup-test-admins), system users
# without a home or a login shell, created when missing and left in place: a run killed half-way
# leaves nothing half-made, runs at the same time share them, and they own nothing and may log in
# nowhere.

TEST_USER=mbup-test
TEST_ADMIN=mbup-test-admin
TEST_GROUP=mbup-test-admins

test_users_ensure() {
        getent group "$TEST_GROUP" >/dev/null || groupadd --system "$TEST_GROUP" 2>/dev/null ||
                getent group "$TEST_GROUP" >/dev/null || die "cannot create the group $TEST_GROUP"
        id -u "$TEST_USER" >/dev/null 2>&1 ||
                useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
                        --user-group "$TEST_USER" 2>/dev/null ||
                id -u "$TEST_USER" >/dev/null 2>&1 || die "cannot create the user $TEST_USER"
        id -u "$TEST_ADMIN" >/dev/null 2>&1 ||
                useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
                        --user-group --groups "$TEST_GROUP" "$TEST_ADMIN" 2>/dev/null ||
                id -u "$TEST_ADMIN" >/dev/null 2>&1 || die "cannot create the user $TEST_ADMIN"
        id -nG "$TEST_ADMIN" | grep -qw "$TEST_GROUP" || usermod -aG "$TEST_GROUP" "$TEST_ADMIN" ||
                die "cannot add $TEST_ADMIN to $TEST_GROUP"
        ! id -nG "$TEST_USER" | grep -qw "$TEST_GROUP" || die "$TEST_USER must not be in $TEST_GROUP"
}

# as USER CMD...: CMD as USER (its groups from the group database), on the sandbox's bus.
as() {
        local user=$1
        shift
        setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups --inh-caps=-all \
                env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DBUS_SYSTEM_BUS_ADDRESS="$DBUS_SYSTEM_BUS_ADDRESS" "$@"
}

# as_mbctl USER EXPECTED_EXIT ARGS...: like run_mbctl, as USER.
as_mbctl() {
        local user=$1 want=$2 rc=0
        shift 2
        OUT=$(as "$user" "$MBCTL" "$@" 2>&1) || rc=$?
        printf '%s\n' "$OUT" | sed "s/^/#   mbctl ($user): /" >&2
        [[ $rc -eq $want ]] || die "mbctl $* as $user exited $rc, expected $want"
}

# as_busctl USER EXPECTED_EXIT METHOD SIGNATURE ARGS...: a method call as USER; the error in $OUT.
as_busctl() {
        local user=$1 want=$2 rc=0
        shift 2
        OUT=$(as "$user" busctl --system call org.mbupgraded.Manager1 /org/mbupgraded/Manager1 \
                org.mbupgraded.Manager1 "$@" 2>&1) || rc=$?
        printf '%s\n' "$OUT" | sed "s/^/#   busctl ($user): /" >&2
        if [[ $want -eq 0 ]]; then
                [[ $rc -eq 0 ]] || die "$1 as $user failed: $OUT"
        else
                [[ $rc -ne 0 ]] || die "$1 as $user was allowed"
                assert_contains "$OUT" "Access denied" "$1 as $user"
        fi
}

# The daemon's state that nobody but an admin may change (state/staging comes and goes with the
# release checks, which are open to everyone).
snapshot() {
        {
                echo "pid $(main_pid)"
                echo "hold $(busctl --system get-property org.mbupgraded.Manager1 /org/mbupgraded/Manager1 \
                        org.mbupgraded.Manager1 Hold)"
                "$MBCTL" history --json
                "$MBCTL" backups --json
                (cd "$SB" && find state backups opt -not -name '*.db' -not -path 'state/staging*' \( -type d -printf '%p/\n' -o -printf '%p %s %T@\n' \) | sort)
        } >"$1"
}

assert_unchanged() {
        snapshot "$SB/state-now"
        diff "$SB/state-before" "$SB/state-now" >&2 || die "$1: the daemon's state changed"
}

# Every mutating call as USER must fail with a message that contains TEXT.
refused_everything() {
        local user=$1 text=$2 backup_id=$3 m
        as_mbctl "$user" 1 upgrade now --jar "$NEW_JAR"
        assert_contains "$OUT" "$text"
        as_mbctl "$user" 1 upgrade now --dry-run --jar "$NEW_JAR"
        assert_contains "$OUT" "$text"
        as_mbctl "$user" 1 upgrade now --force --jar "$NEW_JAR"
        assert_contains "$OUT" "$text"
        as_mbctl "$user" 1 upgrade window
        assert_contains "$OUT" "$text"
        as_mbctl "$user" 1 rollback
        assert_contains "$OUT" "$text"
        as_mbctl "$user" 1 backup
        assert_contains "$OUT" "$text"
        as_mbctl "$user" 1 restore "$backup_id" --yes
        assert_contains "$OUT" "$text"
        as_mbctl "$user" 1 cancel
        assert_contains "$OUT" "$text"
        as_mbctl "$user" 1 hold --reason "mine now"
        assert_contains "$OUT" "$text"
        as_mbctl "$user" 1 unhold
        assert_contains "$OUT" "$text"
        # and straight over the bus, each method, with its flags
        as_busctl "$user" 1 Upgrade sst "$NEW_JAR" "" 0
        as_busctl "$user" 1 Upgrade sst "" "" 1
        as_busctl "$user" 1 Rollback t 1
        as_busctl "$user" 1 Window t 0
        as_busctl "$user" 1 Backup t 0
        as_busctl "$user" 1 Restore st "$backup_id" 1
        as_busctl "$user" 1 Cancel
        as_busctl "$user" 1 Hold s "mine now"
        as_busctl "$user" 1 Unhold
        for m in Hold HoldReason InstalledVersion JarPath; do
                OUT=$(as "$user" busctl --system set-property org.mbupgraded.Manager1 /org/mbupgraded/Manager1 \
                        org.mbupgraded.Manager1 "$m" s x 2>&1) && die "Properties.Set $m as $user was allowed"
                log "  Set $m as $user: $OUT"
        done
}

# Everything a reader may do, as USER.
reads_everything() {
        local user=$1
        as_mbctl "$user" 0 status
        assert_contains "$OUT" "Installed: v0.56.2"
        as_mbctl "$user" 0 status --json
        as_mbctl "$user" 0 history
        assert_contains "$OUT" "committed"
        as_mbctl "$user" 0 list
        as_mbctl "$user" 0 backups
        assert_contains "$OUT" "v0.56.1"
        OUT=$(as "$user" busctl --system get-property org.mbupgraded.Manager1 /org/mbupgraded/Manager1 \
                org.mbupgraded.Manager1 InstalledVersion 2>&1) || die "get-property as $user: $OUT"
        assert_eq "$OUT" 's "v0.56.2"'
        OUT=$(as "$user" busctl --system introspect org.mbupgraded.Manager1 /org/mbupgraded/Manager1 2>&1) ||
                die "introspect as $user: $OUT"
        as_busctl "$user" 0 GetHistory
        as_busctl "$user" 0 ListBackups
        as_busctl "$user" 0 List
        # Check is open too: no feed in this sandbox, so it fails, but not for want of permission
        OUT=$(as "$user" "$MBCTL" check 2>&1) || true
        assert_contains "$OUT" "version-info.json"
        assert_not_contains "$OUT" "denied"
}

# A dry run needs the rights of what it rehearses (issue 15, item 11): otherwise anyone on an
# open bus has root resolve paths of their choosing (is there a file at /root/x? the answer told
# one from the other) and holds the operation slot while pre-flight runs. As USER, every dry run
# is refused; a path that exists (a JAR, a FIFO) in a directory only root may read and one that
# does not get the same answer, and the daemon's log never names them: no path was probed.
dry_runs_refused() {
        local user=$1 hidden=$SB/root-only a b
        mkdir -p "$hidden"
        chmod 700 "$hidden"
        cp "$NEW_JAR" "$hidden/there.jar"
        rm -f "$hidden/fifo.jar"
        mkfifo "$hidden/fifo.jar"
        as_mbctl "$user" 1 rollback --dry-run
        assert_contains "$OUT" "Only root and members of the group"
        as_mbctl "$user" 1 backup --dry-run
        assert_contains "$OUT" "Only root and members of the group"
        as_mbctl "$user" 1 upgrade window --dry-run
        assert_contains "$OUT" "Only root and members of the group"
        as_mbctl "$user" 1 upgrade now --dry-run
        assert_contains "$OUT" "Only root and members of the group"
        as_busctl "$user" 1 Upgrade sst "" "" 2
        as_busctl "$user" 1 Rollback t 2
        as_busctl "$user" 1 Window t 2
        as_busctl "$user" 1 Backup t 2
        as_busctl "$user" 1 Restore st "$backup_id" 2
        as_busctl "$user" 1 Upgrade sst "$hidden/there.jar" "" 2
        a=$OUT
        as_busctl "$user" 1 Upgrade sst "$hidden/missing.jar" "" 2
        b=$OUT
        assert_eq "$a" "$b" "the answers for a JAR that exists and one that does not"
        OUT=$(as "$user" timeout 10 busctl --system call org.mbupgraded.Manager1 /org/mbupgraded/Manager1 \
                org.mbupgraded.Manager1 Upgrade sst "$hidden/fifo.jar" "" 2 2>&1) && die "a dry run of a FIFO was allowed"
        assert_eq "$OUT" "$b" "the answer for a FIFO"
        run_mbctl 0 status
        assert_not_contains "$OUT" "Pre-flight" "the status after refused dry runs"
        assert_not_contains "$(cat "$SB/logs/mbupgraded.log")" "$hidden" "the daemon's log"
        rm -f "$hidden/fifo.jar"
}

# bus_policy ours|open: the sandbox's bus with the shipped policy file, or instead with one that
# lets everyone send anything to the daemon, so that only the daemon's own check stands in the way.
# Both with the shipped policy's admin group rule, for the sandbox's group.
bus_policy() {
        cp "$SB/bus.conf.$1" "$SB/bus.conf"
        busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig >/dev/null ||
                die "the bus did not reload its policy"
}

bus_policies_write() {
        local shipped=$MBUP_SRC/unit-files/org.mbupgraded.Manager1.conf admin
        admin=$(sed -n '/<policy group="mbupgrade">/,/<\/policy>/p' "$shipped" | sed "s/\"mbupgrade\"/\"$TEST_GROUP\"/")
        [[ -n $admin ]] || die "the shipped policy has no <policy group=\"mbupgrade\">"
        grep -q "<include>$shipped</include>" "$SB/bus.conf" || die "the sandbox's bus does not include $shipped"
        { grep -v '^</busconfig>' "$SB/bus.conf"; printf '%s\n</busconfig>\n' "$admin"; } >"$SB/bus.conf.ours"
        {
                grep -v '^</busconfig>' "$SB/bus.conf" | grep -v "<include>$shipped</include>"
                cat <<EOT
  <policy user="root"><allow own="org.mbupgraded.Manager1"/></policy>
  <policy context="default">
    <allow send_destination="org.mbupgraded.Manager1"/>
    <allow receive_sender="org.mbupgraded.Manager1"/>
  </policy>
EOT
                printf '%s\n</busconfig>\n' "$admin"
        } >"$SB/bus.conf.open"
}

scenario() {
        local backup_id  # dry_runs_refused() reads it too
        test_users_ensure
        # the users must reach the bus socket (and nothing else) in the sandbox
        chmod 711 "$SB" "$SB/rt"
        bus_policies_write
        bus_policy ours
        install_metabase "$(make_release v0.56.1)"
        write_config
        sed -i "s/^admin_group: .*/admin_group: $TEST_GROUP/" "$SB/mbupgraded.yaml"
        start_daemon
        NEW_JAR=$(make_release v0.56.3)
        chmod 755 "$SB/jars"
        # history, a backup and a previous version to roll back to: something to protect
        run_mbctl 0 upgrade now --jar "$(make_release v0.56.2)"
        backup_id=$("$MBCTL" backups --json | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' | head -n 1)
        [[ -n $backup_id ]] || die "no backup id"
        snapshot "$SB/state-before"

        log "an unprivileged user, the shipped bus policy"
        reads_everything "$TEST_USER"
        refused_everything "$TEST_USER" "permission denied: only root and members of the admin group" "$backup_id"
        assert_unchanged "after the refusals by the bus policy"

        log "an unprivileged user, a bus that lets anyone through: the daemon's own check"
        bus_policy open
        reads_everything "$TEST_USER"
        refused_everything "$TEST_USER" "Only root and members of the group '$TEST_GROUP' may do this" "$backup_id"
        dry_runs_refused "$TEST_USER"
        assert_unchanged "after the refusals by the daemon"

        log "a member of admin_group, both policies"
        local policy
        for policy in open ours; do
                bus_policy $policy
                reads_everything "$TEST_ADMIN"
                as_mbctl "$TEST_ADMIN" 0 upgrade now --dry-run --jar "$NEW_JAR"
                assert_contains "$OUT" "v0.56.2 -> v0.56.3"
                as_mbctl "$TEST_ADMIN" 0 rollback --dry-run
                as_mbctl "$TEST_ADMIN" 1 cancel
                assert_contains "$OUT" "No operation is running"
                as_mbctl "$TEST_ADMIN" 0 hold --reason "by an admin ($policy)"
                run_mbctl 0 status
                assert_contains "$OUT" "by an admin ($policy)"
                # the dry runs' "Pre-flight checks for ..." is not left as the idle daemon's status
                assert_not_contains "$OUT" "Pre-flight checks" "the status after dry runs"
                as_mbctl "$TEST_ADMIN" 0 unhold
                assert_unchanged "after the admin's dry runs, hold and unhold ($policy)"
        done
}
