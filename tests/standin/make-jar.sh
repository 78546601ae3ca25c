#!/bin/bash
# SPDX-License-Identifier: MIT
#
# make-jar.sh --base BASE.jar --out OUT.jar --version vX.Y.Z [options]
# Writes a stand-in Metabase release JAR: the base JAR (build-base.sh) plus
# version.properties, standin.properties (the failure knobs) and a manifest whose
# Main-Class is, as in real Metabase, a stub at class-file version 49 (Clojure's
# gen-class) in front of classes at the Java the release needs.
set -euo pipefail

usage() {
    cat >&2 <<'USAGE'
usage: make-jar.sh --base BASE.jar --out OUT.jar --version vX.Y.Z [options]
  --version V          v0.M.m, v0.M.m.h, v1.M.m or v1.M.m.h (the release tag)
  --fail MODE          none | crash-at-start | never-ready | crash-after-ready |
                       half-migration | slow-migration | hang     (default none)
  --startup-ms N       sleep N ms before listening                 (default 0)
  --migration-ms N     each migration takes N ms  (default 0; 2000 if slow-migration)
  --migration-work W   cpu | server | idle: what works during a migration
                       (default: cpu on H2, server on PostgreSQL/MariaDB)
  --crash-after-ms N   crash-after-ready: exit 1 N ms after ready  (default 1500)
  --java N             the stand-in's classes at class-file major 44+N (default: as
                       compiled, 55 = Java 11); the Main-Class stub stays at 49
  --pad-mb N           add N MiB of random data, stored (standin/padding.bin)
  --hash H             version.properties hash  (default: 7 hex, sha1 of the version)
  --date D             version.properties date  (default: today, UTC)
  --db-min LIST        oldest supported database servers, e.g. 'postgres=16.0.0,mariadb=10.6.0'
                       (kinds h2, postgres, mysql, mariadb; the others keep Metabase's minimum)
  --branch B           also write branch=B, as builds before about v0.50 did (default: none)
  --changesets-of V    carry the Liquibase change sets of release V instead of its own
                       (default: --version's): a release that adds no migration
USAGE
    exit 2
}
die() { echo "make-jar.sh: $*" >&2; exit 1; }
uint() { [[ $2 =~ ^[0-9]{1,9}$ ]] || die "$1 wants a non-negative integer, not '$2'"; }

base='' out='' version='' changesets_of='' fail=none startup_ms='' migration_ms='' migration_work='' crash_after_ms='' java='' pad_mb='' hash='' date='' branch='' db_min=''
while [[ $# -gt 0 ]]; do
    opt=$1
    [[ $opt == --help || $opt == -h ]] && usage
    [[ $# -ge 2 ]] || { echo "make-jar.sh: $opt needs a value" >&2; usage; }
    val=$2
    shift 2
    case $opt in
    --base) base=$val ;;
    --out) out=$val ;;
    --version) version=$val ;;
    --fail) fail=$val ;;
    --startup-ms) uint "$opt" "$val"; startup_ms=$val ;;
    --migration-ms) uint "$opt" "$val"; migration_ms=$val ;;
    --migration-work) migration_work=$val ;;
    --crash-after-ms) uint "$opt" "$val"; crash_after_ms=$val ;;
    --java) uint "$opt" "$val"; java=$val ;;
    --pad-mb) uint "$opt" "$val"; pad_mb=$val ;;
    --hash) hash=$val ;;
    --date) date=$val ;;
    --branch) branch=$val ;;
    --changesets-of) changesets_of=$val ;;
    --db-min) db_min=$val ;;
    *) echo "make-jar.sh: unknown option $opt" >&2; usage ;;
    esac
done

