#!/bin/bash
# SPDX-License-Identifier: MIT
# The integration sandbox (docs/architecture.md §7): a private dbus-daemon with a system-bus-style policy,
# a real `systemd --user` manager on it in a private mount namespace, metabase.service running
# the stand-in Metabase on an H2 database (or on a PostgreSQL cluster of the sandbox's own:
# postgres_start, install_metabase_pg), and mbupgraded itself as a Type=notify unit.
# Nothing here touches the host's systemd, D-Bus or /tmp beyond the sandbox's own directory.
#
# Use: sandbox_enter "$@" first (re-executes the caller in a new mount namespace), then
# sandbox_start; the helpers below drive it. Set MBUP_KEEP=1 to keep the directory.

set -euo pipefail

: "${MBUP_BUILD:?MBUP_BUILD must point at the meson build directory}"
MBUP_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MBUP_BUILD=$(cd "$MBUP_BUILD" && pwd)
MBCTL=${MBCTL:-$MBUP_BUILD/cli/mbctl}
MBUPGRADED=${MBUPGRADED:-$MBUP_BUILD/daemon/mbupgraded}
STANDIN_BASE=$MBUP_BUILD/tests/standin/standin-base.jar
MAKE_JAR=$MBUP_SRC/tests/standin/make-jar.sh

log() { printf '# %s\n' "$*" >&2; }
die() {
        printf 'FAIL: %s\n' "$*" >&2
        if [[ -n "${SB:-}" ]]; then
                printf -- '--- mbupgraded log (tail) ---\n' >&2
                tail -n 40 "$SB/logs/mbupgraded.log" >&2 2>/dev/null || true
                printf -- '--- metabase log (tail) ---\n' >&2
                tail -n 15 "$SB/logs/metabase.log" >&2 2>/dev/null || true
                if [[ -f "$SB/pg/postgres.log" ]]; then
                        printf -- '--- postgres log (tail) ---\n' >&2
                        tail -n 15 "$SB/pg/postgres.log" >&2 2>/dev/null || true
                fi
                # a fleet's nodes (tests/integration/fleet-lib.sh)
                local f
                for f in "$SB"/n[0-9]*/logs/{mbupgraded,metabase}.log; do
                        [[ -f $f ]] || continue
                        printf -- '--- %s (tail) ---\n' "${f#"$SB"/}" >&2
                        tail -n 25 "$f" >&2 2>/dev/null || true
                done
        fi
        exit 1
}

sandbox_enter() {
        if [[ -z "${MBUP_IN_NS:-}" ]]; then
                [[ $(id -u) -eq 0 ]] || { echo "the sandbox needs root (for its mount namespace)" >&2; exit 77; }
                mkdir -p /run/systemd
                export MBUP_IN_NS=1
                exec unshare --mount --propagation private -- "$BASH" "$0" "$@"
        fi
}

# SANDBOX_CLEANUP_HOOKS: functions sandbox_cleanup calls first, in order (a fleet's nodes and
# network namespaces: tests/integration/fleet-lib.sh); each must be idempotent.
SANDBOX_CLEANUP_HOOKS=()

# sandbox_cleanup: the EXIT trap: the hooks, the units, the manager, the database servers, any
# process of ours left, the directory (unless MBUP_KEEP, or SB_KEEP_DIR for a directory someone
# else removes), the /run/systemd tmpfs, the cgroup; exits with the status it was called with.
sandbox_cleanup() {
        local rc=$? hook
        set +e
        for hook in "${SANDBOX_CLEANUP_HOOKS[@]}"; do
                "$hook"
        done
        if [[ -n "${SB:-}" && -d "$SB" ]]; then
                systemctl --user stop mbupgraded.service metabase.service >/dev/null 2>&1
                [[ -n "${SYSTEMD_PID:-}" ]] && kill -TERM "$SYSTEMD_PID" 2>/dev/null && wait "$SYSTEMD_PID" 2>/dev/null
                postgres_stop
                mariadb_stop
                journald_stop
                # Anything of ours still alive (a java the manager could not stop) goes too.
                pkill -KILL -f -- "$SB/" 2>/dev/null
                if [[ -n "${SB_KEEP_DIR:-}" ]]; then
                        :
                elif [[ -n "${MBUP_KEEP:-}" || $rc -ne 0 && -n "${MBUP_KEEP_FAILED:-}" ]]; then
                        log "sandbox kept in $SB"
                else
                        rm -rf "$SB"
                fi
        fi
        umount /run/systemd 2>/dev/null
        if [[ -n "${SB_CGROUP:-}" ]]; then
                local h
                for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified /sys/fs/cgroup; do
                        [[ -d $h/$SB_CGROUP ]] || continue
                        # leave it (and the manager's empty sub-groups) behind us, deepest first
                        echo $BASHPID >"$h/cgroup.procs" 2>/dev/null
                        find "$h/$SB_CGROUP" -depth -type d -exec rmdir {} + 2>/dev/null
                done
        fi
        exit $rc
}

# journald_start: a real systemd-journald for this sandbox alone. Its sockets go to the
# namespace's own /run/systemd, its files to a tmpfs over /run/log, and /var/log/journal is hidden
# under another tmpfs: nothing reaches the host's journal. Then MBUP_DAEMON_OUTPUT=journal
# start_daemon has the manager connect the daemon's output to it (JOURNAL_STREAM), and
# journalctl here reads what it got.
journald_start() {
        mkdir -p /run/log
        mount -t tmpfs -o mode=755 tmpfs /run/log || die "cannot mount a tmpfs on /run/log"
        if [[ -d /var/log/journal ]]; then
                mount -t tmpfs -o mode=755 tmpfs /var/log/journal || die "cannot hide /var/log/journal"
        fi
        /lib/systemd/systemd-journald >>"$SB/logs/journald.log" 2>&1 &
        JOURNALD_PID=$!
        wait_for 10 test -S /run/systemd/journal/stdout || die "systemd-journald did not start"
}

