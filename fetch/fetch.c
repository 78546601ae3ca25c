/* SPDX-License-Identifier: MIT */
/* mbupgraded-fetch: downloads one URL into a file, for mbupgraded, which runs it as a short-lived
 * child process and reads its stdout from a pipe (docs/architecture.md §2).
 *
 *   mbupgraded-fetch --url URL (--output PATH | --output-fd FD) [--max-size BYTES] [--ca-file FILE]
 *                    [--connect-timeout SEC] [--timeout SEC]
 *                    [--low-speed-limit BYTES_PER_SEC] [--low-speed-time SEC]
 *                    [--allow-http-loopback] [--resume]
 *
 * The body is streamed into PATH.part (0600) and hashed with SHA-256 while it is written, both by
 * a second thread fed through a ring of buffers (file-writer.h), so that on a small machine they
 * run beside libcurl's receiving and decrypting rather than after it. On success the file is
 * fsynced (unless --no-fsync) and renamed to PATH, and the directory fsynced. On failure PATH is
 * untouched and PATH.part is left for --resume, which hashes what is already there and asks for
 * the rest with a Range request (a server that answers 200 instead sends the whole file again).
 *
 * Stdout, one report a line:
 *   progress DOWNLOADED TOTAL     at most ~4 times a second; TOTAL is 0 when unknown; DOWNLOADED
 *                                 is received, some of it maybe still in the writer's ring
 *   done SIZE SHA256HEX           last line on success, exit status 0
 *   error KIND MESSAGE            last line on failure, exit status 1 (2 for KIND usage)
 * KIND is one of http, size, timeout, tls, redirect, protocol, network, io, usage.
 *
 * --output-fd FD: the daemon's way. It opens PATH.part itself (root's, in its root-only staging
 * directory) and starts this helper as the unprivileged fetch user with that descriptor; the helper
 * writes and hashes into it (with --resume, after what is already there) and never renames: the
 * daemon does, on "done". Before any network I/O it sets no_new_privs and, where the kernel has
 * Landlock, gives up every right to write to the file system (see confine()).
 *
 * --ca-fd FD: the CA file's contents come from FD (opened by the daemon, read whole at start) as
 * CURLOPT_CAINFO_BLOB, in place of --ca-file's path (still named in messages).
 *
 * --post-json FILE ("-": standard input) instead of --output: POSTs FILE (at most 64 KiB) as
 * application/json, for the notify.webhook; the answer's body is read and dropped, a redirect is an error (a
 * POST is not repeated elsewhere), and the last line is "posted STATUS" on a 2xx answer.
 *
 * Only https is fetched (and file:// when the URL given is one, for a mirror on disk); plain http
 * only with --allow-http-loopback and only to this machine. Redirects are followed here rather than
 * by libcurl, so that every target passes the same check as the first URL before anything
 * connects to it (CURLOPT_REDIR_PROTOCOLS_STR can't say "http, but only to loopback").
 *
 * TLS peers and host names are always verified. --ca-file is CURLOPT_CAINFO: it replaces libcurl's
 * default CA bundle file. A default CA directory built into libcurl stays in use, though: Debian's
 * libcurl has /etc/ssl/certs, so there the system's CAs remain trusted beside the file.
 * Proxies come from the environment (https_proxy, no_proxy, ...) as libcurl reads them, except
 * that loopback addresses never go through one. */

#include <arpa/inet.h>
#include <assert.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <strings.h>
#include <linux/landlock.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#include "file-writer.h"
#include "fileio.h"
#include "hash.h"
#include "macro.h"
#include "strv.h"

#define MAX_REDIRECTS 5U
#define PROGRESS_INTERVAL_USEC (250U * USEC_PER_MSEC)
#define MESSAGE_MAX 600U
#define HASH_BUFFER_SIZE (1024U * 1024U)
#define TLS13_CIPHERS "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define TLS12_CIPHERS                                                                              \
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:" \
        "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

typedef enum FetchError {
        FETCH_ERROR_HTTP,
        FETCH_ERROR_SIZE,
        FETCH_ERROR_TIMEOUT,
        FETCH_ERROR_TLS,
        FETCH_ERROR_REDIRECT,
        FETCH_ERROR_PROTOCOL,
        FETCH_ERROR_NETWORK,
        FETCH_ERROR_IO,
        FETCH_ERROR_USAGE,
        _FETCH_ERROR_MAX,
        _FETCH_ERROR_INVALID = -EINVAL,
} FetchError;

static const char *const fetch_error_table[_FETCH_ERROR_MAX] = {
        [FETCH_ERROR_HTTP] = "http",
        [FETCH_ERROR_SIZE] = "size",
        [FETCH_ERROR_TIMEOUT] = "timeout",
        [FETCH_ERROR_TLS] = "tls",
        [FETCH_ERROR_REDIRECT] = "redirect",
        [FETCH_ERROR_PROTOCOL] = "protocol",
        [FETCH_ERROR_NETWORK] = "network",
        [FETCH_ERROR_IO] = "io",
        [FETCH_ERROR_USAGE] = "usage",
};

/* Which libcurl protocol a checked URL may use. */
typedef enum UrlScheme {
        URL_SCHEME_HTTPS,
        URL_SCHEME_HTTP_LOOPBACK,
        URL_SCHEME_FILE,
        _URL_SCHEME_MAX,
        _URL_SCHEME_INVALID = -EINVAL,
} UrlScheme;

static const char *const url_scheme_protocols[_URL_SCHEME_MAX] = {
        [URL_SCHEME_HTTPS] = "https",
        [URL_SCHEME_HTTP_LOOPBACK] = "http",
        [URL_SCHEME_FILE] = "file",
};

