# mbctl doctor on a good setup (Metabase on PostgreSQL, the daemon up): every check ok or warn,
# exit 0, --json that parses. A file holding the database password that others can read (the
# unit's EnvironmentFile=, the config's backup.app_db) is a warning. Then the setup broken one way at a time -- JAR missing, feed
# unreachable, database password wrong, backup dir read-only, Java too old for the newest
# release, config invalid -- each a `fail` line with its fix and exit 1. Through all of it doctor
# changes nothing: state_dir, backup.dir and the JAR's directory are the same before and after.

# The files doctor could touch, with their checksums (Metabase's own H2 trace files aside: this
# installation is on PostgreSQL, so there are none). The daemon's own feed checks come and go in
# state/staging meanwhile (feed.json.download.part): not doctor's doing, so not listed.
setup_listing() {
        find "$SB/state" "$SB/backups" "$SB/opt/metabase" -not -name 'feed.json.download*' -printf '%p %y %m %s\n' | sort
        find "$SB/state" "$SB/backups" "$SB/opt/metabase" -not -name 'feed.json.download*' -type f -exec sha256sum {} + | sort
}

# doctor_expect EXIT CHECK LEVEL [TEXT...]: runs doctor, checks its exit, that CHECK's line has
# LEVEL and each TEXT appears in the output, and that it changed nothing.
doctor_expect() {
        local want=$1 check=$2 level=$3 before after
        shift 3
        before=$(setup_listing)
        # shellcheck disable=SC2086
        run_mbctl "$want" doctor ${DOCTOR_ARGS:---config $SB/mbupgraded.yaml}
        after=$(setup_listing)
        [[ "$before" == "$after" ]] || { diff <(echo "$before") <(echo "$after") >&2; die "doctor changed the setup"; }
        [[ -z $(find /tmp -maxdepth 1 -name 'mbctl-doctor.*') ]] || die "doctor left its temporary directory behind"
        grep -qE "^$level +$check " <<<"$OUT" || die "doctor: no '$level $check' line"
        local t
        for t in "$@"; do
                assert_contains "$OUT" "$t"
        done
}

