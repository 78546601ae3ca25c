# The stand-in does what Metabase's source shows (docs/metabase.md), on H2, run by hand: the
# JAR's version.properties and supported-db-versions.edn, progress held at 0.3 through the
# migrations, the /api/ answers while initializing, /livez and /readyz, "redirect all requests
# to HTTPS", the lock's six tries, MB_DB_AUTOMIGRATE=false, the DB version check, downgrades by
# major only, one Liquibase line per migration, migrate release-locks on H2, and SIGTERM letting
# the migrations finish.
SL_PID=''
sl_start() { # sl_start JAR LOG [VAR=VALUE...]: the stand-in on $SL_PORT, in the background
        local jar=$1 log=$2
        shift 2
        env MB_JETTY_PORT="$SL_PORT" MB_DB_FILE="$SB/sl/metabase.db" "$@" java -jar "$jar" >"$log" 2>&1 &
        SL_PID=$!
}
sl_wait() { # sl_wait: waits for the stand-in to exit; its status in SL_RC
        SL_RC=0
        wait "$SL_PID" || SL_RC=$?
        SL_PID=''
}
sl_stop() { [[ -z $SL_PID ]] || { kill "$SL_PID" 2>/dev/null; wait "$SL_PID" 2>/dev/null || true; SL_PID=''; }; }
sl_get() { curl -s -o /dev/null -w '%{http_code} %{redirect_url}' --max-time 5 "$@"; }
sl_health() { curl -s --max-time 2 "http://127.0.0.1:$SL_PORT/api/health" || true; }
sl_query() { java -cp /usr/share/java/h2.jar org.h2.tools.Shell -url "jdbc:h2:file:$SB/sl/metabase.db" \
        -user '' -password '' -sql "$1" 2>/dev/null | sed -n 2p | tr -d ' '; }