static const char *arg_url = NULL;
static const char *arg_output = NULL;
static uint64_t arg_max_size = 0; /* 0: no limit */
static const char *arg_ca_file = NULL;
static char *arg_ca_blob = NULL; /* --ca-fd: the CA file's contents, read from the descriptor */
static size_t arg_ca_blob_size = 0;
#define CA_BLOB_MAX (4U * 1024U * 1024U)
static uint64_t arg_connect_timeout = 30;
static uint64_t arg_timeout = 0; /* 0: none; the low-speed limit catches a stalled transfer */
static uint64_t arg_low_speed_limit = 1000;
static uint64_t arg_low_speed_time = 60;
static bool arg_allow_http_loopback = false;
static bool arg_resume = false;
static bool arg_no_fsync = false;
static const char *arg_post_json = NULL;
static int arg_output_fd = -EBADF;

#define POST_BODY_MAX (64U * 1024U)

static bool error_reported = false;

typedef struct Fetch {
        CURL *curl;
        char errbuf[CURL_ERROR_SIZE];
        UrlScheme scheme;

        char *part_path;
        int fd;
        FileWriter *writer;
        uint64_t size;  /* bytes given to the writer: in PATH.part and hashed once it is flushed */
        uint64_t total; /* the size the file will have when complete, 0 if unknown */

        /* The response being received. */
        bool body_started;
        bool discard; /* a redirect's or a refused range's body */
        bool restart; /* the server can't resume from here (416): start over */
        bool has_content_range;
        uint64_t range_start;
        uint64_t range_total; /* 0 if "*" */

        uint64_t last_progress_usec;
        bool renamed;
} Fetch;

DEFINE_POINTER_CLEANUP(CURLU, curl_url_cleanup, curl_url_cleanupp);
DEFINE_POINTER_CLEANUP(Sha256, sha256_free, sha256_freep);

static void curl_freep(char **p) {
        curl_free(*p);
}
#define _cleanup_curl_free_ _cleanup_(curl_freep)

static void fetch_done(Fetch *f) {
        /* A failure before the first byte leaves no empty PATH.part behind (--output-fd: the
         * caller's file, the caller's to remove). */
        if (!f->renamed && f->fd >= 0 && f->size == 0 && arg_output_fd < 0)
                (void) unlink(f->part_path);
        curl_easy_cleanup(f->curl);
        free(f->part_path);
        file_writer_free(f->writer); /* before the fd it writes to */
        closep(&f->fd);
}

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000U;
}

/* Prints the one final "error" line (later calls only return) and returns what run() passes on:
 * -EINVAL for usage errors (exit status 2), -EIO for everything else (exit status 1). */
_printf_(2, 3) static int report_error(FetchError kind, const char *fmt, ...) {
        _cleanup_free_ char *raw = NULL, *msg = NULL;
        va_list ap;
        int n;

        assert(kind >= 0 && kind < _FETCH_ERROR_MAX);

        if (!error_reported) {
                error_reported = true;
                va_start(ap, fmt);
                n = vasprintf(&raw, fmt, ap);
                va_end(ap);
                /* One line whatever the server or libcurl put into it. */
                if (n >= 0)
                        msg = strndup_sanitized(raw, (size_t) n, MESSAGE_MAX);
                printf("error %s %s\n", fetch_error_table[kind], msg ?: "out of memory");
                (void) fflush(stdout);
        }
        return kind == FETCH_ERROR_USAGE ? -EINVAL : -EIO;
}

static int report_progress(Fetch *f, bool force) {
        uint64_t now = now_usec();

        if (!force && now - f->last_progress_usec < PROGRESS_INTERVAL_USEC)
                return 0;
        f->last_progress_usec = now;

        printf("progress %" PRIu64 " %" PRIu64 "\n", f->size, f->total);
        if (fflush(stdout) == EOF && errno == EPIPE) {
                /* Whoever started us is gone: stop rather than download for nobody. */
                error_reported = true;
                return -EPIPE;
        }
        return 0;
}

static bool host_is_loopback(const char *host) {
        struct in6_addr a6;
        struct in_addr a4;
        char buf[INET6_ADDRSTRLEN + 2];
        size_t n = strlen(host);

        /* libcurl resolves "localhost" itself, to loopback addresses only, never asking DNS. */
        if (strcasecmp(host, "localhost") == 0)
                return true;
        if (inet_pton(AF_INET, host, &a4) == 1)
                return (ntohl(a4.s_addr) >> 24) == 127;
        if (n > 2 && n < sizeof(buf) && host[0] == '[' && host[n - 1] == ']') {
                memcpy(buf, host + 1, n - 2);
                buf[n - 2] = '\0';
                if (inet_pton(AF_INET6, buf, &a6) == 1)
                        return IN6_IS_ADDR_LOOPBACK(&a6);
        }
        return false;
}

/* The URL without credentials or query (a pre-signed URL carries a signature there), for messages. */
static char *url_for_message(CURLU *u) {
        _cleanup_(curl_url_cleanupp) CURLU *c = curl_url_dup(u);
        _cleanup_curl_free_ char *s = NULL;

        if (!c)
                return NULL;
        (void) curl_url_set(c, CURLUPART_USER, NULL, 0);
        (void) curl_url_set(c, CURLUPART_PASSWORD, NULL, 0);
        (void) curl_url_set(c, CURLUPART_QUERY, NULL, 0);
        (void) curl_url_set(c, CURLUPART_FRAGMENT, NULL, 0);
        if (curl_url_get(c, CURLUPART_URL, &s, 0) != CURLUE_OK)
                return NULL;
        return strdup(s);
}

/* Decides whether a URL may be fetched, before anything connects to it: the first one (given by
 * the daemon) or a redirect target. */
