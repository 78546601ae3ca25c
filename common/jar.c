/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <inttypes.h>
#include <unistd.h>
#include <zip.h>
#include <zlib.h>

#include "jar.h"
#include "macro.h"
#include "strv.h"

/* version.properties and the manifest are a few hundred bytes in every Metabase release. The
 * limits keep a hostile or broken JAR (a "zip bomb" entry) from making us inflate much. */
#define JAR_PROPERTIES_MAX (64U * 1024U)
#define JAR_MANIFEST_MAX (64U * 1024U)
#define JAR_MAIN_CLASS_MAX 1024U
#define JAR_STDIO_BUFFER_SIZE (64U * 1024U) /* the read cache of JarSource */
/* How much of a value from the JAR is quoted in an error message. */
#define JAR_QUOTE_MAX 64U

#define CLASS_FILE_MAGIC 0xCAFEBABEU
#define CLASS_FILE_MAJOR_MIN 45U /* Java 1.0 */
#define CLASS_FILE_MAJOR_MAX (44U + 255U)

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

        info->main_class_major = (unsigned) header[6] << 8 | header[7];
        if (info->main_class_major < CLASS_FILE_MAJOR_MIN || info->main_class_major > CLASS_FILE_MAJOR_MAX)
                return jar_error(
                        ret_error,
                        -EBADMSG,
                        "main class %s has an invalid class-file version %u: the JAR is damaged",
                        info->main_class,
                        info->main_class_major);
        return 0;
}

/* Limits on the archive itself, checked from the end-of-central-directory record before libzip
 * reads the directory, so that a hostile ZIP cannot make us allocate or loop much. A Metabase JAR
 * has tens of thousands of entries and a central directory of a few MB (not counted here from a
 * real one): the limits leave well over ten times that. */
#define JAR_ENTRIES_MAX 1000000U
#define JAR_CENTRAL_DIRECTORY_MAX (128U * 1024U * 1024U)
#define JAR_ENTRY_NAME_MAX 4096U
/* How much of a class's compressed data may be read to inflate its first 8 bytes: a deflate stream
 * has them within its first block, after at most a few hundred bytes of Huffman tables. */
#define JAR_CLASS_INPUT_CHUNK 512U
#define JAR_CLASS_INPUT_MAX 4096U

#define EOCD_SIZE 22U
#define EOCD64_LOCATOR_SIZE 20U
#define EOCD64_SIZE 56U

#define JAR_MIN(a, b) ((a) < (b) ? (a) : (b))

