/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <fcntl.h>
#include <stdarg.h>
#include <strings.h>
#include <sys/stat.h>
#include <zip.h>

#include "jar.h"
#include "macro.h"
#include "strv.h"

/* version.properties and the manifest are a few hundred bytes in every Metabase release. The
 * limits keep a hostile or broken JAR (a "zip bomb" entry) from making us inflate much. */
#define JAR_PROPERTIES_MAX (64U * 1024U)
#define JAR_MANIFEST_MAX (64U * 1024U)
#define JAR_MAIN_CLASS_MAX 1024U
#define JAR_STDIO_BUFFER_SIZE (64U * 1024U)
/* How much of a value from the JAR is quoted in an error message. */
#define JAR_QUOTE_MAX 64U

#define CLASS_FILE_MAGIC 0xCAFEBABEU
#define CLASS_FILE_MAJOR_MIN 45U /* Java 1.0 */

DEFINE_POINTER_CLEANUP(zip_t, zip_discard, zip_discardp);
DEFINE_POINTER_CLEANUP(zip_file_t, zip_fclose, zip_fclosep);
DEFINE_POINTER_CLEANUP(JarInfo, jar_info_free, jar_info_freep);

static int jar_error(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);

/* Sets *ret_error (if wanted) to the formatted sentence and returns r, so that a failure is one
 * line: return jar_error(ret_error, -EBADMSG, "..."). */
static int jar_error(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;
        char *m;

        assert(r < 0);

        if (!ret_error)
                return r;

        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);

        *ret_error = m;
        return r;
}

/* Maps a libzip error to a negative errno: system errors keep their errno, everything about the
 * archive's contents is -EBADMSG. */
static int zip_error_to_errno(zip_error_t *e) {
        int sys = zip_error_code_system(e);

        switch (zip_error_code_zip(e)) {
        case ZIP_ER_MEMORY:
                return -ENOMEM;
        case ZIP_ER_READ:
        case ZIP_ER_SEEK:
        case ZIP_ER_TELL:
        case ZIP_ER_OPEN:
                return zip_error_system_type(e) == ZIP_ET_SYS && sys > 0 ? -sys : -EIO;
        default:
                return -EBADMSG;
        }
}

static int jar_open_error(zip_error_t *e, char **ret_error) {
        int r = zip_error_to_errno(e);

        switch (zip_error_code_zip(e)) {
        case ZIP_ER_NOZIP:
                return jar_error(ret_error, -EBADMSG, "not a ZIP archive: this is not a JAR file");
        case ZIP_ER_INCONS:
        case ZIP_ER_EOF:
                return jar_error(
                        ret_error,
                        -EBADMSG,
                        "the ZIP archive is damaged (%s): the file may be truncated or corrupt",
                        zip_error_strerror(e));
        case ZIP_ER_MULTIDISK:
                return jar_error(ret_error, -EBADMSG, "a multi-disk ZIP archive: this is not a JAR file");
        default:
                if (r == -EBADMSG)
                        return jar_error(
                                ret_error,
                                r,
                                "cannot open the ZIP archive (%s): this is not a usable JAR file",
                                zip_error_strerror(e));
                return jar_error(ret_error, r, "cannot read the file: %s", zip_error_strerror(e));
        }
}

/* A failure to open or read the entry 'name'. */
static int jar_entry_error(char **ret_error, zip_error_t *e, const char *name) {
        int r = zip_error_to_errno(e);

        if (r == -EBADMSG)
                return jar_error(
                        ret_error,
                        r,
                        "%s is damaged (%s): the file may be truncated or corrupt",
                        name,
                        zip_error_strerror(e));
        return jar_error(ret_error, r, "cannot read %s: %s", name, zip_error_strerror(e));
}

/* Reads at most 'max' bytes of the entry 'name' into a NUL-terminated buffer. Returns -ENOENT
 * (without a message) if there is no such entry, -EFBIG if it has more than 'max' bytes. The
 * entry's declared size is not trusted: we stop inflating one byte past the limit. */