static int check_url(const char *url, bool redirect, UrlScheme *ret) {
        _cleanup_(curl_url_cleanupp) CURLU *u = NULL;
        _cleanup_curl_free_ char *scheme = NULL, *host = NULL;
        _cleanup_free_ char *shown = NULL;
        FetchError kind = redirect ? FETCH_ERROR_REDIRECT : FETCH_ERROR_PROTOCOL;
        CURLUcode c;

        u = curl_url();
        if (!u)
                return report_error(FETCH_ERROR_IO, "out of memory");
        c = curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
        if (c != CURLUE_OK)
                return report_error(
                        redirect ? FETCH_ERROR_REDIRECT : FETCH_ERROR_USAGE,
                        "%s is not a valid URL: %s",
                        redirect ? "the redirect target" : "--url",
                        curl_url_strerror(c));
        if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
                return report_error(FETCH_ERROR_IO, "out of memory");
        (void) curl_url_get(u, CURLUPART_HOST, &host, 0); /* none for file:///path */
        shown = url_for_message(u);

        if (streq(scheme, "https")) {
                *ret = URL_SCHEME_HTTPS;
                return 0;
        }
        if (streq(scheme, "file") && !redirect) {
                *ret = URL_SCHEME_FILE;
                return 0;
        }
        if (streq(scheme, "http")) {
                if (arg_allow_http_loopback && host && host_is_loopback(host)) {
                        *ret = URL_SCHEME_HTTP_LOOPBACK;
                        return 0;
                }
                return report_error(
                        kind,
                        "%s plain http (%s); only https is allowed%s",
                        redirect ? "the server redirected to" : "refusing",
                        strempty(shown),
                        arg_allow_http_loopback ? ", or http to this machine (127.0.0.1, ::1, localhost)"
                                                : "");
        }
        return report_error(
                kind,
                "%s %s; only https URLs are allowed",
                redirect ? "the server redirected to" : "refusing",
                strempty(shown));
}

static int report_write_error(Fetch *f, int r) {
        return report_error(FETCH_ERROR_IO, "Failed to write %s: %s", f->part_path, strerror(-r));
}

/* Empties PATH.part and the hash, to receive the whole file from its first byte. */
static int fetch_start_over(Fetch *f) {
        int r;

        r = file_writer_reset(f->writer);
        if (r < 0)
                return report_write_error(f, r);
        if (ftruncate(f->fd, 0) < 0)
                return report_error(FETCH_ERROR_IO, "Failed to truncate %s: %m", f->part_path);
        f->size = 0;
        return 0;
}

/* Opens PATH.part; with --resume, keeps and hashes what an earlier run left there. Then starts the
 * writer after it. */
static int fetch_open_part(Fetch *f) {
        _cleanup_(sha256_freep) Sha256 *sha256 = NULL;
        _cleanup_free_ void *buf = NULL;
        struct stat st;
        int r;

        if (arg_output_fd >= 0) {
                /* The file the daemon opened for us: the only one we may write. */
                f->part_path = strdup_printf("the output file (fd %d)", arg_output_fd);
                if (!f->part_path)
                        return report_error(FETCH_ERROR_IO, "out of memory");
                f->fd = arg_output_fd;
                if (!arg_resume && ftruncate(f->fd, 0) < 0)
                        return report_error(FETCH_ERROR_IO, "Failed to truncate %s: %m", f->part_path);
        } else {
                f->part_path = strdup_printf("%s.part", arg_output);
                if (!f->part_path)
                        return report_error(FETCH_ERROR_IO, "out of memory");

                f->fd = open(
                        f->part_path,
                        O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (arg_resume ? 0 : O_TRUNC),
                        0600);
                if (f->fd < 0)
                        return report_error(FETCH_ERROR_IO, "Failed to open %s: %m", f->part_path);
        }
        if (fstat(f->fd, &st) < 0)
                return report_error(FETCH_ERROR_IO, "Failed to stat %s: %m", f->part_path);
        if (!S_ISREG(st.st_mode))
                return report_error(FETCH_ERROR_IO, "%s is not a regular file", f->part_path);

        r = sha256_new(&sha256);
        if (r < 0)
                return report_error(FETCH_ERROR_IO, "Failed to set up SHA-256: %s", strerror(-r));

        if (arg_max_size > 0 && (uint64_t) st.st_size > arg_max_size) {
                /* Longer than the file may be: start over. */
                if (ftruncate(f->fd, 0) < 0)
                        return report_error(FETCH_ERROR_IO, "Failed to truncate %s: %m", f->part_path);
                st.st_size = 0;
        }
        if (st.st_size > 0) {
                buf = malloc(HASH_BUFFER_SIZE);
                if (!buf)
                        return report_error(FETCH_ERROR_IO, "out of memory");
        }
        while (f->size < (uint64_t) st.st_size) {
                ssize_t n = pread(f->fd, buf, HASH_BUFFER_SIZE, (off_t) f->size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return report_error(FETCH_ERROR_IO, "Failed to read %s: %m", f->part_path);
                }
                if (n == 0)
                        break;
                r = sha256_update(sha256, buf, (size_t) n);
                if (r < 0)
                        return report_error(
                                FETCH_ERROR_IO, "Failed to hash %s: %s", f->part_path, strerror(-r));
                f->size += (uint64_t) n;
        }
        /* Anything beyond what was hashed (the file shrank under us) goes. */
        if (st.st_size > 0 && ftruncate(f->fd, (off_t) f->size) < 0)
                return report_error(FETCH_ERROR_IO, "Failed to truncate %s: %m", f->part_path);

        r = file_writer_new(f->fd, f->size, TAKE_PTR(sha256), &f->writer);
        if (r < 0)
                return report_error(FETCH_ERROR_IO, "Failed to start the writer thread: %s", strerror(-r));
        return 0;
}

/* Parses a decimal number at *p and moves *p past it. */
static int parse_u64_prefix(const char **p, uint64_t *ret) {
        uint64_t v = 0;
        const char *s = *p;

        if (*s < '0' || *s > '9')
                return -EINVAL;
        for (; *s >= '0' && *s <= '9'; s++) {
                if (v > (UINT64_MAX - (uint64_t) (*s - '0')) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t) (*s - '0');
        }
        *p = s;
        *ret = v;
        return 0;
}

/* "Content-Range: bytes START-END/TOTAL" (TOTAL may be "*"). */
static void parse_content_range(Fetch *f, const char *value) {
        uint64_t start, end, total = 0;
        const char *p = value;

        p += strspn(p, " \t");
        if (strncasecmp(p, "bytes", 5) != 0)
                return;
        p += 5;
        p += strspn(p, " \t");
        if (parse_u64_prefix(&p, &start) < 0 || *p++ != '-' || parse_u64_prefix(&p, &end) < 0 || *p++ != '/')
                return;
        if (*p == '*')
                p++;
        else if (parse_u64_prefix(&p, &total) < 0)
                return;
        if (end < start || (total > 0 && end >= total) || strspn(p, " \t\r\n") != strlen(p))
                return;

        f->has_content_range = true;
        f->range_start = start;
        f->range_total = total;
}

