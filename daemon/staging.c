/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "child.h"
#include "feed.h"
#include "fetchclient.h"
#include "fileio.h"
#include "hash.h"
#include "jar.h"
#include "java.h"
#include "log.h"
#include "staged-record.h"
#include "staging.h"
#include "strv.h"
#include "test-hook.h"
#include "worker.h"

#define JAR_SIZE_MAX (2ULL * 1024 * 1024 * 1024) /* the biggest Metabase JAR is ~500 MB */
#define SMALL_FILE_MAX (64U * 1024U)             /* metabase.sha256, metabase.jar.sig */
#define STAGED_KEEP 2

typedef struct Stage {
        char *version;
        char *dir, *jar, *sha_file, *sig_file;
        char *jar_url, *sha_url, *sig_url;
        bool has_published_sha;
        char published_sha[SHA256_HEX_SIZE];
        char got_sha[SHA256_HEX_SIZE];
        uint64_t size, downloaded, total;
        int phase;          /* 1 JAR (and the checksum beside it), 2 signature, 3 verify */
        bool checksum_done; /* metabase.sha256 fetched, or known not to be published */
        char *error;
        bool refused; /* verification said no (as opposed to a download that failed) */
        StageCallback cb;
} Stage;

struct Staging {
        Manager *m;
        Child *stage_child;    /* the JAR's download, then the signature's */
        Child *checksum_child; /* metabase.sha256's, beside the JAR's */
        Stage *stage;
        char *queued_version; /* staged next, when the running staging is for another version */
        StageCallback queued_cb;
        char *staged; /* the Staged property */
};

static void stage_free(Stage *s) {
        if (!s)
                return;
        free(s->version);
        free(s->dir);
        free(s->jar);
        free(s->sha_file);
        free(s->sig_file);
        free(s->jar_url);
        free(s->sha_url);
        free(s->sig_url);
        free(s->error);
        free(s);
}

static char *staging_dir(Manager *m) {
        return manager_state_path(m, "staging");
}

static void stage_version(Manager *m, const char *version, StageCallback cb);

static void stage_finish(Manager *m, int r) {
        Staging *st = m->staging;
        Stage *s = st->stage;
        StageCallback cb = s->cb;

        st->stage = NULL;
        /* A download still running beside the one that ended it: the JAR's, when the checksum
         * is missing, or the checksum's, when the JAR failed. */
        st->stage_child = child_kill(st->stage_child);
        st->checksum_child = child_kill(st->checksum_child);
        if (r < 0) {
                /* A refused download is bad content: not kept, not resumed. A failed one may be. */
                if (s->refused) {
                        const char *files[] = {s->jar, s->sha_file, s->sig_file};
                        for (size_t i = 0; i < ELEMENTSOF(files); i++)
                                if (files[i])
                                        (void) unlink(files[i]);
                }
                free_and_printf(
                        &st->staged,
                        "%s (%s: %s)",
                        s->version,
                        s->refused ? "refused" : "failed",
                        strempty(s->error));
                log_warning(
                        "Staging %s %s: %s", s->version, s->refused ? "refused" : "failed", strempty(s->error));
        } else {
                free_and_printf(&st->staged, "%s (verified)", s->version);
                log_info("Staged %s (verified, sha256 %s)", s->version, s->got_sha);
        }
        manager_properties_changed(m, "Staged", NULL);
        cb(m, r, s->refused, s->jar, s->got_sha, s->error);
        stage_free(s);

        if (m->staging->queued_version && !m->staging->stage) {
                _cleanup_free_ char *next = TAKE_PTR(m->staging->queued_version);
                stage_version(m, next, m->staging->queued_cb);
        }
}

