# releases.signing_key: a detached signature beside the JAR must verify (RSA with SHA-256, as made
# by `openssl dgst -sha256 -sign`, and Ed25519, as made by `openssl pkeyutl -sign -rawin`); a
# signature by another key, or none, is refused before the service is touched.
scenario() {
        local k=$SB/keys
        mkdir -p "$k"
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$k/rsa.pem" 2>/dev/null
        openssl pkey -in "$k/rsa.pem" -pubout -out "$k/rsa.pub"
        openssl genpkey -algorithm ED25519 -out "$k/ed.pem"
        openssl pkey -in "$k/ed.pem" -pubout -out "$k/ed.pub"
        openssl genpkey -algorithm ED25519 -out "$k/other.pem"

        install_metabase "$(make_release v0.56.1)"
        mirror_release v0.56.2 "$(make_release v0.56.2)"
        openssl dgst -sha256 -sign "$k/rsa.pem" -out "$SB/mirror/v0.56.2/metabase.jar.sig" "$SB/mirror/v0.56.2/metabase.jar"
        mirror_release v0.56.3 "$(make_release v0.56.3)"
        openssl pkeyutl -sign -rawin -inkey "$k/ed.pem" -in "$SB/mirror/v0.56.3/metabase.jar" \
                -out "$SB/mirror/v0.56.3/metabase.jar.sig"
        mirror_release v0.56.4 "$(make_release v0.56.4)"
        openssl pkeyutl -sign -rawin -inkey "$k/other.pem" -in "$SB/mirror/v0.56.4/metabase.jar" \
                -out "$SB/mirror/v0.56.4/metabase.jar.sig"
        mirror_release v0.56.5 "$(make_release v0.56.5)" # no signature at all
        mirror_feed v0.56.5:2025-02-05 v0.56.4:2025-02-04 v0.56.3:2025-02-03 v0.56.2:2025-02-02 v0.56.1:2025-01-01

        MBUP_SIGNING_KEY=$k/rsa.pub write_config
        start_daemon
        run_mbctl 0 check
        run_mbctl 0 upgrade now --to v0.56.2
        assert_contains "$OUT" "committed"

        systemctl --user stop mbupgraded.service
        MBUP_SIGNING_KEY=$k/ed.pub write_config
        start_daemon
        run_mbctl 0 upgrade now --to v0.56.3
        assert_contains "$OUT" "committed"
        local pid=$(main_pid)
        run_mbctl 5 upgrade now --to v0.56.4
        assert_contains "$OUT" "does not verify with releases.signing_key"
        run_mbctl 5 upgrade now --to v0.56.5
        assert_contains "$OUT" "metabase.jar.sig could not be downloaded"
        assert_eq "$(main_pid)" "$pid" "MainPID after the refusals"
        assert_eq "$(running_version)" "v0.56.3"
}