scenario() {
        local jar slow old tight v seen p u checked=''
        SANDBOX_CLEANUP_HOOKS+=(sl_stop)
        mkdir -p "$SB/sl"
        SL_PORT=$(free_port)
        u=http://127.0.0.1:$SL_PORT
        jar=$(make_release v0.56.1)

        # version.properties: tag, 7-hex hash, date, no branch, no newline at the end
        v=$(unzip -p "$jar" version.properties)
        [[ $v =~ ^tag=v0\.56\.1$'\n'hash=[0-9a-f]{7}$'\n'date=[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]] ||
                die "version.properties is not as Metabase's build writes it: $(printf %q "$v")"
        [[ $(unzip -p "$jar" version.properties | tail -c1 | od -An -c | tr -d ' ') != '\n' ]] ||
                die "version.properties ends in a newline"
        assert_contains "$(unzip -p "$jar" metabase/app_db/supported-db-versions.edn)" \
                ":postgres {:major 12 :minor 0 :patch 0}"

        # a fresh database: progress 0.3 all through the migrations (0.2 s each), no value but
        # Metabase's steps; /livez 200, /readyz and /api/... 503 meanwhile
        slow=$(make_release v0.56.1 slow --migration-ms 200)
        sl_start "$slow" "$SB/sl/fresh.log" MB_SITE_URL=https://mb.example.org:8443 \
                MB_REDIRECT_ALL_REQUESTS_TO_HTTPS=true
        seen=''
        for _ in $(seq 1 600); do
                p=$(sl_health)
                [[ $p == *'"ok"'* ]] && break
                [[ -z $p ]] || seen+="$p"$'\n'
                if [[ $p == *'"progress":0.3}'* && -z $checked ]]; then
                        checked=1
                        assert_eq "$(curl -s -w ' %{http_code} %{content_type}' -H 'X-Forwarded-Proto: https' \
                                "$u/api/session/properties")" \
                                "Metabase is still initializing. Please sit tight... 503 text/plain" "/api/ while initializing"
                        assert_eq "$(curl -s -w ' %{http_code}' "$u/livez")" '{"status":"ok"} 200' "/livez while initializing"
                        assert_eq "$(curl -s -w ' %{http_code}' "$u/readyz")" "$p 503" "/readyz while initializing"
                        # redirect all requests to HTTPS: 301 for GET, 307 for POST, none for the probes
                        assert_eq "$(sl_get "$u/api/user/current?x=1")" "301 https://mb.example.org:8443/api/user/current?x=1"
                        assert_eq "$(sl_get -X POST "$u/api/session")" "307 https://mb.example.org:8443/api/session"
                        assert_eq "$(sl_get -H 'X-Forwarded-Ssl: on' "$u/api/user/current")" "503 " "X-Forwarded-Ssl: on"
                        assert_eq "$(sl_get -H 'X-Forwarded-Proto: http' -H 'X-Forwarded-Ssl: on' "$u/api/x")" \
                                "301 https://mb.example.org:8443/api/x" "X-Forwarded-Proto wins"
                        assert_eq "$(sl_get -H 'Origin: https://mb.example.org' "$u/api/x")" "503 " "an https Origin"
                        assert_eq "$(sl_get "$u/api/health")" "503 " "/api/health is never redirected"
                fi
                sleep 0.1
        done
        [[ $p == *'"ok"'* ]] || die "never ready: $(tail -n 5 "$SB/sl/fresh.log")"
        [[ -n $checked ]] || die "never saw progress 0.3: $seen"
        [[ -z $(grep -o '"progress":[0-9.]*' <<<"$seen" | sort -u |
                grep -vxE '"progress":(0|0\.1|0\.2|0\.3|0\.4|0\.5|0\.6|0\.7|0\.8|0\.85|0\.9|0\.95)') ]] ||
                die "progress values Metabase does not have: $(sort -u <<<"$seen")"
        assert_eq "$(grep -c 'ChangeSet migrations/001_update_migrations.yaml::v[0-9.]*::standin ran successfully in' \
                "$SB/sl/fresh.log")" "121" "one Liquibase line per migration"
        assert_eq "$(curl -s -H 'X-Forwarded-Proto: https' "$u/api/session/properties" | grep -o '"version":{[^}]*}' |
                sed 's/"hash":"[0-9a-f]*"/"hash":H/; s/"date":"[0-9-]*"/"date":D/')" \
                '"version":{"tag":"v0.56.1","hash":H,"date":D}' "/api/session/properties"
        sl_stop

        # MB_DB_AUTOMIGRATE=false with a migration to run: the notice, the SQL, exit 1, nothing changed
        sl_start "$(make_release v0.56.2)" "$SB/sl/manual.log" MB_DB_AUTOMIGRATE=false
        sl_wait
        assert_eq "$SL_RC" "1" "the exit status with MB_DB_AUTOMIGRATE=false"
        assert_contains "$(cat "$SB/sl/manual.log")" "Database Upgrade Required"
        assert_contains "$(cat "$SB/sl/manual.log")" "-- Changeset migrations/001_update_migrations.yaml::v56.002::standin"
        assert_contains "$(cat "$SB/sl/manual.log")" $'Metabase Initialization FAILED\njava.lang.Exception: Database requires manual upgrade.'
        assert_eq "$(sl_query "SELECT COUNT(*) FROM DATABASECHANGELOG")" "121" "the changelog after the refusal"

        # the lock held: six tries 2 s apart, then the LockException, exit 1; the lock stays
        sl_query "UPDATE DATABASECHANGELOGLOCK SET LOCKED = TRUE, LOCKEDBY = 'elsewhere' WHERE ID = 1" >/dev/null
        sl_start "$(make_release v0.56.2)" "$SB/sl/lock.log"
        sl_wait
        assert_eq "$SL_RC" "1" "the exit status with the lock held"
        assert_eq "$(grep -c 'auto-retry .*: Database has migration lock; cannot run migrations.' "$SB/sl/lock.log")" "5" \
                "the logged retries"
        assert_contains "$(cat "$SB/sl/lock.log")" "liquibase.exception.LockException: Database has migration lock; cannot run migrations. You can force-release these locks by running \`java --add-opens java.base/java.nio=ALL-UNNAMED -jar metabase.jar migrate release-locks\`."
        # ... but nothing to run: the lock is not looked at
        sl_start "$jar" "$SB/sl/lock-nothing.log"
        wait_for 30 bash -c "[[ \$(curl -s $u/api/health) == *ok* ]]" || die "v0.56.1 did not start with the lock held and nothing to run"
        sl_stop
        # migrate release-locks on H2 clears it
        env MB_DB_FILE="$SB/sl/metabase.db" java -jar "$jar" migrate release-locks >"$SB/sl/release.log" 2>&1 ||
                die "migrate release-locks failed on H2: $(cat "$SB/sl/release.log")"
        assert_eq "$(sl_query "SELECT LOCKED FROM DATABASECHANGELOGLOCK WHERE ID = 1")" "FALSE" "the lock after release-locks"

        # the DB version check, against the JAR's supported-db-versions.edn
        tight=$(make_release v0.56.1 tight --db-min h2=2.2.0)
        sl_start "$tight" "$SB/sl/version.log"
        sl_wait
        assert_eq "$SL_RC" "1" "the exit status on a too old H2"
        assert_contains "$(cat "$SB/sl/version.log")" "Metabase h2 DB version not supported (found 2.1.214 ("
        assert_contains "$(cat "$SB/sl/version.log")" "required 2.2.0). Please upgrade your database to a supported version and try again."

        # downgrades by major only: v0.56.1 runs on v0.56.2's schema, v0.55.4 refuses it
        sl_start "$(make_release v0.56.2)" "$SB/sl/up.log"
        wait_for 30 bash -c "[[ \$(curl -s $u/api/health) == *ok* ]]" || die "v0.56.2 did not start"
        sl_stop
        sl_start "$jar" "$SB/sl/same-major.log"
        wait_for 30 bash -c "[[ \$(curl -s $u/api/health) == *ok* ]]" || die "v0.56.1 refused v0.56.2's schema"
        sl_stop
        old=$(make_release v0.55.4)
        sl_start "$old" "$SB/sl/down.log"
        sl_wait
        assert_eq "$SL_RC" "1" "the exit status of an older major"
        assert_contains "$(cat "$SB/sl/down.log")" "Database has migrations from v56 but this binary only knows up to v55:"
        assert_contains "$(cat "$SB/sl/down.log")" "ERROR: Downgrade detected."
        assert_contains "$(cat "$SB/sl/down.log")" "migrate down\` from version 56."
        assert_eq "$(sl_query "SELECT COUNT(*) FROM DATABASECHANGELOG")" "122" "the changelog after the refusal"

        # SIGTERM in the middle of migrations: the shutdown hook lets them finish (up to 20 s)
        sl_start "$(make_release v0.56.5 drain --migration-ms 1000)" "$SB/sl/drain.log"
        wait_for 30 grep -q "Running 3 migrations \.\.\." "$SB/sl/drain.log" || die "v0.56.5 did not start migrating"
        kill -TERM "$SL_PID"
        sl_wait
        assert_eq "$SL_RC" "0" "the exit status after SIGTERM"
        assert_contains "$(cat "$SB/sl/drain.log")" "Waiting for migration lock(s) to be released (max 20.0 secs)"
        assert_contains "$(cat "$SB/sl/drain.log")" "Migration lock(s) have been released"
        assert_eq "$(sl_query "SELECT COUNT(*) FROM DATABASECHANGELOG")" "125" "the changelog after the stop"
        assert_eq "$(sl_query "SELECT LOCKED FROM DATABASECHANGELOGLOCK WHERE ID = 1")" "FALSE" "the lock after the stop"
}
