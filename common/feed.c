/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <json-c/json.h>
#include <stdarg.h>

#include "feed.h"
#include "macro.h"
#include "strv.h"

/* How much of a rejected version string is quoted back in a message. */
#define FEED_QUOTE_MAX 40U

DEFINE_POINTER_CLEANUP(json_tokener, json_tokener_free, json_tokener_freep);

static inline void json_object_putp(json_object **o) {
        if (*o)
                (void) json_object_put(*o);
}

/* json-c builds the whole tree, and some inputs cost it hundreds of times their size in memory.
 * Count objects, arrays and commas outside strings before it sees them. The string grammar here is
 * strict JSON's, which is what the tokener is told to accept. */
static int feed_check_complexity(const char *data, size_t size, char **ret_error) {
        size_t containers = 0, commas = 0;
        bool in_string = false, escaped = false;

        for (size_t i = 0; i < size; i++) {
                char c = data[i];

                if (in_string) {
                        if (escaped)
                                escaped = false;
                        else if (c == '\\')
                                escaped = true;
                        else if (c == '"')
                                in_string = false;
                        continue;
                }

                switch (c) {
                case '"':
                        in_string = true;
                        break;
                case '{':
                case '[':
                        if (++containers > FEED_CONTAINERS_MAX)
                                return set_error_message(
                                        ret_error,
                                        -EBADMSG,
                                        "the feed is too complex: more than %u objects and arrays",
                                        FEED_CONTAINERS_MAX);
                        break;
                case ',':
                        if (++commas > FEED_COMMAS_MAX)
                                return set_error_message(
                                        ret_error,
                                        -EBADMSG,
                                        "the feed is too complex: more than %u values",
                                        FEED_COMMAS_MAX);
                        break;
                }
        }
        return 0;
}

/* A string member of at most max bytes without an embedded NUL ("\u0000"), or NULL. */
static const char *json_string_member(json_object *o, const char *key, size_t max, size_t *ret_len) {
        json_object *m;
        const char *s;
        size_t n;

        if (!json_object_object_get_ex(o, key, &m) || !json_object_is_type(m, json_type_string))
                return NULL;
        s = json_object_get_string(m);
        n = (size_t) json_object_get_string_len(m);
        if (!s || n > max || strlen(s) != n)
                return NULL;
        if (ret_len)
                *ret_len = n;
        return s;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (y >= 1970). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
        int64_t era, yoe, doy, doe;

        y -= m <= 2;
        era = y / 400;
        yoe = y - era * 400;
        doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

static bool is_leap_year(unsigned y) {
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Strictly "YYYY-MM-DD", a real date from 1970 to 9999. */
static int parse_date(const char *s, size_t n, uint64_t *ret_usec) {
        static const unsigned days_in_month[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        unsigned y = 0, m, d, dim;

        if (n != 10 || s[4] != '-' || s[7] != '-')
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
                        return -EINVAL;

        for (size_t i = 0; i < 4; i++)
                y = y * 10 + (unsigned) (s[i] - '0');
        m = (unsigned) (s[5] - '0') * 10 + (unsigned) (s[6] - '0');
        d = (unsigned) (s[8] - '0') * 10 + (unsigned) (s[9] - '0');
        if (y < 1970 || m < 1 || m > 12)
                return -EINVAL;
        dim = days_in_month[m - 1] + (m == 2 && is_leap_year(y));
        if (d < 1 || d > dim)
                return -EINVAL;

        *ret_usec = (uint64_t) days_from_civil(y, m, d) * 24 * 3600 * USEC_PER_SEC;
        return 0;
}

/* The length of the valid UTF-8 sequence at s (at most n bytes), 0 if there is none: no overlong
 * forms, no surrogates, nothing above U+10FFFF. *ret_cp gets the code point. */
static size_t utf8_sequence(const unsigned char *s, size_t n, uint32_t *ret_cp) {
        uint32_t cp;
        size_t len;

        if (s[0] < 0x80) {
                *ret_cp = s[0];
                return 1;
        }
        if (s[0] >= 0xc2 && s[0] <= 0xdf) {
                len = 2;
                cp = s[0] & 0x1f;
        } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
                len = 3;
                cp = s[0] & 0x0f;
        } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
                len = 4;
                cp = s[0] & 0x07;
        } else
                return 0;
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (s[i] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        *ret_cp = cp;
        return len;
}

/* A copy that is safe to show on a terminal and to put into JSON: C0 controls, DEL, C1 controls
 * (U+0080..U+009F, which some terminals obey) and bytes that are not valid UTF-8 (json-c lets
 * overlong forms and surrogates through) become '?', one per byte. */
static char *strdup_for_display(const char *s, size_t n) {
        const unsigned char *u = (const unsigned char *) s;
        char *c;

        c = malloc(n + 1);
        if (!c)
                return NULL;
        for (size_t i = 0; i < n;) {
                uint32_t cp;
                size_t len = utf8_sequence(u + i, n - i, &cp);

                if (len == 0) {
                        c[i++] = '?';
                        continue;
                }
                if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
                        memset(c + i, '?', len);
                else
                        memcpy(c + i, s + i, len);
                i += len;
        }
        c[n] = '\0';
        return c;
}

static bool url_is_plausible(const char *s, size_t n) {
        if (!startswith(s, "https://") && !startswith(s, "http://"))
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] <= 0x20 || s[i] >= 0x7f) /* ASCII without spaces or controls */
                        return false;
        return true;
}

