/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "appdb.h"
#include "dbserver.h"
#include "dbversion.h"
#include "fileio.h"
#include "hash.h"
#include "jar.h"
#include "java.h"
#include "log.h"
#include "macro.h"
#include "preflight.h"
#include "staged-record.h"
#include "strv.h"

/* The file still has the SHA-256 recorded when it was made. */
int preflight_file_has_sha256(const char *path, const char *expect) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        char sha[SHA256_HEX_SIZE];
        int r;

        if (fd < 0)
                return negative_errno();
        r = sha256_fd(fd, sha, NULL);
        if (r < 0)
                return r;
        return streq(sha, strempty(expect)) ? 0 : -EBADMSG;
}

Preflight *preflight_free(Preflight *p) {
        if (!p)
                return NULL;
        free(p->source_jar);
        free(p->jar_path);
        free(p->java_path);
        free(p->db_file);
        free(p->backup_dir);
        free(p->state_dir);
        free(p->expect_installed);
        free(p->expect_sha256);
        free(p->restore_path);
        free(p->restore_sha256);
        free(p->restore_version);
        free(p->db_desc);
        if (p->secret)
                explicit_bzero(p->secret, strlen(p->secret));
        free(p->secret);
        free(p->secret_file);
        jar_info_free(p->new_info);
        jar_info_free(p->old_info);
        free(p->unit);
        strv_free(p->exec_argv);
        free(p->java_warning);
        free(p->staged_path);
        strv_free(p->new_changesets);
        free(p->kept_jar);
        free(p->error);
        free(p->summary);
        free(p->automigrate);
        free(p->db_versions_edn);
        free(p);
        return NULL;
}

static int refuse(Preflight *p, int r, const char *fmt, ...) _printf_(3, 4);
static int refuse(Preflight *p, int r, const char *fmt, ...) {
        va_list ap;

        free(p->error);
        va_start(ap, fmt);
        if (vasprintf(&p->error, fmt, ap) < 0)
                p->error = NULL;
        va_end(ap);
        return r;
}

/* MB_DB_AUTOMIGRATE=false: Metabase does not migrate, it logs the SQL and stops with "Database
 * requires manual upgrade." (src/metabase/app_db/setup.clj print-migrations-and-quit-if-needed!).
 * Metabase reads it with Boolean/parseBoolean after ignoring a blank value (config-bool of
 * src/metabase/config/core.clj): anything but "true" in any case is false. Whether the target
 * would migrate is not worked out from its change sets: another version is taken to migrate. */
static int preflight_check_automigrate(Preflight *p) {
        const char *v = p->automigrate ? strchr(p->automigrate, '=') : NULL;
        bool blank = true;

        if (!v || p->force || p->kind != OPERATION_UPGRADE)
                return 0;
        v++;
        for (const char *c = v; *c; c++)
                if (!strchr(" \t\n\r\f\v", *c))
                        blank = false;
        if (blank || strcasecmp(v, "true") == 0)
                return 0;
        if (mb_version_compare(&p->new_info->version, &p->old_info->version) == 0)
                return 0;
        return refuse(
                p,
                -EPERM,
                "the unit sets %s: Metabase %s would not migrate the application database but print "
                "the SQL and stop (\"Database requires manual upgrade.\"), and the upgrade would be rolled back. "
                "Set MB_DB_AUTOMIGRATE=true in the unit's environment (and no -Dmb.db.automigrate) for the "
                "upgrade, or run the migrations by "
                "hand first ('java --add-opens java.base/java.nio=ALL-UNNAMED -jar metabase.jar migrate print' "
                "with the new JAR gives the SQL) and upgrade with --force",
                p->automigrate,
                p->new_info->tag);
}

/* The setting as Metabase sees it: its config reads environ's map, the environment merged with
 * the JVM's system properties, which win; JAVA_TOOL_OPTIONS, then JDK_JAVA_OPTIONS, then the
 * options before -jar on the command line, the last one counting. */