static int
jar_read_entry(zip_t *za, const char *name, size_t max, char **ret, size_t *ret_size, char **ret_error) {
        _cleanup_(zip_fclosep) zip_file_t *zf = NULL;
        _cleanup_free_ char *buf = NULL;
        zip_int64_t idx;
        size_t size = 0;

        idx = zip_name_locate(za, name, 0);
        if (idx < 0)
                return -ENOENT;

        zf = zip_fopen_index(za, (zip_uint64_t) idx, 0);
        if (!zf) {
                zip_error_t *e = zip_get_error(za);

                switch (zip_error_code_zip(e)) {
                case ZIP_ER_COMPNOTSUPP:
                        return jar_error(
                                ret_error,
                                -EBADMSG,
                                "%s uses an unsupported compression method: this is not a usable JAR file",
                                name);
                case ZIP_ER_ENCRNOTSUPP:
                case ZIP_ER_NOPASSWD:
                        return jar_error(
                                ret_error, -EBADMSG, "%s is encrypted: this is not a usable JAR file", name);
                default:
                        return jar_entry_error(ret_error, e, name);
                }
        }

        buf = malloc(max + 2);
        if (!buf)
                return -ENOMEM;

        while (size <= max) {
                zip_int64_t n;

                n = zip_fread(zf, buf + size, max + 1 - size);
                if (n < 0)
                        return jar_entry_error(ret_error, zip_file_get_error(zf), name);
                if (n == 0)
                        break;
                size += (size_t) n;
        }
        if (size > max)
                return -EFBIG;

        buf[size] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

/* Splits [p, end) at the next line end (LF, CRLF or CR): returns the line's length and moves *p
 * past the line end. */
static size_t next_line(const char **p, const char *end) {
        const char *s = *p, *e = s;

        while (e < end && *e != '\n' && *e != '\r')
                e++;
        *p = e;
        if (*p < end && **p == '\r')
                (*p)++;
        if (*p < end && **p == '\n')
                (*p)++;
        return (size_t) (e - s);
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t' || c == '\f';
}

/* version.properties is a Java properties file: "key=value", "key: value" or "key value", with
 * comments starting with '#' or '!'. Metabase writes plain ASCII, so escapes and continuation
 * lines are not interpreted: a value that needs them is not one we accept anyway. */
static int parse_properties(const char *text, size_t n, JarInfo *info) {
        const char *p = text, *end = text + n;

        while (p < end) {
                const char *line = p, *key, *value, *q, *line_end;
                size_t len, key_len;
                char **field;

                len = next_line(&p, end);
                line_end = line + len;

                q = line;
                while (q < line_end && is_blank(*q))
                        q++;
                if (q == line_end || *q == '#' || *q == '!')
                        continue;

                key = q;
                while (q < line_end && *q != '=' && *q != ':' && !is_blank(*q))
                        q++;
                key_len = (size_t) (q - key);
                while (q < line_end && is_blank(*q))
                        q++;
                if (q < line_end && (*q == '=' || *q == ':'))
                        q++;
                while (q < line_end && is_blank(*q))
                        q++;
                value = q;
                while (line_end > value && is_blank(line_end[-1]))
                        line_end--;

#define KEY_IS(k) (key_len == strlen(k) && memcmp(key, k, key_len) == 0)
                if (KEY_IS("tag"))
                        field = &info->tag;
                else if (KEY_IS("hash"))
                        field = &info->hash;
                else if (KEY_IS("branch"))
                        field = &info->branch;
                else if (KEY_IS("date"))
                        field = &info->date;
                else
                        continue;
#undef KEY_IS

                /* As in Java, the last occurrence of a key wins. The values end up in messages and
                 * JSON, so control characters are replaced. */
                free(*field);
                *field = strndup_sanitized(value, (size_t) (line_end - value), (size_t) (line_end - value));
                if (!*field)
                        return -ENOMEM;
        }

        return 0;
}

/* Finds the Main-Class attribute in the main section of a manifest. Lines end in CRLF, LF or CR;
 * a line that starts with a space continues the previous one (lines are wrapped at 72 bytes). */
static int parse_manifest_main_class(const char *text, size_t n, char **ret) {
        _cleanup_free_ char *logical = NULL;
        const char *p = text, *end = text + n;
        size_t logical_len = 0;
        bool done = false;

        /* A logical line is never longer than the manifest itself. */
        logical = malloc(n + 1);
        if (!logical)
                return -ENOMEM;

        while (!done) {
                const char *line = p;
                size_t len;

                if (p < end) {
                        len = next_line(&p, end);
                        if (len > 0 && line[0] == ' ') {
                                /* Continuation: append without the leading space. */
                                memcpy(logical + logical_len, line + 1, len - 1);
                                logical_len += len - 1;
                                continue;
                        }
                } else {
                        len = 0;
                        done = true;
                }

                /* A new line starts: look at the finished one first. */
                if (logical_len >= 11 && strncasecmp(logical, "Main-Class:", 11) == 0) {
                        const char *v = logical + 11, *e = logical + logical_len;

                        while (v < e && is_blank(*v))
                                v++;
                        while (e > v && is_blank(e[-1]))
                                e--;
                        if (e == v)
                                return -ENODATA;
                        /* A NUL or a control character becomes '?', which no class name has. */
                        *ret = strndup_sanitized(v, (size_t) (e - v), (size_t) (e - v));
                        return *ret ? 0 : -ENOMEM;
                }

                if (len == 0) /* an empty line ends the main section */
                        break;

                memcpy(logical, line, len);
                logical_len = len;
        }

        return -ENODATA;
}

/* Java class names: identifiers separated by dots (java -jar accepts slashes too). Clojure's
 * generated names are ASCII, so we do not try to support the rest of Unicode. */
static bool main_class_is_valid(const char *s) {
        bool segment_start = true;

        if (isempty(s) || strlen(s) > JAR_MAIN_CLASS_MAX)
                return false;
        for (const char *p = s; *p; p++) {
                if (*p == '.' || *p == '/') {
                        if (segment_start)
                                return false;
                        segment_start = true;
                        continue;
                }
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '_' || *p == '$'))
                        return false;
                if (segment_start && *p >= '0' && *p <= '9')
                        return false;
                segment_start = false;
        }
        return !segment_start;
}

