# A release staged while releases.require_checksum was false and no metabase.sha256 was
# published (signed, with signing_key set) is not installed once require_checksum is true: its
# verified.json says no checksum was checked, the stage is stale, staged anew, and the missing
# checksum refuses it before the stop (issue 15; the signature half is
# staged-release-reverified-after-config-change).
wait_staged() {
        local i
        for i in $(seq 1 150); do
                [[ "$(mbctl status)" == *"Staged: $1 (verified)"* ]] && return 0
                sleep 0.2
        done
        mbctl status >&2
        die "$1 was not staged"
}

scenario() {
        local k=$SB/keys pid rc
        mkdir -p "$k"
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$k/rsa.pem" 2>/dev/null
        openssl pkey -in "$k/rsa.pem" -pubout -out "$k/rsa.pub"
        install_metabase "$(make_release v0.56.1)"
        mirror_release v0.56.4 "$(make_release v0.56.4)"
        rm "$SB/mirror/v0.56.4/metabase.sha256"
        openssl dgst -sha256 -sign "$k/rsa.pem" -out "$SB/mirror/v0.56.4/metabase.jar.sig" "$SB/mirror/v0.56.4/metabase.jar"
        mirror_feed v0.56.4:2025-02-04 v0.56.1:2025-01-01
        MBUP_SIGNING_KEY=$k/rsa.pub MBUP_REQUIRE_CHECKSUM=false write_config
        start_daemon
        pid=$(main_pid)
        run_mbctl 0 check
        wait_staged v0.56.4
        local rec=$SB/state/staging/v0.56.4/verified.json
        grep -q '"checksum":false' "$rec" || die "verified.json does not say no checksum was checked: $(cat "$rec")"
        grep -q '"signature":true' "$rec" || die "verified.json: $(cat "$rec")"

        systemctl --user stop mbupgraded.service
        MBUP_SIGNING_KEY=$k/rsa.pub MBUP_REQUIRE_CHECKSUM=true write_config
        start_daemon
        rc=0
        OUT=$(mbctl upgrade window 2>&1) || rc=$?
        printf '%s\n' "$OUT" | sed 's/^/#   mbctl: /' >&2
        [[ $rc -ne 0 ]] || die "a staged release without a checksum was installed: $OUT"
        assert_not_contains "$OUT" "committed"
        assert_eq "$(main_pid)" "$pid" "MainPID after the refusal"
        assert_eq "$(running_version)" "v0.56.1"
        assert_eq "$(installed_version)" "v0.56.1"
        assert_contains "$(mbctl status) $OUT $(tail -50 "$SB/logs/mbupgraded.log")" "no metabase.sha256 is published for v0.56.4"
        grep -q "downloaded and verified anew: it was staged without a published checksum" "$SB/logs/mbupgraded.log" ||
                die "the stale stage was not staged anew (log)"
}