char *unit_automigrate_setting(const UnitInfo *info) {
        static const char prop[] = "-Dmb.db.automigrate=";
        const char *env = unit_info_getenv(info, "MB_DB_AUTOMIGRATE");
        _cleanup_free_ char *found = env ? strdup_printf("MB_DB_AUTOMIGRATE=%s", env) : NULL;
        const char *opts[] = {"JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS"};

        for (size_t i = 0; i < ELEMENTSOF(opts); i++) {
                const char *o = unit_info_getenv(info, opts[i]);
                for (const char *w = o; w && *w;) {
                        size_t n = strcspn(w, " \t\n");
                        if (n > strlen(prop) && strncmp(w, prop, strlen(prop)) == 0) {
                                free(found);
                                found = strndup(w, n);
                        }
                        w += n;
                        w += strspn(w, " \t\n");
                }
        }
        for (char **a = info->exec_argv ? info->exec_argv + (info->exec_argv[0] ? 1 : 0) : NULL; a && *a; a++) {
                if (streq(*a, "-jar"))
                        break;
                if (startswith(*a, prop)) {
                        free(found);
                        found = strdup(*a);
                }
        }
        return TAKE_PTR(found);
}

/* The new JAR's minimum database server versions, read here in the worker (the central directory
 * of a 400 MB JAR is no work for the event loop); compared once mbupgraded-db said the server's. */
static int preflight_read_db_versions(Preflight *p) {
        int r;

        if (p->kind != OPERATION_UPGRADE || p->db_file)
                return 0; /* H2 is inside the JAR: its minimum is always met */
        r = jar_read_resource(
                p->source_jar,
                DB_VERSIONS_EDN_PATH,
                DB_VERSIONS_EDN_MAX,
                &p->db_versions_edn,
                &p->db_versions_edn_size);
        if (r == -ENOENT)
                return 0; /* releases before the file: nothing to check */
        if (r < 0)
                log_warning(
                        "Cannot read %s from %s (%s); not checking the database server's version",
                        DB_VERSIONS_EDN_PATH,
                        p->source_jar,
                        strerror(-r));
        return 0;
}

/* Refuses (p->error) when the server is older than what the new JAR says it supports, as
 * Metabase's verify-db-connection would at start (src/metabase/app_db/setup.clj). */
int preflight_check_db_version(Preflight *p, const char *db_kind, const char *server_version) {
        const char *key = NULL, *product = NULL;
        DbVersion have, need;
        int r;

        if (!p->db_versions_edn || !p->new_info || p->force)
                return 0;
        r = db_version_from_server(db_kind, strempty(server_version), &have, &key, &product);
        if (r < 0) {
                log_warning(
                        "Cannot read the database server's version '%s'; not checking it against %s",
                        strempty(server_version),
                        p->new_info->tag);
                return 0;
        }
        r = db_versions_edn_lookup(p->db_versions_edn, p->db_versions_edn_size, key, &need);
        if (r == -ENOENT)
                return 0;
        if (r < 0) {
                log_warning(
                        "%s of %s is not in the shape expected (%s); not checking the database server's "
                        "version",
                        DB_VERSIONS_EDN_PATH,
                        p->new_info->tag,
                        strerror(-r));
                return 0;
        }
        if (db_version_compare(&have, &need) >= 0)
                return 0;
        char hv[64], nv[64];
        if (have.patch)
                snprintf(hv, sizeof(hv), "%u.%u.%u", have.major, have.minor, have.patch);
        else
                snprintf(hv, sizeof(hv), "%u.%u", have.major, have.minor);
        if (need.patch)
                snprintf(nv, sizeof(nv), "%u.%u.%u", need.major, need.minor, need.patch);
        else
                snprintf(nv, sizeof(nv), "%u.%u", need.major, need.minor);
        return refuse(
                p,
                -EPROTONOSUPPORT,
                "%s %s is older than the %s Metabase %s requires (\"DB version not supported\" at its start); "
                "upgrade the database server first",
                product,
                hv,
                nv,
                p->new_info->tag);
}

typedef struct DiskNeed {
        dev_t dev;
        uint64_t need, free;
        const char *where;
} DiskNeed;

static int add_need(DiskNeed *needs, size_t *n, const char *where, uint64_t bytes) {
        uint64_t free_bytes;
        dev_t dev;
        int r;

        r = disk_free_bytes(where, &free_bytes, &dev);
        if (r < 0)
                return r;
        for (size_t i = 0; i < *n; i++)
                if (needs[i].dev == dev) {
                        needs[i].need += bytes;
                        return 0;
                }
        needs[(*n)++] = (DiskNeed){.dev = dev, .need = bytes, .free = free_bytes, .where = where};
        return 0;
}