journald_stop() {
        [[ -n "${JOURNALD_PID:-}" ]] || return 0
        kill -TERM "$JOURNALD_PID" 2>/dev/null
        wait "$JOURNALD_PID" 2>/dev/null
        JOURNALD_PID=
        umount /var/log/journal /run/log 2>/dev/null
        return 0
}

free_port() {
        local p
        for _ in $(seq 1 50); do
                # below the kernel's ephemeral range (ip_local_port_range, 32768-60999 by default): a port
                # there may be some connection's local end even though nothing listens on it
                p=$((20000 + RANDOM % 12000))
                if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
                        echo $p
                        return 0
                fi
        done
        die "no free port"
}

sandbox_start() {
        # MBUP_SANDBOX_PARENT: where the sandbox's directory goes (default /tmp; a scenario that
        # runs a unit with PrivateTmp=yes needs it elsewhere, or the unit would not see it).
        SB=$(mktemp -d "${MBUP_SANDBOX_PARENT:-/tmp}/mbup-sandbox.XXXXXX")
        trap sandbox_cleanup EXIT
        sandbox_init
}

# sandbox_init: the sandbox in the directory $SB (which exists), in the current mount namespace:
# its directories, the /run/systemd tmpfs, the environment (XDG_RUNTIME_DIR, the bus addresses,
# SYSTEMD_UNIT_PATH...), the bus policy and units, a cgroup of its own ($SB_CGROUP, by default
# mbup-SUFFIX of $SB) and the manager. sandbox_start for a scenario; a fleet node
# (tests/integration/fleet-node.sh) calls it in a node's namespaces with a directory of its own.
sandbox_init() {
        mkdir -p "$SB"/{rt,units,logs,jars,state,backups,opt/metabase,cfg,data}
        chmod 700 "$SB/rt"
        # metabase.service runs as the unprivileged metabase user, as on a real server (Metabase's
        # docs/installation-and-operation/running-metabase-on-debian.md: User=metabase): it must get
        # through $SB (mktemp made it 0700) to its JAR, and write its own data directory only.
        metabase_user_ensure
        fetch_user_ensure
        chmod 755 "$SB"
        mkdir -p "$SB/var/lib/metabase"
        chown "$MB_USER:$MB_USER" "$SB/var/lib/metabase"
        chmod 750 "$SB/var/lib/metabase"

        # Only this namespace sees the marker systemd --user looks for.
        mount -t tmpfs -o mode=755 tmpfs /run/systemd
        mkdir -p /run/systemd/system

        export XDG_RUNTIME_DIR=$SB/rt
        export XDG_CONFIG_HOME=$SB/cfg XDG_DATA_HOME=$SB/data
        export SYSTEMD_UNIT_PATH=$SB/units
        export DBUS_SESSION_BUS_ADDRESS=unix:path=$SB/rt/bus
        export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$SB/rt/bus
        export SYSTEMD_LOG_TARGET=console

        # A system-bus-style policy: deny by default like the real system bus, allow what
        # the sandbox's peers need, then the project's own policy file on top.
        cat >"$SB/bus.conf" <<EOT
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>systemd:</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus" send_member="UpdateActivationEnvironment"/>
  </policy>
  <policy user="root">
    <allow own="org.freedesktop.systemd1"/>
    <allow send_destination="org.freedesktop.systemd1"/>
  </policy>
  <include>$MBUP_SRC/unit-files/org.mbupgraded.Manager1.conf</include>
</busconfig>
EOT

        sed -n '/^\[/,$p' /usr/lib/systemd/user/basic.target >"$SB/units/basic.target"
        for u in exit.target shutdown.target systemd-exit.service sockets.target timers.target paths.target; do
                grep -v '^Documentation' "/usr/lib/systemd/user/$u" >"$SB/units/$u"
        done
        cat >"$SB/units/default.target" <<EOT
[Unit]
Description=mbupgraded test sandbox
Requires=basic.target dbus.socket
Wants=dbus.service
After=basic.target
EOT
        cat >"$SB/units/dbus.socket" <<EOT
[Socket]
ListenStream=%t/bus
EOT
        cat >"$SB/units/dbus.service" <<EOT
[Unit]
Requires=dbus.socket
[Service]
Type=notify
NotifyAccess=main
ExecStart=/usr/bin/dbus-daemon --config-file=$SB/bus.conf --address=systemd: --nofork --nopidfile --systemd-activation --nosyslog
StandardOutput=append:$SB/logs/dbus.log
StandardError=inherit
EOT

        # A cgroup of its own: a manager started in the root cgroup would put its units at
        # /app.slice/..., shared with any other sandbox running at the same time, and stopping one
        # sandbox's metabase.service would kill the other's.
        SB_CGROUP=${SB_CGROUP:-mbup-${SB##*.}}
        local h
        for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified /sys/fs/cgroup; do
                [[ -f $h/cgroup.procs ]] || continue
                [[ $h != /sys/fs/cgroup || -f $h/cgroup.controllers ]] || continue
                mkdir -p "$h/$SB_CGROUP" 2>/dev/null && echo $BASHPID >"$h/$SB_CGROUP/cgroup.procs" 2>/dev/null || true
        done
        sandbox_manager_start
}

# sandbox_manager_start: the sandbox's systemd --user (it starts D-Bus by socket activation),
# until it answers on the bus.
sandbox_manager_start() {
        /lib/systemd/systemd --user >>"$SB/logs/systemd.log" 2>&1 &
        SYSTEMD_PID=$!
        local i
        for i in $(seq 1 100); do
                if busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" status org.freedesktop.systemd1 >/dev/null 2>&1; then
                        # A root manager sets up ProtectHome=yes, ProtectKernelTunables= and the like
                        # with the inaccessible nodes PID 1 makes at boot in /run/systemd (the
                        # sandbox's own tmpfs): the ones this manager made for itself will do.
                        [[ -e /run/systemd/inaccessible ]] || cp -a "$XDG_RUNTIME_DIR/systemd/inaccessible" /run/systemd/ ||
                                die "cannot make /run/systemd/inaccessible"
                        return 0
                fi
                sleep 0.1
        done
        cat "$SB/logs/systemd.log" >&2
        die "systemd --user did not come up on the sandbox bus"
}

# host_crash: the sandbox's "host" dies at once: systemd --user and every process of its units
# (D-Bus, Metabase, mbupgraded and its helpers) SIGKILLed together, as a power cut would. The
# sandbox's database servers, outside the manager, live on (another host's, as it were).
host_crash() {
        local h pids i
        for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
                [[ -d $h/$SB_CGROUP ]] || continue
                # not init.scope: the manager moved this shell there with itself
                pids+=" $(find "$h/$SB_CGROUP" -mindepth 2 -name cgroup.procs -not -path '*/init.scope/*' \
                        -exec cat {} + 2>/dev/null)"
        done
        # shellcheck disable=SC2086
        kill -KILL "$SYSTEMD_PID" $pids 2>/dev/null || true
        wait "$SYSTEMD_PID" 2>/dev/null || true
        for i in $(seq 1 50); do
                pgrep -f -- "$SB/opt/metabase|$MBUPGRADED --config $SB" >/dev/null || break
                sleep 0.1
        done
        log "host crash: killed systemd --user ($SYSTEMD_PID) and" $pids
}

# host_boot: the manager again after host_crash; start the units as boot would with them enabled.
host_boot() {
        sandbox_manager_start
}

# make_release VERSION [NAME] [make-jar options...]: builds a stand-in release JAR, prints its path.
make_release() {
        local version=$1 name=${2:-$1}
        shift 2 || shift 1
        local out=$SB/jars/$name.jar
        "$MAKE_JAR" --base "$STANDIN_BASE" --out "$out" --version "$version" "$@" >/dev/null
        echo "$out"
}

# The OS user metabase.service runs as (tests/install-deps.sh creates it; so does
# metabase_user_ensure on a machine where that was not run).
MB_USER=metabase

# metabase_user_ensure: the system user and group $MB_USER, as Metabase's instructions create
# them (groupadd -r metabase; useradd -r -g metabase), without a home: the sandbox's data
# directory is its own. Sandboxes may start at the same time: useradd's lock is retried.
metabase_user_ensure() {
        local i
        for i in $(seq 1 50); do
                getent passwd "$MB_USER" >/dev/null && return 0
                useradd --system --user-group --no-create-home --home-dir /nonexistent \
                        --shell /usr/sbin/nologin "$MB_USER" 2>/dev/null && return 0
                sleep 0.1
        done
        die "cannot create the $MB_USER user (useradd --system $MB_USER)"
}

# fetch_user_ensure: mbupgraded-fetch's unprivileged user (unit-files/mbupgraded.sysusers), which
# the daemon switches to before it runs the helper.
# The same for mbupgraded-db's (and the fleet agent's), mbupgrade-db.
FETCH_USER=mbupgrade-fetch
DB_USER=mbupgrade-db
fetch_user_ensure() {
        local i u
        for u in "$FETCH_USER" "$DB_USER"; do
                for i in $(seq 1 51); do
                        ((i <= 50)) || die "cannot create the $u user (useradd --system $u)"
                        getent passwd "$u" >/dev/null && break
                        useradd --system --user-group --no-create-home --home-dir /nonexistent \
                                --shell /usr/sbin/nologin "$u" 2>/dev/null && break
                        sleep 0.1
                done
        done
}

# write_metabase_unit LINE...: writes metabase.service for the JAR at $SB/opt/metabase, on port
# $MB_PORT, with the given [Service] lines (the application database's settings). It runs as
# $MB_USER (User=, Group=) in its data directory $SB/var/lib/metabase (that user's, 0750; an H2
# database lives there); the JAR and its directory are root's (0644, 0755), which the user can
# read and not write.
write_metabase_unit() {
        {
                cat <<EOT
[Unit]
Description=Metabase (stand-in)
[Service]
ExecStart=/usr/bin/java -Xshare:auto -XX:TieredStopAtLevel=1 -jar $SB/opt/metabase/metabase.jar
User=$MB_USER
Group=$MB_USER
WorkingDirectory=$SB/var/lib/metabase
Environment=MB_JETTY_PORT=$MB_PORT
EOT
                printf '%s\n' "$@"
                cat <<EOT
StandardOutput=append:$SB/logs/metabase.log
StandardError=inherit
TimeoutStopSec=20s
EOT
        } >"$SB/units/metabase.service"
}

# install_jar JAR: JAR as the installed $SB/opt/metabase/metabase.jar, root's and 0644 (its
# directory root's, 0755), as a root admin installs it for the metabase user to read.
install_jar() {
        cp "$1" "$SB/opt/metabase/metabase.jar"
        chown root:root "$SB/opt/metabase" "$SB/opt/metabase/metabase.jar"
        chmod 755 "$SB/opt/metabase"
        chmod 644 "$SB/opt/metabase/metabase.jar"
}

# install_metabase JAR: the "existing installation" the admin has, running and healthy, on an H2
# database in its data directory ($SB/var/lib/metabase/metabase.db.mv.db, the metabase user's).
install_metabase() {
        MB_PORT=$(free_port)
        install_jar "$1"
        write_metabase_unit "Environment=MB_DB_FILE=$SB/var/lib/metabase/metabase.db"
        systemctl --user daemon-reload
        systemctl --user start metabase.service
        wait_healthy 60 || die "the installed Metabase did not become healthy"
}

# postgres_start: a PostgreSQL cluster of the sandbox's own, in $SB/pg, run by the postgres OS
# user with Debian's binaries (the newest /usr/lib/postgresql/N/bin). It listens on
# 127.0.0.1:$PG_PORT only (TCP: scram-sha-256 passwords) and on a unix socket in $PG_SOCKET_DIR
# (there: trust, superuser postgres, for the sandbox's own set-up). Role `metabase` (password
# $PG_PASS, letters and digits only) owns database `metabase`. Sets and exports PG_BIN, PG_DIR,
# PG_DATA, PG_SOCKET_DIR, PG_PORT, PG_PASS, PG_URI (postgres://metabase:PASS@127.0.0.1:PORT/metabase)
# and PG_PASSFILE (a 0600 ~/.pgpass-style file for the metabase role). Set PG_PASS before the
# call to choose the password. fsync is off: a test cluster, never a crash-safe one. The server
# log is $SB/pg/postgres.log; PG_PID is its process. sandbox_cleanup stops it (postgres_stop).
# For a fleet (tests/integration/fleet-lib.sh), set before the call: PG_NETNS, a network
# namespace (`ip netns` name) the server runs in and the sandbox's own TCP clients (psql_mb,
# pg_snapshot) connect from; PG_LISTEN_EXTRA, one more address it listens on (a bridge's), which
# gets a line in PG_PASSFILE; PG_HBA_NET, a network (CIDR) allowed in with scram-sha-256.
postgres_start() {
        local i
        PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
        [[ -n $PG_BIN && -x $PG_BIN/initdb && -x $PG_BIN/postgres ]] ||
                die "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt-get install postgresql)"
        id -u postgres >/dev/null 2>&1 || die "no postgres OS user (apt-get install postgresql)"
        PG_DIR=$SB/pg
        PG_DATA=$PG_DIR/data
        PG_SOCKET_DIR=$PG_DIR/run
        PG_PASS=${PG_PASS:-mb$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')}
        [[ $PG_PASS =~ ^[A-Za-z0-9]+$ ]] || die "PG_PASS must be letters and digits (it goes into a URI as is)"
        # the postgres user must get through $SB (mktemp made it 0700) to its own directory
        chmod 711 "$SB"
        mkdir -p "$PG_SOCKET_DIR"
        chown -R postgres:postgres "$PG_DIR"
        chmod 700 "$PG_DIR"
        runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --encoding=UTF8 --locale=C \
                --auth-local=trust --auth-host=scram-sha-256 --no-sync --no-instructions \
                >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
        local ns=()
        [[ -z ${PG_NETNS:-} ]] || ns=(nsenter "--net=/run/netns/$PG_NETNS" --)
        if [[ -n ${PG_HBA_NET:-} ]]; then
                printf 'host all all %s scram-sha-256\n' "$PG_HBA_NET" >>"$PG_DATA/pg_hba.conf"
        fi
        for i in 1 2 3; do
                PG_PORT=$(free_port)
                cat >>"$PG_DATA/postgresql.conf" <<EOT
# the mbupgraded sandbox (tests/integration/lib.sh)
listen_addresses = '127.0.0.1${PG_LISTEN_EXTRA:+,$PG_LISTEN_EXTRA}'
port = $PG_PORT
unix_socket_directories = '$PG_SOCKET_DIR'
password_encryption = 'scram-sha-256'
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 32MB
max_connections = 30
EOT
                # The postmaster as a child of ours (through runuser), not daemonized by pg_ctl:
                # an orphan is left a zombie where PID 1 does not reap, and this way
                # postgres_stop can wait for it.
                # (nsenter, when there is a PG_NETNS, execs runuser: PG_PID is still runuser)
                "${ns[@]}" runuser -u postgres -- "$PG_BIN/postgres" -D "$PG_DATA" >>"$PG_DIR/postgres.log" 2>&1 &
                PG_PID=$!
                local up=''
                for _ in $(seq 1 300); do
                        if pg_ns "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -d postgres; then
                                up=1
                                break
                        fi
                        kill -0 "$PG_PID" 2>/dev/null || break
                        sleep 0.05
                done
                [[ -z $up ]] || break
                postgres_stop
                # most likely the port was taken between free_port and the bind: another one
                grep -q 'could not bind\|already in use' "$PG_DIR/postgres.log" 2>/dev/null && [[ $i -lt 3 ]] ||
                        die "PostgreSQL did not start or is not ready on 127.0.0.1:$PG_PORT"
                log "PostgreSQL could not bind port $PG_PORT; another"
        done
        runuser -u postgres -- "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$PG_PORT" \
                -U postgres -d postgres \
                -c "CREATE ROLE metabase LOGIN PASSWORD '$PG_PASS'" \
                -c "CREATE DATABASE metabase OWNER metabase" >/dev/null ||
                die "cannot create the metabase role and database"
        PG_URI=postgres://metabase:$PG_PASS@127.0.0.1:$PG_PORT/metabase
        PG_PASSFILE=$SB/pg.pass
        (umask 077 && printf '%s:%s:metabase:metabase:%s\n' 127.0.0.1 "$PG_PORT" "$PG_PASS" \
                ${PG_LISTEN_EXTRA:+"$PG_LISTEN_EXTRA" "$PG_PORT" "$PG_PASS"} >"$PG_PASSFILE")
        export PG_BIN PG_DIR PG_DATA PG_SOCKET_DIR PG_PORT PG_PASS PG_URI PG_PASSFILE
        # over TCP with the password, as Metabase will connect
        [[ $(psql_mb 'SELECT current_user') == metabase ]] || die "cannot log in to PostgreSQL as metabase"
}

# postgres_stop: stops the sandbox's cluster, if any, and waits for it (fast shutdown: SIGINT
# to the postmaster; SIGKILL after 20 s).
postgres_stop() {
        [[ -n "${PG_PID:-}" ]] || return 0
        local pm i
        pm=$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null || true)
        if [[ $pm =~ ^[0-9]+$ ]] && kill -INT "$pm" 2>/dev/null; then
                for i in $(seq 1 400); do
                        kill -0 "$PG_PID" 2>/dev/null || break
                        sleep 0.05
                done
        fi
        if kill -0 "$PG_PID" 2>/dev/null; then
                [[ $pm =~ ^[0-9]+$ ]] && kill -KILL "$pm" 2>/dev/null
                kill -KILL "$PG_PID" 2>/dev/null
        fi
        wait "$PG_PID" 2>/dev/null
        PG_PID=''
        return 0
}

# pg_ns COMMAND...: COMMAND in the network namespace of the sandbox's PostgreSQL (PG_NETNS; as
# it is when there is none).
pg_ns() {
        if [[ -n ${PG_NETNS:-} ]]; then
                nsenter --net="/run/netns/$PG_NETNS" -- "$@"
        else
                "$@"
        fi
}

# psql_mb SQL [psql options...]: runs SQL as the metabase role over TCP (password auth), in
# database metabase, at PG_HOST (127.0.0.1 unless set: a fleet node sets the bridge's address);
# prints the rows unaligned, fields separated by |, no header; fails on an SQL error.
psql_mb() {
        local sql=$1
        shift
        PGPASSFILE=$PG_PASSFILE PGCONNECT_TIMEOUT=5 pg_ns "$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 \
                -h "${PG_HOST:-127.0.0.1}" -p "$PG_PORT" -U metabase -d metabase "$@" -c "$sql"
}

# pg_super SQL [DATABASE]: SQL as PostgreSQL's superuser (postgres, over the socket), in DATABASE
# (default postgres); unaligned tuples only.
pg_super() {
        runuser -u postgres -- "$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" \
                -p "$PG_PORT" -U postgres -d "${2:-postgres}" -c "$1"
}

# pg_snapshot: the metabase database's schema and rows as plain SQL, for comparing the database
# before an upgrade with the database after a rollback (pg_dump's version comments left out).
pg_snapshot() {
        PGPASSFILE=$PG_PASSFILE pg_ns "$PG_BIN/pg_dump" --no-owner --no-privileges -h "${PG_HOST:-127.0.0.1}" -p "$PG_PORT" \
                -U metabase -d metabase | grep -v '^-- Dumped \|^$\|^\\\(un\)\?restrict '
}

# assert_pg_snapshot FILE WHAT: the database equals the snapshot in FILE.
assert_pg_snapshot() {
        pg_snapshot >"$1.now"
        cmp -s "$1" "$1.now" || {
                diff "$1" "$1.now" | head -n 20 >&2
                die "$2: the database differs from its snapshot $1"
        }
}

# install_metabase_pg JAR [MODE]: like install_metabase, on the sandbox's PostgreSQL (call
# postgres_start first), with MB_DB_TYPE=postgres and the connection settings given as MODE says:
#   uri        Environment=MB_DB_CONNECTION_URI=$PG_URI  (postgres://metabase:PASS@host:port/metabase)
#   jdbc-uri   Environment=MB_DB_CONNECTION_URI=jdbc:postgresql://host:port/metabase?user=metabase&password=PASS
#   vars       Environment=MB_DB_HOST, MB_DB_PORT, MB_DB_DBNAME, MB_DB_USER, MB_DB_PASS
#   envfile    those variables in Environment= but MB_DB_PASS in EnvironmentFile=$SB/opt/metabase/metabase.env
#   envfile-uri MB_DB_CONNECTION_URI=$PG_URI in that EnvironmentFile= (0600), MB_DB_TYPE in Environment=
# (default: uri). MB_PORT keeps its value when already set (a re-install on the same port).
install_metabase_pg() {
        local jar=$1 mode=${2:-uri} envfile=$SB/opt/metabase/metabase.env
        [[ -n "${PG_PORT:-}" ]] || die "install_metabase_pg: call postgres_start first"
        MB_PORT=${MB_PORT:-$(free_port)}
        install_jar "$jar"
        rm -f "$envfile"
        local vars=("Environment=MB_DB_HOST=${PG_HOST:-127.0.0.1}" "Environment=MB_DB_PORT=$PG_PORT"
                Environment=MB_DB_DBNAME=metabase Environment=MB_DB_USER=metabase)
        case $mode in
        uri) write_metabase_unit Environment=MB_DB_TYPE=postgres "Environment=MB_DB_CONNECTION_URI=$PG_URI" ;;
        jdbc-uri)
                # quoted, as an admin would write it (systemd takes it whole either way)
                write_metabase_unit Environment=MB_DB_TYPE=postgres \
                        "Environment=\"MB_DB_CONNECTION_URI=jdbc:postgresql://${PG_HOST:-127.0.0.1}:$PG_PORT/metabase?user=metabase&password=$PG_PASS\"" ;;
        vars) write_metabase_unit Environment=MB_DB_TYPE=postgres "${vars[@]}" "Environment=MB_DB_PASS=$PG_PASS" ;;
        envfile)
                (umask 077 && printf '# metabase.service secrets\nMB_DB_PASS=%s\n' "$PG_PASS" >"$envfile")
                write_metabase_unit Environment=MB_DB_TYPE=postgres "${vars[@]}" "EnvironmentFile=$envfile" ;;
        envfile-uri)
                (umask 077 && printf 'MB_DB_CONNECTION_URI=%s\n' "$PG_URI" >"$envfile")
                write_metabase_unit Environment=MB_DB_TYPE=postgres "EnvironmentFile=$envfile" ;;
        *) die "install_metabase_pg: unknown mode '$mode' (uri, jdbc-uri, vars, envfile, envfile-uri)" ;;
        esac
        systemctl --user daemon-reload
        systemctl --user restart metabase.service
        wait_healthy 60 || die "the installed Metabase (on PostgreSQL, $mode) did not become healthy"
}

