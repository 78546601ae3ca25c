/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <json-c/json.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "backups.h"
#include "dbserver.h"
#include "fileio.h"
#include "last-upgrade.h"
#include "log.h"
#include "macro.h"
#include "strv.h"

static const char *const backup_files[] = {
        "metabase.db.mv.db", "metabase.dump", "metabase.sql", BACKUP_CLONE_FILE};

const char *backup_file_name(const char *db_kind) {
        if (streq_ptr(db_kind, "postgres"))
                return backup_files[1];
        if (streq_ptr(db_kind, "mysql"))
                return backup_files[2];
        return backup_files[0];
}

bool backup_file_matches(const char *path, const char *db_kind) {
        if (streq_ptr(db_kind, "postgres") && endswith(path, "/" BACKUP_CLONE_FILE))
                return true;
        return endswith(path, backup_file_name(db_kind));
}

BackupInfo *backup_info_free(BackupInfo *b) {
        if (!b)
                return NULL;
        free(b->id);
        free(b->dir);
        free(b->file);
        free(b->kind);
        free(b->version);
        free(b->database);
        free(b->schema);
        free(b->sha256);
        free(b->clone);
        free(b);
        return NULL;
}

static char *json_str(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
                ? strdup(json_object_get_string(v))
                : NULL;
}

static uint64_t json_u64(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) ? json_object_get_uint64(v) : 0;
}

/* backup.dir/id/backup.json. The backup's file is always backup.dir/id/<name by kind>: what the
 * JSON says about paths is not trusted. */
static int backup_load(Manager *m, const char *id, BackupInfo **ret) {
        _cleanup_(backup_info_freep) BackupInfo *b = NULL;
        _cleanup_free_ char *meta = NULL, *text = NULL;
        json_object *o;
        int r;

        b = calloc(1, sizeof(BackupInfo));
        if (!b)
                return -ENOMEM;
        b->id = strdup(id);
        b->dir = path_join(m->config->backup.dir, id);
        meta = b->dir ? path_join(b->dir, "backup.json") : NULL;
        if (!b->id || !meta)
                return -ENOMEM;
        r = read_full_file(meta, 64 * 1024, &text, NULL);
        if (r < 0)
                return r;
        o = json_tokener_parse(text);
        if (!o)
                return -EBADMSG;
        b->kind = json_str(o, "kind");
        b->version = json_str(o, "version");
        b->database = json_str(o, "database") ?: json_str(o, "source");
        b->schema = json_str(o, "schema");
        b->sha256 = json_str(o, "sha256");
        b->clone = json_str(o, "clone");
        b->size = json_u64(o, "size");
        b->operation = json_u64(o, "operation");
        b->created_usec = json_u64(o, "created_usec");
        json_object_put(o);
        if (!b->kind || !b->version || !b->sha256 || !sha256_hex_is_valid(b->sha256))
                return -EBADMSG;
        b->file = path_join(b->dir, b->clone ? BACKUP_CLONE_FILE : backup_file_name(b->kind));
        if (!b->file)
                return -ENOMEM;
        *ret = TAKE_PTR(b);
        return 0;
}

int backups_find(Manager *m, const char *name, BackupInfo **ret, char **ret_error) {
        _cleanup_free_ char *root = NULL, *real = NULL, *id = NULL;
        struct stat st;
        int r;

        if (isempty(name))
                return set_error_message(ret_error, -EINVAL, "No backup given; see mbctl backups");
        if (strlen(name) >= PATH_MAX)
                return set_error_message(
                        ret_error, -ENAMETOOLONG, "The backup's name is too long; see mbctl backups");
        if (!strchr(name, '/')) {
                if (streq(name, ".") || streq(name, ".."))
                        return set_error_message(ret_error, -EINVAL, "'%s' is not a backup", name);
                id = strdup(name);
        } else {
                root = realpath(m->config->backup.dir, NULL);
                real = realpath(name, NULL);
                if (!root || !real)
                        return set_error_message(
                                ret_error, -ENOENT, "No backup at %s; see mbctl backups", name);
                if (stat(real, &st) >= 0 && S_ISREG(st.st_mode)) {
                        char *d = path_dirname(real);
                        free(real);
                        real = d;
                }
                size_t n = strlen(root);
                if (!real || strncmp(real, root, n) != 0 || real[n] != '/' || strchr(real + n + 1, '/'))
                        return set_error_message(
                                ret_error,
                                -EINVAL,
                                "%s is not a backup in backup.dir (%s); see mbctl backups",
                                name,
                                m->config->backup.dir);
                id = strdup(real + n + 1);
        }
        if (!id)
                return -ENOMEM;
        r = backup_load(m, id, ret);
        if (r == -ENOENT)
                return set_error_message(
                        ret_error, r, "No backup '%s' in %s; see mbctl backups", id, m->config->backup.dir);
        if (r < 0)
                return set_error_message(
                        ret_error, r, "The backup '%s' has no readable backup.json: %s", id, strerror(-r));
        return 0;
}