/* Whether /tmp is a PrivateTmp= of ours: systemd mounts a directory of its own there,
 * /tmp/systemd-private-.../tmp on the host. */
static bool tmp_is_private(void) {
        _cleanup_free_ char *text = NULL;

        if (read_full_file("/proc/self/mountinfo", 4 * 1024 * 1024, &text, NULL) < 0)
                return false;
        for (char *line = text, *next; line && *line; line = next) {
                char root[PATH_MAX], where[PATH_MAX];

                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                /* ID PARENT MAJ:MIN ROOT MOUNTPOINT ...; only /tmp matters, no escapes to undo */
                if (sscanf(line, "%*s %*s %*s %4095s %4095s", root, where) == 2 && streq(where, "/tmp") &&
                    strstr(root, "/systemd-private-"))
                        return true;
        }
        return false;
}

/* Whether a hard link from a to b can work: the same mount, not just the same filesystem.
 * mbupgraded.service's ReadWritePaths= make state_dir and the JAR's directory two mounts of one
 * filesystem, and link() fails across them with EXDEV. When in doubt, no. */
static bool same_mount(const char *a, const char *b) {
        struct statx sa, sb;

        if (statx(AT_FDCWD, a, 0, STATX_MNT_ID, &sa) < 0 || statx(AT_FDCWD, b, 0, STATX_MNT_ID, &sb) < 0)
                return false;
        if (!(sa.stx_mask & sb.stx_mask & STATX_MNT_ID))
                return false;
        return sa.stx_mnt_id == sb.stx_mnt_id && sa.stx_dev_major == sb.stx_dev_major &&
                sa.stx_dev_minor == sb.stx_dev_minor;
}

static int keep_previous_jar(Preflight *p) {
        _cleanup_free_ char *dir = NULL, *tmp = NULL;
        struct stat st;
        int r;

        dir = strdup_printf("%s/releases/%s", p->state_dir, p->old_info->tag);
        if (!dir)
                return -ENOMEM;
        r = mkdir_parents_and_self(dir, 0755);
        if (r < 0)
                return refuse(p, r, "cannot create %s: %s", dir, strerror(-r));
        p->kept_jar = path_join(dir, "metabase.jar");
        if (!p->kept_jar)
                return -ENOMEM;
        if (stat(p->kept_jar, &st) >= 0 && st.st_ino == p->jar_st.st_ino && st.st_dev == p->jar_st.st_dev)
                return 0;
        /* A hard link keeps the old inode alive after the rename replaces the path: no copy, no
         * extra disk. Across filesystems it has to be a copy. */
        tmp = strdup_printf("%s.mbup-link", p->kept_jar);
        if (!tmp)
                return -ENOMEM;
        (void) unlink(tmp);
        if (link(p->jar_path, tmp) >= 0) {
                r = rename_and_sync(tmp, p->kept_jar);
                if (r < 0)
                        (void) unlink(tmp);
        } else if (errno == EXDEV || errno == EPERM) {
                CopyOptions o = {.mode = 0644, .uid = (uid_t) -1, .gid = (gid_t) -1};
                char sha[SHA256_HEX_SIZE];
                r = copy_file_atomic(p->jar_path, p->kept_jar, &o, sha, NULL, NULL);
                if (r >= 0 && !streq(sha, p->old_info->sha256))
                        r = -EBADMSG;
        } else
                r = negative_errno();
        if (r < 0)
                return refuse(p, r, "cannot keep the installed JAR as %s: %s", p->kept_jar, strerror(-r));
        return 0;
}

