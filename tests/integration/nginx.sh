#!/bin/bash
# SPDX-License-Identifier: MIT
# nginx with TLS from a throw-away test CA, on loopback ports, for tests that download (docs/architecture.md §7).
# Source this file, then:
#
#   nginx_start DIR     certificates under DIR/tls, config and logs under DIR, serves DIR/www
#   nginx_stop
#
# nginx_start sets:
#   NGINX_URL        https://127.0.0.1:$NGINX_PORT      certificate for localhost, 127.0.0.1, ::1
#   NGINX_HTTP_URL   http://127.0.0.1:$NGINX_HTTP_PORT  the same files over plain http
#   NGINX_OTHER_URL  https://127.0.0.1:$NGINX_OTHER_PORT  same, certificate from another CA
#   TEST_CA          DIR/tls/ca.pem (issued NGINX_URL's certificate)
#   OTHER_CA         DIR/tls/other-ca.pem (issued NGINX_OTHER_URL's certificate)
#   NGINX_ACCESS_LOG one line a request: port=PORT "REQUEST" STATUS BYTES range="..." ua="..."
#
# Besides the files under DIR/www, on every port:
#   /slow/NAME                  NAME: about 250 bytes at once, then 1 byte a second
#   /rate/RATE/NAME             NAME at RATE bytes a second, nginx's units: 100m is 100 MiB/s, about
#                               a 1 Gbit/s link (nginx sends the first second's worth at once)
#   /no-ranges/NAME             NAME, ignoring Range headers (always 200 and the whole file)
#   /redirect/NAME              302 to $NGINX_URL/NAME
#   /redirect-http/NAME         302 to $NGINX_HTTP_URL/NAME (plain http, loopback)
#   /redirect-http-remote/NAME  302 to http://192.0.2.1/NAME (plain http, not loopback; TEST-NET-1)
#   /redirect-loop/NAME         302 to itself, forever
#   /status/404, /status/500    that status
#   /truncated/NAME             announces NAME's size, sends half and closes      \  need
#   /lying-length/NAME          announces half of NAME's size, sends all of it     > tests/fetch/
#   /no-length/NAME             sends NAME without a Content-Length (chunked)     /  hostile-httpd
# The last three are proxied to hostile-httpd, found at $NGINX_HOSTILE_HTTPD or
# $MBUP_BUILD/tests/fetch/hostile-httpd; without it they answer 502.
#
# With NGINX_FRONT_UPSTREAM set (host:port of Metabase) before nginx_start, a fourth server is
# Metabase's front, as a site has it: NGINX_FRONT_URL (https, the test CA) proxies everything to
# it, after including NGINX_FRONT_INCLUDE if set (the maintenance page snippet).
#
# Call nginx_start in the shell that will call nginx_stop (not in a $(...) subshell): it keeps the
# process ids in NGINX_PID and NGINX_HOSTILE_PID.

_nginx_free_port() {
        local p
        for _ in $(seq 1 100); do
                # below the kernel's ephemeral range (ip_local_port_range, 32768-60999 by default): a port
                # there may be some connection's local end even though nothing listens on it
                p=$((20000 + RANDOM % 12000))
                if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
                        echo "$p"
                        return 0
                fi
        done
        echo "nginx.sh: no free port" >&2
        return 1
}

# _nginx_ca NAME CN: a self-signed CA in $NGINX_DIR/tls/NAME.{key,pem}.
_nginx_ca() {
        local t=$NGINX_DIR/tls
        cat >"$t/$1.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
CN = $2
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
        openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3 \
                -config "$t/$1.cnf" -keyout "$t/$1.key" -out "$t/$1.pem" 2>/dev/null
}

# _nginx_server_cert NAME CA: a certificate for localhost, 127.0.0.1 and ::1 in
# $NGINX_DIR/tls/NAME.{key,pem}, issued by the CA in $NGINX_DIR/tls/CA.{key,pem}.
_nginx_server_cert() {
        local t=$NGINX_DIR/tls
        cat >"$t/$1.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = localhost
EOF
        cat >"$t/$1.ext" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                -config "$t/$1.cnf" -keyout "$t/$1.key" -out "$t/$1.csr" 2>/dev/null &&
                openssl x509 -req -in "$t/$1.csr" -CA "$t/$2.pem" -CAkey "$t/$2.key" \
                        -set_serial "0x$(openssl rand -hex 8)" -days 3 -extfile "$t/$1.ext" \
                        -out "$t/$1.pem" 2>/dev/null
}

