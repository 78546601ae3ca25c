# mbupgraded under the hardening of the unit it installs: the [Service] section of
# unit-files/mbupgraded.service.in as it is, only ExecStart=, ReadWritePaths= (the sandbox's
# state, backups, JAR directory and Metabase's data directory) and StateDirectory= swapped for the
# sandbox's, and still it does the whole job. A release fetched over TLS from nginx by host name
# (glibc's resolver; AF_NETLINK is there for sock_diag), fetched as mbupgrade-fetch, staged, verified and applied on H2, then rolled back with
# the H2 file restored into the metabase user's 0750 data directory and given back to that user
# (so CAP_DAC_OVERRIDE and CAP_CHOWN are what it takes); the same on PostgreSQL (pg_dump, pg_restore and psql as the helper's children); a
# non-root admin passes the daemon's own check with ProtectProc=invisible, another user does not;
# a JAR in the caller's /tmp is refused with the reason.
#
# The sandbox's root `systemd --user` applies nearly all of it, as checked below from
# /proc/PID/status and mountinfo: NoNewPrivs, the seccomp filters (SystemCallFilter=,
# RestrictAddressFamilies=, MemoryDenyWriteExecute=, RestrictNamespaces=, LockPersonality=, ...),
# the capability bounding set, ProtectSystem=strict with ReadWritePaths= (/ read-only, the three
# paths writable, which nsenter into its mount namespace confirms), PrivateTmp=, PrivateDevices=
# (a /dev tmpfs of its own), ProtectProc=/ProcSubset= (hidepid=invisible,subset=pid),
# ProtectKernelTunables=/ProtectControlGroups= (read-only /sys). What it does not apply is the
# device cgroup ACL (DevicePolicy=closed from PrivateDevices=, char-rtc from ProtectClock=): on
# this cgroup v1 host the devices hierarchy is not the user manager's (logged below). It needs the
# inaccessible nodes a PID 1 makes in /run/systemd, which lib.sh provides. The sandbox lives under
# /var/lib rather than /tmp, which the unit's PrivateTmp= would hide from it.
source "$MBUP_SRC/tests/integration/nginx.sh"
MBUP_SANDBOX_PARENT=/var/lib

write_hardened_unit() {
        local in=$MBUP_SRC/unit-files/mbupgraded.service.in bin=$SB/bin
        # The build may live under /tmp (a CI checkout), which the unit's PrivateTmp= hides: the
        # daemon and its helpers run from the sandbox, as they would from /usr.
        mkdir -p "$bin" "$SB/run"
        cp "$MBUPGRADED" "$MBUP_BUILD/fetch/mbupgraded-fetch" "$MBUP_BUILD/dbhelper/mbupgraded-db" "$bin/"
        {
                printf '[Unit]\nDescription=mbupgraded (sandbox, the [Service] of %s)\n[Service]\n' "$in"
                sed -n '/^\[Service\]/,/^\[/{/^\[/d;/^#/d;/^$/d;p}' "$in" |
                        sed -e "s|^ExecStart=.*|ExecStart=$bin/mbupgraded --config $SB/mbupgraded.yaml|" \
                                -e "s|^ReadWritePaths=.*|ReadWritePaths=$SB/state $SB/backups $SB/opt/metabase $SB/var/lib/metabase $SB/run|" \
                                -e '/^StateDirectory/d'
                cat <<EOT
Environment=DBUS_SYSTEM_BUS_ADDRESS=$DBUS_SYSTEM_BUS_ADDRESS
Environment=MBUPGRADED_FETCH=$bin/mbupgraded-fetch
Environment=MBUPGRADED_DB=$bin/mbupgraded-db
StandardOutput=append:$SB/logs/mbupgraded.log
StandardError=inherit
EOT
        } >"$SB/units/mbupgraded.service"
        grep -q '^ProtectSystem=strict$' "$SB/units/mbupgraded.service" || die "no ProtectSystem=strict in $in"
}

# mount_opts PID MOUNTPOINT: the per-mount options of MOUNTPOINT as PID sees it ("" if no mount there).
mount_opts() { awk -v m="$2" '$5 == m { o = $6 } END { print o }' "/proc/$1/mountinfo"; }

assert_sandboxed() {
        local pid status
        pid=$(systemctl --user show -p MainPID --value mbupgraded.service)
        status=$(cat "/proc/$pid/status")
        assert_contains "$status" $'NoNewPrivs:\t1'
        assert_contains "$status" $'Seccomp:\t2'
        # CAP_CHOWN (0), CAP_DAC_OVERRIDE (1); CAP_KILL (5), CAP_SETGID (6), CAP_SETUID (7) to run
        # and stop its helpers as other users
        assert_contains "$status" $'CapBnd:\t00000000000000e3'
        [[ $(mount_opts "$pid" /) == ro,* ]] || die "/ is not read-only for the daemon"
        [[ $(mount_opts "$pid" /sys) == ro,* ]] || die "/sys is not read-only for the daemon"
        local d
        for d in "$SB/state" "$SB/backups" "$SB/opt/metabase" "$SB/var/lib/metabase" /tmp; do
                [[ $(mount_opts "$pid" "$d") == rw,* ]] || die "$d is not a writable mount of the daemon's"
        done
        assert_contains "$(awk '$5 == "/proc"' "/proc/$pid/mountinfo")" "hidepid=invisible,subset=pid"
        [[ $(awk '$5 == "/dev" { for (i = 7; $i != "-"; i++); t = $(i + 1) } END { print t }' \
                "/proc/$pid/mountinfo") == tmpfs ]] || die "the daemon sees the host's /dev"
        # what a root process in its mount namespace may not write, the daemon may not either
        ! nsenter -t "$pid" -m -- touch "$SB/logs/probe" /usr/probe 2>/dev/null || die "the daemon's / is writable"
        if [[ -d /sys/fs/cgroup/devices ]]; then
                local cg
                cg=$(sed -n 's/^[0-9]*:devices://p' "/proc/$pid/cgroup")
                log "the daemon's devices cgroup: '${cg:-none}' ('/': no device ACL applied)"
        fi
}