/* The H2 file, if any, and the backup to restore, if any, still as recorded. */
static int preflight_check_db(Preflight *p) {
        int r;

        if (p->db_file) {
                /* lstat(): the Metabase user owns the file's directory; a link or a FIFO in its
                 * place is refused now, before Metabase is stopped (the backup opens it
                 * O_NOFOLLOW|O_NONBLOCK and would refuse it then). */
                if (lstat(p->db_file, &p->db_st) >= 0) {
                        if (!S_ISREG(p->db_st.st_mode))
                                return refuse(
                                        p,
                                        -EBADF,
                                        "the application database %s is not a regular file (%s); see what put it there",
                                        p->db_file,
                                        S_ISLNK(p->db_st.st_mode) ? "a symbolic link"
                                                : S_ISFIFO(p->db_st.st_mode)
                                                ? "a FIFO"
                                                : "a directory, device or socket");
                        p->db_exists = true;
                } else if (errno != ENOENT)
                        return refuse(
                                p, negative_errno(), "cannot stat the application database %s: %m", p->db_file);
                else {
                        /* None (lost, or never made): one restored gets the owner of its directory,
                         * where Metabase's user makes it, not root's. */
                        _cleanup_free_ char *dir = path_dirname(p->db_file);
                        struct stat dst;
                        if (dir && stat(dir, &dst) >= 0) {
                                p->db_st.st_uid = dst.st_uid;
                                p->db_st.st_gid = dst.st_gid;
                        }
                }
        }
        if (p->restore_path) {
                r = preflight_file_has_sha256(p->restore_path, p->restore_sha256);
                if (r == -EBADMSG)
                        return refuse(
                                p, r, "the backup %s does not match its recorded SHA-256", p->restore_path);
                if (r < 0)
                        return refuse(p, r, "the backup %s can't be read: %s", p->restore_path, strerror(-r));
        }
        return 0;
}

static int write_secret(Preflight *p) {
        int r;

        if (!p->secret)
                return 0;
        /* For mbupgraded-db, which runs next; removed when the operation ends. */
        r = dbserver_write_secret(p->secret_file, p->secret);
        if (r < 0)
                return refuse(p, r, "cannot write %s: %s", p->secret_file, strerror(-r));
        return 0;
}

/* The installed JAR, read as Metabase (its hash, not its classes: it runs already). */
static int read_installed_jar(Preflight *p) {
        _cleanup_free_ char *err = NULL;
        int r;

        r = jar_inspect(p->jar_path, JAR_INSPECT_HASH | JAR_INSPECT_NO_SCAN, &p->old_info, &err);
        if (r < 0)
                return refuse(
                        p,
                        r,
                        "the installed JAR %s can't be read as Metabase: %s",
                        p->jar_path,
                        err ?: strerror(-r));
        return 0;
}

/* Pre-flight of mbctl backup and mbctl restore: the installed JAR says which version the database
 * belongs to; nothing is staged. */
int preflight_db_run(void *userdata) {
        Preflight *p = userdata;
        uint64_t free_bytes;
        dev_t dev;
        int r;

        if (stat(p->jar_path, &p->jar_st) < 0)
                return refuse(p, negative_errno(), "the installed JAR %s is missing: %m", p->jar_path);
        r = read_installed_jar(p);
        if (r < 0)
                return r;
        r = preflight_check_db(p);
        if (r < 0)
                return r;
        if (p->db_file && !p->db_exists && p->kind == OPERATION_BACKUP)
                return refuse(
                        p, -ENOENT, "there is no application database at %s yet: nothing to back up", p->db_file);
        if (p->kind == OPERATION_RESTORE && !p->force) {
                MbVersion v;
                if (mb_version_parse(strempty(p->restore_version), &v) < 0)
                        return refuse(
                                p,
                                -EBADMSG,
                                "the backup %s does not say which version it belongs to",
                                p->restore_path);
                if (mb_version_compare(&v, &p->old_info->version) > 0)
                        return refuse(
                                p,
                                -EPERM,
                                "the backup is of %s, newer than the installed %s, which would refuse a database "
                                "migrated by a newer version; install %s first, or use --force",
                                p->restore_version,
                                p->old_info->tag,
                                p->restore_version);
        }
        /* The copy of the database as it is now, before anything changes. */
        if (p->db_exists) {
                r = disk_free_bytes(p->backup_dir, &free_bytes, &dev);
                if (r < 0)
                        return refuse(p, r, "cannot check free disk space: %s", strerror(-r));
                if ((uint64_t) p->db_st.st_size + DISK_MARGIN_BYTES > free_bytes)
                        return refuse(
                                p,
                                -ENOSPC,
                                "not enough free disk under %s for a copy of %s: need %" PRIu64
                                " MiB, %" PRIu64 " MiB free; free some space or move backup.dir",
                                p->backup_dir,
                                p->db_file,
                                ((uint64_t) p->db_st.st_size + DISK_MARGIN_BYTES) >> 20,
                                free_bytes >> 20);
        }
        if (p->kind == OPERATION_BACKUP)
                p->summary = strdup_printf(
                        "backup of %s (%s)%s",
                        p->db_desc,
                        p->old_info->tag,
                        p->db_file ? "; H2 can only be copied while Metabase is stopped, so the service is stopped "
                                     "for the copy and started again"
                                   : "");
        else
                p->summary = strdup_printf(
                        "restore of %s (%s) into %s; the service is stopped, the database as it is now is backed "
                        "up first, then the backup is restored and %s started again",
                        p->restore_path,
                        strempty(p->restore_version),
                        p->db_desc,
                        p->old_info->tag);
        if (!p->summary)
                return -ENOMEM;
        return write_secret(p);
}