static size_t header_callback(char *p, size_t size, size_t nmemb, void *userdata) {
        Fetch *f = userdata;
        size_t n = size * nmemb;
        char line[256];

        /* A status line starts a new response (after a 1xx, or when libcurl retries). */
        if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
                f->body_started = f->discard = f->restart = false;
                f->has_content_range = false;
                return n;
        }
        if (n < sizeof(line) && n > 14 && strncasecmp(p, "Content-Range:", 14) == 0) {
                memcpy(line, p + 14, n - 14);
                line[n - 14] = '\0';
                parse_content_range(f, line);
        }
        return n;
}

/* Called once per response, before its first byte of body (or after it if it had none): decides
 * what the response means for PATH.part. */
static int fetch_begin_body(Fetch *f) {
        curl_off_t length = -1;
        long status = 0;
        int r;

        f->body_started = true;
        (void) curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &status);
        (void) curl_easy_getinfo(f->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);

        if (f->scheme == URL_SCHEME_FILE) {
                /* libcurl honours the range itself; what remains is the rest of the file. */
                f->total = length >= 0 ? f->size + (uint64_t) length : 0;
        } else if (status >= 300 && status < 400) {
                f->discard = true; /* fetch_run() follows the Location header */
                return 0;
        } else if (status == 416 && f->size > 0) {
                /* Nothing to send from where we are: PATH.part is as long as the file or longer. */
                f->discard = f->restart = true;
                return 0;
        } else if (status >= 400)
                return report_error(FETCH_ERROR_HTTP, "the server answered HTTP %ld", status);
        else if (status == 206) {
                if (f->size == 0 || !f->has_content_range)
                        return report_error(
                                FETCH_ERROR_PROTOCOL,
                                "the server sent part of the file (HTTP 206) without being asked, "
                                "or without a valid Content-Range");
                if (f->range_start != f->size)
                        return report_error(
                                FETCH_ERROR_PROTOCOL,
                                "the server sent the file from byte %" PRIu64 ", not from byte %" PRIu64
                                " as asked",
                                f->range_start,
                                f->size);
                f->total = f->range_total > 0 ? f->range_total
                                              : (length >= 0 ? f->size + (uint64_t) length : 0);
        } else if (status == 200) {
                /* The whole file, even when we asked for the rest only. */
                if (f->size > 0) {
                        r = fetch_start_over(f);
                        if (r < 0)
                                return r;
                }
                f->total = length >= 0 ? (uint64_t) length : 0;
        } else
                return report_error(
                        FETCH_ERROR_HTTP, "the server answered HTTP %ld instead of the file", status);

        if (arg_max_size > 0 && f->total > arg_max_size)
                return report_error(
                        FETCH_ERROR_SIZE,
                        "the file is %" PRIu64 " bytes, more than the limit of %" PRIu64 " (--max-size)",
                        f->total,
                        arg_max_size);

        return report_progress(f, true);
}

static size_t write_callback(char *p, size_t size, size_t nmemb, void *userdata) {
        Fetch *f = userdata;
        size_t n = size * nmemb;
        int r;

        if (!f->body_started && fetch_begin_body(f) < 0)
                return 0;
        if (f->discard)
                return n;

        /* Not only the announced length: a response without one may go on and on. */
        if (arg_max_size > 0 && f->size + n > arg_max_size) {
                (void) report_error(
                        FETCH_ERROR_SIZE,
                        "the server sent more than the limit of %" PRIu64 " bytes (--max-size)",
                        arg_max_size);
                return 0;
        }

        r = file_writer_write(f->writer, p, n);
        if (r < 0) {
                (void) report_write_error(f, r);
                return 0;
        }
        f->size += n;

        if (report_progress(f, false) < 0)
                return 0;
        return n;
}

/* Maps a libcurl failure to a report. A callback's own report, printed first, wins. */
static int report_curl_error(Fetch *f, CURLcode c) {
        const char *detail = f->errbuf[0] ? f->errbuf : curl_easy_strerror(c);

        switch (c) {
        case CURLE_OPERATION_TIMEDOUT:
                return report_error(FETCH_ERROR_TIMEOUT, "the download timed out or stalled: %s", detail);
        case CURLE_PEER_FAILED_VERIFICATION:
                return report_error(
                        FETCH_ERROR_TLS,
                        "the server's certificate is not trusted (set releases.ca_file for an internal mirror): %s",
                        detail);
        case CURLE_SSL_CACERT_BADFILE:
                return report_error(
                        FETCH_ERROR_TLS, "the CA file %s could not be loaded: %s", strempty(arg_ca_file), detail);
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_CRL_BADFILE:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_SHUTDOWN_FAILED:
        case CURLE_SSL_ENGINE_NOTFOUND:
        case CURLE_SSL_ENGINE_SETFAILED:
        case CURLE_SSL_ENGINE_INITFAILED:
        case CURLE_USE_SSL_FAILED:
                return report_error(FETCH_ERROR_TLS, "the TLS connection failed: %s", detail);
        case CURLE_FILESIZE_EXCEEDED:
                return report_error(
                        FETCH_ERROR_SIZE,
                        "the file is larger than the limit of %" PRIu64 " bytes (--max-size): %s",
                        arg_max_size,
                        detail);
        case CURLE_TOO_MANY_REDIRECTS:
                return report_error(FETCH_ERROR_REDIRECT, "%s", detail);
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_WEIRD_SERVER_REPLY:
        case CURLE_BAD_CONTENT_ENCODING:
        case CURLE_RANGE_ERROR:
        case CURLE_BAD_DOWNLOAD_RESUME:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
                return report_error(FETCH_ERROR_PROTOCOL, "the server's answer is not usable: %s", detail);
        case CURLE_HTTP_RETURNED_ERROR:
                return report_error(FETCH_ERROR_HTTP, "%s", detail);
        case CURLE_PARTIAL_FILE:
                return report_error(
                        FETCH_ERROR_NETWORK,
                        "the connection ended before the whole file arrived (%" PRIu64
                        " bytes kept in %s for --resume): %s",
                        f->size,
                        f->part_path,
                        detail);
        case CURLE_FILE_COULDNT_READ_FILE:
                return report_error(FETCH_ERROR_IO, "the file to copy can't be read: %s", detail);
        case CURLE_WRITE_ERROR:
        case CURLE_OUT_OF_MEMORY:
                return report_error(FETCH_ERROR_IO, "%s", detail);
        case CURLE_URL_MALFORMAT:
                return report_error(FETCH_ERROR_USAGE, "%s", detail);
        default:
                return report_error(FETCH_ERROR_NETWORK, "the download failed: %s", detail);
        }
}