static int jar_check_main_class(zip_t *za, JarInfo *info, char **ret_error) {
        _cleanup_(zip_fclosep) zip_file_t *zf = NULL;
        _cleanup_free_ char *entry = NULL;
        unsigned char header[8];
        size_t size = 0;
        zip_int64_t idx;

        entry = strdup_printf("%s.class", info->main_class);
        if (!entry)
                return -ENOMEM;
        for (char *c = entry; *c; c++)
                if (*c == '.' && !streq(c, ".class"))
                        *c = '/';

        idx = zip_name_locate(za, entry, 0);
        if (idx < 0)
                return jar_error(
                        ret_error,
                        -EBADMSG,
                        "main class %s is not in the JAR (no %s): this JAR cannot be run",
                        info->main_class,
                        entry);

        zf = zip_fopen_index(za, (zip_uint64_t) idx, 0);
        if (!zf)
                return jar_entry_error(ret_error, zip_get_error(za), entry);

        /* Only the header: the class may be large, and this is all we need. */
        while (size < sizeof(header)) {
                zip_int64_t n;

                n = zip_fread(zf, header + size, sizeof(header) - size);
                if (n < 0)
                        return jar_entry_error(ret_error, zip_file_get_error(zf), entry);
                if (n == 0)
                        break;
                size += (size_t) n;
        }
        if (size < sizeof(header))
                return jar_error(
                        ret_error,
                        -EBADMSG,
                        "main class %s is truncated (%zu bytes): the JAR is damaged",
                        info->main_class,
                        size);

        if (((uint32_t) header[0] << 24 | (uint32_t) header[1] << 16 | (uint32_t) header[2] << 8 |
             header[3]) != CLASS_FILE_MAGIC)
                return jar_error(
                        ret_error,
                        -EBADMSG,
                        "main class %s is not a Java class file (bad magic number): the JAR is damaged",
                        info->main_class);

        info->class_major = (unsigned) header[6] << 8 | header[7];
        if (info->class_major < CLASS_FILE_MAJOR_MIN)
                return jar_error(
                        ret_error,
                        -EBADMSG,
                        "main class %s has an invalid class-file version %u: the JAR is damaged",
                        info->main_class,
                        info->class_major);
        info->java_needed = info->class_major - 44;
        return 0;
}

static const char *inode_type_to_string(mode_t m) {
        switch (m & S_IFMT) {
        case S_IFDIR:
                return "a directory";
        case S_IFIFO:
                return "a FIFO";
        case S_IFCHR:
                return "a character device";
        case S_IFBLK:
                return "a block device";
        case S_IFSOCK:
                return "a socket";
        case S_IFLNK:
                return "a symbolic link";
        default:
                return "not a regular file";
        }
}