/* What staging recorded of a staged release's classes (verified.json beside it): with it, pre-flight
 * does not scan the 400 MB JAR again. Only a record of the SHA-256 pre-flight checks the JAR
 * against is taken. */
static bool staged_java_record(const char *jar, const char *sha256, JarInfo *into) {
        _cleanup_free_ char *dir = path_dirname(jar);
        _cleanup_(staged_record_done) StagedRecord rec = {};

        if (!dir || staged_record_read(dir, &rec) < 0 || !streq(rec.sha256, sha256) || rec.class_major < 45)
                return false;
        if (into) {
                into->class_major = rec.class_major;
                into->java_needed = into->class_major - 44;
                into->classes = (unsigned) rec.classes;
                into->newest_class = TAKE_PTR(rec.newest_class);
                into->scanned = true;
        }
        return true;
}

/* The JAR to install: the file itself (no link), as staged when it was, not the installed one. */
static int preflight_new_jar(Preflight *p) {
        _cleanup_free_ char *err = NULL;
        struct stat src_st;
        bool staged;
        int r;

        /* The file itself, not a link that could be pointed elsewhere between check and copy. */
        if (lstat(p->source_jar, &src_st) < 0) {
                r = negative_errno();
                /* mbctl saw the file before it asked: under mbupgraded.service, /tmp is not the caller's. */
                if (r == -ENOENT &&
                    (startswith(p->source_jar, "/tmp/") || startswith(p->source_jar, "/var/tmp/")) &&
                    tmp_is_private())
                        return refuse(
                                p,
                                r,
                                "cannot read %s: %s; mbupgraded has /tmp and /var/tmp of its own "
                                "(PrivateTmp=yes): put the JAR elsewhere, e.g. in your home directory",
                                p->source_jar,
                                strerror(-r));
                return refuse(p, r, "cannot read %s: %s", p->source_jar, strerror(-r));
        }
        if (S_ISLNK(src_st.st_mode))
                return refuse(
                        p, -ELOOP, "%s is a symbolic link; give the path of the JAR file itself", p->source_jar);
        staged = p->expect_sha256 && staged_java_record(p->source_jar, p->expect_sha256, NULL);
        r = jar_inspect(
                p->source_jar, JAR_INSPECT_HASH | (staged ? JAR_INSPECT_NO_SCAN : 0), &p->new_info, &err);
        if (r < 0)
                return refuse(p, r, "%s: %s", p->source_jar, err ?: strerror(-r));
        if (p->expect_sha256 && !streq(p->new_info->sha256, p->expect_sha256)) {
                /* Staged and verified earlier, different now: never install it; stage it again. */
                _cleanup_free_ char *dir = path_dirname(p->source_jar);
                if (dir)
                        (void) staged_record_remove(dir);
                return refuse(
                        p,
                        -EBADMSG,
                        "the staged %s changed since it was verified (sha256 %s, verified %s); it will be "
                        "downloaded again",
                        p->source_jar,
                        p->new_info->sha256,
                        p->expect_sha256);
        }
        /* The same JAR as staged (same SHA-256): what staging found in its classes holds. */
        if (staged && !staged_java_record(p->source_jar, p->expect_sha256, p->new_info))
                return refuse(
                        p,
                        -ESTALE,
                        "the staging record of %s changed during pre-flight; try again",
                        p->source_jar);
        if (stat(p->source_jar, &src_st) < 0)
                return refuse(p, negative_errno(), "cannot stat %s: %m", p->source_jar);
        if (stat(p->jar_path, &p->jar_st) < 0)
                return refuse(p, negative_errno(), "the installed JAR %s is missing: %m", p->jar_path);
        if (src_st.st_dev == p->jar_st.st_dev && src_st.st_ino == p->jar_st.st_ino)
                return refuse(p, -EINVAL, "%s is the installed JAR itself", p->source_jar);
        return 0;
}