static void release_done(Release *r) {
        free(r->version);
        free(r->released);
        strv_free(r->highlights);
        free(r->announcement_url);
        *r = (Release){};
}

static int release_parse_highlights(json_object *o, Release *r) {
        json_object *a;
        size_t n, k = 0;

        r->highlights = calloc(1, sizeof(char *));
        if (!r->highlights)
                return -ENOMEM;

        if (!json_object_object_get_ex(o, "highlights", &a) || !json_object_is_type(a, json_type_array))
                return 0;

        n = json_object_array_length(a);
        for (size_t i = 0; i < n && k < FEED_HIGHLIGHTS_MAX; i++) {
                json_object *h = json_object_array_get_idx(a, i);
                _cleanup_free_ char *c = NULL;
                const char *s;
                size_t len;
                char **l;

                if (!json_object_is_type(h, json_type_string))
                        continue;
                s = json_object_get_string(h);
                len = (size_t) json_object_get_string_len(h);
                if (!s || len > FEED_STRING_MAX || strlen(s) != len)
                        continue;

                c = strdup_for_display(s, len);
                if (!c)
                        return -ENOMEM;
                l = realloc(r->highlights, sizeof(char *) * (k + 2));
                if (!l)
                        return -ENOMEM;
                r->highlights = l;
                l[k++] = TAKE_PTR(c);
                l[k] = NULL;
        }
        return 0;
}

/* Fills *r from one release object. -EBADMSG with a reason when it can't be used at all (the
 * version is what matters); fields that are merely wrong are left unset. */