static void stage_fail(Manager *m, bool refused, const char *fmt, ...) _printf_(3, 4);
static void stage_fail(Manager *m, bool refused, const char *fmt, ...) {
        Stage *s = m->staging->stage;
        va_list ap;

        free(s->error);
        va_start(ap, fmt);
        if (vasprintf(&s->error, fmt, ap) < 0)
                s->error = NULL;
        va_end(ap);
        s->refused = refused;
        stage_finish(m, -EIO);
}

/* Keeps the newest STAGED_KEEP staged releases (the one being staged among them). */
static void prune_staging(Manager *m, const char *keep) {
        _cleanup_free_ char *dir = staging_dir(m);
        _cleanup_strv_free_ char **versions = NULL;
        struct dirent **list = NULL;
        int n;

        if (!dir)
                return;
        n = scandir(dir, &list, NULL, NULL);
        for (int i = 0; i < n; i++) {
                if (list[i]->d_type == DT_DIR && mb_version_is_valid(list[i]->d_name))
                        (void) strv_extend(&versions, list[i]->d_name);
                free(list[i]);
        }
        free(list);
        /* newest first */
        size_t count = strv_length(versions);
        for (size_t i = 0; i < count; i++)
                for (size_t j = i + 1; j < count; j++) {
                        MbVersion a, b;
                        (void) mb_version_parse(versions[i], &a);
                        (void) mb_version_parse(versions[j], &b);
                        if (mb_version_compare(&a, &b) < 0) {
                                char *t = versions[i];
                                versions[i] = versions[j];
                                versions[j] = t;
                        }
                }
        size_t kept = keep ? 1 : 0;
        for (size_t i = 0; i < count; i++) {
                if (keep && streq(versions[i], keep))
                        continue;
                if (kept < STAGED_KEEP) {
                        kept++;
                        continue;
                }
                _cleanup_free_ char *d = path_join(dir, versions[i]);
                const char *files[] = {
                        "metabase.jar", "metabase.jar.part", "metabase.sha256", "metabase.jar.sig"};
                if (d)
                        (void) staged_record_remove(d);
                for (size_t k = 0; d && k < ELEMENTSOF(files); k++) {
                        _cleanup_free_ char *f = path_join(d, files[k]);
                        if (f)
                                (void) unlink(f);
                }
                if (d && rmdir(d) >= 0)
                        log_info("Removed the staged %s (at most %d are kept)", versions[i], STAGED_KEEP);
        }
}

typedef struct VerifyWork {
        Manager *m;
        Stage *s;
        char *java_path;
        char *unit, *jar; /* for the fix message */
        char *signing_key;
        char *error;
        char *warning; /* logged by on_verify_done(), in the main thread */
        bool refused;
} VerifyWork;

/* The signing key's fingerprint: SHA-256 of its DER SubjectPublicKeyInfo (what
 * `openssl pkey -pubin -outform DER | sha256sum` prints), recorded in the staging record. */