static char **backup_ids(Manager *m) {
        _cleanup_strv_free_ char **ids = NULL;
        struct dirent **list = NULL;
        int n;

        n = scandir(m->config->backup.dir, &list, NULL, alphasort);
        if (n < 0)
                return NULL;
        for (int i = 0; i < n; i++) {
                if (list[i]->d_name[0] != '.' && list[i]->d_type == DT_DIR)
                        (void) strv_extend(&ids, list[i]->d_name);
                free(list[i]);
        }
        free(list);
        return TAKE_PTR(ids);
}

/* The backup mbctl rollback would restore: never deleted. */
static char *needed_backup(Manager *m) {
        LastUpgrade u = {};
        char *path;

        if (last_upgrade_read(m->config->state_dir, &u) < 0)
                return NULL;
        path = isempty(u.backup) ? NULL : TAKE_PTR(u.backup);
        last_upgrade_done(&u);
        return path;
}

static bool dir_holds(const char *dir, const char *file) {
        size_t n = strlen(dir);
        return file && strncmp(file, dir, n) == 0 && file[n] == '/';
}

void backups_usage(Manager *m, uint64_t *ret_count, uint64_t *ret_bytes) {
        _cleanup_strv_free_ char **ids = backup_ids(m);
        uint64_t count = 0, bytes = 0;

        for (char **id = ids; id && *id; id++) {
                _cleanup_(backup_info_freep) BackupInfo *b = NULL;
                if (backup_load(m, *id, &b) < 0)
                        continue;
                count++;
                bytes += b->size;
        }
        *ret_count = count;
        *ret_bytes = bytes;
}