scenario() {
        local www jar_inode kept_inode
        nginx_start "$SB/nginx"
        trap 'rc=$?; set +e; nginx_stop; rm -f "${tmpjar:-}"; (exit $rc); sandbox_cleanup' EXIT
        www=$SB/nginx/www
        install_metabase "$(make_release v0.56.1)"
        mirror_release v0.56.2 "$(make_release v0.56.2)" "$www"
        MIRROR_ROOT=$www mirror_feed v0.56.2:2025-02-01 v0.56.1:2025-01-01
        MBUP_FEED=https://localhost:$NGINX_PORT/version-info.json MBUP_DOWNLOADS=https://localhost:$NGINX_PORT \
                MBUP_CA_FILE=$TEST_CA write_config
        sed -i 's/^admin_group: .*/admin_group: nogroup/' "$SB/mbupgraded.yaml"
        # the bus lets group daemon call too, so that the daemon's own check is what refuses it
        cat >"$SB/bus-extra.conf" <<EOT
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <policy group="nogroup"><allow send_destination="org.mbupgraded.Manager1"/></policy>
  <policy group="daemon"><allow send_destination="org.mbupgraded.Manager1"/></policy>
</busconfig>
EOT
        sed -i "s|^</busconfig>|<include>$SB/bus-extra.conf</include>\n</busconfig>|" "$SB/bus.conf"
        busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" call org.freedesktop.DBus /org/freedesktop/DBus \
                org.freedesktop.DBus ReloadConfig
        write_hardened_unit
        systemctl --user daemon-reload
        systemctl --user start mbupgraded.service || die "the hardened mbupgraded did not start"
        assert_sandboxed

        # H2: the newest release, downloaded over TLS, staged and applied
        jar_inode=$(stat -c %i "$SB/opt/metabase/metabase.jar")
        run_mbctl 0 check
        assert_contains "$OUT" "ok: 2 releases, newest v0.56.2"
        run_mbctl 0 upgrade now
        assert_contains "$OUT" "committed"
        assert_eq "$(running_version)" "v0.56.2"
        grep -q 'GET /v0.56.2/metabase.jar' "$NGINX_ACCESS_LOG" || die "the JAR did not come from nginx"
        assert_eq "$(stat -c %U:%G:%a "$SB/opt/metabase/metabase.jar")" "root:root:644" "the new JAR's owner and mode"
        kept_inode=$(stat -c %i "$SB/state/releases/v0.56.1/metabase.jar")
        # ReadWritePaths= makes the state and JAR directories separate mounts: link() gives EXDEV
        [[ $kept_inode != "$jar_inode" ]] || die "the kept JAR is a hard link across two mounts?"
        log "kept JAR: a copy (inode $kept_inode, was $jar_inode), as across the unit's mounts it must be"

        run_mbctl 0 rollback --yes
        assert_contains "$OUT" "committed"
        assert_eq "$(running_version)" "v0.56.1"
        assert_not_contains "$(changelog)" '"v56.002"' "the H2 database after the rollback"
        assert_eq "$(stat -c %U:%G:%a "$SB/opt/metabase/metabase.jar")" "root:root:644" "the JAR put back"
        # the H2 file restored into the metabase user's directory (0750): CAP_DAC_OVERRIDE to write
        # there, CAP_CHOWN to give the file back to that user
        assert_eq "$(stat -c %U:%G "$SB/var/lib/metabase/metabase.db.mv.db")" "$MB_USER:$MB_USER" "the H2 file put back"

        # a JAR in the caller's /tmp is not the daemon's to see, and it says so
        tmpjar=$(mktemp /tmp/mbup-hardened.XXXXXX.jar)
        cp "$SB/jars/v0.56.2.jar" "$tmpjar"
        run_mbctl 5 upgrade now --jar "$tmpjar"
        assert_contains "$OUT" "PrivateTmp=yes"
        rm -f "$tmpjar"

        # the daemon's own check, with the callers' /proc invisible to it
        chmod 711 "$SB" "$SB/rt"
        OUT=$(runuser -u nobody -- "$MBCTL" hold --reason "by an admin" 2>&1) || die "a member of admin_group may not hold: $OUT"
        OUT=$(runuser -u daemon -- "$MBCTL" unhold 2>&1) && die "a user outside admin_group may unhold: $OUT"
        assert_contains "$OUT" "Only root and members of the group 'nogroup'"
        assert_contains "$(runuser -u daemon -- "$MBCTL" status)" "by an admin"
        run_mbctl 0 unhold

        # PostgreSQL: the helper's pg_dump, then pg_restore into psql, under the same sandbox
        postgres_start
        install_metabase_pg "$SB/jars/v0.56.1.jar"
        systemctl --user restart mbupgraded.service
        local before=$SB/before.sql
        pg_snapshot >"$before"
        run_mbctl 0 upgrade now --jar "$SB/jars/v0.56.2.jar"
        assert_contains "$OUT" "committed"
        assert_eq "$(psql_mb 'select id from databasechangelog order by orderexecuted desc limit 1')" "v56.002"
        [[ -s $(ls "$SB"/backups/*/metabase.dump) ]] || die "no pg_dump backup"
        run_mbctl 0 rollback --yes
        assert_contains "$OUT" "committed"
        assert_eq "$(running_version)" "v0.56.1"
        assert_pg_snapshot "$before" "after the rollback under the hardened unit"
        assert_sandboxed
}