# write_config: the daemon's config for the sandbox. The release feed is a mirror on disk
# ($SB/mirror, see make_mirror) unless MBUP_FEED/MBUP_DOWNLOADS say otherwise (nginx scenarios):
# a sandbox never reaches for the real static.metabase.com.
write_config() {
        mkdir -p "$SB/mirror" "$SB/run"
        cat >"$SB/mbupgraded.yaml" <<EOT
# written by tests/integration/lib.sh
releases:
  feed: ${MBUP_FEED:-file://$SB/mirror/version-info.json}
  downloads: ${MBUP_DOWNLOADS:-file://$SB/mirror}
  check_every: ${MBUP_CHECK_EVERY:-6h}
  require_checksum: ${MBUP_REQUIRE_CHECKSUM:-true}
  ca_file: "${MBUP_CA_FILE:-}"
  signing_key: "${MBUP_SIGNING_KEY:-}"
policy:
  apply: ${MBUP_APPLY:-window}
  allow: ${MBUP_ALLOW:-minor}
  min_age: ${MBUP_MIN_AGE:-0s}
  stepwise: ${MBUP_STEPWISE:-true}
  window_max: ${MBUP_WINDOW_MAX:-0}
  rehearse: ${MBUP_REHEARSE:-never}
  approve: ${MBUP_APPROVE:-false}
  skip: [${MBUP_SKIP:-}]
service:
  unit: metabase.service
  start_timeout: ${MBUP_START_TIMEOUT:-60s}
  stall_timeout: ${MBUP_STALL_TIMEOUT:-10s}
  settle: ${MBUP_SETTLE:-3s}
rehearsal:
  memory_max: ${MBUP_REHEARSAL_MEMORY:-1G}
  timeout: ${MBUP_REHEARSAL_TIMEOUT:-0}
backup:
  dir: $SB/backups
  keep: ${MBUP_KEEP_BACKUPS:-5}
  postgres: ${MBUP_PG_BACKUP:-dump}
notify:
  webhook: "${MBUP_NOTIFY_WEBHOOK:-}"
  command: '${MBUP_NOTIFY_COMMAND:-}'
metrics_file: "${MBUP_METRICS_FILE:-}"
maintenance_flag: "${MBUP_MAINTENANCE_FLAG-$SB/run/maintenance}"
proxy:
  upstream_file: "${MBUP_UPSTREAM_FILE-$SB/run/upstream.conf}"
  url: "${MBUP_PROXY_URL:-}"
  ca_file: "${MBUP_PROXY_CA_FILE:-}"
  failover_file: "${MBUP_FAILOVER_FILE:-}"
upgrade:
  zero_downtime: ${MBUP_ZERO_DOWNTIME:-auto}
state_dir: $SB/state
admin_group: ""
EOT
}

start_daemon() {
        [[ -f "$SB/mbupgraded.yaml" ]] || write_config
        cat >"$SB/units/mbupgraded.service" <<EOT
[Unit]
Description=mbupgraded (sandbox)
[Service]
Type=notify
ExecStart=${MBUP_WRAPPER:-} $MBUPGRADED --config $SB/mbupgraded.yaml
Environment=DBUS_SYSTEM_BUS_ADDRESS=$DBUS_SYSTEM_BUS_ADDRESS
Environment=MBUPGRADED_FETCH=$MBUP_BUILD/fetch/mbupgraded-fetch
Environment=MBUPGRADED_DB=$MBUP_BUILD/dbhelper/mbupgraded-db
${MBUP_DAEMON_ENV:+Environment=$MBUP_DAEMON_ENV}
WatchdogSec=60s
# as unit-files/mbupgraded.service.in: what it creates is its own unless it says otherwise
UMask=0077
StandardOutput=${MBUP_DAEMON_OUTPUT:-append:$SB/logs/mbupgraded.log}
StandardError=inherit
TimeoutStopSec=30s
EOT
        systemctl --user daemon-reload
        systemctl --user start mbupgraded.service || die "mbupgraded did not start"
}

mbctl() { "$MBCTL" "$@"; }

# wait_for SECONDS COMMAND...: until COMMAND succeeds (every 0.2 s); fails after SECONDS.
wait_for() { # wait_for SECONDS COMMAND...
        local t=$1 i
        shift
        for i in $(seq 1 $((t * 5))); do
                "$@" && return 0
                sleep 0.2
        done
        return 1
}

http() { curl -fsS --max-time 5 "http://127.0.0.1:$MB_PORT$1"; }

wait_healthy() {
        local timeout=$1 i
        for i in $(seq 1 $((timeout * 10))); do
                if [[ $(curl -s --max-time 2 "http://127.0.0.1:$MB_PORT/api/health" 2>/dev/null) == *'"ok"'* ]]; then
                        return 0
                fi
                sleep 0.1
        done
        return 1
}

running_version() { http /api/session/properties | sed -n 's/.*"tag":"\([^"]*\)".*/\1/p'; }
changelog() { http /api/standin/changelog; }
main_pid() { systemctl --user show -p MainPID --value metabase.service; }
unit_state() { systemctl --user show -p ActiveState --value metabase.service; }
installed_version() { "$MBCTL" inspect --no-hash --json "$SB/opt/metabase/metabase.jar" | sed -n 's/.*"version": *"\([^"]*\)".*/\1/p'; }
# last_history: the newest history entry as one line of compact JSON (it has objects inside: the
# initiator).
last_history() {
        "$MBCTL" history --json | /usr/bin/python3 -c '
import json, sys
a = json.load(sys.stdin)
print(json.dumps(a[-1], separators=(",", ":"), ensure_ascii=False) if a else "")'
}

assert_eq() { [[ "$1" == "$2" ]] || die "${3:-values differ}: expected '$2', got '$1'"; }
assert_contains() { [[ "$1" == *"$2"* ]] || die "${3:-missing text}: '$2' not in: $1"; }
assert_not_contains() { [[ "$1" != *"$2"* ]] || die "${3:-unexpected text}: '$2' in: $1"; }

# run_mbctl EXPECTED_EXIT ARGS...: runs mbctl, keeps its output in $OUT, checks the exit code.
run_mbctl() {
        local want=$1 rc=0
        shift
        OUT=$("$MBCTL" "$@" 2>&1) || rc=$?
        printf '%s\n' "$OUT" | sed 's/^/#   mbctl: /' >&2
        [[ $rc -eq $want ]] || die "mbctl $* exited $rc, expected $want"
}

# mirror_release DIR_URL_ROOT VERSION JAR [--no-checksum]: lays a release out like
# downloads.metabase.com under $SB/mirror (or $2 when given): VERSION/metabase.jar + metabase.sha256.
mirror_release() {
        local version=$1 jar=$2 root=${3:-$SB/mirror}
        mkdir -p "$root/$version"
        cp "$jar" "$root/$version/metabase.jar"
        (cd "$root/$version" && sha256sum metabase.jar >metabase.sha256)
}

# mirror_feed "v0.56.2:2025-01-01[:rollout]" ...: writes version-info.json, newest first; the first is "latest".
mirror_feed() {
        local root=${MIRROR_ROOT:-$SB/mirror} first=1 entry v d r
        mkdir -p "$root"
        {
                for entry in "$@"; do
                        IFS=: read -r v d r <<<"$entry"
                        local obj="{\"version\":\"$v\",\"released\":\"$d\",\"patch\":false,\"highlights\":[\"stand-in\"]${r:+,\"rollout\":$r}}"
                        if [[ $first -eq 1 ]]; then
                                printf '{"latest":%s,"older":[' "$obj"
                                first=0
                        else
                                printf '%s%s' "${sep:-}" "$obj"
                                local sep=,
                        fi
                done
                printf ']}\n'
        } >"$root/version-info.json.tmp"
        mv "$root/version-info.json.tmp" "$root/version-info.json"
}

# ---- MariaDB (a MySQL-family application database) ----------------------------------------

# mariadb_start: a MariaDB server of the sandbox's own in $SB/mariadb (Debian's mariadbd, no
# option files read: --no-defaults), a fresh datadir from mariadb-install-db, the server run as
# the mysql OS user (mariadbd --user=mysql). It listens on 127.0.0.1:$MY_PORT and on the socket
# $MY_SOCKET; root logs in over that socket only (unix_socket: the OS user root), for the
# sandbox's own set-up. User metabase@'127.0.0.1' and metabase@'%' (password $MY_PASS, letters
# and digits) has all privileges on database metabase (utf8mb4, as Metabase wants it) and on
# nothing else. Sets and exports MY_DIR, MY_SOCKET, MY_PORT, MY_PASS, MY_URI
# (mysql://metabase:PASS@127.0.0.1:PORT/metabase), MY_CNF (a 0600 option file, [client] with
# the metabase user's host, port, user and password) and MY_PID (mariadbd itself). Set MY_PASS
# before the call to choose the password. Durability is off: a test server. The server log is
# $SB/mariadb/mariadb.log. sandbox_cleanup stops it (mariadb_stop).
mariadb_start() {
        local i up
        command -v mariadbd >/dev/null 2>&1 || [[ -x /usr/sbin/mariadbd ]] ||
                die "no mariadbd (apt-get install mariadb-server)"
        command -v mariadb-install-db >/dev/null 2>&1 || die "no mariadb-install-db (apt-get install mariadb-server)"
        command -v mariadb >/dev/null 2>&1 || die "no mariadb client (apt-get install mariadb-client)"
        id -u mysql >/dev/null 2>&1 || die "no mysql OS user (apt-get install mariadb-server)"
        MY_DIR=$SB/mariadb
        MY_SOCKET=$MY_DIR/run/mysqld.sock
        MY_PASS=${MY_PASS:-my$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')}
        [[ $MY_PASS =~ ^[A-Za-z0-9]+$ ]] || die "MY_PASS must be letters and digits (it goes into a URI as is)"
        # the mysql user must get through $SB (mktemp made it 0700) to its own directory
        chmod 711 "$SB"
        mkdir -p "$MY_DIR/data" "$MY_DIR/run" "$MY_DIR/tmp"
        chown -R mysql:mysql "$MY_DIR"
        chmod 700 "$MY_DIR"
        # the server's settings, for install-db and the server alike
        local opts=(--datadir="$MY_DIR/data" --tmpdir="$MY_DIR/tmp" --skip-name-resolve
                --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci
                --innodb-buffer-pool-size=32M --innodb-log-file-size=8M
                --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 --skip-log-bin)
        mariadb-install-db --no-defaults --user=mysql --auth-root-authentication-method=socket \
                --skip-test-db "${opts[@]}" >"$MY_DIR/install-db.log" 2>&1 ||
                { cat "$MY_DIR/install-db.log" >&2; die "mariadb-install-db failed"; }
        for i in 1 2 3; do
                MY_PORT=$(free_port)
                # mariadbd as a child of ours (it changes to the mysql user itself): mariadb_stop
                # can wait for it, and MY_PID is the server.
                "$(command -v mariadbd || echo /usr/sbin/mariadbd)" --no-defaults --user=mysql "${opts[@]}" \
                        --bind-address=127.0.0.1 --port="$MY_PORT" --socket="$MY_SOCKET" \
                        --pid-file="$MY_DIR/run/mariadbd.pid" --log-error="$MY_DIR/mariadb.log" \
                        >>"$MY_DIR/mariadb.log" 2>&1 &
                MY_PID=$!
                up=''
                for _ in $(seq 1 300); do
                        if [[ -S $MY_SOCKET ]] && mariadb --no-defaults -S "$MY_SOCKET" -u root -N -B \
                                -e 'SELECT 1' >/dev/null 2>&1; then
                                up=1
                                break
                        fi
                        kill -0 "$MY_PID" 2>/dev/null || break
                        sleep 0.05
                done
                [[ -z $up ]] || break
                mariadb_stop
                grep -q "Can't start server: Bind\|Address already in use" "$MY_DIR/mariadb.log" 2>/dev/null &&
                        [[ $i -lt 3 ]] || { tail -n 20 "$MY_DIR/mariadb.log" >&2; die "MariaDB did not start on 127.0.0.1:$MY_PORT"; }
                log "MariaDB could not bind port $MY_PORT; another"
        done
        mariadb --no-defaults -S "$MY_SOCKET" -u root -e "
                CREATE USER 'metabase'@'127.0.0.1' IDENTIFIED BY '$MY_PASS';
                CREATE USER 'metabase'@'%' IDENTIFIED BY '$MY_PASS';
                CREATE DATABASE metabase CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
                GRANT ALL PRIVILEGES ON metabase.* TO 'metabase'@'127.0.0.1';
                GRANT ALL PRIVILEGES ON metabase.* TO 'metabase'@'%';" ||
                die "cannot create the metabase user and database"
        MY_URI=mysql://metabase:$MY_PASS@127.0.0.1:$MY_PORT/metabase
        MY_CNF=$SB/my.cnf
        (umask 077 && printf '[client]\nhost=127.0.0.1\nport=%s\nuser=metabase\npassword=%s\n' \
                "$MY_PORT" "$MY_PASS" >"$MY_CNF")
        export MY_DIR MY_SOCKET MY_PORT MY_PASS MY_URI MY_CNF MY_PID
        # over TCP with the password, as Metabase will connect
        [[ $(mysql_mb 'SELECT current_user()') == metabase@127.0.0.1 ]] || die "cannot log in to MariaDB as metabase"
}

# mariadb_stop: stops the sandbox's MariaDB, if any, and waits for it (SIGTERM: a normal
# shutdown; SIGKILL after 20 s).
mariadb_stop() {
        [[ -n "${MY_PID:-}" ]] || return 0
        local i
        kill -TERM "$MY_PID" 2>/dev/null
        for i in $(seq 1 400); do
                kill -0 "$MY_PID" 2>/dev/null || break
                sleep 0.05
        done
        kill -KILL "$MY_PID" 2>/dev/null
        wait "$MY_PID" 2>/dev/null
        MY_PID=''
        return 0
}

# mysql_mb SQL [mariadb options...]: runs SQL as the metabase user over TCP (password from the
# 0600 $MY_CNF, never on the command line), in database metabase; prints the rows
# tab-separated, no header; fails on an SQL error.
mysql_mb() {
        local sql=$1
        shift
        mariadb --defaults-extra-file="$MY_CNF" --connect-timeout=5 --default-character-set=utf8mb4 -N -B "$@" \
                metabase -e "$sql"
}

# install_metabase_my JAR [MODE]: like install_metabase_pg, on the sandbox's MariaDB (call
# mariadb_start first), with MB_DB_TYPE=mysql and the connection settings given as MODE says:
#   uri    Environment=MB_DB_CONNECTION_URI=$MY_URI  (mysql://metabase:PASS@host:port/metabase)
#   vars   Environment=MB_DB_HOST, MB_DB_PORT, MB_DB_DBNAME, MB_DB_USER, MB_DB_PASS
# (default: uri). MB_PORT keeps its value when already set (a re-install on the same port).
install_metabase_my() {
        local jar=$1 mode=${2:-uri}
        [[ -n "${MY_PORT:-}" ]] || die "install_metabase_my: call mariadb_start first"
        MB_PORT=${MB_PORT:-$(free_port)}
        install_jar "$jar"
        case $mode in
        uri) write_metabase_unit Environment=MB_DB_TYPE=mysql "Environment=MB_DB_CONNECTION_URI=$MY_URI" ;;
        vars)
                write_metabase_unit Environment=MB_DB_TYPE=mysql Environment=MB_DB_HOST=127.0.0.1 \
                        "Environment=MB_DB_PORT=$MY_PORT" Environment=MB_DB_DBNAME=metabase \
                        Environment=MB_DB_USER=metabase "Environment=MB_DB_PASS=$MY_PASS" ;;
        *) die "install_metabase_my: unknown mode '$mode' (uri, vars)" ;;
        esac
        systemctl --user daemon-reload
        systemctl --user restart metabase.service
        wait_healthy 60 || die "the installed Metabase (on MariaDB, $mode) did not become healthy"
}