/* no_proxy from the environment, plus this machine: a loopback URL means this host, never the
 * proxy's. NULL on OOM. */
static char *no_proxy_list(void) {
        const char *e = secure_getenv("no_proxy") ?: secure_getenv("NO_PROXY");

        if (isempty(e))
                return strdup("localhost,127.0.0.0/8,::1");
        return strdup_printf("%s,localhost,127.0.0.0/8,::1", e);
}

/* Newer than some kernel headers (linux/landlock.h of Linux 6.1 lacks it: ABI 3, Linux 6.2). */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif

/* Before any network I/O: no new privileges, and (Landlock, where the kernel has it) no right to
 * create, write, truncate, rename or remove any file: the one it fills was opened by the daemon
 * and came as a descriptor. Reading stays allowed (the CA bundle, a file:// mirror, DNS). The
 * daemon already switched to the unprivileged fetch user before the exec; this is the second
 * wall, for the world-writable directories that user could otherwise still write. */
static int confine(void) {
        struct landlock_ruleset_attr attr = {
                .handled_access_fs = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |
                        LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
                        LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
                        LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
                        LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM,
        };
        long abi;
        int fd;

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return report_error(FETCH_ERROR_IO, "Failed to set no_new_privs: %m");
        /* Only with --output-fd: a helper run by hand with --output writes PATH.part itself. */
        if (arg_output_fd < 0 && !arg_post_json)
                return 0;
        abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
        if (abi < 1)
                return 0; /* no Landlock here (or a seccomp filter refuses it): the user switch stands */
        if (abi >= 2)
                attr.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
        if (abi >= 3)
                attr.handled_access_fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
        fd = (int) syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
        if (fd < 0)
                return 0;
        if (syscall(SYS_landlock_restrict_self, fd, 0) < 0) {
                (void) close(fd);
                return report_error(FETCH_ERROR_IO, "Failed to restrict file system access: %m");
        }
        (void) close(fd);
        return 0;
}

static int fetch_setup(Fetch *f) {
        _cleanup_free_ char *no_proxy = NULL;
        CURLcode c = CURLE_OK;

        f->curl = curl_easy_init();
        no_proxy = no_proxy_list();
        if (!f->curl || !no_proxy)
                return report_error(FETCH_ERROR_IO, "out of memory");

#define SET(opt, val)                                            \
        do {                                                     \
                if (c == CURLE_OK)                               \
                        c = curl_easy_setopt(f->curl, opt, val); \
        } while (false)

        SET(CURLOPT_ERRORBUFFER, f->errbuf);
        SET(CURLOPT_NOSIGNAL, 1L);
        SET(CURLOPT_USERAGENT, "mbupgraded/" PACKAGE_VERSION);
        SET(CURLOPT_FOLLOWLOCATION, 0L); /* fetch_run() follows, after check_url() */
        SET(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
        SET(CURLOPT_NOPROXY, no_proxy);
        /* Verification stays on whatever else is set; --ca-file only says whom to trust. */
        SET(CURLOPT_SSL_VERIFYPEER, 1L);
        SET(CURLOPT_SSL_VERIFYHOST, 2L);
        SET(CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2);
        /* AES-128-GCM first, as browsers ask: a server that follows the client's order (nginx
         * does unless ssl_prefer_server_ciphers is on) then spends a quarter less time encrypting,
         * and so do we decrypting, than with OpenSSL's default order (AES-256 first). TLS 1.3:
         * OpenSSL's default suites, reordered. TLS 1.2: forward-secret AEAD suites only. */
        SET(CURLOPT_TLS13_CIPHERS, TLS13_CIPHERS);
        SET(CURLOPT_SSL_CIPHER_LIST, TLS12_CIPHERS);
        if (arg_ca_blob) {
                struct curl_blob blob = {.data = arg_ca_blob, .len = arg_ca_blob_size, .flags = CURL_BLOB_COPY};
                SET(CURLOPT_CAINFO_BLOB, &blob);
        } else if (arg_ca_file)
                SET(CURLOPT_CAINFO, arg_ca_file);
        SET(CURLOPT_CONNECTTIMEOUT, (long) arg_connect_timeout);
        SET(CURLOPT_LOW_SPEED_LIMIT, (long) arg_low_speed_limit);
        SET(CURLOPT_LOW_SPEED_TIME, (long) arg_low_speed_time);
        SET(CURLOPT_TCP_KEEPALIVE, 1L);
        /* As the curl tool does (its BUFFER_SIZE): libcurl then reads more per pass of its transfer
         * loop than its 16 KiB default, and calls write_callback() less often. */
        SET(CURLOPT_BUFFERSIZE, 100L * 1024L);
        if (arg_max_size > 0)
                SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) arg_max_size);
        SET(CURLOPT_HEADERFUNCTION, header_callback);
        SET(CURLOPT_HEADERDATA, f);
        SET(CURLOPT_WRITEFUNCTION, write_callback);
        SET(CURLOPT_WRITEDATA, f);
#undef SET

        if (c != CURLE_OK)
                return report_error(FETCH_ERROR_IO, "Failed to set up libcurl: %s", curl_easy_strerror(c));
        return 0;
}