static int release_parse(json_object *o, Release *r, char **ret_reason) {
        char buf[MB_VERSION_STRING_MAX + 1];
        json_object *m;
        const char *s;
        size_t n;
        int k;

        *r = (Release){.rollout = -1};

        if (!json_object_is_type(o, json_type_object))
                return set_error_message(ret_reason, -EBADMSG, "not an object");

        if (!json_object_object_get_ex(o, "version", &m) || !m)
                return set_error_message(ret_reason, -EBADMSG, "no version");
        if (!json_object_is_type(m, json_type_string))
                return set_error_message(ret_reason, -EBADMSG, "the version is not a string");
        s = json_object_get_string(m);
        n = (size_t) json_object_get_string_len(m);
        if (strlen(s) != n || mb_version_parse(s, &r->v) < 0) {
                _cleanup_free_ char *q = strndup_sanitized(s, n, FEED_QUOTE_MAX);

                if (!q)
                        return -ENOMEM;
                return set_error_message(ret_reason, -EBADMSG, "invalid version '%s'", q);
        }
        r->version = strdup(mb_version_format(&r->v, buf));
        if (!r->version)
                return -ENOMEM;

        s = json_string_member(o, "released", 10, &n);
        if (s && parse_date(s, n, &r->released_usec) >= 0) {
                r->released = strdup(s);
                if (!r->released)
                        return -ENOMEM;
        }

        if (json_object_object_get_ex(o, "patch", &m) && json_object_is_type(m, json_type_boolean))
                r->patch = json_object_get_boolean(m);

        if (json_object_object_get_ex(o, "rollout", &m) && json_object_is_type(m, json_type_int)) {
                int64_t v = json_object_get_int64(m);

                if (v >= 0 && v <= 100)
                        r->rollout = (int) v;
        }

        s = json_string_member(o, "announcement_url", FEED_STRING_MAX, &n);
        if (s && url_is_plausible(s, n)) {
                r->announcement_url = strdup(s);
                if (!r->announcement_url)
                        return -ENOMEM;
        }

        k = release_parse_highlights(o, r);
        if (k < 0)
                return k;

        return 0;
}

Feed *feed_free(Feed *f) {
        if (!f)
                return NULL;
        for (size_t i = 0; i < f->n; i++)
                release_done(&f->releases[i]);
        free(f->releases);
        free(f->rejected_reason);
        free(f);
        return NULL;
}

DEFINE_POINTER_CLEANUP(Feed, feed_free, feed_freep);

typedef struct FeedBuilder {
        Feed *feed;
        size_t allocated;
        size_t examined; /* entries looked at, for FEED_RELEASES_MAX */
} FeedBuilder;

static int feed_reject(Feed *f, const char *where, const char *reason) {
        f->n_rejected++;
        if (f->rejected_reason)
                return 0;
        f->rejected_reason = strdup_printf("%s: %s", where, reason);
        return f->rejected_reason ? 0 : -ENOMEM;
}

/* Takes one feed entry. Returns -EBADMSG (with the reason) only when the entry is unusable and
 * required is set; otherwise an unusable entry is counted as rejected. */
static int feed_add(
        FeedBuilder *b, json_object *o, const char *where, bool beta, bool latest, bool required, char **ret_reason) {
        _cleanup_free_ char *reason = NULL;
        Feed *f = b->feed;
        Release r;
        int k;

        if (++b->examined > FEED_RELEASES_MAX) {
                f->n_rejected++;
                if (f->rejected_reason)
                        return 0;
                f->rejected_reason = strdup_printf(
                        "%s: more than %u releases in the feed, the rest is ignored", where, FEED_RELEASES_MAX);
                return f->rejected_reason ? 0 : -ENOMEM;
        }

        k = release_parse(o, &r, &reason);
        if (k == -EBADMSG) {
                release_done(&r);
                if (required) {
                        *ret_reason = TAKE_PTR(reason);
                        return k;
                }
                return feed_reject(f, where, reason);
        }
        if (k < 0) {
                release_done(&r);
                return k;
        }
        r.beta = beta;
        r.latest = latest;

        for (size_t i = 0; i < f->n; i++)
                if (mb_version_compare(&f->releases[i].v, &r.v) == 0) {
                        release_done(&r);
                        return 0;
                }

        if (f->n >= b->allocated) {
                size_t a = b->allocated ? b->allocated * 2 : 64;
                Release *l;

                l = reallocarray(f->releases, a, sizeof(Release));
                if (!l) {
                        release_done(&r);
                        return -ENOMEM;
                }
                f->releases = l;
                b->allocated = a;
        }
        f->releases[f->n++] = r;
        return 0;
}

static int release_compare_newest_first(const void *a, const void *b) {
        const Release *x = a, *y = b;

        return mb_version_compare(&y->v, &x->v);
}