# An independent prober of what users see, for the downtime scenarios.
# prober_start: one line per probe into $SB/prober.log, "<epoch ms> ok|down".
prober_start() {
        (
                while :; do
                        local t s=down
                        t=$(date +%s%3N)
                        [[ $(curl -s --max-time 0.5 "http://127.0.0.1:$MB_PORT/api/health" 2>/dev/null) == *'"ok"'* ]] && s=ok
                        echo "$t $s"
                        sleep 0.1
                done
        ) >"$SB/prober.log" 2>/dev/null &
        PROBER_PID=$!
}
prober_stop() {
        kill "$PROBER_PID"
        wait "$PROBER_PID" 2>/dev/null || true
}

# prober_down_ms FROM_MS TO_MS: the time the prober saw no healthy answer between the two; a
# probe stands for the time until the next one.
prober_down_ms() {
        awk -v a="$1" -v b="$2" '
                $1 >= a && $1 <= b { if (have && prev == "down") sum += $1 - pt; pt = $1; prev = $2; have = 1 }
                END { print sum + 0 }' "$SB/prober.log"
}

# prober_down_periods FROM_MS TO_MS: each period the prober saw no healthy answer between the two,
# its length in ms, one per line, in order.
prober_down_periods() {
        awk -v a="$1" -v b="$2" '
                $1 >= a && $1 <= b {
                        if (have && prev == "down") len += $1 - pt
                        if (have && prev == "down" && $2 == "ok") { print len; len = 0 }
                        pt = $1; prev = $2; have = 1
                }
                END { if (have && prev == "down") print len }' "$SB/prober.log"
}