/* One request; returns 1 when another is needed (a redirect, or starting over). */
static int fetch_request(Fetch *f, char **url, uint64_t deadline, unsigned *redirects, bool *restarted) {
        char range[32], *location = NULL;
        long status = 0;
        CURLcode c = CURLE_OK;
        int r;

        if (deadline > 0) {
                uint64_t now = now_usec();
                if (now >= deadline)
                        return report_error(
                                FETCH_ERROR_TIMEOUT, "the download took longer than %" PRIu64 "s", arg_timeout);
                c = curl_easy_setopt(f->curl, CURLOPT_TIMEOUT_MS, (long) ((deadline - now + 999) / 1000));
        }
        if (c == CURLE_OK)
                c = curl_easy_setopt(f->curl, CURLOPT_URL, *url);
        /* Exactly the protocol check_url() allowed for this URL. */
        if (c == CURLE_OK)
                c = curl_easy_setopt(f->curl, CURLOPT_PROTOCOLS_STR, url_scheme_protocols[f->scheme]);
        /* A plain Range header rather than CURLOPT_RESUME_FROM, which fails on a 200 instead of
         * letting us start over. */
        (void) snprintf(range, sizeof(range), "%" PRIu64 "-", f->size);
        if (c == CURLE_OK)
                c = curl_easy_setopt(f->curl, CURLOPT_RANGE, f->size > 0 ? range : NULL);
        if (c != CURLE_OK)
                return report_error(FETCH_ERROR_IO, "Failed to set up libcurl: %s", curl_easy_strerror(c));

        f->body_started = f->discard = f->restart = f->has_content_range = false;
        f->errbuf[0] = '\0';

        c = curl_easy_perform(f->curl);
        /* Whatever comes next, what was received is in PATH.part first (and an error writing it
         * is the one reported). */
        r = file_writer_flush(f->writer);
        if (r < 0)
                return report_write_error(f, r);
        if (c == CURLE_OK && !f->body_started) {
                r = fetch_begin_body(f); /* an empty body */
                if (r < 0)
                        return r;
        }
        if (error_reported)
                return -EIO;

        if (f->restart || (c == CURLE_BAD_DOWNLOAD_RESUME && f->size > 0)) {
                if (*restarted)
                        return report_error(
                                FETCH_ERROR_PROTOCOL, "the server refuses to send the file from its start");
                *restarted = true;
                r = fetch_start_over(f);
                return r < 0 ? r : 1;
        }
        if (c != CURLE_OK)
                return report_curl_error(f, c);

        (void) curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 300 && status < 400) {
                (void) curl_easy_getinfo(f->curl, CURLINFO_REDIRECT_URL, &location);
                if (!location)
                        return report_error(
                                FETCH_ERROR_HTTP, "the server answered HTTP %ld without a Location", status);
                if (++*redirects > MAX_REDIRECTS)
                        return report_error(FETCH_ERROR_REDIRECT, "more than %u redirects", MAX_REDIRECTS);
                r = free_and_strdup(url, location);
                if (r < 0)
                        return report_error(FETCH_ERROR_IO, "out of memory");
                r = check_url(*url, true, &f->scheme);
                return r < 0 ? r : 1;
        }

        if (f->total > 0 && f->size != f->total)
                return report_error(
                        FETCH_ERROR_NETWORK,
                        "the transfer ended after %" PRIu64 " of %" PRIu64 " bytes",
                        f->size,
                        f->total);
        return 0;
}

static int fetch_run(void) {
        _cleanup_(fetch_done) Fetch f = {.fd = -EBADF};
        _cleanup_free_ char *url = NULL;
        char hex[SHA256_HEX_SIZE];
        uint64_t hashed = 0, deadline = arg_timeout > 0 ? now_usec() + arg_timeout * USEC_PER_SEC : 0;
        unsigned redirects = 0;
        bool restarted = false;
        int r;

        url = strdup(arg_url);
        if (!url)
                return report_error(FETCH_ERROR_IO, "out of memory");
        r = check_url(url, false, &f.scheme);
        if (r < 0)
                return r;
        /* Before the writer thread starts: Landlock binds the calling thread and those it makes. */
        r = confine();
        if (r < 0)
                return r;
        r = fetch_open_part(&f);
        if (r < 0)
                return r;
        r = fetch_setup(&f);
        if (r < 0)
                return r;

        do {
                r = fetch_request(&f, &url, deadline, &redirects, &restarted);
                if (r < 0)
                        return r;
        } while (r > 0);

        r = file_writer_finish(f.writer, hex, &hashed);
        if (r < 0)
                return report_write_error(&f, r);
        assert(hashed == f.size);
        /* --no-fsync: the caller checks the content against the SHA-256 reported below before it
         * uses the file, so a power loss can't slip a torn file past it; the rename is still one. */
        if (!arg_no_fsync && fsync(f.fd) < 0)
                return report_error(FETCH_ERROR_IO, "Failed to write %s to disk: %m", f.part_path);
        if (arg_output_fd < 0) {
                r = rename_and_sync(f.part_path, arg_output);
                if (r < 0)
                        return report_error(
                                FETCH_ERROR_IO,
                                "Failed to rename %s to %s: %s",
                                f.part_path,
                                arg_output,
                                strerror(-r));
        }
        f.renamed = true;

        printf("done %" PRIu64 " %s\n", f.size, hex);
        if (fflush(stdout) == EOF)
                return -EIO; /* nobody to tell */
        return 0;
}

/* Standard input, at most POST_BODY_MAX bytes: the body the daemon opened for us. */
static int read_stdin(char **ret, size_t *ret_size) {
        return read_full_fd(STDIN_FILENO, POST_BODY_MAX, ret, ret_size);
}

static size_t post_write_callback(char *p, size_t size, size_t nmemb, void *userdata) {
        uint64_t *received = userdata;

        *received += size * nmemb;
        if (*received > POST_BODY_MAX) {
                (void) report_error(
                        FETCH_ERROR_SIZE, "the server answered with more than %u bytes", POST_BODY_MAX);
                return 0;
        }
        return size * nmemb;
}