int backups_list_json(Manager *m, char **ret) {
        _cleanup_strv_free_ char **ids = backup_ids(m);
        _cleanup_free_ char *needed = needed_backup(m);
        json_object *a = json_object_new_array();

        if (!a)
                return -ENOMEM;
        for (char **id = ids; id && *id; id++) {
                _cleanup_(backup_info_freep) BackupInfo *b = NULL;
                json_object *o;
                struct stat st;

                if (backup_load(m, *id, &b) < 0)
                        continue;
                o = json_object_new_object();
                json_object_object_add(o, "id", json_object_new_string(b->id));
                json_object_object_add(o, "kind", json_object_new_string(b->kind));
                json_object_object_add(o, "version", json_object_new_string(b->version));
                json_object_object_add(o, "database", json_object_new_string(strempty(b->database)));
                json_object_object_add(o, "schema", json_object_new_string(strempty(b->schema)));
                json_object_object_add(o, "size", json_object_new_uint64(b->size));
                json_object_object_add(o, "sha256", json_object_new_string(b->sha256));
                json_object_object_add(o, "operation", json_object_new_uint64(b->operation));
                json_object_object_add(o, "created_usec", json_object_new_uint64(b->created_usec));
                json_object_object_add(o, "file", json_object_new_string(b->file));
                if (b->clone)
                        json_object_object_add(o, "clone", json_object_new_string(b->clone));
                json_object_object_add(o, "present", json_object_new_boolean(stat(b->file, &st) >= 0));
                json_object_object_add(o, "needed", json_object_new_boolean(dir_holds(b->dir, needed)));
                json_object_array_add(a, o);
        }
        *ret = strdup(
                json_object_to_json_string_ext(a, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(a);
        return *ret ? 0 : -ENOMEM;
}

void backups_remove_dir(Manager *m, const char *dir) {
        for (size_t f = 0; f < ELEMENTSOF(backup_files); f++) {
                _cleanup_free_ char *file = path_join(dir, backup_files[f]);
                if (file)
                        (void) unlink(file);
        }
        _cleanup_free_ char *meta = path_join(dir, "backup.json");
        if (meta)
                (void) unlink(meta);
        if (rmdir(dir) < 0)
                log_warning_errno(negative_errno(), "Failed to remove old backup %s, ignoring: %m", dir);
        else
                log_info("Removed old backup %s (backup.keep=%u)", dir, m->config->backup.keep);
}

void backups_prune(Manager *m, const char *in_flight_file, char ***ret_clones) {
        _cleanup_strv_free_ char **ids = backup_ids(m);
        _cleanup_free_ char *needed = needed_backup(m);
        size_t count = strv_length(ids);

        /* Names start with a sortable timestamp: the oldest come first. The newest backup.keep
         * stay, and older ones that a rollback or the running operation needs. */
        for (size_t i = 0; ids && i + m->config->backup.keep < count; i++) {
                _cleanup_(backup_info_freep) BackupInfo *b = NULL;
                _cleanup_free_ char *dir = path_join(m->config->backup.dir, ids[i]);

                if (!dir)
                        return;
                if (dir_holds(dir, needed) || dir_holds(dir, in_flight_file))
                        continue;
                if (backup_load(m, ids[i], &b) >= 0 && b->clone) {
                        (void) strv_extend(ret_clones, dir);
                        (void) strv_extend(ret_clones, b->clone);
                        continue;
                }
                backups_remove_dir(m, dir);
        }
}

/* Dropping pruned clones, one after the other, with mbupgraded-db. */
typedef struct DropClones {
        Manager *m;
        char **pairs; /* DIR, CLONE, ... */
        size_t next;
        char *conninfo;
        char *secret_file; /* removed when done */
} DropClones;

static void drop_clones_free(DropClones *d) {
        if (!d)
                return;
        if (d->secret_file)
                (void) unlink(d->secret_file);
        strv_free(d->pairs);
        free(d->conninfo);
        free(d->secret_file);
        free(d);
}

static void drop_next(DropClones *d);

static void on_dropped(int r, DbReport *report, void *userdata) {
        DropClones *d = userdata;
        const char *dir = d->pairs[d->next], *clone = d->pairs[d->next + 1];

        if (r < 0)
                log_warning(
                        "Cannot drop the old backup database %s (kept, and %s with it): %s",
                        clone,
                        dir,
                        report->error);
        else {
                log_info("Dropped the old backup database %s", clone);
                backups_remove_dir(d->m, dir);
        }
        d->next += 2;
        drop_next(d);
}

static void drop_next(DropClones *d) {
        Manager *m = d->m;
        int r;

        if (!d->pairs[d->next] || !d->pairs[d->next + 1]) {
                m->drop_clones = NULL;
                drop_clones_free(d);
                return;
        }
        r = dbserver_run(
                m->event,
                "postgres",
                d->conninfo,
                d->secret_file,
                STRV_MAKE("drop-clone", d->pairs[d->next + 1]),
                on_dropped,
                d,
                &m->drop_run);
        if (r < 0) {
                log_warning_errno(r, "Cannot run %s to drop old backup databases: %m", dbserver_helper_path());
                m->drop_clones = NULL;
                drop_clones_free(d);
        }
}

void backups_drop_clones(Manager *m, char **pairs, const char *conninfo, const char *secret_file) {
        DropClones *d;

        if (m->drop_clones) {
                /* Still busy with the last ones: these wait for the next prune. */
                (void) unlink(secret_file);
                strv_free(pairs);
                return;
        }
        d = calloc(1, sizeof(DropClones));
        if (!d || !(d->conninfo = strdup(conninfo)) || !(d->secret_file = strdup(secret_file))) {
                (void) unlink(secret_file);
                strv_free(pairs);
                drop_clones_free(d);
                return;
        }
        d->m = m;
        d->pairs = pairs;
        m->drop_clones = d;
        drop_next(d);
}

void backups_cancel(Manager *m) {
        m->drop_run = dbserver_cancel(m->drop_run);
        drop_clones_free(m->drop_clones);
        m->drop_clones = NULL;
}