/* The installed JAR, and whether going from it to the new one is what was asked for. */
static int preflight_installed_jar(Preflight *p) {
        int r, cmp;

        r = read_installed_jar(p);
        if (r < 0)
                return r;

        cmp = mb_version_compare(&p->new_info->version, &p->old_info->version);
        if (p->kind == OPERATION_UPGRADE) {
                if (cmp == 0 && streq(p->new_info->sha256, p->old_info->sha256))
                        return refuse(p, -EALREADY, "%s is already installed (same JAR)", p->new_info->tag);
                if (cmp == 0 && !p->force)
                        return refuse(
                                p,
                                -EALREADY,
                                "%s is already installed; use --force to reinstall it from %s",
                                p->new_info->tag,
                                p->source_jar);
                if (cmp < 0 && !p->force)
                        return refuse(
                                p,
                                -EPERM,
                                "%s is older than the installed %s; a downgrade needs the database as it was, "
                                "so use 'mbctl rollback', or --force if you know the schema allows it",
                                p->new_info->tag,
                                p->old_info->tag);
        } else if (!p->force && !streq(p->old_info->tag, strempty(p->expect_installed)))
                return refuse(
                        p,
                        -ESTALE,
                        "the installed JAR is %s, not %s which the last upgrade installed; refusing to roll back "
                        "over a change made by hand (use --force)",
                        p->old_info->tag,
                        strempty(p->expect_installed));
        return 0;
}

/* The Java the new JAR needs against the unit's; a warning for what Metabase's table or its
 * instructions say otherwise. Returns the Java needed, or a refusal. */
static int preflight_java(Preflight *p) {
        _cleanup_free_ char *err = NULL;
        unsigned need;
        int r;

        r = java_feature_version(p->java_path, &p->java_major, &err);
        if (r < 0)
                return refuse(p, r, "%s", err ?: "cannot tell the unit's Java version");
        /* The highest class-file version among the JAR's classes is what the JVM enforces (the
         * main class is a gen-class stub at 49); Metabase's table is the cross-check. */
        _cleanup_free_ char *table_warning = NULL;
        need = jar_java_needed(p->new_info, &table_warning);
        if (need > p->java_major) {
                _cleanup_free_ char *why = jar_java_reason(p->new_info, need),
                                    *fix = java_fix_message(need, p->unit, p->jar_path);
                return refuse(
                        p,
                        -ENOEXEC,
                        "%s needs Java %u (%s) but the unit runs Java %u (%s); %s",
                        p->new_info->tag,
                        need,
                        strempty(why),
                        p->java_major,
                        p->java_path,
                        strempty(fix));
        }
        /* Metabase's instructions run v0.53 and later with --add-opens java.base/java.nio=ALL-UNNAMED:
         * without it, a warning (the admin's command line is theirs), not a refusal. */
        _cleanup_free_ char *opens_warning = NULL;
        if (jar_wants_add_opens(&p->new_info->version) && !java_argv_has_add_opens(p->exec_argv))
                opens_warning = strdup_printf(
                        "%s's ExecStart lacks '--add-opens %s', with which Metabase says to run %s and later "
                        "('java --add-opens %s -jar metabase.jar'); add it before -jar",
                        strempty(p->unit),
                        JAVA_ADD_OPENS_NIO,
                        "v0.53",
                        JAVA_ADD_OPENS_NIO);
        if (table_warning || opens_warning)
                p->java_warning = strdup_printf(
                        "%s%s%s",
                        strempty(table_warning),
                        table_warning && opens_warning ? "; " : "",
                        strempty(opens_warning));
        return (int) need;
}

/* Free disk: the staged JAR beside the installed one, the kept JAR (a hard link when it can be),
 * and the database backup. */