static int feed_parse_json(const char *data, size_t size, json_object **ret, char **ret_error) {
        _cleanup_(json_tokener_freep) json_tokener *tok = NULL;
        _cleanup_(json_object_putp) json_object *root = NULL;
        enum json_tokener_error e;
        size_t end;
        int r;

        if (size == 0)
                return set_error_message(ret_error, -EBADMSG, "the feed is empty");
        if (memchr(data, '\0', size))
                return set_error_message(ret_error, -EBADMSG, "the feed is not JSON: it contains a NUL byte");

        r = feed_check_complexity(data, size, ret_error);
        if (r < 0)
                return r;

        /* json-c's tokener keeps its own stack of FEED_DEPTH_MAX levels and does not recurse. */
        tok = json_tokener_new_ex(FEED_DEPTH_MAX);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);

        root = json_tokener_parse_ex(tok, data, (int) size);
        e = json_tokener_get_error(tok);
        end = json_tokener_get_parse_end(tok);
        if (e == json_tokener_continue) {
                /* A number at the end could go on: a NUL ends it. Anything else is cut short. */
                root = json_tokener_parse_ex(tok, "", 1);
                e = json_tokener_get_error(tok);
                if (e != json_tokener_success)
                        return set_error_message(
                                ret_error, -EBADMSG, "the feed is not JSON: it ends in the middle");
                end = size;
        }
        if (e == json_tokener_error_depth)
                return set_error_message(
                        ret_error,
                        -EBADMSG,
                        "the feed is not JSON: nested deeper than %d levels",
                        FEED_DEPTH_MAX);
        if (e != json_tokener_success)
                return set_error_message(
                        ret_error,
                        -EBADMSG,
                        "the feed is not JSON: %s at byte %zu",
                        json_tokener_error_desc(e),
                        end);

        for (size_t i = end; i < size; i++)
                if (!strchr(" \t\r\n", data[i]))
                        return set_error_message(
                                ret_error, -EBADMSG, "the feed is not JSON: unexpected data at byte %zu", i);

        if (!json_object_is_type(root, json_type_object))
                return set_error_message(ret_error, -EBADMSG, "the feed is not a JSON object");

        *ret = TAKE_PTR(root);
        return 0;
}

int feed_parse(const char *data, size_t size, bool include_beta, Feed **ret, char **ret_error) {
        _cleanup_(json_object_putp) json_object *root = NULL;
        _cleanup_(feed_freep) Feed *f = NULL;
        _cleanup_free_ char *reason = NULL;
        FeedBuilder b = {};
        json_object *o;
        int r;

        assert(data || size == 0);
        assert(ret);

        if (size > FEED_SIZE_MAX)
                return set_error_message(
                        ret_error,
                        -EFBIG,
                        "the feed is larger than %u MiB (%zu bytes)",
                        FEED_SIZE_MAX >> 20,
                        size);

        r = feed_parse_json(data, size, &root, ret_error);
        if (r < 0)
                return r;

        f = calloc(1, sizeof(Feed));
        if (!f)
                return -ENOMEM;
        b.feed = f;

        if (!json_object_object_get_ex(root, "latest", &o) || !o)
                return set_error_message(ret_error, -EBADMSG, "the feed has no 'latest' release");
        r = feed_add(&b, o, "'latest'", false, true, true, &reason);
        if (r == -EBADMSG)
                return set_error_message(ret_error, r, "the feed's 'latest' release is not valid: %s", reason);
        if (r < 0)
                return r;

        if (json_object_object_get_ex(root, "older", &o) && o) {
                if (json_object_is_type(o, json_type_array)) {
                        size_t n = json_object_array_length(o);

                        for (size_t i = 0; i < n; i++) {
                                char where[32];

                                (void) snprintf(where, sizeof(where), "'older'[%zu]", i);
                                r = feed_add(
                                        &b, json_object_array_get_idx(o, i), where, false, false, false, NULL);
                                if (r < 0)
                                        return r;
                        }
                } else {
                        r = feed_reject(f, "'older'", "not a list");
                        if (r < 0)
                                return r;
                }
        }

        /* After the others, so that a beta that was promoted to a release is not marked beta. */
        if (include_beta && json_object_object_get_ex(root, "beta", &o) && o) {
                r = feed_add(&b, o, "'beta'", true, false, false, NULL);
                if (r < 0)
                        return r;
        }

        qsort(f->releases, f->n, sizeof(Release), release_compare_newest_first);

        *ret = TAKE_PTR(f);
        return 0;
}