static int post_run(void) {
        _cleanup_(fetch_done) Fetch f = {.fd = -EBADF};
        _cleanup_free_ char *body = NULL;
        struct curl_slist *headers = NULL;
        uint64_t received = 0;
        long status = 0;
        size_t n;
        CURLcode c = CURLE_OK;
        int r;

        r = check_url(arg_url, false, &f.scheme);
        if (r < 0)
                return r;
        if (f.scheme == URL_SCHEME_FILE)
                return report_error(FETCH_ERROR_USAGE, "--post-json needs an https:// URL, not a file");
        r = streq(arg_post_json, "-") ? read_stdin(&body, &n)
                                      : read_full_file(arg_post_json, POST_BODY_MAX, &body, &n);
        if (r < 0)
                return report_error(FETCH_ERROR_IO, "Failed to read %s: %s", arg_post_json, strerror(-r));
        r = fetch_setup(&f);
        if (r < 0)
                return r;
        r = confine();
        if (r < 0)
                return r;
        headers = curl_slist_append(NULL, "Content-Type: application/json");
        if (!headers)
                return report_error(FETCH_ERROR_IO, "out of memory");

#define SET(opt, val)                                           \
        do {                                                    \
                if (c == CURLE_OK)                              \
                        c = curl_easy_setopt(f.curl, opt, val); \
        } while (false)
        SET(CURLOPT_URL, arg_url);
        SET(CURLOPT_PROTOCOLS_STR, url_scheme_protocols[f.scheme]);
        SET(CURLOPT_HTTPHEADER, headers);
        SET(CURLOPT_POSTFIELDS, body);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) n);
        SET(CURLOPT_WRITEFUNCTION, post_write_callback);
        SET(CURLOPT_WRITEDATA, &received);
        SET(CURLOPT_TIMEOUT, (long) (arg_timeout > 0 ? arg_timeout : 60));
#undef SET
        if (c == CURLE_OK)
                c = curl_easy_perform(f.curl);
        curl_slist_free_all(headers);
        if (error_reported)
                return -EIO;
        if (c != CURLE_OK)
                return report_curl_error(&f, c);
        (void) curl_easy_getinfo(f.curl, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 300 && status < 400)
                return report_error(
                        FETCH_ERROR_REDIRECT,
                        "the server answered HTTP %ld (a redirect); configure the URL it redirects to",
                        status);
        if (status < 200 || status >= 300)
                return report_error(FETCH_ERROR_HTTP, "the server answered HTTP %ld", status);

        printf("posted %ld\n", status);
        if (fflush(stdout) == EOF)
                return -EIO;
        return 0;
}

static void help(void) {
        printf("mbupgraded-fetch --url URL --output PATH [OPTIONS...]\n\n"
               "Downloads URL to PATH for mbupgraded, through PATH.part, reporting progress and the\n"
               "SHA-256 on stdout (\"progress DOWNLOADED TOTAL\", then \"done SIZE SHA256\" or\n"
               "\"error KIND MESSAGE\").\n\n"
               "  -h --help                    Show this help\n"
               "     --version                Show the version\n"
               "     --url URL                https:// (or file://) URL to fetch\n"
               "     --output PATH            Where to put the file\n"
               "     --max-size BYTES         Refuse a larger file (default: no limit)\n"
               "     --ca-file FILE           Trust the CAs in FILE; replaces libcurl's default CA\n"
               "                              bundle (a CA directory built into libcurl, as Debian's\n"
               "                              /etc/ssl/certs, stays in use)\n"
               "     --connect-timeout SEC    Give up connecting after SEC seconds (default 30)\n"
               "     --timeout SEC            Give up after SEC seconds in all (default: none)\n"
               "     --low-speed-limit BPS    Give up below BPS bytes a second...\n"
               "     --low-speed-time SEC     ...for SEC seconds (defaults 1000 and 60; 0 disables)\n"
               "     --allow-http-loopback    Allow plain http to 127.0.0.0/8, ::1 and localhost\n"
               "     --resume                 Continue from PATH.part if it exists\n"
               "     --no-fsync               Do not fsync the data (the caller verifies the SHA-256 before use)\n"
               "     --post-json FILE         POST FILE as application/json instead of downloading to\n"
               "                              --output; prints \"posted STATUS\" on a 2xx answer\n\n"
               "Exit status: 0 done, 1 failed, 2 usage error.\n");
}