_nginx_write_config() {
        local d=$NGINX_DIR upstream

        if [[ -n "${NGINX_HOSTILE_PORT:-}" ]]; then
                upstream="proxy_pass http://127.0.0.1:$NGINX_HOSTILE_PORT; proxy_buffering off;"
        else
                upstream="return 502;"
        fi

        cat >"$d/locations.conf" <<EOF
root $d/www;
location = /__ready { return 200 "ready\n"; }
location /slow/ { alias $d/www/; limit_rate_after 512; limit_rate 1; }
location ~ ^/rate/([0-9]+[km]?)/(.+)\$ { alias $d/www/\$2; limit_rate \$1; }
location ~ ^/redirect/(.*)\$ { return 302 https://127.0.0.1:$NGINX_PORT/\$1; }
location ~ ^/redirect-http/(.*)\$ { return 302 http://127.0.0.1:$NGINX_HTTP_PORT/\$1; }
location ~ ^/redirect-http-remote/(.*)\$ { return 302 http://192.0.2.1/\$1; }
location ~ ^/redirect-loop/(.*)\$ { return 302 https://127.0.0.1:$NGINX_PORT/redirect-loop/\$1; }
location /no-ranges/ { alias $d/www/; max_ranges 0; }
location = /status/404 { return 404; }
location = /status/500 { return 500; }
location /truncated/ { $upstream }
location /lying-length/ { $upstream }
location /no-length/ { $upstream }
EOF

        local front=
        if [[ -n "${NGINX_FRONT_UPSTREAM:-}" ]]; then
                front="server {
                listen 127.0.0.1:$NGINX_FRONT_PORT ssl;
                ssl_certificate $d/tls/server.pem;
                ssl_certificate_key $d/tls/server.key;
                location = /__ready { return 200 \"ready\\n\"; }
                ${NGINX_FRONT_INCLUDE:+include $NGINX_FRONT_INCLUDE;}
                location / {
                        proxy_pass http://$NGINX_FRONT_UPSTREAM;
                        proxy_set_header Host \$host;
                        proxy_connect_timeout 2s;
                }
        }"
        fi

        cat >"$d/nginx.conf" <<EOF
daemon off;
$([[ $(id -u) -eq 0 ]] && echo "user root;")
worker_processes 1;
pid $d/nginx.pid;
error_log $d/logs/error.log info;
events { worker_connections 256; }
http {
        types {
                application/java-archive jar;
                application/json json;
                text/plain txt sha256 sig;
        }
        default_type application/octet-stream;
        log_format mbup 'port=\$server_port "\$request" \$status \$body_bytes_sent range="\$http_range" ua="\$http_user_agent"';
        access_log $d/logs/access.log mbup;
        client_body_temp_path $d/tmp/body;
        proxy_temp_path $d/tmp/proxy;
        fastcgi_temp_path $d/tmp/fastcgi;
        uwsgi_temp_path $d/tmp/uwsgi;
        scgi_temp_path $d/tmp/scgi;
        sendfile on;
        server_tokens off;

        server {
                listen 127.0.0.1:$NGINX_PORT ssl;
                ssl_certificate $d/tls/server.pem;
                ssl_certificate_key $d/tls/server.key;
                include $d/locations.conf;
        }
        server {
                listen 127.0.0.1:$NGINX_HTTP_PORT;
                include $d/locations.conf;
        }
        server {
                listen 127.0.0.1:$NGINX_OTHER_PORT ssl;
                ssl_certificate $d/tls/other-server.pem;
                ssl_certificate_key $d/tls/other-server.key;
                include $d/locations.conf;
        }
        $front
}
EOF
}

_nginx_start_hostile() {
        local bin=${NGINX_HOSTILE_HTTPD:-${MBUP_BUILD:+$MBUP_BUILD/tests/fetch/hostile-httpd}}

        NGINX_HOSTILE_PORT=
        NGINX_HOSTILE_PID=
        [[ -n "$bin" && -x "$bin" ]] || return 0
        rm -f "$NGINX_DIR/hostile.port"
        "$bin" "$NGINX_DIR/www" "$NGINX_DIR/hostile.port" 2>>"$NGINX_DIR/logs/hostile.log" &
        NGINX_HOSTILE_PID=$!
        for _ in $(seq 1 100); do
                [[ -s "$NGINX_DIR/hostile.port" ]] && break
                sleep 0.05
        done
        NGINX_HOSTILE_PORT=$(cat "$NGINX_DIR/hostile.port" 2>/dev/null) || {
                echo "nginx.sh: $bin did not start" >&2
                return 1
        }
}

nginx_start() {
        local ok=

        NGINX_DIR=$(mkdir -p "$1" && cd "$1" && pwd)
        mkdir -p "$NGINX_DIR"/{tls,www,logs,tmp}
        chmod 700 "$NGINX_DIR/tls"

        if ! { _nginx_ca ca "mbupgraded test CA" &&
                _nginx_server_cert server ca &&
                _nginx_ca other-ca "mbupgraded unrelated test CA" &&
                _nginx_server_cert other-server other-ca; }; then
                echo "nginx.sh: making the test certificates failed" >&2
                return 1
        fi
        TEST_CA=$NGINX_DIR/tls/ca.pem
        OTHER_CA=$NGINX_DIR/tls/other-ca.pem

        _nginx_start_hostile || return 1

        # A port can be taken between choosing and binding it: try again with others.
        for _ in 1 2 3; do
                NGINX_PORT=$(_nginx_free_port) || return 1
                NGINX_HTTP_PORT=$(_nginx_free_port) || return 1
                NGINX_OTHER_PORT=$(_nginx_free_port) || return 1
                NGINX_FRONT_PORT=$(_nginx_free_port) || return 1
                _nginx_write_config
                nginx -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/logs/error.log" \
                        >>"$NGINX_DIR/logs/nginx.out" 2>&1 &
                NGINX_PID=$!
                for _ in $(seq 1 100); do
                        if ! kill -0 "$NGINX_PID" 2>/dev/null; then
                                break
                        fi
                        if curl -sf --cacert "$TEST_CA" "https://127.0.0.1:$NGINX_PORT/__ready" >/dev/null 2>&1; then
                                ok=1
                                break
                        fi
                        sleep 0.05
                done
                [[ -n "$ok" ]] && break
                kill -TERM "$NGINX_PID" 2>/dev/null || true
                wait "$NGINX_PID" 2>/dev/null || true
                NGINX_PID=
        done
        if [[ -z "$ok" ]]; then
                echo "nginx.sh: nginx did not start; its error log:" >&2
                tail -n 20 "$NGINX_DIR/logs/error.log" >&2 2>/dev/null || true
                return 1
        fi

        NGINX_URL=https://127.0.0.1:$NGINX_PORT
        NGINX_HTTP_URL=http://127.0.0.1:$NGINX_HTTP_PORT
        NGINX_OTHER_URL=https://127.0.0.1:$NGINX_OTHER_PORT
        NGINX_FRONT_URL=https://127.0.0.1:$NGINX_FRONT_PORT
        NGINX_ACCESS_LOG=$NGINX_DIR/logs/access.log
        export NGINX_DIR NGINX_PORT NGINX_HTTP_PORT NGINX_OTHER_PORT NGINX_URL NGINX_HTTP_URL \
                NGINX_OTHER_URL NGINX_FRONT_URL NGINX_ACCESS_LOG TEST_CA OTHER_CA
}

nginx_stop() {
        local pid
        for pid in ${NGINX_PID:-} ${NGINX_HOSTILE_PID:-}; do
                kill -TERM "$pid" 2>/dev/null || continue
                for _ in $(seq 1 50); do
                        kill -0 "$pid" 2>/dev/null || break
                        sleep 0.1
                done
                kill -KILL "$pid" 2>/dev/null || true
                wait "$pid" 2>/dev/null || true
        done
        NGINX_PID=
        NGINX_HOSTILE_PID=
        return 0
}

# nginx_sandbox_unit DIR SERVER [EXEC_RELOAD]: DIR/nginx.conf serving SERVER (a server { } block;
# DIR/extra*.conf included beside it) and $SB/units/nginx.service as Debian's unit runs nginx,
# with the sandbox's paths, so that the daemon can reload it over D-Bus (ExecReload= may be given).
nginx_sandbox_unit() {
        local d=$1 server=$2 n
        mkdir -p "$d"/{logs,tmp}
        cat >"$d/nginx.conf" <<NGINX
user root;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/logs/error.log info;
events { worker_connections 512; }
http {
        access_log $d/logs/access.log;
        client_body_temp_path $d/tmp/body;
        proxy_temp_path $d/tmp/proxy;
        fastcgi_temp_path $d/tmp/fastcgi;
        uwsgi_temp_path $d/tmp/uwsgi;
        scgi_temp_path $d/tmp/scgi;
        include $d/extra*.conf;
$server
}
NGINX
        n="/usr/sbin/nginx -p $d -c $d/nginx.conf -g 'daemon on; master_process on;'"
        cat >"$SB/units/nginx.service" <<UNIT
[Unit]
Description=nginx (sandbox)
[Service]
Type=forking
PIDFile=$d/nginx.pid
ExecStartPre=$n -t -q
ExecStart=$n
ExecReload=${3:-$n -s reload}
ExecStop=-/sbin/start-stop-daemon --quiet --stop --retry QUIT/5 --pidfile $d/nginx.pid
TimeoutStopSec=5
KillMode=mixed
UNIT
        systemctl --user daemon-reload
}

# nginx_front_tls: nginx as the sandbox's nginx.service over TLS from a test CA, its site's
# location including the shipped upstream snippet pointed at the sandbox (Metabase's own port as
# its fallback, upstream.conf under $SB/run), and at the http level the shipped failover snippet
# (failover.conf under $SB/run: nginx retries Metabase's own port while a bridge serves, once the
# daemon has proxy.failover_file). Sets FRONT_PORT, FRONT_URL, TEST_CA. $1: ExecReload.
nginx_front_tls() {
        local d=$SB/nginx
        if [[ -z ${FRONT_PORT:-} ]]; then
                mkdir -p "$d"/{tls,logs,tmp} "$SB/run"
                chmod 700 "$d/tls"
                NGINX_DIR=$d
                _nginx_ca ca "mbupgraded test CA" && _nginx_server_cert server ca || die "no test certificates"
                TEST_CA=$d/tls/ca.pem
                FRONT_PORT=$(free_port)
                FRONT_URL=https://127.0.0.1:$FRONT_PORT
                sed -e "s|/run/mbupgraded/upstream.con\[f\]|$SB/run/upstream.con[f]|" \
                        -e "s|^set \$mbupgraded_upstream 127.0.0.1:3000;|set \$mbupgraded_upstream 127.0.0.1:$MB_PORT;|" \
                        "$MBUP_BUILD/config/upstream.conf" >"$SB/upstream-snippet.conf"
                grep -q "^include $SB/run/upstream.con\[f\];" "$SB/upstream-snippet.conf" || die "the snippet has no include to point at"
                grep -q '^proxy_pass http://$mbupgraded_upstream;' "$SB/upstream-snippet.conf" || die "the snippet has no proxy_pass"
                sed -e "s|/run/mbupgraded/failover.con\[f\]|$SB/run/failover.con[f]|" \
                        "$MBUP_BUILD/config/failover.conf" >"$SB/failover-snippet.conf"
                grep -q "^include $SB/run/failover.con\[f\];" "$SB/failover-snippet.conf" || die "the failover snippet has no include to point at"
        fi
        nginx_sandbox_unit "$d" "        include $SB/failover-snippet.conf;
        server {
                listen 127.0.0.1:$FRONT_PORT ssl;
                ssl_certificate $d/tls/server.pem;
                ssl_certificate_key $d/tls/server.key;
                location / {
                        include $SB/upstream-snippet.conf;
                        proxy_set_header Host \$host;
                        proxy_set_header X-Forwarded-Proto \$scheme;
                        proxy_connect_timeout 2s;
                }
        }" "${1:-}"
}

# nginx_prober_begin NAME: what users see through nginx (version-prober.py at 50 Hz, a new TLS
# connection each probe) into $SB/prober-NAME.log, "SEND_MS STATUS VERSION" a line
nginx_prober_begin() {
        PROBER_LOG=$SB/prober-$1.log
        python3 "$MBUP_SRC/tests/integration/version-prober.py" "$FRONT_URL/api/session/properties" \
                "$TEST_CA" 20 >"$PROBER_LOG" 2>"$SB/logs/prober.err" &
        PROBER=$!
        wait_for 10 grep -q ' 200 ' "$PROBER_LOG" || die "the prober got no answer through nginx"
}

# nginx_prober_end: stops it; sets N_PROBES, N_BAD (not 200), VERSIONS (each change, "a>b>c"),
# BAD_MS (the longest run of answers that were not 200, in ms: what users saw as downtime)
nginx_prober_end() {
        sleep 0.5
        kill -TERM "$PROBER"
        wait "$PROBER" 2>/dev/null || true
        N_PROBES=$(wc -l <"$PROBER_LOG")
        N_BAD=$(awk '$2 != 200' "$PROBER_LOG" | wc -l)
        VERSIONS=$(awk '$2 == 200 && $3 != prev { s = s (s == "" ? "" : ">") $3; prev = $3 } END { print s }' "$PROBER_LOG")
        BAD_MS=$(awk '$2 != 200 { if (!s) s = $1; e = $1 } $2 == 200 && s { if (e - s + 20 > m) m = e - s + 20; s = 0 }
                END { if (s && e - s + 20 > m) m = e - s + 20; print m + 0 }' "$PROBER_LOG")
        local span
        span=$(awk 'NR == 1 { a = $1 } { b = $1 } END { printf "%.1f", (b - a) / 1000 }' "$PROBER_LOG")
        log "prober: $N_PROBES probes in $span s ($(awk -v n="$N_PROBES" -v s="$span" 'BEGIN { printf "%.0f", n / s }') Hz), $N_BAD not 200 (longest ${BAD_MS} ms), versions $VERSIONS"
}
