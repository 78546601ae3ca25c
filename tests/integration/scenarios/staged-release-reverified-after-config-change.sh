# A release staged under a laxer configuration is never installed on that old verdict. Staged
# with require_checksum false and no signing_key, then the daemon restarted with a signing_key
# (and require_checksum true): verified.json records what was verified (checksum yes/no and
# which, signature yes/no and the key's fingerprint), the stale stage is downloaded and verified
# anew, and `mbctl upgrade window` commits a release with a good signature and refuses one with
# no signature before the stop. Then, after that refused stage and with its mirror gone, one with
# no published checksum is staged (require_checksum false) and refused once it is true.
wait_staged() {
        local i
        for i in $(seq 1 150); do
                [[ "$(mbctl status)" == *"Staged: $1 (verified)"* ]] && return 0
                sleep 0.2
        done
        mbctl status >&2
        die "$1 was not staged"
}

# restart_with KEY REQUIRE_CHECKSUM: the daemon started again with that configuration.
restart_with() {
        systemctl --user stop mbupgraded.service
        MBUP_SIGNING_KEY=$1 MBUP_REQUIRE_CHECKSUM=$2 write_config
        start_daemon
}

scenario() {
        local k=$SB/keys rec pid fp rc
        mkdir -p "$k"
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$k/rsa.pem" 2>/dev/null
        openssl pkey -in "$k/rsa.pem" -pubout -out "$k/rsa.pub"
        fp=$(openssl pkey -pubin -in "$k/rsa.pub" -outform DER | sha256sum | cut -d' ' -f1)

        install_metabase "$(make_release v0.56.1)"
        mirror_release v0.56.2 "$(make_release v0.56.2)"
        mirror_feed v0.56.2:2025-02-02 v0.56.1:2025-01-01

        # 1. staged with no signing_key and require_checksum false: no signature was checked
        MBUP_SIGNING_KEY="" MBUP_REQUIRE_CHECKSUM=false write_config
        start_daemon
        run_mbctl 0 check
        wait_staged v0.56.2
        rec=$SB/state/staging/v0.56.2/verified.json
        grep -q '"signature":false' "$rec" || die "verified.json does not say no signature was checked: $(cat "$rec")"
        grep -q '"checksum":true' "$rec" || die "verified.json does not record the checksum: $(cat "$rec")"
        grep -q "\"checksum_sha256\":\"$(cut -d' ' -f1 "$SB/mirror/v0.56.2/metabase.sha256")\"" "$rec" ||
                die "verified.json does not say which checksum: $(cat "$rec")"
        # a second link keeps the old JAR's inode in use: a new file can't get its number again
        ln "$SB/state/staging/v0.56.2/metabase.jar" "$k/v0.56.2-first-stage.jar"
        local staged_ino=$(stat -c %i "$SB/state/staging/v0.56.2/metabase.jar")

        # 2. signing_key set (the release is signed meanwhile): verified again, with the key, then
        # committed
        openssl dgst -sha256 -sign "$k/rsa.pem" -out "$SB/mirror/v0.56.2/metabase.jar.sig" "$SB/mirror/v0.56.2/metabase.jar"
        restart_with "$k/rsa.pub" true
        run_mbctl 0 upgrade window
        assert_contains "$OUT" "committed"
        assert_eq "$(running_version)" "v0.56.2"
        grep -q "\"signing_key_sha256\":\"$fp\"" "$rec" ||
                die "verified.json does not name the key it was verified with ($fp): $(cat "$rec")"
        grep -q '"signature":true' "$rec" || die "verified.json: $(cat "$rec")"
        grep -q "downloaded and verified anew: it was staged without a signature check" "$SB/logs/mbupgraded.log" ||
                die "the stale stage was not staged anew (log)"
        [[ $(stat -c %i "$SB/state/staging/v0.56.2/metabase.jar") != "$staged_ino" ]] ||
                die "the JAR staged under the old configuration was kept"

        # 3. v0.56.3 staged with no signing_key and never signed: with the key set again, refused
        # before the stop
        mirror_release v0.56.3 "$(make_release v0.56.3)"
        mirror_feed v0.56.3:2025-02-03 v0.56.2:2025-02-02 v0.56.1:2025-01-01
        restart_with "" false
        run_mbctl 0 check
        wait_staged v0.56.3
        pid=$(main_pid)
        restart_with "$k/rsa.pub" true
        rc=0
        OUT=$(mbctl upgrade window 2>&1) || rc=$?
        printf '%s\n' "$OUT" | sed 's/^/#   mbctl: /' >&2
        [[ $rc -ne 0 ]] || die "an unsigned staged release was installed: $OUT"
        assert_not_contains "$OUT" "committed"
        assert_eq "$(main_pid)" "$pid" "MainPID after the refusal"
        assert_eq "$(unit_state)" "active" "metabase.service after the refusal"
        assert_eq "$(running_version)" "v0.56.2"
        assert_eq "$(installed_version)" "v0.56.2"
        assert_contains "$(mbctl status) $OUT $(tail -50 "$SB/logs/mbupgraded.log")" "metabase.jar.sig could not be downloaded"
        [[ ! -e $SB/state/staging/v0.56.3/verified.json ]] || die "the unsigned release still has a verified record"

        # 4. v0.56.4 staged while require_checksum was false and no checksum was published:
        # with require_checksum true (and it signed), refused before the stop. Staged after the
        # refused v0.56.3 with its mirror removed: nothing of that stage holds this one up
        # (staged-release-reverified-checksum does the same on a fresh daemon).
        mirror_release v0.56.4 "$(make_release v0.56.4)"
        rm "$SB/mirror/v0.56.4/metabase.sha256"
        openssl dgst -sha256 -sign "$k/rsa.pem" -out "$SB/mirror/v0.56.4/metabase.jar.sig" "$SB/mirror/v0.56.4/metabase.jar"
        rm -rf "$SB/mirror/v0.56.3"
        mirror_feed v0.56.4:2025-02-04 v0.56.2:2025-02-02 v0.56.1:2025-01-01
        restart_with "$k/rsa.pub" false
        run_mbctl 0 check
        wait_staged v0.56.4
        grep -q '"checksum":false' "$SB/state/staging/v0.56.4/verified.json" ||
                die "verified.json: $(cat "$SB/state/staging/v0.56.4/verified.json")"
        restart_with "$k/rsa.pub" true
        rc=0
        OUT=$(mbctl upgrade window 2>&1) || rc=$?
        printf '%s\n' "$OUT" | sed 's/^/#   mbctl: /' >&2
        [[ $rc -ne 0 ]] || die "a staged release without a checksum was installed: $OUT"
        assert_eq "$(main_pid)" "$pid" "MainPID after the refusal"
        assert_eq "$(running_version)" "v0.56.2"
        assert_contains "$(mbctl status) $OUT $(tail -50 "$SB/logs/mbupgraded.log")" "no metabase.sha256 is published for v0.56.4"
}