static int parse_seconds(const char *s, const char *option, uint64_t *ret) {
        uint64_t v;

        if (safe_atou64(s, &v) < 0 || v > INT_MAX / 1000)
                return report_error(FETCH_ERROR_USAGE, "%s needs a number of seconds, not '%s'", option, s);
        *ret = v;
        return 0;
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_URL,
                ARG_OUTPUT,
                ARG_MAX_SIZE,
                ARG_CA_FILE,
                ARG_CONNECT_TIMEOUT,
                ARG_TIMEOUT,
                ARG_LOW_SPEED_LIMIT,
                ARG_LOW_SPEED_TIME,
                ARG_ALLOW_HTTP_LOOPBACK,
                ARG_RESUME,
                ARG_NO_FSYNC,
                ARG_POST_JSON,
                ARG_OUTPUT_FD,
                ARG_CA_FD,
        };
        static const struct option options[] = {
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, ARG_VERSION},
                {"url", required_argument, NULL, ARG_URL},
                {"output", required_argument, NULL, ARG_OUTPUT},
                {"max-size", required_argument, NULL, ARG_MAX_SIZE},
                {"ca-file", required_argument, NULL, ARG_CA_FILE},
                {"connect-timeout", required_argument, NULL, ARG_CONNECT_TIMEOUT},
                {"timeout", required_argument, NULL, ARG_TIMEOUT},
                {"low-speed-limit", required_argument, NULL, ARG_LOW_SPEED_LIMIT},
                {"low-speed-time", required_argument, NULL, ARG_LOW_SPEED_TIME},
                {"allow-http-loopback", no_argument, NULL, ARG_ALLOW_HTTP_LOOPBACK},
                {"resume", no_argument, NULL, ARG_RESUME},
                {"no-fsync", no_argument, NULL, ARG_NO_FSYNC},
                {"post-json", required_argument, NULL, ARG_POST_JSON},
                {"output-fd", required_argument, NULL, ARG_OUTPUT_FD},
                {"ca-fd", required_argument, NULL, ARG_CA_FD},
                {},
        };
        int c, r;

        opterr = 0; /* our own message, on stdout */
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        puts("mbupgraded-fetch " PACKAGE_VERSION);
                        return 0;
                case ARG_URL:
                        arg_url = optarg;
                        break;
                case ARG_OUTPUT:
                        arg_output = optarg;
                        break;
                case ARG_MAX_SIZE:
                        if (safe_atou64(optarg, &arg_max_size) < 0 || arg_max_size > INT64_MAX)
                                return report_error(
                                        FETCH_ERROR_USAGE,
                                        "--max-size needs a number of bytes, not '%s'",
                                        optarg);
                        break;
                case ARG_CA_FILE:
                        arg_ca_file = optarg;
                        break;
                case ARG_CONNECT_TIMEOUT:
                        r = parse_seconds(optarg, "--connect-timeout", &arg_connect_timeout);
                        if (r < 0)
                                return r;
                        break;
                case ARG_TIMEOUT:
                        r = parse_seconds(optarg, "--timeout", &arg_timeout);
                        if (r < 0)
                                return r;
                        break;
                case ARG_LOW_SPEED_LIMIT:
                        if (safe_atou64(optarg, &arg_low_speed_limit) < 0 || arg_low_speed_limit > INT_MAX)
                                return report_error(
                                        FETCH_ERROR_USAGE,
                                        "--low-speed-limit needs a number of bytes a second, not '%s'",
                                        optarg);
                        break;
                case ARG_LOW_SPEED_TIME:
                        r = parse_seconds(optarg, "--low-speed-time", &arg_low_speed_time);
                        if (r < 0)
                                return r;
                        break;
                case ARG_ALLOW_HTTP_LOOPBACK:
                        arg_allow_http_loopback = true;
                        break;
                case ARG_NO_FSYNC:
                        arg_no_fsync = true;
                        break;
                case ARG_RESUME:
                        arg_resume = true;
                        break;
                case ARG_POST_JSON:
                        arg_post_json = optarg;
                        break;
                case ARG_CA_FD: {
                        /* The daemon opened the CA file (which its user need not be able to
                         * read): read it whole, now. */
                        uint64_t fd;
                        size_t n = 0;
                        if (safe_atou64(optarg, &fd) < 0 || fd < 3 || fd > INT_MAX)
                                return report_error(
                                        FETCH_ERROR_USAGE, "--ca-fd needs a descriptor >= 3, not '%s'", optarg);
                        free(arg_ca_blob);
                        arg_ca_blob = malloc(CA_BLOB_MAX);
                        if (!arg_ca_blob)
                                return report_error(FETCH_ERROR_IO, "out of memory");
                        for (;;) {
                                ssize_t k = read((int) fd, arg_ca_blob + n, CA_BLOB_MAX - n);
                                if (k < 0 && errno == EINTR)
                                        continue;
                                if (k < 0)
                                        return report_error(
                                                FETCH_ERROR_TLS, "the CA file could not be read: %m");
                                if (k == 0)
                                        break;
                                n += (size_t) k;
                                if (n == CA_BLOB_MAX)
                                        return report_error(FETCH_ERROR_TLS, "the CA file is too large");
                        }
                        (void) close((int) fd);
                        arg_ca_blob_size = n;
                        break;
                }
                case ARG_OUTPUT_FD: {
                        uint64_t fd;
                        struct stat st;
                        if (safe_atou64(optarg, &fd) < 0 || fd < 3 || fd > INT_MAX)
                                return report_error(
                                        FETCH_ERROR_USAGE,
                                        "--output-fd needs a descriptor >= 3, not '%s'",
                                        optarg);
                        arg_output_fd = (int) fd;
                        if (fstat(arg_output_fd, &st) < 0 || !S_ISREG(st.st_mode) ||
                            (fcntl(arg_output_fd, F_GETFL) & O_ACCMODE) != O_RDWR)
                                return report_error(
                                        FETCH_ERROR_USAGE,
                                        "--output-fd %d is not a regular file open for reading and writing",
                                        arg_output_fd);
                        (void) fcntl(arg_output_fd, F_SETFD, FD_CLOEXEC);
                        break;
                }
                case '?':
                        return report_error(
                                FETCH_ERROR_USAGE,
                                "unknown option, or an option without its value: %s (see --help)",
                                argv[optind - 1]);
                default:
                        assert(false);
                }

        if (optind < argc)
                return report_error(FETCH_ERROR_USAGE, "unexpected argument '%s'", argv[optind]);
        if (arg_output && arg_output_fd >= 0)
                return report_error(FETCH_ERROR_USAGE, "--output and --output-fd exclude each other");
        if (arg_post_json) {
                if (isempty(arg_url) || arg_output || arg_output_fd >= 0 || arg_resume)
                        return report_error(
                                FETCH_ERROR_USAGE,
                                "--post-json needs --url, and takes no --output or --resume");
                return 1;
        }
        if (isempty(arg_url) || (isempty(arg_output) && arg_output_fd < 0))
                return report_error(FETCH_ERROR_USAGE, "--url and --output (or --output-fd) are required");
        return 1;
}

static int run(int argc, char *argv[]) {
        int r;

        /* Line by line into the daemon's pipe; a reader that went away is an error, not a signal. */
        (void) setvbuf(stdout, NULL, _IOLBF, 0);
        (void) signal(SIGPIPE, SIG_IGN);

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;

        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return report_error(FETCH_ERROR_IO, "Failed to initialise libcurl");
        r = arg_post_json ? post_run() : fetch_run();
        curl_global_cleanup();
        return r;
}

int main(int argc, char *argv[]) {
        int r = run(argc, argv);

        return r == -EINVAL ? 2 : r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