scenario() {
        local java
        export MBUPGRADED_FETCH=$MBUP_BUILD/fetch/mbupgraded-fetch MBUPGRADED_DB=$MBUP_BUILD/dbhelper/mbupgraded-db
        # nginx as the admin has it: real nginx, with a configuration of the sandbox's own
        mkdir -p "$SB/bin"
        printf 'events {}\nhttp { server { listen 127.0.0.1:%s; }}\n' "$(free_port)" >"$SB/nginx-plain.conf"
        printf '#!/bin/sh\nexec /usr/sbin/nginx -c %s "$@"\n' "$SB/nginx.conf" >"$SB/bin/nginx"
        chmod +x "$SB/bin/nginx"
        cp "$SB/nginx-plain.conf" "$SB/nginx.conf"
        export PATH=$SB/bin:$PATH

        postgres_start
        install_metabase_pg "$(make_release v0.52.0)" envfile
        mirror_release v0.52.1 "$(make_release v0.52.1)"
        mirror_release v0.56.2 "$(make_release v0.56.2)"
        mirror_feed v0.52.1:2025-02-01 v0.52.0:2025-01-01
        MBUP_APPLY=never MBUP_ALLOW=major MBUP_STEPWISE=false write_config
        start_daemon
        run_mbctl 0 check
        wait_for 30 eval '[[ $(mbctl status) == *"Staged: v0.52.1 (verified)"* ]]' || die "v0.52.1 was not staged"

        # the good setup: nginx without the snippet is a warning, not a failure
        doctor_expect 0 nginx warn "/mbupgraded/nginx/maintenance.conf;"
        grep -qE "^warn +nginx upstream .*upgrades without downtime are not possible" <<<"$OUT" ||
                die "doctor: no warning for the missing upstream snippet"
        local c
        for c in config daemon unit secrets jar feed java database "backup dir" "state dir"; do
                grep -qE "^ok +$c " <<<"$OUT" || die "doctor: '$c' is not ok on a good setup"
        done
        assert_contains "$OUT" "PostgreSQL metabase@127.0.0.1:$PG_PORT/metabase: server PostgreSQL"
        assert_contains "$OUT" "v0.52.0 (oss)"
        assert_contains "$OUT" "ExecStart=/usr/bin/java"
        assert_not_contains "$OUT" "$PG_PASS"
        # Metabase's port (a free one above 1024 here) is one any local user may bind: a warning
        # with the fix; a port below net.ipv4.ip_unprivileged_port_start is ok
        grep -qE "^warn +port +Metabase's port [0-9]+ is at or above net.ipv4.ip_unprivileged_port_start \($(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)\): any local user can bind it" <<<"$OUT" ||
                die "doctor: no warning for Metabase's port"
        assert_contains "$OUT" "AmbientCapabilities=CAP_NET_BIND_SERVICE"
        sed "s|^service:|service:\n  health_url: http://127.0.0.1:80/api/health|" "$SB/mbupgraded.yaml" >"$SB/port80.yaml"
        DOCTOR_ARGS="--config $SB/port80.yaml" doctor_expect 0 port ok "Metabase's port 80 is below net.ipv4.ip_unprivileged_port_start"
        # the snippet's flag in nginx's configuration: ok
        printf 'events {}\nhttp { server { listen 127.0.0.1:%s; location / { if (-f %s) { return 503; } } }}\n' \
                "$(free_port)" "$SB/run/maintenance" >"$SB/nginx.conf"
        doctor_expect 0 nginx ok "checks the maintenance flag"
        # the upstream snippet (a copy of the built one, pointed at the sandbox) in place of proxy_pass: ok
        sed "s|/run/mbupgraded/upstream.con\[f\]|$SB/run/upstream.con[f]|" "$MBUP_BUILD/config/upstream.conf" >"$SB/upstream.conf"
        printf 'events {}\nhttp { server { listen 127.0.0.1:%s; location / { include %s; } }}\n' \
                "$(free_port)" "$SB/upstream.conf" >"$SB/nginx.conf"
        doctor_expect 0 "nginx upstream" ok 'proxies to $mbupgraded_upstream'
        # proxy.failover_file while nginx does not include the failover snippet: every request
        # through a bridge would fail, a failure with the fix
        sed 's|^  failover_file: ""|  failover_file: '"$SB"'/run/failover.conf|' "$SB/mbupgraded.yaml" >"$SB/failover.yaml"
        grep -q "failover_file: $SB/run/failover.conf" "$SB/failover.yaml" || die "no failover_file in the config copy"
        DOCTOR_ARGS="--config $SB/failover.yaml" doctor_expect 1 "nginx failover" fail \
                "does not include" "/mbupgraded/nginx/failover.conf;' at nginx's http level"
        cp "$SB/nginx-plain.conf" "$SB/nginx.conf"
        # no nginx on the PATH: ok
        (
                export PATH=/usr/bin:/bin
                doctor_expect 0 nginx ok "nginx not installed"
        )

        # --json: one object per check, and the counts
        run_mbctl 0 doctor --json --config "$SB/mbupgraded.yaml"
        python3 -c '
import json, sys
d = json.loads(sys.argv[1])
names = [c["check"] for c in d["checks"]]
assert names == ["config", "daemon", "unit", "secrets", "jar", "feed", "java", "database", "backup dir", "state dir", "nginx upstream", "nginx", "port"], names
assert d["failed"] == 0 and all(c["result"] in ("ok", "warn") for c in d["checks"]), d
assert all("fix" in c for c in d["checks"] if c["result"] != "ok"), d
' "$OUT" || die "doctor --json"

        # secrets at rest (issue 15, item 10): the unit's EnvironmentFile= holds MB_DB_PASS; 0600 is
        # ok, readable by every user is a warning that names it
        chmod 0644 "$SB/opt/metabase/metabase.env"
        doctor_expect 0 secrets warn "$SB/opt/metabase/metabase.env (EnvironmentFile= of metabase.service) holds the database password and every user can read it (mode 0644)" "fix: chgrp"
        chmod 0600 "$SB/opt/metabase/metabase.env"
        doctor_expect 0 secrets ok
        # ... and a config file with the password in backup.app_db: 0644 warns, 0640 (root's
        # group, or admin_group) is ok; a group other than those warns too
        sed "s|^  dir: $SB/backups|  dir: $SB/backups\n  app_db: \"$PG_URI\"|" "$SB/mbupgraded.yaml" >"$SB/secret.yaml"
        grep -q "app_db: \"postgres://metabase:" "$SB/secret.yaml" || die "no app_db in secret.yaml"
        chmod 0644 "$SB/secret.yaml"
        DOCTOR_ARGS="--config $SB/secret.yaml" doctor_expect 0 secrets warn "$SB/secret.yaml holds the database password (backup.app_db) and every user can read it (mode 0644)"
        assert_not_contains "$OUT" "$PG_PASS"
        chgrp nogroup "$SB/secret.yaml"
        chmod 0640 "$SB/secret.yaml"
        DOCTOR_ARGS="--config $SB/secret.yaml" doctor_expect 0 secrets warn "$SB/secret.yaml holds the database password (backup.app_db) and the group $(getent group nogroup | cut -d: -f3) can read it (mode 0640)"
        chgrp root "$SB/secret.yaml"
        DOCTOR_ARGS="--config $SB/secret.yaml" doctor_expect 0 secrets ok "$SB/secret.yaml (mode 0640)"
        sed -i "s/^admin_group: .*/admin_group: nogroup/" "$SB/secret.yaml"
        chgrp nogroup "$SB/secret.yaml"
        DOCTOR_ARGS="--config $SB/secret.yaml" doctor_expect 0 secrets ok "$SB/secret.yaml (mode 0640)"

        # fleet.key_file (issue 15): a fleet without one fails with how to make it; one others can
        # read, not root's, or empty fails too; root's alone (0600) with a key is ok
        cp "$SB/mbupgraded.yaml" "$SB/fleet.yaml"
        printf 'fleet:\n  enabled: true\n  node: n1\n  nodes: [n1, n2]\n' >>"$SB/fleet.yaml"
        DOCTOR_ARGS="--config $SB/fleet.yaml" doctor_expect 1 fleet-key fail "fleet.enabled without fleet.key_file: the coordination database's rows are not signed" \
                "fix: head -c 32 /dev/urandom | base64 > /etc/mbupgraded/fleet.key; chmod 0600 /etc/mbupgraded/fleet.key; copy the same file to every node"
        printf '  key_file: %s\n' "$SB/fleet.key" >>"$SB/fleet.yaml"
        head -c 32 /dev/urandom | base64 >"$SB/fleet.key"
        chmod 0644 "$SB/fleet.key"
        DOCTOR_ARGS="--config $SB/fleet.yaml" doctor_expect 1 fleet-key fail "fleet.key_file $SB/fleet.key is owned by uid 0 with mode 0644: whoever else can read it can sign" "fix: chown root:root $SB/fleet.key && chmod 0600 $SB/fleet.key"
        chmod 0600 "$SB/fleet.key"
        chown nobody "$SB/fleet.key"
        DOCTOR_ARGS="--config $SB/fleet.yaml" doctor_expect 1 fleet-key fail "is owned by uid $(id -u nobody) with mode 0600"
        chown root "$SB/fleet.key"
        DOCTOR_ARGS="--config $SB/fleet.yaml" doctor_expect 0 fleet-key ok "$SB/fleet.key, root's alone (mode 0600): the fleet's rows are signed"
        : >"$SB/fleet.key"
        DOCTOR_ARGS="--config $SB/fleet.yaml" doctor_expect 1 fleet-key fail "holds 0 bytes, fewer than 16: no key"

        # the JAR missing
        mv "$SB/opt/metabase/metabase.jar" "$SB/away.jar"
        doctor_expect 1 jar fail "$SB/opt/metabase/metabase.jar" "fix: put Metabase's JAR back at $SB/opt/metabase/metabase.jar"
        mv "$SB/away.jar" "$SB/opt/metabase/metabase.jar"

        # the feed unreachable (a port nobody listens on), in the config doctor is given
        sed "s|^  feed: .*|  feed: http://127.0.0.1:$(free_port)/version-info.json|" "$SB/mbupgraded.yaml" >"$SB/nofeed.yaml"
        DOCTOR_ARGS="--config $SB/nofeed.yaml" doctor_expect 1 feed fail "fix: check releases.feed in $SB/nofeed.yaml"
        grep -qE "^ok +config +$SB/nofeed.yaml" <<<"$OUT" || die "doctor did not read the config it was given"

        # an invalid config
        printf 'policy:\n  allow: huge\n' >"$SB/bad.yaml"
        DOCTOR_ARGS="--config $SB/bad.yaml" doctor_expect 1 config fail "policy.allow" "fix: correct what the message names, then: mbctl config check $SB/bad.yaml"

        # the database password changed under Metabase's feet
        runuser -u postgres -- "$PG_BIN/psql" -X -q -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres -d postgres \
                -c "ALTER ROLE metabase PASSWORD 'not-the-one-in-the-unit'" >/dev/null
        doctor_expect 1 database fail "password authentication failed" "fix: correct the database settings (MB_DB_*) of metabase.service"
        runuser -u postgres -- "$PG_BIN/psql" -X -q -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres -d postgres \
                -c "ALTER ROLE metabase PASSWORD '$PG_PASS'" >/dev/null

        # the backup dir read-only (root may write anywhere else): a read-only bind mount
        mount --bind "$SB/backups" "$SB/backups"
        mount -o remount,bind,ro "$SB/backups"
        doctor_expect 1 "backup dir" fail "$SB/backups is not writable: Read-only file system" "fix: make $SB/backups writable"
        umount "$SB/backups"

        # a newer major in the feed: by Metabase's requirements it needs Java 21, which the unit
        # does not have (when the machine's java is older than 21)...
        java=$("$MBUP_BUILD/cli/mbctl" doctor --json --config "$SB/mbupgraded.yaml" | python3 -c '
import json, re, sys
print(re.search(r"Java (\d+)", [c for c in json.load(sys.stdin)["checks"] if c["check"] == "java"][0]["found"]).group(1))')
        # (doctor reads the feed itself: the daemon has not seen v0.56.2 yet, nor staged it)
        mirror_feed v0.56.2:2025-03-01 v0.52.1:2025-02-01 v0.52.0:2025-01-01
        if ((java < 21)); then
                doctor_expect 1 java fail "v0.56.2 needs Java 21 (from Metabase's requirements" "fix: before upgrading to v0.56.2, install a Java 21 runtime"
        else
                log "the unit's Java is $java: the too-old case needs a Java older than 21"
        fi
        # ... while its staged and verified JAR says what it really needs (the stand-in: Java 11)
        run_mbctl 0 check
        wait_for 30 eval '[[ $(mbctl status) == *"Staged: v0.56.2 (verified)"* ]]' || die "v0.56.2 was not staged"
        doctor_expect 0 java ok "v0.56.2 needs Java 11 (from its staged, verified JAR"
        # Metabase runs v0.53+ with --add-opens java.base/java.nio=ALL-UNNAMED; the sandbox's unit does not
        doctor_expect 0 java-opens warn "ExecStart= lacks --add-opens java.base/java.nio=ALL-UNNAMED"
}