int jar_inspect_fd(int fd, JarInspectFlags flags, JarInfo **ret, char **ret_error) {
        _cleanup_(jar_info_freep) JarInfo *info = NULL;
        /* Declared before 'za', so freed after libzip closed the FILE that uses it. */
        _cleanup_free_ char *stdio_buf = NULL;
        _cleanup_(zip_discardp) zip_t *za = NULL;
        _cleanup_free_ char *text = NULL, *quoted = NULL;
        _cleanup_close_ int zfd = -EBADF;
        zip_source_t *src;
        zip_error_t zerr;
        struct stat st;
        size_t n;
        FILE *f;
        int r;

        assert(fd >= 0);
        assert(ret);

        if (fstat(fd, &st) < 0) {
                r = negative_errno();
                return jar_error(ret_error, r, "cannot read the file: %s", strerror(-r));
        }
        if (S_ISDIR(st.st_mode))
                return jar_error(ret_error, -EISDIR, "this is a directory, not a JAR file");
        if (!S_ISREG(st.st_mode))
                return jar_error(
                        ret_error, -EBADFD, "this is %s, not a JAR file", inode_type_to_string(st.st_mode));
        if (st.st_size == 0)
                return jar_error(ret_error, -EBADMSG, "the file is empty: this is not a JAR file");

        info = calloc(1, sizeof(JarInfo));
        if (!info)
                return -ENOMEM;
        info->size = (uint64_t) st.st_size;

        /* libzip closes the FILE it reads from, and moves its offset: give it a descriptor of its
         * own. It shares the file offset with 'fd', but we use pread() on 'fd' below. */
        zfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (zfd < 0) {
                r = negative_errno();
                return jar_error(ret_error, r, "cannot read the file: %s", strerror(-r));
        }
        f = fdopen(zfd, "r");
        if (!f) {
                r = negative_errno();
                return jar_error(ret_error, r, "cannot read the file: %s", strerror(-r));
        }
        TAKE_FD(zfd);
        /* The central directory of a Metabase JAR is a few MB, which libzip reads entry by entry:
         * a larger stdio buffer than the default 4 KiB saves a thousand read()s. */
        stdio_buf = malloc(JAR_STDIO_BUFFER_SIZE);
        if (stdio_buf)
                (void) setvbuf(f, stdio_buf, _IOFBF, JAR_STDIO_BUFFER_SIZE);

        zip_error_init(&zerr);
        src = zip_source_filep_create(f, 0, -1, &zerr);
        if (!src) {
                (void) fclose(f);
                r = jar_open_error(&zerr, ret_error);
                zip_error_fini(&zerr);
                return r;
        }
        za = zip_open_from_source(src, ZIP_RDONLY, &zerr);
        if (!za) {
                zip_source_free(src);
                r = jar_open_error(&zerr, ret_error);
                zip_error_fini(&zerr);
                return r;
        }
        zip_error_fini(&zerr);

        r = jar_read_entry(za, "version.properties", JAR_PROPERTIES_MAX, &text, &n, ret_error);
        if (r == -ENOENT)
                return jar_error(ret_error, -EBADMSG, "no version.properties: this is not a Metabase JAR");
        if (r == -EFBIG)
                return jar_error(
                        ret_error,
                        -EBADMSG,
                        "version.properties is larger than %u bytes: this is not a Metabase JAR",
                        JAR_PROPERTIES_MAX);
        if (r < 0)
                return r;

        r = parse_properties(text, n, info);
        if (r < 0)
                return r;
        free(text);
        text = NULL;

        if (!info->tag)
                return jar_error(
                        ret_error, -EBADMSG, "version.properties has no tag: this is not a Metabase JAR");
        if (mb_version_parse(info->tag, &info->version) < 0) {
                quoted = strndup_sanitized(info->tag, strlen(info->tag), JAR_QUOTE_MAX);
                return jar_error(
                        ret_error,
                        -EBADMSG,
                        "version.properties has no valid tag (got '%s'): this is not a Metabase release",
                        strempty(quoted));
        }

        r = jar_read_entry(za, "META-INF/MANIFEST.MF", JAR_MANIFEST_MAX, &text, &n, ret_error);
        if (r == -ENOENT)
                return jar_error(
                        ret_error, -EBADMSG, "no META-INF/MANIFEST.MF: this JAR cannot be run with java -jar");
        if (r == -EFBIG)
                return jar_error(
                        ret_error,
                        -EBADMSG,
                        "META-INF/MANIFEST.MF is larger than %u bytes: this is not a Metabase JAR",
                        JAR_MANIFEST_MAX);
        if (r < 0)
                return r;

        r = parse_manifest_main_class(text, n, &info->main_class);
        if (r == -ENODATA)
                return jar_error(
                        ret_error,
                        -EBADMSG,
                        "META-INF/MANIFEST.MF has no Main-Class: this JAR cannot be run with java -jar");
        if (r < 0)
                return r;
        if (!main_class_is_valid(info->main_class)) {
                quoted = strndup_sanitized(info->main_class, strlen(info->main_class), JAR_QUOTE_MAX);
                return jar_error(
                        ret_error,
                        -EBADMSG,
                        "META-INF/MANIFEST.MF names an invalid Main-Class '%s': this JAR cannot be run",
                        strempty(quoted));
        }

        r = jar_check_main_class(za, info, ret_error);
        if (r < 0)
                return r;

        if (flags & JAR_INSPECT_HASH) {
                r = sha256_fd(fd, info->sha256, NULL);
                if (r < 0)
                        return jar_error(
                                ret_error, r, "cannot read the file to compute its SHA-256: %s", strerror(-r));
                info->has_sha256 = true;
        }

        *ret = TAKE_PTR(info);
        return 0;
}