[[ -n $base && -n $out && -n $version ]] || { echo "make-jar.sh: --base, --out and --version are required" >&2; usage; }
[[ -f $base ]] || die "base JAR $base not found (build it with build-base.sh)"
base=$(cd "$(dirname "$base")" && pwd)/$(basename "$base")
[[ -d $(dirname "$out") ]] || die "directory of $out does not exist"
[[ $version =~ ^v[01]\.([0-9]+)\.[0-9]+(\.[0-9]+)?$ ]] || die "bad --version '$version' (want v0.M.m or v0.M.m.h)"
major=${BASH_REMATCH[1]}
[[ -n $changesets_of ]] || changesets_of=$version
[[ $changesets_of =~ ^v[01]\.([0-9]+)\.([0-9]+)(\.[0-9]+)?$ ]] || die "bad --changesets-of '$changesets_of'"
cs_major=${BASH_REMATCH[1]} cs_minor=${BASH_REMATCH[2]}
case $fail in
none | crash-at-start | never-ready | crash-after-ready | half-migration | slow-migration | hang) ;;
*) die "bad --fail '$fail'" ;;
esac
case $migration_work in
'' | cpu | server | idle) ;;
*) die "bad --migration-work '$migration_work' (cpu, server or idle)" ;;
esac
if [[ -n $java ]] && ((java < 8 || java > 99)); then die "--java $java is out of range (8..99)"; fi
[[ -z $hash || $hash =~ ^[A-Za-z0-9._-]+$ ]] || die "bad --hash '$hash'"
[[ -z $date || $date =~ ^[A-Za-z0-9:._+-]+$ ]] || die "bad --date '$date'"
[[ -z $branch || $branch =~ ^[A-Za-z0-9._/-]+$ ]] || die "bad --branch '$branch'"
[[ -n $hash ]] || hash=$(printf '%s' "$version" | sha1sum | cut -c1-7)
[[ -n $date ]] || date=$(date -u +%Y-%m-%d)
command -v zip >/dev/null || die "zip not found (apt-get install zip)"
command -v unzip >/dev/null || die "unzip not found (apt-get install unzip)"