static int key_fingerprint(const char *key_path, char ret_hex[static SHA256_HEX_SIZE]) {
        _cleanup_fclose_ FILE *kf = NULL;
        unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
        unsigned md_len = 0;
        EVP_PKEY *key;
        int n, r = 0;

        kf = fopen(key_path, "re");
        if (!kf)
                return -errno;
        key = PEM_read_PUBKEY(kf, NULL, NULL, NULL);
        if (!key)
                return -EINVAL;
        n = i2d_PUBKEY(key, &der);
        if (n <= 0 || EVP_Digest(der, (size_t) n, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32)
                r = -EIO;
        else
                for (unsigned i = 0; i < md_len; i++)
                        (void) snprintf(ret_hex + 2 * i, 3, "%02x", md[i]);
        OPENSSL_free(der);
        EVP_PKEY_free(key);
        return r;
}

static int verify_signature(const char *key_path, const char *file, const char *sig_path, char **error) {
        _cleanup_free_ char *sig = NULL;
        _cleanup_fclose_ FILE *kf = NULL;
        _cleanup_close_ int fd = -EBADF;
        EVP_PKEY *key = NULL;
        EVP_MD_CTX *ctx = NULL;
        size_t sig_len;
        int r, ok = 0;

        r = read_full_file(sig_path, SMALL_FILE_MAX, &sig, &sig_len);
        if (r < 0)
                return *error = strdup_printf("cannot read the signature: %s", strerror(-r)), r;
        kf = fopen(key_path, "re");
        if (!kf)
                return *error = strdup_printf("cannot read releases.signing_key %s: %m", key_path), -errno;
        key = PEM_read_PUBKEY(kf, NULL, NULL, NULL);
        if (!key)
                return *error = strdup_printf("releases.signing_key %s is not a PEM public key", key_path),
                       -EINVAL;
        fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        ctx = EVP_MD_CTX_new();
        if (fd < 0 || !ctx) {
                r = fd < 0 ? negative_errno() : -ENOMEM;
                goto finish;
        }
        if (EVP_PKEY_get_id(key) == EVP_PKEY_ED25519 || EVP_PKEY_get_id(key) == EVP_PKEY_ED448) {
                /* Pure EdDSA signs the whole message at once: map the file, don't copy it. */
                struct stat st;
                void *p;
                if (fstat(fd, &st) < 0 || st.st_size == 0) {
                        r = -EIO;
                        goto finish;
                }
                p = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
                if (p == MAP_FAILED) {
                        r = negative_errno();
                        goto finish;
                }
                ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
                        EVP_DigestVerify(ctx, (unsigned char *) sig, sig_len, p, (size_t) st.st_size) == 1;
                (void) munmap(p, (size_t) st.st_size);
        } else {
                static char buf[1024 * 1024];
                ssize_t k;
                ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1;
                while (ok && (k = read(fd, buf, sizeof(buf))) > 0)
                        ok = EVP_DigestVerifyUpdate(ctx, buf, (size_t) k) == 1;
                ok = ok && EVP_DigestVerifyFinal(ctx, (unsigned char *) sig, sig_len) == 1;
        }
        r = ok ? 0 : -EBADMSG;
finish:
        if (r == -EBADMSG)
                *error = strdup_printf(
                        "the signature metabase.jar.sig does not verify with releases.signing_key %s",
                        key_path);
        else if (r < 0 && !*error)
                *error = strdup_printf("cannot verify the signature: %s", strerror(-r));
        EVP_MD_CTX_free(ctx);
        EVP_PKEY_free(key);
        return r;
}

static int verify_run(void *userdata) {
        VerifyWork *w = userdata;
        Stage *s = w->s;
        _cleanup_free_ char *err = NULL;
        JarInfo *info = NULL;
        unsigned java = 0, need;
        int r;

        w->refused = true;
        if (s->has_published_sha && !streq(s->published_sha, s->got_sha)) {
                w->error = strdup_printf(
                        "the download does not match metabase.sha256: got %s, published %s",
                        s->got_sha,
                        s->published_sha);
                return -EBADMSG;
        }
        char key_fp[SHA256_HEX_SIZE] = "";
        if (!isempty(w->signing_key)) {
                r = verify_signature(w->signing_key, s->jar, s->sig_file, &w->error);
                if (r < 0)
                        return r;
                r = key_fingerprint(w->signing_key, key_fp);
                if (r < 0) {
                        w->error = strdup_printf(
                                "cannot read releases.signing_key %s: %s", w->signing_key, strerror(-r));
                        return r;
                }
        }
        r = jar_inspect(s->jar, 0, &info, &err);
        if (r < 0) {
                w->error = strdup_printf("the download is not a Metabase JAR: %s", strempty(err));
                return r;
        }
        if (!streq(info->tag, s->version)) {
                w->error = strdup_printf(
                        "the JAR downloaded for %s says it is %s (version.properties)", s->version, info->tag);
                jar_info_free(info);
                return -EBADMSG;
        }
        /* The scan of every class ran here, in the worker: recorded in the staging record, so that
         * pre-flight of this staged release does not scan again. */
        need = jar_java_needed(info, &w->warning);
        if (w->java_path) {
                free(err);
                err = NULL;
                r = java_feature_version(w->java_path, &java, &err);
                if (r >= 0 && need > java) {
                        _cleanup_free_ char *fix = java_fix_message(need, w->unit, w->jar),
                                            *why = jar_java_reason(info, need);
                        w->error = strdup_printf(
                                "%s needs Java %u (%s) but the unit runs Java %u (%s); %s",
                                s->version,
                                need,
                                strempty(why),
                                java,
                                w->java_path,
                                strempty(fix));
                        jar_info_free(info);
                        return -ENOEXEC;
                }
        }
        /* The change sets it carries: whether it adds migrations (zero-downtime.h). A JAR without a
         * readable changelog is still staged; the zero-downtime check then says it is not known. */
        _cleanup_strv_free_ char **changesets = NULL;
        (void) jar_read_changesets(s->jar, &changesets, NULL);
        StagedRecord rec = {
                .version = s->version,
                .sha256 = s->got_sha,
                .size = s->size,
                .java_needed = need,
                .class_major = info->class_major,
                .main_class_major = info->main_class_major,
                .classes = info->classes,
                .newest_class = info->newest_class,
                .checksum = s->has_published_sha,
                .checksum_sha256 = s->has_published_sha ? s->published_sha : NULL,
                .signature = !isempty(w->signing_key),
                .signing_key_sha256 = *key_fp ? key_fp : NULL,
                .verified_usec = now_realtime_usec(),
                .changesets = changesets,
        };
        r = staged_record_write(s->dir, &rec);
        jar_info_free(info);
        w->refused = false;
        if (r < 0)
                w->error = strdup_printf("cannot write the staging record in %s: %s", s->dir, strerror(-r));
        return r;
}

/* A rehearsal runs the staged JAR with the unit's User=, so the metabase user must read it: the
 * JAR 0644 (fetched 0600) and root's still (never that user's: root opens it again later), the
 * directories down to it (root's, made under the daemon's UMask=0077) 0755. */
static int stage_make_readable(const char *root, const char *dir, const char *jar) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        if (chmod(root, 0755) < 0 || chmod(dir, 0755) < 0)
                return negative_errno();
        fd = open(jar, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0 || fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if ((st.st_mode & 07777) != 0644 && fchmod(fd, 0644) < 0)
                return negative_errno();
        return 0;
}

static void on_verify_done(int r, void *userdata) {
        VerifyWork *w = userdata;
        Manager *m = w->m;
        _cleanup_free_ char *root = staging_dir(m);

        if (w->warning)
                log_warning("Staging %s: %s", w->s->version, w->warning);
        if (r >= 0) {
                r = root ? stage_make_readable(root, w->s->dir, w->s->jar) : -ENOMEM;
                if (r < 0)
                        w->error = strdup_printf("cannot make %s readable: %s", w->s->jar, strerror(-r));
        }
        if (r < 0)
                stage_fail(m, w->refused, "%s", strempty(w->error));
        else
                stage_finish(m, 0);
        free(w->java_path);
        free(w->unit);
        free(w->jar);
        free(w->warning);
        free(w->signing_key);
        free(w->error);
        free(w);
}

static void stage_verify(Manager *m) {
        Stage *s = m->staging->stage;
        VerifyWork *w;
        int r;

        s->phase = 3;
        test_hook_crash_point("verify");
        free_and_printf(&m->staging->staged, "%s (verifying)", s->version);
        manager_properties_changed(m, "Staged", NULL);
        w = calloc(1, sizeof(VerifyWork));
        if (!w) {
                stage_fail(m, false, "out of memory");
                return;
        }
        w->m = m;
        w->s = s;
        w->java_path = m->unit && m->unit->exec_path ? strdup(m->unit->exec_path) : NULL;
        w->signing_key = strdup(strempty(m->config->releases.signing_key));
        w->unit = strdup(strempty(m->config->service.unit));
        w->jar = strdup(
                !isempty(m->config->service.jar) ? m->config->service.jar
                                                 : strempty(m->unit ? unit_info_jar(m->unit) : NULL));
        r = worker_run(m->event, verify_run, on_verify_done, w);
        if (r < 0) {
                free(w->java_path);
                free(w->unit);
                free(w->jar);
                free(w->signing_key);
                free(w);
                stage_fail(m, false, "cannot start the verification: %s", strerror(-r));
        }
}

static void stage_next(Manager *m);

static void on_stage_line(Child *c, const char *line, void *userdata) {
        Manager *m = userdata;
        Stage *s = m->staging->stage;
        uint64_t done, total;

        if (!s || s->phase != 1 || sscanf(line, "progress %" SCNu64 " %" SCNu64, &done, &total) != 2)
                return;
        s->downloaded = done;
        s->total = total;
        if (total > 0)
                free_and_printf(
                        &m->staging->staged,
                        "%s (downloading %" PRIu64 "%%, %" PRIu64 " MB)",
                        s->version,
                        done * 100 / total,
                        done >> 20);
        else
                free_and_printf(
                        &m->staging->staged, "%s (downloading, %" PRIu64 " MB)", s->version, done >> 20);
        manager_properties_changed(m, "Staged", NULL);
}

/* metabase.sha256, downloaded beside the JAR rather than before it: on a small machine its
 * helper's start and TLS handshake would otherwise add to every staging's time. */
static void on_checksum_exit(Child *c, int status, const char *last, void *userdata) {
        Manager *m = userdata;
        Stage *s = m->staging->stage;
        _cleanup_free_ char *error = NULL, *text = NULL;
        int r;

        m->staging->checksum_child = NULL;
        r = fetchclient_verdict(status, last, NULL, NULL, &error);
        /* Not published: 404 from a server, a missing file in a mirror on disk. */
        if (r < 0 && error &&
            (strstr(error, "HTTP 404") || strstr(error, "HTTP 410") || strstr(error, "Couldn't open file"))) {
                if (m->config->releases.require_checksum) {
                        stage_fail(
                                m,
                                true,
                                "no metabase.sha256 is published for %s (%s); releases.require_checksum "
                                "is true, so it is not installed",
                                s->version,
                                s->sha_url);
                        return;
                }
                log_warning("No metabase.sha256 for %s; going on (require_checksum is false)", s->version);
        } else if (r < 0) {
                stage_fail(m, false, "downloading %s failed: %s", s->sha_url, strempty(error));
                return;
        } else {
                size_t n;
                r = read_full_file(s->sha_file, SMALL_FILE_MAX, &text, &n);
                if (r < 0 || feed_checksum_parse(text, n, s->published_sha) < 0) {
                        stage_fail(m, true, "%s is not a SHA-256 checksum file", s->sha_url);
                        return;
                }
                s->has_published_sha = true;
        }
        s->checksum_done = true;
        if (s->phase > 1) /* the JAR is there already */
                stage_next(m);
}

static void on_stage_exit(Child *c, int status, const char *last, void *userdata) {
        Manager *m = userdata;
        Stage *s = m->staging->stage;
        _cleanup_free_ char *error = NULL;
        int r;

        m->staging->stage_child = NULL;
        /* Only the JAR's own size and hash are kept: the small files have theirs too. */
        uint64_t size;
        char sha[SHA256_HEX_SIZE];
        r = fetchclient_verdict(status, last, &size, sha, &error);
        if (r >= 0 && s->phase == 1) {
                s->size = size;
                memcpy(s->got_sha, sha, sizeof(sha));
        }
        switch (s->phase) {
        case 1: /* the JAR */
                if (r < 0) {
                        stage_fail(m, false, "downloading %s failed: %s", s->jar_url, strempty(error));
                        return;
                }
                s->phase = isempty(m->config->releases.signing_key) ? 3 : 2;
                break;
        case 2: /* the signature */
                if (r < 0) {
                        stage_fail(
                                m,
                                true,
                                "releases.signing_key is set but %s could not be downloaded: %s",
                                s->sig_url,
                                strempty(error));
                        return;
                }
                s->phase = 3;
                break;
        }
        /* The checksum's download ends first nearly always; until it has, the next step waits. */
        if (s->checksum_done)
                stage_next(m);
}

static void stage_next(Manager *m) {
        Staging *st = m->staging;
        Stage *s = st->stage;
        int r = 0;

        switch (s->phase) {
        case 1:
                free_and_printf(&st->staged, "%s (downloading)", s->version);
                r = fetchclient_spawn(
                        m->event,
                        m->config->releases.ca_file,
                        s->sha_url,
                        s->sha_file,
                        SMALL_FILE_MAX,
                        false,
                        NULL,
                        on_checksum_exit,
                        m,
                        &st->checksum_child);
                if (r < 0)
                        break;
                r = fetchclient_spawn(
                        m->event,
                        m->config->releases.ca_file,
                        s->jar_url,
                        s->jar,
                        JAR_SIZE_MAX,
                        true,
                        on_stage_line,
                        on_stage_exit,
                        m,
                        &st->stage_child);
                if (r >= 0)
                        test_hook_crash_point("download");
                break;
        case 2:
                r = fetchclient_spawn(
                        m->event,
                        m->config->releases.ca_file,
                        s->sig_url,
                        s->sig_file,
                        SMALL_FILE_MAX,
                        false,
                        NULL,
                        on_stage_exit,
                        m,
                        &st->stage_child);
                break;
        case 3:
                stage_verify(m);
                return;
        }
        manager_properties_changed(m, "Staged", NULL);
        if (r < 0)
                stage_fail(m, false, "cannot start the download helper %s: %s", fetch_helper(), strerror(-r));
}

/* An already verified staging directory: its staging record matches the JAR's size, and what was
 * verified then is what the configuration requires now (a checksum when require_checksum is
 * true, a signature by this very signing_key when one is set). A stage verified under a laxer
 * configuration is stale: it is staged again, never installed on the old verdict. */
bool staging_is_verified(
        Manager *m, const char *dir, const char *version, char *ret_sha256, const char **ret_stale) {
        _cleanup_free_ char *jar = path_join(dir, "metabase.jar");
        _cleanup_(staged_record_done) StagedRecord rec = {};
        const char *stale = NULL;
        char fp[SHA256_HEX_SIZE];
        struct stat st;
        bool ok = false;

        if (!jar || staged_record_read(dir, &rec) < 0 || stat(jar, &st) < 0)
                return false;
        if (streq(rec.version, version) && rec.size == (uint64_t) st.st_size &&
            sha256_hex_is_valid(rec.sha256)) {
                if (m->config->releases.require_checksum && !rec.checksum)
                        stale = "it was staged without a published checksum and releases.require_checksum is "
                                "true now";
                else if (!isempty(m->config->releases.signing_key) && !rec.signature)
                        stale = "it was staged without a signature check and releases.signing_key is set now";
                else if (
                        !isempty(m->config->releases.signing_key) &&
                        (key_fingerprint(m->config->releases.signing_key, fp) < 0 ||
                         !streq(strempty(rec.signing_key_sha256), fp)))
                        stale = "its signature was checked with another key than releases.signing_key";
                else {
                        ok = true;
                        if (ret_sha256)
                                memcpy(ret_sha256, rec.sha256, SHA256_HEX_SIZE);
                }
        }
        if (ret_stale)
                *ret_stale = stale;
        return ok;
}

static void stage_version(Manager *m, const char *version, StageCallback cb) {
        Staging *st = m->staging;
        _cleanup_free_ char *root = NULL;
        Stage *s;
        int r;

        /* One staging at a time: the same version takes over the running one (a plan's callback
         * replaces the background's), another one waits for it. */
        if (st->stage) {
                if (streq(st->stage->version, version))
                        st->stage->cb = cb;
                else {
                        (void) free_and_strdup(&st->queued_version, version);
                        st->queued_cb = cb;
                }
                return;
        }
        root = staging_dir(m);

        s = calloc(1, sizeof(Stage));
        if (!s || !root) {
                free(s);
                cb(m, -ENOMEM, false, NULL, NULL, "out of memory");
                return;
        }
        s->cb = cb;
        s->phase = 1;
        s->version = strdup(version);
        s->dir = path_join(root, version);
        s->jar = s->dir ? path_join(s->dir, "metabase.jar") : NULL;
        s->sha_file = s->dir ? path_join(s->dir, "metabase.sha256") : NULL;
        s->sig_file = s->dir ? path_join(s->dir, "metabase.jar.sig") : NULL;
        s->jar_url = feed_download_url(m->config->releases.downloads, m->config->releases.edition, version);
        if (s->jar_url) {
                char *slash = strrchr(s->jar_url, '/');
                s->sha_url = strdup_printf("%.*smetabase.sha256", (int) (slash - s->jar_url + 1), s->jar_url);
                s->sig_url = strdup_printf("%s.sig", s->jar_url);
        }
        st->stage = s;
        if (!s->version || !s->jar || !s->sha_file || !s->sig_file || !s->sha_url || !s->sig_url) {
                stage_fail(
                        m,
                        true,
                        "%s can't be downloaded for the %s edition",
                        version,
                        edition_to_string(m->config->releases.edition));
                return;
        }
        const char *stale = NULL;
        if (staging_is_verified(m, s->dir, version, s->got_sha, &stale)) {
                /* staged by an earlier mbupgraded, which left it 0600 */
                r = stage_make_readable(root, s->dir, s->jar);
                if (r < 0) {
                        stage_fail(m, false, "cannot make %s readable: %s", s->jar, strerror(-r));
                        return;
                }
                free_and_printf(&st->staged, "%s (verified)", version);
                st->stage = NULL;
                manager_properties_changed(m, "Staged", NULL);
                cb(m, 0, false, s->jar, s->got_sha, NULL);
                stage_free(s);
                return;
        }
        if (stale) {
                /* Staged anew, from the download on: the old files carry the old verdict. */
                log_notice("The staged %s is downloaded and verified anew: %s", version, stale);
                (void) staged_record_remove(s->dir);
                (void) unlink(s->jar);
                (void) unlink(s->sha_file);
                (void) unlink(s->sig_file);
        }
        r = mkdir_parents_and_self(s->dir, 0755);
        if (r < 0) {
                stage_fail(m, false, "cannot create %s: %s", s->dir, strerror(-r));
                return;
        }
        prune_staging(m, version);
        log_info("Staging %s from %s", version, s->jar_url);
        stage_next(m);
}

void staging_stage(Manager *m, const char *version, StageCallback cb) {
        stage_version(m, version, cb);
}

bool staging_busy(Manager *m) {
        return m->staging && m->staging->stage;
}

const char *staging_staged(Manager *m) {
        return m->staging ? strempty(m->staging->staged) : "";
}

int staging_new(Manager *m, Staging **ret) {
        Staging *st = calloc(1, sizeof(Staging));

        if (!st)
                return -ENOMEM;
        st->m = m;
        *ret = st;
        return 0;
}

Staging *staging_free(Staging *st) {
        if (!st)
                return NULL;
        child_kill(st->stage_child);
        child_kill(st->checksum_child);
        stage_free(st->stage);
        free(st->staged);
        free(st->queued_version);
        free(st);
        return NULL;
}