int jar_inspect(const char *path, JarInspectFlags flags, JarInfo **ret, char **ret_error) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        assert(path);
        assert(ret);

        /* What is no regular file is never opened: opening a device can act on it (a watchdog arms,
         * a tape rewinds, a socket can't be opened at all). jar_inspect_fd() checks what was opened. */
        if (stat(path, &st) >= 0 && !S_ISREG(st.st_mode)) {
                if (S_ISDIR(st.st_mode))
                        return jar_error(ret_error, -EISDIR, "this is a directory, not a JAR file");
                return jar_error(
                        ret_error, -EBADFD, "this is %s, not a JAR file", inode_type_to_string(st.st_mode));
        }
        /* O_NONBLOCK: a FIFO put in its place meanwhile must not hang us until someone writes to it. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                int r = negative_errno();
                return jar_error(ret_error, r, "cannot open the file: %s", strerror(-r));
        }

        return jar_inspect_fd(fd, flags, ret, ret_error);
}

JarInfo *jar_info_free(JarInfo *i) {
        if (!i)
                return NULL;
        free(i->tag);
        free(i->hash);
        free(i->branch);
        free(i->date);
        free(i->main_class);
        free(i);
        return NULL;
}

int jar_read_resource(const char *path, const char *name, size_t max, char **ret, size_t *ret_size) {
        _cleanup_(zip_discardp) zip_t *za = NULL;
        _cleanup_(zip_fclosep) zip_file_t *zf = NULL;
        _cleanup_free_ char *buf = NULL;
        zip_int64_t idx;
        size_t size = 0;
        int zerr = 0;

        assert(path);
        assert(name);
        assert(ret);

        za = zip_open(path, ZIP_RDONLY, &zerr);
        if (!za)
                return zerr == ZIP_ER_OPEN || zerr == ZIP_ER_READ ? -EIO
                        : zerr == ZIP_ER_MEMORY                   ? -ENOMEM
                                                                  : -EBADMSG;
        idx = zip_name_locate(za, name, 0);
        if (idx < 0)
                return -ENOENT;
        zf = zip_fopen_index(za, (zip_uint64_t) idx, 0);
        if (!zf)
                return -EBADMSG;
        buf = malloc(max + 2);
        if (!buf)
                return -ENOMEM;
        while (size <= max) {
                zip_int64_t n = zip_fread(zf, buf + size, max + 1 - size);
                if (n < 0)
                        return -EBADMSG;
                if (n == 0)
                        break;
                size += (size_t) n;
        }
        if (size > max)
                return -EFBIG;
        buf[size] = '\0';
        *ret = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = size;
        return 0;
}
