# JARs that must never get near the service: one that needs a newer Java than the unit's, a
# file that is no JAR, a JAR without version.properties, the same version, an older one.
# Each is refused by pre-flight (exit 5) and Metabase keeps running untouched.
scenario() {
        local pid
        install_metabase "$(make_release v0.56.2)"
        start_daemon
        pid=$(main_pid)

        run_mbctl 5 upgrade now --jar "$(make_release v0.56.3 java21 --java 21)"
        assert_contains "$OUT" "needs Java 21"
        # Found in the classes: the Main-Class is a gen-class-style stub at 49, as in real Metabase.
        assert_contains "$OUT" "is at class-file version 65; the main class metabase.core.bootstrap is at 49"
        # Debian 12 has no openjdk-21: the fix names what installs it there.
        assert_contains "$OUT" "apt install temurin-21-jre"
        assert_contains "$OUT" "/usr/lib/jvm/temurin-21-jre-"
        head -c 100000 /dev/urandom >"$SB/jars/garbage.jar"
        run_mbctl 5 upgrade now --jar "$SB/jars/garbage.jar"
        assert_contains "$OUT" "not a ZIP"
        (cd "$SB/jars" && mkdir -p plain && echo hi >plain/x.txt && cd plain && jar cf ../plain.jar x.txt)
        run_mbctl 5 upgrade now --jar "$SB/jars/plain.jar"
        assert_contains "$OUT" "version.properties"
        run_mbctl 5 upgrade now --jar "$(make_release v0.56.2 same --date 2020-01-01)"
        assert_contains "$OUT" "already installed"
        run_mbctl 5 upgrade now --jar "$(make_release v0.56.1 older)"
        assert_contains "$OUT" "older than the installed"
        run_mbctl 2 upgrade now --jar "$SB/jars/does-not-exist.jar"
        # no feed could be read (the sandbox's mirror is empty): refused, with the reason
        run_mbctl 5 upgrade now
        assert_contains "$OUT" "No release feed has been read yet"
        scenario_more

        # An application database that does not answer: refused before the stop, its password never shown.
        mkdir -p "$SB/units/metabase.service.d"
        printf '[Service]\nEnvironment=MB_DB_TYPE=postgres\nEnvironment=MB_DB_CONNECTION_URI=postgres://metabase:s3cret@127.0.0.1:5432/metabase\n' \
                >"$SB/units/metabase.service.d/pg.conf"
        systemctl --user daemon-reload
        run_mbctl 5 upgrade now --jar "$(make_release v0.56.3)"
        assert_contains "$OUT" "PostgreSQL metabase@127.0.0.1:5432/metabase"
        assert_not_contains "$OUT" "s3cret"
        assert_not_contains "$(mbctl history --json)" "s3cret"
        rm -r "$SB/units/metabase.service.d"
        systemctl --user daemon-reload

        assert_eq "$(main_pid)" "$pid" "MainPID after the refusals"
        assert_eq "$(running_version)" "v0.56.2"
        [[ -z "$(ls -A "$SB/opt/metabase" | grep mbup || true)" ]] || die "staging leftovers"
        [[ -z "$(ls -A "$SB/backups")" ]] || die "a backup was taken for a refused upgrade"
        run_mbctl 0 history --json
        assert_contains "$OUT" '"result":"refused"'
}

# Files that are not JARs in other ways: a symlink, a directory, a FIFO.
scenario_more() {
        local pid=$(main_pid)
        ln -sf "$(make_release v0.56.3 linked)" "$SB/jars/link.jar"
        run_mbctl 5 upgrade now --jar "$SB/jars/link.jar"
        assert_contains "$OUT" "symbolic link"
        mkdir -p "$SB/jars/dir.jar"
        run_mbctl 5 upgrade now --jar "$SB/jars/dir.jar"
        mkfifo "$SB/jars/fifo.jar"
        run_mbctl 5 upgrade now --jar "$SB/jars/fifo.jar"
        assert_eq "$(main_pid)" "$pid" "MainPID after the refusals"
}