const Release *feed_latest(const Feed *f) {
        if (!f)
                return NULL;
        for (size_t i = 0; i < f->n; i++)
                if (f->releases[i].latest)
                        return &f->releases[i];
        return NULL;
}

const Release *feed_find(const Feed *f, const char *version) {
        MbVersion v;

        if (!f || mb_version_parse(version, &v) < 0)
                return NULL;
        for (size_t i = 0; i < f->n; i++)
                if (mb_version_compare(&f->releases[i].v, &v) == 0)
                        return &f->releases[i];
        return NULL;
}

static int hex_value(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -EINVAL;
}

int feed_checksum_parse(const char *data, size_t size, char ret_hex[static 65]) {
        static const char hex[] = "0123456789abcdef";
        char h[65];
        const char *name;
        size_t n;

        assert(data || size == 0);

        if (size < 64)
                return -EBADMSG;
        for (size_t i = 0; i < 64; i++) {
                int v = hex_value(data[i]);

                if (v < 0)
                        return -EBADMSG;
                h[i] = hex[v];
        }
        h[64] = '\0';

        /* What follows the hash, without one line ending. */
        name = data + 64;
        n = size - 64;
        if (n >= 1 && name[n - 1] == '\n') {
                n--;
                if (n >= 1 && name[n - 1] == '\r')
                        n--;
        }

        if (n > 0) {
                /* sha256sum: two spaces (text mode) or a space and '*' (binary mode), then the
                 * name, which must be the JAR's: a hash of some other file is no use. */
                if (n < 2 || name[0] != ' ' || (name[1] != ' ' && name[1] != '*'))
                        return -EBADMSG;
                name += 2;
                n -= 2;
                for (size_t i = 0; i < n; i++)
                        if ((unsigned char) name[i] < 0x20 || name[i] == 0x7f)
                                return -EBADMSG;
                if (!(n == strlen("metabase.jar") && memcmp(name, "metabase.jar", n) == 0) &&
                    !(n > strlen("/metabase.jar") &&
                      memcmp(name + n - strlen("/metabase.jar"), "/metabase.jar", strlen("/metabase.jar")) ==
                              0))
                        return -EBADMSG;
        }

        memcpy(ret_hex, h, sizeof(h));
        return 0;
}

char *feed_download_url(const char *downloads_base, Edition e, const char *version) {
        char buf[MB_VERSION_STRING_MAX + 1];
        _cleanup_free_ char *base = NULL;
        MbVersion v;
        size_t n;
        char *url;

        if (isempty(downloads_base) || (e != EDITION_OSS && e != EDITION_ENTERPRISE) ||
            mb_version_parse(version, &v) < 0 || v.edition != (e == EDITION_ENTERPRISE ? 1U : 0U)) {
                errno = EINVAL;
                return NULL;
        }

        n = strlen(downloads_base);
        while (n > 0 && downloads_base[n - 1] == '/')
                n--;
        if (n == 0) {
                errno = EINVAL;
                return NULL;
        }
        base = strndup(downloads_base, n);
        if (!base) {
                errno = ENOMEM;
                return NULL;
        }

        url = strdup_printf(
                "%s%s/%s/metabase.jar",
                base,
                e == EDITION_ENTERPRISE ? "/enterprise" : "",
                mb_version_format(&v, buf));
        if (!url)
                errno = ENOMEM;
        return url;
}