static int preflight_disk(Preflight *p, const char *jar_dir) {
        _cleanup_free_ char *rel = path_join(p->state_dir, "releases");
        DiskNeed needs[4];
        size_t n_needs = 0;
        int r;

        if (!rel)
                return -ENOMEM;
        uint64_t rel_free;
        dev_t rel_dev;
        r = disk_free_bytes(rel, &rel_free, &rel_dev);
        if (r >= 0)
                r = add_need(needs, &n_needs, jar_dir, p->new_info->size);
        if (r >= 0) /* the kept JAR is a hard link within one mount, a copy across mounts */
                r = add_need(
                        needs,
                        &n_needs,
                        rel,
                        rel_dev == p->jar_st.st_dev && same_mount(rel, jar_dir) ? 0 : p->old_info->size);
        if (r >= 0)
                r = add_need(needs, &n_needs, p->backup_dir, p->db_exists ? (uint64_t) p->db_st.st_size : 0);
        if (r < 0)
                return refuse(p, r, "cannot check free disk space: %s", strerror(-r));
        for (size_t i = 0; i < n_needs; i++)
                if (needs[i].need + DISK_MARGIN_BYTES > needs[i].free)
                        return refuse(
                                p,
                                -ENOSPC,
                                "not enough free disk for the upgrade under %s: need %" PRIu64
                                " MiB, %" PRIu64 " MiB free; free some space or move backup.dir",
                                needs[i].where,
                                (needs[i].need + DISK_MARGIN_BYTES) >> 20,
                                needs[i].free >> 20);
        return 0;
}

/* Stage the new JAR beside the installed one now, while the old version still serves: the swap
 * after the stop is then a rename. */
static int preflight_stage(Preflight *p, const char *jar_dir) {
        CopyOptions o = {.mode = p->jar_st.st_mode & 07777, .uid = p->jar_st.st_uid, .gid = p->jar_st.st_gid};
        char sha[SHA256_HEX_SIZE];
        int r;

        p->staged_path = strdup_printf("%s/.%s.mbup-staged", jar_dir, strrchr(p->jar_path, '/') + 1);
        if (!p->staged_path)
                return -ENOMEM;
        r = copy_file_atomic(p->source_jar, p->staged_path, &o, sha, NULL, NULL);
        if (r < 0)
                return refuse(p, r, "cannot stage %s as %s: %s", p->source_jar, p->staged_path, strerror(-r));
        if (!streq(sha, p->new_info->sha256)) {
                (void) unlink(p->staged_path);
                return refuse(p, -EBADMSG, "%s changed while it was being staged", p->source_jar);
        }
        return keep_previous_jar(p);
}

int preflight_run(void *userdata) {
        Preflight *p = userdata;
        _cleanup_free_ char *jar_dir = path_dirname(p->jar_path);
        int r, need;

        if (!jar_dir)
                return -ENOMEM;
        r = preflight_new_jar(p);
        if (r < 0)
                return r;
        r = preflight_installed_jar(p);
        if (r < 0)
                return r;
        r = preflight_check_automigrate(p);
        if (r < 0)
                return r;
        (void) preflight_read_db_versions(p);
        need = preflight_java(p);
        if (need < 0)
                return need;
        r = preflight_check_db(p);
        if (r < 0)
                return r;
        r = preflight_disk(p, jar_dir);
        if (r < 0)
                return r;

        p->summary = strdup_printf(
                "%s %s -> %s (needs Java %u, unit has Java %u; JAR sha256 %s; database %s)%s%s",
                p->kind == OPERATION_UPGRADE ? "upgrade" : "rollback",
                p->old_info->tag,
                p->new_info->tag,
                (unsigned) need,
                p->java_major,
                p->new_info->sha256,
                p->db_file && !p->db_exists ? "none yet" : p->db_desc,
                p->java_warning ? "; warning: " : "",
                strempty(p->java_warning));
        r = write_secret(p);
        if (r < 0)
                return r;
        if (p->dry_run) {
                (void) jar_read_changesets(p->source_jar, &p->new_changesets, NULL);
                return 0;
        }
        r = preflight_stage(p, jar_dir);
        if (r >= 0 && p->staged_path)
                (void) jar_read_changesets(p->staged_path, &p->new_changesets, NULL);
        return r;
}