tmp=$(mktemp -d "$(cd "$(dirname "$out")" && pwd)/.make-jar.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
stage=$tmp/stage
mkdir -p "$stage/META-INF"
files=(META-INF/MANIFEST.MF version.properties standin.properties liquibase.yaml migrations/001_update_migrations.yaml)

# The change sets, where Metabase's JAR has them (docs/metabase.md): liquibase.yaml includes
# every file under migrations/, and each lists "- changeSet:" mappings with an id. Release
# v0.M.m: v50.001..v50.020, ..., v<M-1>.001..v<M-1>.020, v<M>.001..v<M>.<m>, each creating a
# table mig_<maj>_<NNN>. The stand-in reads them from here (core.java), as Liquibase does.
printf 'databaseChangeLog:\n  - includeAll:\n      path: "migrations/"\n' >"$stage/liquibase.yaml"
mkdir -p "$stage/migrations"
{
    printf 'databaseChangeLog:\n  - objectQuotingStrategy: QUOTE_ALL_OBJECTS\n'
    for ((maj = 50; maj <= cs_major; maj++)); do
        for ((n = 1; n <= (maj < cs_major ? 20 : cs_minor); n++)); do
            printf '\n  - changeSet:\n      id: v%d.%03d\n      author: standin\n' "$maj" "$n"
            printf '      changes:\n        - createTable:\n            tableName: mig_%d_%03d\n' "$maj" "$n"
        done
    done
} >"$stage/migrations/001_update_migrations.yaml"

# Main-Class per era of Metabase's bin/build/src/build/uberjar.clj: metabase.core (a
# gen-class itself), then the stubs metabase.bootstrap and metabase.core.bootstrap. The
# era boundaries (v0.46, v0.52) are approximate; only the shape matters here. Before
# v0.46 the stand-in's own metabase.core is the Main-Class.
if ((major >= 52)); then
    main=metabase.core.bootstrap
elif ((major >= 46)); then
    main=metabase.bootstrap
else
    main=metabase.core
fi
[[ $main == metabase.core ]] || unzip -Z1 "$base" "${main//.//}.class" >/dev/null 2>&1 \
    || die "$base has no ${main//.//}.class (rebuild it with build-base.sh)"
cat >"$stage/META-INF/MANIFEST.MF" <<MF
Manifest-Version: 1.0
Main-Class: $main
Implementation-Title: Metabase stand-in
Implementation-Version: $version

MF
# As bin/build/src/build/version_properties.clj writes it: tag, hash (git's 7 hex), date,
# joined by newlines, no newline at the end.
if [[ -n $branch ]]; then
    printf 'tag=%s\nhash=%s\nbranch=%s\ndate=%s' "$version" "$hash" "$branch" "$date"
else
    printf 'tag=%s\nhash=%s\ndate=%s' "$version" "$hash" "$date"
fi >"$stage/version.properties"
{
    echo "# Knobs of the stand-in Metabase (tests/standin/README.md)"
    echo "fail=$fail"
    [[ -z $startup_ms ]] || echo "startup_ms=$startup_ms"
    [[ -z $migration_ms ]] || echo "migration_ms=$migration_ms"
    [[ -z $migration_work ]] || echo "migration_work=$migration_work"
    [[ -z $crash_after_ms ]] || echo "crash_after_ms=$crash_after_ms"
} >"$stage/standin.properties"

if [[ -n $java ]]; then
    # The stand-in's own classes (everything under metabase/ but the Main-Class stubs)
    # at 44+N: bytes 6-7 of a class file are its major version, big-endian. The JDBC
    # drivers' classes keep theirs (H2's are at 55).
    cls=$((44 + java))
    mapfile -t own < <(unzip -Z1 "$base" 'metabase/*.class' | grep -v -e '^metabase/bootstrap\.class$' \
        -e '^metabase/core/bootstrap\.class$')
    ((${#own[@]} > 0)) || die "$base has no stand-in classes under metabase/"
    (cd "$stage" && unzip -q "$base" "${own[@]}") || die "cannot extract the stand-in's classes from $base"
    for c in "${own[@]}"; do
        [[ $(head -c4 "$stage/$c" | od -An -tx1 | tr -d ' \n') == cafebabe ]] || die "$c in $base is not a class file"
        printf '%b' "$(printf '\\x%02x\\x%02x' $((cls >> 8)) $((cls & 255)))" |
            dd of="$stage/$c" bs=1 seek=6 count=2 conv=notrunc status=none
    done
    files+=("${own[@]}")
fi
if [[ -n $db_min ]]; then
    # metabase/app_db/supported-db-versions.edn as in Metabase's resources, with these minimums
    declare -A dbv=([h2]=2.1.214 [postgres]=12.0.0 [mysql]=8.0.17 [mariadb]=10.2.2)
    IFS=, read -ra pairs <<<"$db_min"
    for pair in "${pairs[@]}"; do
        [[ $pair =~ ^(h2|postgres|mysql|mariadb)=([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] ||
            die "bad --db-min entry '$pair' (want KIND=X.Y.Z, KIND one of h2, postgres, mysql, mariadb)"
        dbv[${BASH_REMATCH[1]}]=${pair#*=}
    done
    mkdir -p "$stage/metabase/app_db"
    {
        echo ";; The oldest application database servers this release starts on (make-jar.sh --db-min)."
        sep='{'
        for k in h2 postgres mysql mariadb; do
            IFS=. read -r ma mi pa <<<"${dbv[$k]}"
            printf '%s%-9s {:major %s :minor %s :patch %s}' "$sep" ":$k" "$ma" "$mi" "$pa"
            sep=$'\n '
        done
        echo '}'
    } >"$stage/metabase/app_db/supported-db-versions.edn"
    files+=(metabase/app_db/supported-db-versions.edn)
fi
if [[ -n $pad_mb ]] && ((pad_mb > 0)); then
    mkdir -p "$stage/standin"
    head -c "$((pad_mb * 1048576))" /dev/urandom >"$stage/standin/padding.bin"
    files+=(standin/padding.bin)
fi

cp "$base" "$tmp/out.jar"
# Entries already in the base (the manifest, core.class) are replaced in place; -n
# stores the padding uncompressed.
(cd "$stage" && zip -q -X -n .bin "$tmp/out.jar" "${files[@]}") || die "zip failed"
mv -f "$tmp/out.jar" "$out"
