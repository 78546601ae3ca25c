#!/bin/bash
# SPDX-License-Identifier: MIT
# Installs, from Debian 12's archive, everything the build, the tests and the demo need.
# Quick when everything is there already.
set -euo pipefail

packages=(
        # build
        gcc meson ninja-build pkg-config
        libsystemd-dev libyaml-dev libjson-c-dev libzip-dev zlib1g-dev libssl-dev libcurl4-openssl-dev libpq-dev
        libmariadb-dev
        # man pages, bash completion; the Debian package and its checks
        scdoc bash-completion dpkg-dev debhelper lintian
        # unit tests, sanitizers, fuzzing, style
        libcmocka-dev clang libclang-rt-14-dev clang-format valgrind
        # the integration sandbox: a real systemd --user on a private D-Bus, the stand-in
        # Metabase (Java + H2), curl to look at it; PostgreSQL and MariaDB, their JDBC drivers
        # and clients (issue 4; mbupgraded-db runs mariadb-dump/mariadb at run time too)
        systemd dbus-daemon util-linux procps
        default-jdk-headless libh2-java unzip zip curl
        postgresql libpostgresql-jdbc-java
        mariadb-server mariadb-client libmariadb-java
        # the release mirror over TLS (nginx, a test CA made with openssl); strace for bench/,
        # gdbus (a D-Bus monitor) for bench/download.sh
        nginx-light openssl strace libglib2.0-bin
        # hostile-arguments: D-Bus calls with arguments no command line can carry (megabytes)
        python3-dbus
        # metrics-file: the Prometheus text format read by Prometheus's own Python parser
        python3-prometheus-client
        # the fleet's sandbox: network namespaces, veth pairs and a bridge (ip); jq for history
        # entries (rehearsal-on-postgres)
        iproute2 jq
)

# The sandbox's metabase.service runs as this system user, as Metabase's own instructions have
# it on a real server (tests/integration/lib.sh, metabase_user_ensure).
if ! getent passwd metabase >/dev/null; then
        if [[ $(id -u) -ne 0 ]]; then
                echo "No metabase user; run this as root (useradd --system metabase)" >&2
                exit 1
        fi
        useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin metabase
fi

# The download helper's user (unit-files/mbupgraded.sysusers): the daemon runs mbupgraded-fetch as it.
if ! getent passwd mbupgrade-fetch >/dev/null && [[ $(id -u) -eq 0 ]]; then
        useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
                mbupgrade-fetch
fi
# The database helper's user: the daemon runs mbupgraded-db and the fleet agent as it.
if ! getent passwd mbupgrade-db >/dev/null && [[ $(id -u) -eq 0 ]]; then
        useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
                mbupgrade-db
fi

missing=()
for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
        exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
        echo "Missing packages: ${missing[*]}; run this as root (apt-get install)" >&2
        exit 1
fi
echo "Installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