static uint32_t be32(const unsigned char *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static uint16_t le16(const unsigned char *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}

static uint32_t le32(const unsigned char *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static uint64_t le64(const unsigned char *p) {
        return (uint64_t) le32(p) | (uint64_t) le32(p + 4) << 32;
}

static int pread_full(int fd, void *buf, size_t n, uint64_t offset) {
        size_t done = 0;

        while (done < n) {
                ssize_t k = pread(fd, (char *) buf + done, n - done, (off_t) (offset + done));
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        return -EIO;
                done += (size_t) k;
        }
        return 0;
}

/* Reads the entry count and the size of the central directory from the end-of-central-directory
 * record (and its ZIP64 form) and refuses what is over the limits. What is no ZIP at all is left
 * to libzip, which says so better. */
static int jar_check_directory_limits(int fd, uint64_t file_size, char **ret_error) {
        _cleanup_free_ unsigned char *tail = NULL;
        uint64_t entries, cd_size;
        size_t n;
        int r;

        if (file_size < EOCD_SIZE)
                return 0;
        n = (size_t) JAR_MIN(file_size, (uint64_t) (EOCD_SIZE + UINT16_MAX));
        tail = malloc(n);
        if (!tail)
                return -ENOMEM;
        r = pread_full(fd, tail, n, file_size - n);
        if (r < 0)
                return jar_error(ret_error, r, "cannot read the file: %s", strerror(-r));

        for (size_t i = n - EOCD_SIZE + 1; i-- > 0;) {
                const unsigned char *e = tail + i;

                if (le32(e) != 0x06054b50U)
                        continue;
                entries = le16(e + 10);
                cd_size = le32(e + 12);
                if ((entries == UINT16_MAX || cd_size == UINT32_MAX) && i >= EOCD64_LOCATOR_SIZE &&
                    le32(e - EOCD64_LOCATOR_SIZE) == 0x07064b50U) {
                        unsigned char z[EOCD64_SIZE];
                        uint64_t off = le64(e - EOCD64_LOCATOR_SIZE + 8);

                        if (off <= file_size - EOCD64_SIZE && pread_full(fd, z, sizeof(z), off) >= 0 &&
                            le32(z) == 0x06064b50U) {
                                entries = le64(z + 32);
                                cd_size = le64(z + 40);
                        }
                }
                if (entries > JAR_ENTRIES_MAX)
                        return jar_error(
                                ret_error,
                                -EBADMSG,
                                "the ZIP archive says it has %" PRIu64
                                " entries, more than the %u a JAR is allowed here: this is not a "
                                "usable Metabase JAR",
                                entries,
                                JAR_ENTRIES_MAX);
                if (cd_size > JAR_CENTRAL_DIRECTORY_MAX || cd_size > file_size)
                        return jar_error(
                                ret_error,
                                -EBADMSG,
                                "the ZIP archive's central directory is %" PRIu64
                                " bytes, more than %u or the file itself: this is not a usable "
                                "Metabase JAR",
                                cd_size,
                                JAR_CENTRAL_DIRECTORY_MAX);
                return 0;
        }
        return 0;
}

typedef enum ClassHeaderResult {
        CLASS_HEADER_OK,
        CLASS_HEADER_SHORT, /* fewer than 8 bytes: no class the JVM could load */
} ClassHeaderResult;

/* The first 8 bytes of an entry, read raw and inflated here: libzip's own reader inflates in
 * large chunks and checks the CRC of the whole entry, which we do not need. *budget is what may
 * still be read across all classes (entries that share data would otherwise multiply it). */
static int jar_class_header(
        zip_t *za,
        zip_uint64_t idx,
        const zip_stat_t *st,
        z_stream *z,
        uint64_t *budget,
        unsigned char header[static 8],
        char **ret_error) {
        _cleanup_(zip_fclosep) zip_file_t *zf = NULL;
        unsigned char in[JAR_CLASS_INPUT_MAX];
        uint64_t left = st->comp_size;
        size_t got = 0, total_in = 0;
        bool deflate = st->comp_method == ZIP_CM_DEFLATE;

        if (st->encryption_method != ZIP_EM_NONE)
                return jar_error(
                        ret_error, -EBADMSG, "%s is encrypted: this is not a usable JAR file", st->name);
        if (!deflate && st->comp_method != ZIP_CM_STORE)
                /* java.util.zip reads only these two. */
                return jar_error(
                        ret_error,
                        -EBADMSG,
                        "%s uses an unsupported compression method: this is not a usable JAR file",
                        st->name);

        zf = zip_fopen_index(za, idx, ZIP_FL_COMPRESSED);
        if (!zf)
                return jar_entry_error(ret_error, zip_get_error(za), st->name);

        if (deflate && inflateReset(z) != Z_OK)
                return -ENOMEM;

        while (got < 8) {
                size_t want = JAR_MIN((uint64_t) JAR_CLASS_INPUT_CHUNK, left);
                zip_int64_t k;

                if (want == 0)
                        return deflate ? jar_error(
                                                 ret_error,
                                                 -EBADMSG,
                                                 "%s is damaged (its compressed data ends early): the JAR "
                                                 "is damaged",
                                                 st->name)
                                       : CLASS_HEADER_SHORT;
                if (total_in + want > JAR_CLASS_INPUT_MAX || want > *budget)
                        return jar_error(
                                ret_error,
                                -EBADMSG,
                                "%s does not give its first bytes within %u bytes of compressed data, or "
                                "the archive's entries overlap: this is not a usable JAR file",
                                st->name,
                                JAR_CLASS_INPUT_MAX);
                k = zip_fread(zf, in, want);
                if (k < 0)
                        return jar_entry_error(ret_error, zip_file_get_error(zf), st->name);
                if (k == 0)
                        return jar_error(ret_error, -EBADMSG, "%s is truncated: the JAR is damaged", st->name);
                left -= (uint64_t) k;
                total_in += (size_t) k;
                *budget -= (uint64_t) k;

                if (!deflate) {
                        size_t c = JAR_MIN((size_t) k, 8 - got);
                        memcpy(header + got, in, c);
                        got += c;
                        continue;
                }

                z->next_in = in;
                z->avail_in = (uInt) k;
                z->next_out = header + got;
                z->avail_out = (uInt) (8 - got);
                int zr = inflate(z, Z_SYNC_FLUSH);
                got = 8 - z->avail_out;
                if (zr == Z_STREAM_END && got < 8)
                        return CLASS_HEADER_SHORT;
                if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
                        return jar_error(
                                ret_error,
                                -EBADMSG,
                                "%s is damaged (%s): the JAR is damaged",
                                st->name,
                                z->msg ?: "invalid compressed data");
        }
        return CLASS_HEADER_OK;
}

static bool is_class_entry(const char *name, size_t len) {
        if (len < strlen(".class") + 1 || !endswith(name, ".class"))
                return false;
        /* A multi-release JAR's copies for newer Javas are loaded only by those Javas. */
        if (startswith(name, "META-INF/versions/"))
                return false;
        /* A module descriptor is never loaded from the class path (Metabase's build drops them). */
        if (streq(name, "module-info.class") || endswith(name, "/module-info.class"))
                return false;
        return true;
}

/* The highest class-file major among all the classes: what the JVM enforces when it loads them. */
static int jar_scan_classes(zip_t *za, JarInfo *info, char **ret_error) {
        z_stream z = {};
        zip_int64_t n;
        /* Each class is read once from the file; entries that point at the same data do not get
         * to read it again and again. */
        uint64_t budget = 2 * info->size + 16U * 1024U * 1024U;
        int r = 0;

        n = zip_get_num_entries(za, 0);
        if (n < 0 || (uint64_t) n > JAR_ENTRIES_MAX)
                return jar_error(
                        ret_error, -EBADMSG, "the ZIP archive has too many entries: this is not a usable JAR");

        if (inflateInit2(&z, -MAX_WBITS) != Z_OK)
                return -ENOMEM;

        for (zip_uint64_t i = 0; i < (zip_uint64_t) n; i++) {
                unsigned char header[8];
                zip_stat_t st;
                size_t len;
                unsigned major;

                zip_stat_init(&st);
                if (zip_stat_index(za, i, 0, &st) < 0 || !(st.valid & ZIP_STAT_NAME) || !st.name) {
                        r = jar_error(ret_error, -EBADMSG, "the ZIP archive's entry %" PRIu64 " is damaged", i);
                        break;
                }
                len = strnlen(st.name, JAR_ENTRY_NAME_MAX + 1);
                if (len > JAR_ENTRY_NAME_MAX) {
                        r = jar_error(
                                ret_error,
                                -EBADMSG,
                                "the ZIP archive has an entry name longer than %u bytes: this is not a usable "
                                "JAR",
                                JAR_ENTRY_NAME_MAX);
                        break;
                }
                if (!is_class_entry(st.name, len))
                        continue;

                r = jar_class_header(za, i, &st, &z, &budget, header, ret_error);
                if (r < 0)
                        break;
                /* What is no class file (too short, another magic number) is nothing the JVM would
                 * run: it says nothing about the Java needed. */
                if (r == CLASS_HEADER_SHORT || be32(header) != CLASS_FILE_MAGIC) {
                        r = 0;
                        continue;
                }
                r = 0;
                major = (unsigned) header[6] << 8 | header[7];
                if (major < CLASS_FILE_MAJOR_MIN || major > CLASS_FILE_MAJOR_MAX) {
                        _cleanup_free_ char *quoted = strndup_sanitized(st.name, len, JAR_QUOTE_MAX);
                        r = jar_error(
                                ret_error,
                                -EBADMSG,
                                "%s has an invalid class-file version %u: the JAR is damaged",
                                strempty(quoted),
                                major);
                        break;
                }
                info->classes++;
                if (major > info->class_major) {
                        info->class_major = major;
                        free(info->newest_class);
                        info->newest_class = strndup_sanitized(st.name, len, len);
                        if (!info->newest_class) {
                                r = -ENOMEM;
                                break;
                        }
                }
        }

        (void) inflateEnd(&z);
        if (r < 0)
                return r;
        info->scanned = true;
        return 0;
}

unsigned jar_java_for_version(const MbVersion *v) {
        assert(v);

        if (v->major <= 43)
                return 8;
        if (v->major <= 52)
                return 11;
        return 21;
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

/* libzip reads the archive through this source: pread() on the caller's descriptor with a read
 * cache of its own. libzip's stdio source calls lseek() three times and fstat() once for every entry
 * it opens, which for the 40 000 classes of a Metabase JAR cost more than reading them. */
typedef struct JarSource {
        int fd;
        uint64_t size;
        uint64_t offset;
        unsigned char *cache;
        uint64_t cache_offset;
        size_t cache_len;
        zip_error_t error;
} JarSource;

static zip_int64_t jar_source_read(JarSource *s, unsigned char *buf, uint64_t len) {
        uint64_t done = 0;

        while (done < len && s->offset < s->size) {
                if (s->offset >= s->cache_offset && s->offset < s->cache_offset + s->cache_len) {
                        size_t at = (size_t) (s->offset - s->cache_offset);
                        size_t c = (size_t) JAR_MIN((uint64_t) (s->cache_len - at), len - done);

                        memcpy(buf + done, s->cache + at, c);
                        done += c;
                        s->offset += c;
                        continue;
                }
                if (len - done >= JAR_STDIO_BUFFER_SIZE) {
                        /* A large read (the central directory, padding): straight into buf. */
                        ssize_t k = pread(s->fd, buf + done, (size_t) (len - done), (off_t) s->offset);
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k < 0) {
                                zip_error_set(&s->error, ZIP_ER_READ, errno);
                                return -1;
                        }
                        if (k == 0)
                                break;
                        done += (uint64_t) k;
                        s->offset += (uint64_t) k;
                        continue;
                }
                ssize_t k = pread(s->fd, s->cache, JAR_STDIO_BUFFER_SIZE, (off_t) s->offset);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        zip_error_set(&s->error, ZIP_ER_READ, errno);
                        return -1;
                }
                if (k == 0)
                        break;
                s->cache_offset = s->offset;
                s->cache_len = (size_t) k;
        }
        return (zip_int64_t) done;
}

static zip_int64_t jar_source_callback(void *userdata, void *data, zip_uint64_t len, zip_source_cmd_t cmd) {
        JarSource *s = userdata;

        switch (cmd) {
        case ZIP_SOURCE_OPEN:
                s->offset = 0;
                return 0;
        case ZIP_SOURCE_READ:
                return jar_source_read(s, data, len);
        case ZIP_SOURCE_CLOSE:
                return 0;
        case ZIP_SOURCE_STAT: {
                zip_stat_t *st = data;

                if (len < sizeof(*st)) {
                        zip_error_set(&s->error, ZIP_ER_INVAL, 0);
                        return -1;
                }
                zip_stat_init(st);
                st->size = s->size;
                st->comp_size = s->size;
                st->comp_method = ZIP_CM_STORE;
                st->encryption_method = ZIP_EM_NONE;
                st->valid = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD |
                        ZIP_STAT_ENCRYPTION_METHOD;
                return sizeof(*st);
        }
        case ZIP_SOURCE_ERROR:
                return zip_error_to_data(&s->error, data, len);
        case ZIP_SOURCE_SEEK: {
                zip_int64_t o = zip_source_seek_compute_offset(s->offset, s->size, data, len, &s->error);
                if (o < 0)
                        return -1;
                s->offset = (uint64_t) o;
                return 0;
        }
        case ZIP_SOURCE_TELL:
                return (zip_int64_t) s->offset;
        case ZIP_SOURCE_FREE:
                zip_error_fini(&s->error);
                free(s->cache);
                free(s);
                return 0;
        case ZIP_SOURCE_SUPPORTS:
                return zip_source_make_command_bitmap(
                        ZIP_SOURCE_OPEN,
                        ZIP_SOURCE_READ,
                        ZIP_SOURCE_CLOSE,
                        ZIP_SOURCE_STAT,
                        ZIP_SOURCE_ERROR,
                        ZIP_SOURCE_FREE,
                        ZIP_SOURCE_SEEK,
                        ZIP_SOURCE_TELL,
                        ZIP_SOURCE_SUPPORTS,
                        -1);
        default:
                zip_error_set(&s->error, ZIP_ER_OPNOTSUPP, 0);
                return -1;
        }
}

int jar_inspect_fd(int fd, JarInspectFlags flags, JarInfo **ret, char **ret_error) {
        _cleanup_(jar_info_freep) JarInfo *info = NULL;
        _cleanup_(zip_discardp) zip_t *za = NULL;
        _cleanup_free_ char *text = NULL, *quoted = NULL;
        zip_source_t *src;
        JarSource *js;
        zip_error_t zerr;
        struct stat st;
        size_t n;
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

        r = jar_check_directory_limits(fd, info->size, ret_error);
        if (r < 0)
                return r;

        js = calloc(1, sizeof(JarSource));
        if (!js)
                return -ENOMEM;
        js->cache = malloc(JAR_STDIO_BUFFER_SIZE);
        if (!js->cache) {
                free(js);
                return -ENOMEM;
        }
        js->fd = fd;
        js->size = info->size;
        zip_error_init(&js->error);

        zip_error_init(&zerr);
        src = zip_source_function_create(jar_source_callback, js, &zerr);
        if (!src) {
                zip_error_fini(&js->error);
                free(js->cache);
                free(js);
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
        /* The main class is one of the classes: the scan starts from it. */
        info->class_major = info->main_class_major;
        if (!(flags & JAR_INSPECT_NO_SCAN)) {
                r = jar_scan_classes(za, info, ret_error);
                if (r < 0)
                        return r;
        }
        info->java_needed = info->class_major - 44;

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
        free(i->newest_class);
        free(i);
        return NULL;
}

/* Reads entry idx of za into a NUL-terminated buffer, at most max bytes (-EFBIG beyond). */
static int read_entry(zip_t *za, zip_uint64_t idx, size_t max, char **ret, size_t *ret_size) {
        _cleanup_(zip_fclosep) zip_file_t *zf = NULL;
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;

        zf = zip_fopen_index(za, idx, 0);
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

static int open_zip(const char *path, zip_t **ret) {
        int zerr = 0;
        zip_t *za = zip_open(path, ZIP_RDONLY, &zerr);

        if (!za)
                return zerr == ZIP_ER_OPEN || zerr == ZIP_ER_READ ? -EIO
                        : zerr == ZIP_ER_MEMORY                   ? -ENOMEM
                                                                  : -EBADMSG;
        *ret = za;
        return 0;
}

int jar_read_resource(const char *path, const char *name, size_t max, char **ret, size_t *ret_size) {
        _cleanup_(zip_discardp) zip_t *za = NULL;
        zip_int64_t idx;
        int r;

        assert(path);
        assert(name);
        assert(ret);

        r = open_zip(path, &za);
        if (r < 0)
                return r;
        idx = zip_name_locate(za, name, 0);
        if (idx < 0)
                return -ENOENT;
        return read_entry(za, (zip_uint64_t) idx, max, ret, ret_size);
}

bool jar_wants_add_opens(const MbVersion *v) {
        assert(v);
        return v->major >= 53;
}

bool java_argv_has_add_opens(char *const *argv) {
        if (!argv)
                return false;
        for (size_t i = 0; argv[i]; i++) {
                if (streq(argv[i], "-jar"))
                        break; /* what follows is Metabase's, not the JVM's */
                if (streq(argv[i], "--add-opens") && argv[i + 1] && streq(argv[i + 1], JAVA_ADD_OPENS_NIO))
                        return true;
                if (streq(argv[i], "--add-opens=" JAVA_ADD_OPENS_NIO))
                        return true;
        }
        return false;
}

char *java_install_hint(unsigned need, const char *codename, const char *arch, char **ret_java) {
        char *java, *hint;

        assert(ret_java);

        arch = isempty(arch) ? "amd64" : arch;
        if (need <= 21 && streq_ptr(codename, "trixie")) {
                /* Debian 13 has OpenJDK 21 (and no 17). */
                java = strdup_printf("/usr/lib/jvm/java-21-openjdk-%s/bin/java", arch);
                hint = strdup("install Java 21 with 'apt install openjdk-21-jre-headless'");
        } else if (need <= 17 && (!codename || streq(codename, "bookworm"))) {
                /* Debian 12 has OpenJDK 17, which runs what needs 11 too. */
                java = strdup_printf("/usr/lib/jvm/java-17-openjdk-%s/bin/java", arch);
                hint = strdup("install Java 17 with 'apt install openjdk-17-jre-headless'");
        } else {
                /* bookworm has no openjdk-21 ('apt-cache policy openjdk-21-jre-headless': no
                 * candidate; bookworm-backports could not be checked); Adoptium's apt repository
                 * publishes Temurin for every Debian release. */
                java = strdup_printf("/usr/lib/jvm/temurin-%u-jre-%s/bin/java", need, arch);
                hint = strdup_printf(
                        "%s%s%shas no openjdk-%u package: install Eclipse Temurin %u from Adoptium's apt "
                        "repository (the key from https://packages.adoptium.net/artifactory/api/gpg/key/public "
                        "in /etc/apt/keyrings/adoptium.asc, the line 'deb "
                        "[signed-by=/etc/apt/keyrings/adoptium.asc] https://packages.adoptium.net/artifactory/deb "
                        "%s main' in /etc/apt/sources.list.d/adoptium.list), then 'apt update && apt install "
                        "temurin-%u-jre'",
                        codename ? "Debian " : "this system ",
                        strempty(codename),
                        codename ? " " : "",
                        need,
                        need,
                        codename ?: "$(. /etc/os-release; echo $VERSION_CODENAME)",
                        need);
        }
        if (!java || !hint) {
                free(java);
                free(hint);
                return NULL;
        }
        *ret_java = java;
        return hint;
}

static char *os_release_codename(void) {
        _cleanup_fclose_ FILE *f = fopen("/etc/os-release", "re");
        char line[256];

        if (!f)
                f = fopen("/usr/lib/os-release", "re");
        if (!f)
                return NULL;
        while (fgets(line, sizeof(line), f)) {
                char *v;
                if (!startswith(line, "VERSION_CODENAME="))
                        continue;
                v = line + strlen("VERSION_CODENAME=");
                v[strcspn(v, "\"'\n")] = '\0';
                if (*v == '"' || *v == '\'')
                        v++;
                v[strcspn(v, "\"'\n")] = '\0';
                return isempty(v) ? NULL : strdup(v);
        }
        return NULL;
}

static const char *dpkg_arch(void) {
        struct utsname u;

        if (uname(&u) < 0)
                return "amd64";
        if (streq(u.machine, "aarch64"))
                return "arm64";
        if (streq(u.machine, "ppc64le"))
                return "ppc64el";
        if (streq(u.machine, "s390x"))
                return "s390x";
        return "amd64";
}

char *java_fix_message(unsigned need, const char *unit, const char *jar) {
        _cleanup_free_ char *codename = os_release_codename(), *java = NULL, *hint = NULL;

        hint = java_install_hint(need, codename, dpkg_arch(), &java);
        if (!hint)
                return NULL;
        return strdup_printf(
                "%s; it installs %s. Then point %s at it: 'systemctl edit %s', and under [Service] put "
                "'ExecStart=' and 'ExecStart=%s%s -jar %s'",
                hint,
                java,
                strempty(unit),
                strempty(unit),
                java,
                need >= 21 ? " --add-opens " JAVA_ADD_OPENS_NIO : "",
                strempty(jar));
}

unsigned jar_java_needed(const JarInfo *info, char **ret_warning) {
        unsigned table;

        assert(info);

        table = jar_java_for_version(&info->version);
        if (ret_warning)
                *ret_warning = NULL;

        /* Without a scan, or with nothing but the main class scanned, the classes cannot tell. */
        if (!info->scanned || info->classes <= 1 || !info->newest_class) {
                if (ret_warning && info->java_needed != table)
                        *ret_warning = strdup_printf(
                                "no class of %s but its main class says which Java it needs; going by "
                                "Metabase's own table: Java %u",
                                info->tag,
                                table);
                return table > info->java_needed ? table : info->java_needed;
        }
        if (ret_warning && info->java_needed != table)
                *ret_warning = strdup_printf(
                        "the classes of %s need Java %u (class-file version %u, e.g. %s), while Metabase "
                        "says v%u.%u needs Java %u; going by the classes, which is what the JVM checks",
                        info->tag,
                        info->java_needed,
                        info->class_major,
                        info->newest_class,
                        info->version.edition,
                        info->version.major,
                        table);
        return info->java_needed;
}

char *jar_java_reason(const JarInfo *info, unsigned need) {
        assert(info);

        if (info->scanned && info->classes > 1 && info->newest_class && need == info->java_needed)
                return strdup_printf(
                        "its class %s is at class-file version %u; the main class %s is at %u",
                        info->newest_class,
                        info->class_major,
                        info->main_class,
                        info->main_class_major);
        return strdup_printf(
                "Metabase's own table for v%u.%u; its main class %s is at class-file version %u",
                info->version.edition,
                info->version.major,
                info->main_class,
                info->main_class_major);
}

/* ---- Liquibase change sets ---------------------------------------------------------------- */

static size_t line_indent(const char *l) {
        return strspn(l, " ");
}

/* The value of "key: value" on line l (after the indent and an optional "- "), unquoted; NULL
 * when the line is not that key. */
static char *yaml_value(const char *l, const char *key) {
        const char *p = l + line_indent(l);
        size_t n;

        if (startswith(p, "- "))
                p += 2;
        if (!startswith(p, key) || p[strlen(key)] != ':')
                return NULL;
        p += strlen(key) + 1;
        p += strspn(p, " \t");
        n = strcspn(p, "#\r");
        while (n > 0 && strchr(" \t", p[n - 1]))
                n--;
        if (n >= 2 && (p[0] == '"' || p[0] == '\'') && p[n - 1] == p[0]) {
                p++;
                n -= 2;
        }
        return strndup(p, n);
}

static bool line_is(const char *l, const char *what) {
        const char *p = l + line_indent(l);
        size_t n = strlen(what);

        return strncmp(p, what, n) == 0 && p[n + strspn(p + n, " \t\r")] == '\0';
}

int jar_changelog_parse_ids(const char *yaml, char ***ids) {
        _cleanup_free_ char *copy = strdup(yaml);
        size_t set_indent = SIZE_MAX, key_indent = SIZE_MAX;
        bool have_id = true;
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                size_t ind = line_indent(l);
                _cleanup_free_ char *id = NULL;

                if (l[ind] == '\0' || l[ind] == '#' || l[ind] == '\r')
                        continue;
                if (line_is(l, "- changeSet:")) {
                        if (!have_id)
                                return -EBADMSG; /* a change set without an id */
                        set_indent = ind;
                        key_indent = SIZE_MAX;
                        have_id = false;
                        continue;
                }
                if (set_indent == SIZE_MAX)
                        continue;
                if (ind <= set_indent) { /* the change set's mapping ended */
                        if (!have_id)
                                return -EBADMSG;
                        set_indent = SIZE_MAX;
                        continue;
                }
                if (key_indent == SIZE_MAX)
                        key_indent = ind;
                if (ind != key_indent || have_id)
                        continue;
                id = yaml_value(l, "id");
                if (!id)
                        continue;
                if (isempty(id))
                        return -EBADMSG;
                if (strv_extend(ids, id) < 0)
                        return -ENOMEM;
                have_id = true;
        }
        return have_id ? 0 : -EBADMSG;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The files Liquibase reads for the master changelog, in its order: "include: file:" entries as
 * listed; "includeAll: path:" every entry under path, recursively, sorted by name (Liquibase's
 * default order for includeAll). */
static int changelog_files(zip_t *za, const char *master, char ***ret) {
        _cleanup_free_ char *copy = strdup(master);
        _cleanup_strv_free_ char **files = NULL;
        char *save = NULL;
        zip_int64_t n = zip_get_num_entries(za, 0);

        if (!copy)
                return -ENOMEM;
        for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                _cleanup_free_ char *file = yaml_value(l, "file"), *dir = yaml_value(l, "path");
                _cleanup_strv_free_ char **found = NULL;

                if (file && strv_extend(&files, file) < 0)
                        return -ENOMEM;
                if (!dir)
                        continue;
                if (isempty(dir) || !endswith(dir, "/"))
                        return -EBADMSG;
                for (zip_int64_t i = 0; i < n; i++) {
                        const char *name = zip_get_name(za, (zip_uint64_t) i, 0);

                        if (name && startswith(name, dir) && !endswith(name, "/") &&
                            strv_extend(&found, name) < 0)
                                return -ENOMEM;
                }
                if (found)
                        qsort(found, strv_length(found), sizeof(char *), cmp_str);
                for (size_t i = 0; found && found[i]; i++)
                        if (strv_extend(&files, found[i]) < 0)
                                return -ENOMEM;
        }
        *ret = TAKE_PTR(files);
        return 0;
}

int jar_read_changesets(const char *path, char ***ret_ids, char **ret_error) {
        _cleanup_(zip_discardp) zip_t *za = NULL;
        _cleanup_strv_free_ char **files = NULL, **ids = NULL;
        _cleanup_free_ char *master = NULL;
        zip_int64_t idx;
        int r;

        assert(path);
        assert(ret_ids);

        r = open_zip(path, &za);
        if (r < 0)
                return set_error_message(ret_error, r, "cannot open the JAR as a ZIP archive");
        idx = zip_name_locate(za, JAR_CHANGELOG_MASTER, 0);
        if (idx < 0)
                return set_error_message(
                        ret_error, -ENOENT, "the JAR has no %s: no Liquibase changelog", JAR_CHANGELOG_MASTER);
        r = read_entry(za, (zip_uint64_t) idx, JAR_CHANGELOG_MAX, &master, NULL);
        if (r < 0)
                return set_error_message(ret_error, r, "cannot read %s from the JAR", JAR_CHANGELOG_MASTER);
        r = changelog_files(za, master, &files);
        if (r < 0)
                return set_error_message(ret_error, r, "cannot follow %s's includes", JAR_CHANGELOG_MASTER);
        for (size_t i = 0; files && files[i]; i++) {
                _cleanup_free_ char *yaml = NULL;

                if (!endswith(files[i], ".yaml") && !endswith(files[i], ".yml"))
                        return set_error_message(
                                ret_error,
                                -EOPNOTSUPP,
                                "changelog %s is not YAML: cannot read its change sets",
                                files[i]);
                idx = zip_name_locate(za, files[i], 0);
                if (idx < 0)
                        return set_error_message(
                                ret_error, -ENOENT, "changelog %s is not in the JAR", files[i]);
                r = read_entry(za, (zip_uint64_t) idx, JAR_CHANGELOG_MAX, &yaml, NULL);
                if (r >= 0)
                        r = jar_changelog_parse_ids(yaml, &ids);
                if (r < 0)
                        return set_error_message(ret_error, r, "cannot read the change sets of %s", files[i]);
        }
        if (!ids)
                return set_error_message(ret_error, -ENOENT, "the JAR's changelog names no change set");
        *ret_ids = TAKE_PTR(ids);
        return 0;
}
