/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "jar-fixture.h"
#include "jar.h"
#include "macro.h"
#include "strv.h"

static char *tmpdir;

static int setup(void **state) {
        char t[] = "/tmp/test-jar-XXXXXX";

        if (!mkdtemp(t))
                return -1;
        tmpdir = strdup(t);
        return tmpdir ? 0 : -1;
}

static int teardown(void **state) {
        char *cmd;

        cmd = strdup_printf("rm -rf -- '%s'", tmpdir);
        if (!cmd || system(cmd) != 0)
                return -1;
        free(cmd);
        free(tmpdir);
        return 0;
}

static char *tmp_path(const char *name) {
        char *p = strdup_printf("%s/%s", tmpdir, name);

        assert_non_null(p);
        return p;
}

static void write_file(const char *path, const void *data, size_t n) {
        FILE *f = fopen(path, "we");

        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, n, f), n);
        assert_int_equal(fclose(f), 0);
}

/* Inspects path and checks that it fails with r and a message containing 'needle'. */
static void assert_inspect_fails(const char *path, int r, const char *needle) {
        JarInfo *info = NULL;
        char *error = NULL;

        assert_int_equal(jar_inspect(path, JAR_INSPECT_HASH, &info, &error), r);
        assert_null(info);
        assert_non_null(error);
        if (!strstr(error, needle))
                fail_msg("error '%s' does not contain '%s'", error, needle);
        free(error);

        /* Without a place for the message it fails the same way. */
        assert_int_equal(jar_inspect(path, 0, &info, NULL), r);
        assert_null(info);
}

/* The SHA-256 of a file as coreutils computes it: independent of hash.c and OpenSSL. */
static void sha256sum(const char *path, char hex[static SHA256_HEX_SIZE]) {
        char *cmd, line[256];
        FILE *f;

        cmd = strdup_printf("sha256sum -- '%s'", path);
        assert_non_null(cmd);
        f = popen(cmd, "re");
        assert_non_null(f);
        assert_non_null(fgets(line, sizeof(line), f));
        assert_int_equal(pclose(f), 0);
        free(cmd);
        assert_true(strlen(line) > 64 && line[64] == ' ');
        memcpy(hex, line, 64);
        hex[64] = '\0';
}

static void test_good_java21(void **state) {
        char *path = tmp_path("good21.jar"), expected[SHA256_HEX_SIZE];
        JarInfo *info = NULL;
        char *error = NULL;
        struct stat st;

        assert_int_equal(jar_fixture_write_metabase(path, "v0.56.3", "metabase.core", 0x41, false), 0);
        assert_int_equal(stat(path, &st), 0);

        assert_int_equal(jar_inspect(path, 0, &info, &error), 0);
        assert_null(error);
        assert_non_null(info);
        assert_string_equal(info->tag, "v0.56.3");
        assert_int_equal(info->version.edition, 0);
        assert_int_equal(info->version.major, 56);
        assert_int_equal(info->version.minor, 3);
        assert_false(info->version.has_hotfix);
        assert_string_equal(info->hash, "0123abc");
        assert_string_equal(info->branch, "release-x.56.x");
        assert_string_equal(info->date, "2025-08-01");
        assert_string_equal(info->main_class, "metabase.core");
        assert_int_equal(info->class_major, 65);
        assert_int_equal(info->java_needed, 21);
        assert_int_equal(info->size, (uint64_t) st.st_size);
        assert_false(info->has_sha256);
        info = jar_info_free(info);
        assert_null(info);

        /* With the hash: the same as sha256sum says. */
        assert_int_equal(jar_inspect(path, JAR_INSPECT_HASH, &info, &error), 0);
        assert_true(info->has_sha256);
        sha256sum(path, expected);
        assert_string_equal(info->sha256, expected);
        assert_true(sha256_hex_is_valid(info->sha256));
        jar_info_free(info);
        free(path);
}

static void test_good_java11_stored_enterprise(void **state) {
        char *path = tmp_path("good11.jar");
        JarInfo *info = NULL;

        assert_int_equal(
                jar_fixture_write_metabase(path, "v1.49.10.2", "metabase.core.bootstrap", 0x37, true), 0);
        assert_int_equal(jar_inspect(path, 0, &info, NULL), 0);
        assert_string_equal(info->tag, "v1.49.10.2");
        assert_int_equal(info->version.edition, 1);
        assert_int_equal(info->version.major, 49);
        assert_int_equal(info->version.minor, 10);
        assert_int_equal(info->version.hotfix, 2);
        assert_true(info->version.has_hotfix);
        assert_string_equal(info->main_class, "metabase.core.bootstrap");
        assert_int_equal(info->class_major, 55);
        assert_int_equal(info->java_needed, 11);
        jar_info_free(info);
        free(path);
}

static void test_fd(void **state) {
        char *path = tmp_path("fd.jar"), hex[SHA256_HEX_SIZE];
        JarInfo *info = NULL;
        int fd;

        assert_int_equal(jar_fixture_write_metabase(path, "v0.57.1", "metabase.core", 0x41, false), 0);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        /* Wherever the offset is, the whole file is inspected and hashed. */
        assert_int_equal(lseek(fd, 17, SEEK_SET), 17);
        assert_int_equal(jar_inspect_fd(fd, JAR_INSPECT_HASH, &info, NULL), 0);
        assert_string_equal(info->tag, "v0.57.1");
        sha256sum(path, hex);
        assert_string_equal(info->sha256, hex);
        /* The caller's descriptor stays open and usable. */
        assert_true(fcntl(fd, F_GETFD) >= 0);
        assert_int_equal(sha256_fd(fd, hex, NULL), 0);
        assert_string_equal(info->sha256, hex);
        assert_int_equal(close(fd), 0);
        jar_info_free(info);
        free(path);
}

static void test_manifest_forms(void **state) {
        static const struct {
                const char *manifest;
                const char *main_class;
        } cases[] = {
                /* LF only, value without a space after the colon */
                {"Manifest-Version: 1.0\nMain-Class:metabase.core\n\n", "metabase.core"},
                /* lower case attribute name, trailing blanks, CR only */
                {"Manifest-Version: 1.0\rmain-class: metabase.core  \r", "metabase.core"},
                /* no final line end */
                {"Manifest-Version: 1.0\r\nMain-Class: metabase.core", "metabase.core"},
                /* wrapped at 72 bytes: continuation lines start with one space */
                {"Manifest-Version: 1.0\r\n"
                 "Main-Class: metabase.a.very.long.namespace.name.that.goes.past.seventy.t\r\n"
                 " wo.columns.and.then.some.mo\r\n"
                 " re.core\r\n"
                 "Created-By: test\r\n\r\n",
                 "metabase.a.very.long.namespace.name.that.goes.past.seventy.two.columns.and.then.some.more.core"},
                /* a continuation of another attribute does not confuse us */
                {"Manifest-Version: 1.0\nClass-Path: a.jar\n b.jar\nMain-Class: metabase.core\n",
                 "metabase.core"},
                /* slashes are accepted by java -jar */
                {"Main-Class: metabase/core\n", "metabase/core"},
        };
        static const char properties[] = "tag=v0.56.3\n";
        static const unsigned char header[] = {0xCA, 0xFE, 0xBA, 0xBE, 0x00, 0x03, 0x00, 0x41};
        char *path = tmp_path("manifest.jar");

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *class_name = strdup_printf("%s.class", cases[i].main_class);
                JarInfo *info = NULL;
                char *error = NULL;

                for (char *c = class_name; *c; c++)
                        if (*c == '.' && !streq(c, ".class"))
                                *c = '/';
                const JarFixtureEntry e[] = {
                        {"version.properties", properties, strlen(properties), false},
                        {"META-INF/MANIFEST.MF", cases[i].manifest, strlen(cases[i].manifest), false},
                        {class_name, header, sizeof(header), false},
                };
                assert_int_equal(jar_fixture_write(path, e, ELEMENTSOF(e)), 0);
                if (jar_inspect(path, 0, &info, &error) < 0)
                        fail_msg("case %zu: %s", i, error);
                assert_string_equal(info->main_class, cases[i].main_class);
                assert_int_equal(info->java_needed, 21);
                jar_info_free(info);
                free(class_name);
        }
        free(path);
}

static void test_properties_forms(void **state) {
        static const struct {
                const char *properties;
                const char *tag, *hash, *branch, *date;
        } cases[] = {
                {"tag=v0.56.3", "v0.56.3", NULL, NULL, NULL},
                {"#comment\n! also a comment\n  tag = v0.56.3  \r\nhash:abc\r\nbranch master\n",
                 "v0.56.3",
                 "abc",
                 "master",
                 NULL},
                /* the last occurrence wins, as in Java */
                {"tag=v0.1.1\ntag=v0.56.4\ndate=\n", "v0.56.4", NULL, NULL, ""},
                /* control characters in informational values are replaced */
                {"tag=v0.56.3\nbranch=a\033[31mb\n", "v0.56.3", NULL, "a?[31mb", NULL},
                /* other keys are ignored */
                {"version=1\ntag=v0.56.3\ntagx=no\n", "v0.56.3", NULL, NULL, NULL},
        };
        static const char manifest[] = "Main-Class: metabase.core\n";
        static const unsigned char header[] = {0xCA, 0xFE, 0xBA, 0xBE, 0x00, 0x00, 0x00, 0x41};
        char *path = tmp_path("properties.jar");

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                JarInfo *info = NULL;
                char *error = NULL;
                const JarFixtureEntry e[] = {
                        {"version.properties", cases[i].properties, strlen(cases[i].properties), true},
                        {"META-INF/MANIFEST.MF", manifest, strlen(manifest), false},
                        {"metabase/core.class", header, sizeof(header), false},
                };

                assert_int_equal(jar_fixture_write(path, e, ELEMENTSOF(e)), 0);
                if (jar_inspect(path, 0, &info, &error) < 0)
                        fail_msg("case %zu: %s", i, error);
                assert_string_equal(info->tag, cases[i].tag);
#define CHECK(f)                                          \
        if (cases[i].f)                                   \
                assert_string_equal(info->f, cases[i].f); \
        else                                              \
                assert_null(info->f);
                CHECK(hash);
                CHECK(branch);
                CHECK(date);
#undef CHECK
                jar_info_free(info);
        }
        free(path);
}

static void test_not_metabase(void **state) {
        char *path = tmp_path("bad.jar");
        static const unsigned char header[] = {0xCA, 0xFE, 0xBA, 0xBE, 0x00, 0x00, 0x00, 0x41};
        static const char manifest[] = "Main-Class: metabase.core\n";

        /* No version.properties */
        assert_int_equal(jar_fixture_write_metabase(path, NULL, "metabase.core", 0x41, false), 0);
        assert_inspect_fails(path, -EBADMSG, "no version.properties: this is not a Metabase JAR");

        /* Bad tags */
        assert_int_equal(jar_fixture_write_metabase(path, "v0.56", "metabase.core", 0x41, false), 0);
        assert_inspect_fails(path, -EBADMSG, "version.properties has no valid tag (got 'v0.56')");
        assert_int_equal(jar_fixture_write_metabase(path, "x", "metabase.core", 0x41, false), 0);
        assert_inspect_fails(path, -EBADMSG, "version.properties has no valid tag (got 'x')");
        assert_int_equal(jar_fixture_write_metabase(path, "v0.56.3/../../x", "metabase.core", 0x41, false), 0);
        assert_inspect_fails(path, -EBADMSG, "has no valid tag (got 'v0.56.3/../../x')");
        assert_int_equal(jar_fixture_write_metabase(path, "", "metabase.core", 0x41, false), 0);
        assert_inspect_fails(path, -EBADMSG, "has no valid tag (got '')");

        /* A properties file without a tag */
        {
                static const char p[] = "hash=abc\n";
                const JarFixtureEntry e[] = {
                        {"version.properties", p, strlen(p), false},
                        {"META-INF/MANIFEST.MF", manifest, strlen(manifest), false},
                        {"metabase/core.class", header, sizeof(header), false},
                };
                assert_int_equal(jar_fixture_write(path, e, ELEMENTSOF(e)), 0);
                assert_inspect_fails(path, -EBADMSG, "version.properties has no tag");
        }

        /* Names are case-sensitive, and a directory entry is not the file. */
        {
                static const char p[] = "tag=v0.56.3\n";
                const JarFixtureEntry e[] = {
                        {"VERSION.PROPERTIES", p, strlen(p), false},
                        {"version.properties/", NULL, 0, false},
                        {"META-INF/MANIFEST.MF", manifest, strlen(manifest), false},
                        {"metabase/core.class", header, sizeof(header), false},
                };
                assert_int_equal(jar_fixture_write(path, e, ELEMENTSOF(e)), 0);
                assert_inspect_fails(path, -EBADMSG, "no version.properties");
        }

        /* A huge version.properties (a small zip bomb): refused without inflating it all. */
        {
                size_t n = 16 * 1024 * 1024;
                char *p = malloc(n);

                assert_non_null(p);
                memcpy(p, "tag=v0.56.3\n", 12);
                memset(p + 12, '#', n - 12);
                const JarFixtureEntry e[] = {
                        {"version.properties", p, n, false},
                        {"META-INF/MANIFEST.MF", manifest, strlen(manifest), false},
                        {"metabase/core.class", header, sizeof(header), false},
                };
                assert_int_equal(jar_fixture_write(path, e, ELEMENTSOF(e)), 0);
                free(p);
                assert_inspect_fails(path, -EBADMSG, "version.properties is larger than 65536 bytes");
        }

        free(path);
}

static void test_not_runnable(void **state) {
        char *path = tmp_path("norun.jar");
        static const char props[] = "tag=v0.56.3\n";
        static const char manifest[] = "Main-Class: metabase.core\n";

        /* No Main-Class */
        assert_int_equal(jar_fixture_write_metabase(path, "v0.56.3", NULL, 0x41, false), 0);
        assert_inspect_fails(path, -EBADMSG, "META-INF/MANIFEST.MF has no Main-Class");

        /* Main-Class only after the main section, or empty */
        {
                static const char m1[] = "Manifest-Version: 1.0\n\nName: x\nMain-Class: metabase.core\n";
                static const char m2[] = "Manifest-Version: 1.0\nMain-Class:  \n";
                const char *ms[] = {m1, m2};

                for (size_t i = 0; i < ELEMENTSOF(ms); i++) {
                        const JarFixtureEntry e[] = {
                                {"version.properties", props, strlen(props), false},
                                {"META-INF/MANIFEST.MF", ms[i], strlen(ms[i]), false},
                        };
                        assert_int_equal(jar_fixture_write(path, e, ELEMENTSOF(e)), 0);
                        assert_inspect_fails(path, -EBADMSG, "has no Main-Class");
                }
        }

        /* No manifest at all */
        {
                const JarFixtureEntry e[] = {
                        {"version.properties", props, strlen(props), false},
                };
                assert_int_equal(jar_fixture_write(path, e, ELEMENTSOF(e)), 0);
                assert_inspect_fails(path, -EBADMSG, "no META-INF/MANIFEST.MF");
        }

        /* Main class missing */
        {
                const JarFixtureEntry e[] = {
                        {"version.properties", props, strlen(props), false},
                        {"META-INF/MANIFEST.MF", manifest, strlen(manifest), false},
                        {"metabase/other.class", "\xCA\xFE\xBA\xBE\0\0\0\x41", 8, false},
                };
                assert_int_equal(jar_fixture_write(path, e, ELEMENTSOF(e)), 0);
                assert_inspect_fails(path, -EBADMSG, "main class metabase.core is not in the JAR");
        }

        /* Invalid class names never become entry names */
        {
                static const char *const bad[] = {
                        "Main-Class: ../../etc/passwd\n",
                        "Main-Class: metabase..core\n",
                        "Main-Class: .metabase\n",
                        "Main-Class: metabase.core.\n",
                        "Main-Class: metabase core\n",
                        "Main-Class: 9lives\n",
                };
                for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                        const JarFixtureEntry e[] = {
                                {"version.properties", props, strlen(props), false},
                                {"META-INF/MANIFEST.MF", bad[i], strlen(bad[i]), false},
                        };
                        assert_int_equal(jar_fixture_write(path, e, ELEMENTSOF(e)), 0);
                        assert_inspect_fails(path, -EBADMSG, "names an invalid Main-Class");
                }
        }

        /* Main class that is not a class file, truncated, or with a nonsense version */
        {
                static const struct {
                        const char *data;
                        size_t size;
                        const char *error;
                } classes[] = {
                        {"\xCA\xFE\xBA\xBF\0\0\0\x41", 8, "not a Java class file"},
                        {"PK\3\4\0\0\0\x41", 8, "not a Java class file"},
                        {"\xCA\xFE\xBA\xBE", 4, "main class metabase.core is truncated (4 bytes)"},
                        {"", 0, "is truncated (0 bytes)"},
                        {"\xCA\xFE\xBA\xBE\0\0\0\x2C", 8, "invalid class-file version 44"},
                };
                for (size_t i = 0; i < ELEMENTSOF(classes); i++) {
                        const JarFixtureEntry e[] = {
                                {"version.properties", props, strlen(props), false},
                                {"META-INF/MANIFEST.MF", manifest, strlen(manifest), false},
                                {"metabase/core.class", classes[i].data, classes[i].size, false},
                        };
                        assert_int_equal(jar_fixture_write(path, e, ELEMENTSOF(e)), 0);
                        assert_inspect_fails(path, -EBADMSG, classes[i].error);
                }
        }

        free(path);
}

static void test_not_zip(void **state) {
        char *path = tmp_path("not-a-zip.jar"), *good = tmp_path("cut.jar");
        static const char text[] = "<html>404 Not Found</html>\n";
        FILE *f;
        char *data;
        long n;

        write_file(path, text, strlen(text));
        assert_inspect_fails(path, -EBADMSG, "not a ZIP archive: this is not a JAR file");

        write_file(path, "", 0);
        assert_inspect_fails(path, -EBADMSG, "the file is empty");

        /* A download cut short: the central directory at the end is missing. */
        assert_int_equal(jar_fixture_write_metabase(good, "v0.56.3", "metabase.core", 0x41, false), 0);
        f = fopen(good, "re");
        assert_non_null(f);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        n = ftell(f);
        assert_true(n > 100);
        rewind(f);
        data = malloc((size_t) n);
        assert_non_null(data);
        assert_int_equal(fread(data, 1, (size_t) n, f), (size_t) n);
        assert_int_equal(fclose(f), 0);
        write_file(path, data, (size_t) n / 2);
        assert_inspect_fails(path, -EBADMSG, "not a ZIP archive");

        /* ... or damaged in the middle: libzip reads only the central directory when it opens the
         * archive, so this is found when version.properties is read (zlib or CRC error). */
        {
                char *name = memmem(data, (size_t) n, "version.properties", 18);

                assert_non_null(name);
                /* past the name and the (empty) extra field: the compressed data */
                name[18 + 2] ^= 0x55;
                name[18 + 3] ^= 0x55;
                write_file(path, data, (size_t) n);
                assert_inspect_fails(path, -EBADMSG, "version.properties is damaged");
        }
        free(data);

        free(path);
        free(good);
}

static void test_not_regular(void **state) {
        char *dir = tmp_path("dir.jar"), *fifo = tmp_path("fifo.jar"), *missing = tmp_path("missing.jar"),
             *sock = tmp_path("socket.jar");

        assert_int_equal(mkdir(dir, 0755), 0);
        assert_inspect_fails(dir, -EISDIR, "this is a directory, not a JAR file");

        /* Must not hang waiting for a writer. */
        assert_int_equal(mkfifo(fifo, 0600), 0);
        assert_inspect_fails(fifo, -EBADFD, "this is a FIFO, not a JAR file");

        assert_inspect_fails("/dev/null", -EBADFD, "this is a character device, not a JAR file");

        /* A socket can't even be opened: said as what it is. */
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int sfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(sfd >= 0);
        assert_true(strlen(sock) < sizeof(sa.sun_path));
        strcpy(sa.sun_path, sock);
        assert_int_equal(bind(sfd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_inspect_fails(sock, -EBADFD, "this is a socket, not a JAR file");
        close(sfd);

        assert_inspect_fails(missing, -ENOENT, "cannot open the file: No such file or directory");

        free(dir);
        free(fifo);
        free(missing);
        free(sock);
}

static void read_whole(const char *path, char **ret, size_t *ret_size) {
        FILE *f = fopen(path, "re");
        long n;

        assert_non_null(f);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        n = ftell(f);
        assert_true(n > 0);
        rewind(f);
        *ret = malloc((size_t) n);
        assert_non_null(*ret);
        assert_int_equal(fread(*ret, 1, (size_t) n, f), (size_t) n);
        assert_int_equal(fclose(f), 0);
        *ret_size = (size_t) n;
}

/* Real Metabase: the Main-Class is a Clojure gen-class stub at 49, the rest at the Java the
 * release needs (55 = Java 11 for v0.44-v0.52). The stub alone would say "Java 5". */
static void test_gen_class_stub_java11(void **state) {
        static const JarFixtureClass classes[] = {
                {"clojure/core__init.class", 52},
                {"metabase/core/core__init.class", 52},
                {"com/example/Driver.class", 55},
                {"org/example/Old.class", 50},
        };
        char *path = tmp_path("stub11.jar");
        JarInfo *info = NULL;
        char *error = NULL;

        for (int store = 0; store <= 1; store++) {
                assert_int_equal(
                        jar_fixture_write_release(
                                path, "v0.52.9", "metabase.core.bootstrap", 49, classes, ELEMENTSOF(classes), store),
                        0);
                assert_int_equal(jar_inspect(path, 0, &info, &error), 0);
                assert_null(error);
                assert_string_equal(info->main_class, "metabase.core.bootstrap");
                assert_int_equal(info->main_class_major, 49);
                assert_int_equal(info->class_major, 55);
                assert_int_equal(info->java_needed, 11);
                assert_string_equal(info->newest_class, "com/example/Driver.class");
                assert_int_equal(info->classes, 5);
                assert_true(info->scanned);
                assert_int_equal(jar_java_for_version(&info->version), 11);
                info = jar_info_free(info);

                /* A staged release's recorded figure is used instead: no scan. */
                assert_int_equal(jar_inspect(path, JAR_INSPECT_NO_SCAN, &info, &error), 0);
                assert_false(info->scanned);
                assert_int_equal(info->class_major, 49);
                assert_int_equal(info->classes, 0);
                info = jar_info_free(info);
        }
        free(path);
}

/* One class at 65 is enough: the JVM refuses it on Java 17 when it is loaded. */
static void test_one_class_java21(void **state) {
        static const JarFixtureClass classes[] = {
                {"clojure/core__init.class", 52},
                {"metabase/util/Native.class", 65},
                {"metabase/server/Other.class", 55},
        };
        char *path = tmp_path("one21.jar");
        JarInfo *info = NULL;

        assert_int_equal(
                jar_fixture_write_release(
                        path, "v0.53.1", "metabase.core.bootstrap", 49, classes, ELEMENTSOF(classes), false),
                0);
        assert_int_equal(jar_inspect(path, 0, &info, NULL), 0);
        assert_int_equal(info->class_major, 65);
        assert_int_equal(info->java_needed, 21);
        assert_string_equal(info->newest_class, "metabase/util/Native.class");
        jar_info_free(info);
        free(path);
}

/* The copies of a multi-release JAR for newer Javas are only loaded by those Javas; a module
 * descriptor is never loaded from the class path; what is no class file says nothing. */
static void test_multi_release_ignored(void **state) {
        static const unsigned char not_a_class[] = "<?xml version=\"1.0\"?>";
        static const unsigned char short_class[] = {0xCA, 0xFE};
        static const JarFixtureClass classes[] = {
                {"com/example/Lib.class", 55},
                {"META-INF/versions/22/com/example/Lib.class", 66},
                {"META-INF/versions/21/com/example/Fast.class", 65},
                {"module-info.class", 67},
                {"com/example/module-info.class", 67},
        };
        char *path = tmp_path("mr.jar"), *odd = tmp_path("odd.jar");
        JarInfo *info = NULL;

        assert_int_equal(
                jar_fixture_write_release(
                        path, "v0.50.3", "metabase.core", 49, classes, ELEMENTSOF(classes), false),
                0);
        assert_int_equal(jar_inspect(path, 0, &info, NULL), 0);
        assert_int_equal(info->class_major, 55);
        assert_int_equal(info->java_needed, 11);
        assert_int_equal(info->classes, 2);
        info = jar_info_free(info);

        {
                unsigned char cls[16] = {0xCA, 0xFE, 0xBA, 0xBE, 0, 0, 0, 52};
                const JarFixtureEntry entries[] = {
                        {"version.properties", "tag=v0.43.1\n", 12, false},
                        {"META-INF/MANIFEST.MF", "Main-Class: metabase.core\n\n", 27, false},
                        {"metabase/core.class", cls, sizeof(cls), false},
                        {"data/example.class", not_a_class, sizeof(not_a_class), false},
                        {"data/short.class", short_class, sizeof(short_class), true},
                        {"data/empty.class", "", 0, false},
                        {".class", cls, sizeof(cls), false},
                };
                assert_int_equal(jar_fixture_write(odd, entries, ELEMENTSOF(entries)), 0);
                assert_int_equal(jar_inspect(odd, 0, &info, NULL), 0);
                assert_int_equal(info->class_major, 52);
                assert_int_equal(info->java_needed, 8);
                assert_int_equal(info->classes, 1);
                assert_int_equal(jar_java_for_version(&info->version), 8);
                jar_info_free(info);
        }
        free(path);
        free(odd);
}

static void test_java_for_version(void **state) {
        static const struct {
                const char *v;
                unsigned java;
        } table[] = {
                {"v0.43.7", 8},
                {"v0.44.0", 11},
                {"v1.47.2", 11},
                {"v0.52.9.4", 11},
                {"v0.53.0", 21},
                {"v1.57.1.1", 21},
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                MbVersion v;
                assert_int_equal(mb_version_parse(table[i].v, &v), 0);
                assert_int_equal(jar_java_for_version(&v), table[i].java);
        }
}

static void write_le16(unsigned char *p, unsigned v) {
        p[0] = (unsigned char) v;
        p[1] = (unsigned char) (v >> 8);
}

static void write_le32(unsigned char *p, uint32_t v) {
        write_le16(p, v & 0xFFFF);
        write_le16(p + 2, v >> 16);
}

static void write_le64(unsigned char *p, uint64_t v) {
        write_le32(p, (uint32_t) v);
        write_le32(p + 4, (uint32_t) (v >> 32));
}

/* Broken and hostile archives fail with a message, fast. */
static void test_hostile(void **state) {
        static const JarFixtureClass classes[] = {
                {"metabase/util/Native.class", 55},
        };
        char *path = tmp_path("hostile.jar"), *good = tmp_path("hostile-src.jar"), *data, *p;
        size_t n;

        /* A class whose deflate data is broken (an invalid block type). */
        assert_int_equal(
                jar_fixture_write_release(
                        good, "v0.50.1", "metabase.core", 49, classes, ELEMENTSOF(classes), false),
                0);
        read_whole(good, &data, &n);
        p = memmem(data, n, "metabase/util/Native.class", 26);
        assert_non_null(p);
        assert_int_equal(memcmp(p - 30, "PK\3\4", 4), 0);
        p[26 + ((unsigned char) p[-2] | (unsigned char) p[-1] << 8)] = 0x07;
        write_file(path, data, n);
        assert_inspect_fails(path, -EBADMSG, "metabase/util/Native.class is damaged");
        free(data);

        /* A central directory that says it is 2 GB. */
        read_whole(good, &data, &n);
        assert_int_equal(memcmp(data + n - 22, "PK\5\6", 4), 0);
        write_le32((unsigned char *) data + n - 22 + 12, 0x7FFFFFFF);
        write_file(path, data, n);
        assert_inspect_fails(path, -EBADMSG, "central directory is 2147483647 bytes");
        free(data);

        /* A ZIP64 end record that claims a billion entries. */
        {
                unsigned char z[56 + 20 + 22] = {};
                unsigned char *e64 = z, *loc = z + 56, *eocd = z + 76;

                write_le32(e64, 0x06064b50);
                write_le64(e64 + 4, 44);
                write_le64(e64 + 24, 1000000000);
                write_le64(e64 + 32, 1000000000);
                write_le64(e64 + 40, 46);
                write_le32(loc, 0x07064b50);
                write_le64(loc + 8, 0);
                write_le32(loc + 16, 1);
                write_le32(eocd, 0x06054b50);
                write_le16(eocd + 8, 0xFFFF);
                write_le16(eocd + 10, 0xFFFF);
                write_le32(eocd + 12, 0xFFFFFFFF);
                write_le32(eocd + 16, 0xFFFFFFFF);
                write_file(path, z, sizeof(z));
                assert_inspect_fails(path, -EBADMSG, "says it has 1000000000 entries");
        }

        /* An entry name longer than any class path. */
        {
                char *name = malloc(5001);
                assert_non_null(name);
                memset(name, 'a', 5000);
                memcpy(name + 4994, ".class", 7);
                const JarFixtureEntry entries[] = {
                        {"version.properties", "tag=v0.50.1\n", 12, false},
                        {"META-INF/MANIFEST.MF", "Main-Class: metabase.core\n\n", 27, false},
                        {"metabase/core.class", "\xCA\xFE\xBA\xBE\0\0\0\x31", 8, false},
                        {name, "x", 1, false},
                };
                assert_int_equal(jar_fixture_write(path, entries, ELEMENTSOF(entries)), 0);
                assert_inspect_fails(path, -EBADMSG, "entry name longer than 4096 bytes");
                free(name);
        }

        /* A class-file version no Java has. */
        {
                static const JarFixtureClass bad[] = {{"x/Y.class", 0xFFFF}};
                assert_int_equal(
                        jar_fixture_write_release(path, "v0.50.1", "metabase.core", 49, bad, 1, true), 0);
                assert_inspect_fails(path, -EBADMSG, "x/Y.class has an invalid class-file version 65535");
        }

        free(path);
        free(good);
}

/* Many classes: all are read, each only as far as its header. */
static void test_many_classes(void **state) {
        const size_t n = 20000;
        JarFixtureClass *classes = calloc(n, sizeof(JarFixtureClass));
        char **names = calloc(n, sizeof(char *));
        char *path = tmp_path("many.jar");
        JarInfo *info = NULL;

        assert_non_null(classes);
        assert_non_null(names);
        for (size_t i = 0; i < n; i++) {
                names[i] = strdup_printf("metabase/pkg%zu/Class%zu.class", i / 100, i);
                assert_non_null(names[i]);
                classes[i] = (JarFixtureClass){names[i], i == n - 1 ? 65 : 55};
        }
        assert_int_equal(
                jar_fixture_write_release(path, "v0.53.2", "metabase.core.bootstrap", 49, classes, n, false),
                0);
        assert_int_equal(jar_inspect(path, 0, &info, NULL), 0);
        assert_int_equal(info->classes, n + 1);
        assert_int_equal(info->java_needed, 21);
        jar_info_free(info);
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        free(classes);
        free(path);
}

static void test_java_needed_and_hints(void **state) {
        static const JarFixtureClass stand_in[] = {{"metabase/core.class", 55}};
        char *path = tmp_path("table.jar"), *warning = NULL, *why, *java = NULL, *hint;
        JarInfo *info = NULL;

        /* A v0.56 whose classes are at 55: the scan wins, with a warning. */
        assert_int_equal(
                jar_fixture_write_release(path, "v0.56.3", "metabase.core.bootstrap", 49, stand_in, 1, false),
                0);
        assert_int_equal(jar_inspect(path, 0, &info, NULL), 0);
        assert_int_equal(jar_java_needed(info, &warning), 11);
        assert_non_null(warning);
        assert_non_null(strstr(warning, "need Java 11 (class-file version 55, e.g. metabase/core.class)"));
        assert_non_null(strstr(warning, "v0.56 needs Java 21"));
        free(warning);
        why = jar_java_reason(info, 11);
        assert_string_equal(
                why,
                "its class metabase/core.class is at class-file version 55; the main class "
                "metabase.core.bootstrap is at 49");
        free(why);
        info = jar_info_free(info);

        /* Nothing but the stub: the table says. */
        assert_int_equal(
                jar_fixture_write_release(path, "v0.53.0", "metabase.core.bootstrap", 49, NULL, 0, false), 0);
        assert_int_equal(jar_inspect(path, 0, &info, NULL), 0);
        assert_int_equal(info->java_needed, 5);
        assert_int_equal(jar_java_needed(info, &warning), 21);
        assert_non_null(strstr(warning, "going by Metabase's own table: Java 21"));
        free(warning);
        why = jar_java_reason(info, 21);
        assert_non_null(strstr(why, "Metabase's own table for v0.53"));
        free(why);
        info = jar_info_free(info);

        /* Where they agree, no warning. */
        {
                static const JarFixtureClass c[] = {{"a/B.class", 65}, {"a/C.class", 52}};
                assert_int_equal(
                        jar_fixture_write_release(path, "v1.54.2", "metabase.core.bootstrap", 49, c, 2, true),
                        0);
                assert_int_equal(jar_inspect(path, 0, &info, NULL), 0);
                assert_int_equal(jar_java_needed(info, &warning), 21);
                assert_null(warning);
                info = jar_info_free(info);
        }

        /* Debian 12 has no openjdk-21: Temurin from Adoptium's repository. */
        hint = java_install_hint(21, "bookworm", "amd64", &java);
        assert_non_null(strstr(hint, "Debian bookworm has no openjdk-21 package"));
        assert_non_null(strstr(hint, "https://packages.adoptium.net/artifactory/deb bookworm main"));
        assert_non_null(strstr(hint, "apt install temurin-21-jre"));
        assert_string_equal(java, "/usr/lib/jvm/temurin-21-jre-amd64/bin/java");
        free(hint);
        free(java);
        hint = java_install_hint(11, "bookworm", "arm64", &java);
        assert_non_null(strstr(hint, "apt install openjdk-17-jre-headless"));
        assert_string_equal(java, "/usr/lib/jvm/java-17-openjdk-arm64/bin/java");
        free(hint);
        free(java);
        hint = java_install_hint(21, "trixie", "amd64", &java);
        assert_non_null(strstr(hint, "apt install openjdk-21-jre-headless"));
        assert_string_equal(java, "/usr/lib/jvm/java-21-openjdk-amd64/bin/java");
        free(hint);
        free(java);
        hint = java_fix_message(21, "metabase.service", "/opt/metabase/metabase.jar");
        assert_non_null(
                strstr(hint, "--add-opens java.base/java.nio=ALL-UNNAMED -jar /opt/metabase/metabase.jar'"));
        assert_non_null(strstr(hint, "'systemctl edit metabase.service'"));
        free(hint);

        /* --add-opens, both spellings, and only before -jar. */
        assert_true(java_argv_has_add_opens(STRV_MAKE(
                "/usr/bin/java", "--add-opens", "java.base/java.nio=ALL-UNNAMED", "-jar", "/x.jar")));
        assert_true(java_argv_has_add_opens(
                STRV_MAKE("/usr/bin/java", "--add-opens=java.base/java.nio=ALL-UNNAMED", "-jar", "/x.jar")));
        assert_false(java_argv_has_add_opens(STRV_MAKE("/usr/bin/java", "-jar", "/x.jar")));
        assert_false(java_argv_has_add_opens(STRV_MAKE(
                "/usr/bin/java", "-jar", "/x.jar", "--add-opens", "java.base/java.nio=ALL-UNNAMED")));
        assert_false(java_argv_has_add_opens(NULL));
        free(path);
}

static void test_free_null(void **state) {
        assert_null(jar_info_free(NULL));
}

/* Metabase's layout: liquibase.yaml includes all of migrations/ (sorted by name, subdirectories
 * too); every change set's id, in order, quoted or not; comments and nested "id:" keys ignored. */
static void test_changesets(void **state) {
        static const char master[] = "databaseChangeLog:\n  - includeAll:\n      path: \"migrations/\"\n";
        static const char legacy[] = "databaseChangeLog:\n"
                                     "  - changeSet:\n"
                                     "      id: '1'\n"
                                     "      author: agilliland\n"
                                     "      changes:\n"
                                     "        - createTable:\n"
                                     "            columns:\n"
                                     "              - column:\n"
                                     "                  id: not-a-change-set\n";
        static const char update[] = "databaseChangeLog:\n"
                                     "  - objectQuotingStrategy: QUOTE_ALL_OBJECTS\n"
                                     "  # id: v00.commented\n"
                                     "  - changeSet:\n"
                                     "      author: edpaget\n"
                                     "      id: v56.2025-06-05T16:48:48   # a comment\n"
                                     "      rollback:\n"
                                     "\n"
                                     "  - changeSet:\n"
                                     "      id: \"v56.2025-06-06T20:11:53\"\n"
                                     "      author: nvoxland\n";
        static const char sub[] = "databaseChangeLog:\n  - changeSet:\n      id: v60.2026-02-09T10:00:00\n";
        const JarFixtureEntry e[] = {
                {"version.properties", "tag=v0.56.2\n", 12, false},
                {"migrations/", NULL, 0, false},
                {"migrations/060/20260209_workspace.yaml", sub, sizeof(sub) - 1, false},
                {"migrations/056_update_migrations.yaml", update, sizeof(update) - 1, false},
                {"migrations/000_legacy_migrations.yaml", legacy, sizeof(legacy) - 1, true},
                {"liquibase.yaml", master, sizeof(master) - 1, false},
        };
        _cleanup_free_ char *path = tmp_path("changesets.jar"), *err = NULL;
        _cleanup_strv_free_ char **ids = NULL;

        (void) state;
        assert_int_equal(jar_fixture_write(path, e, ELEMENTSOF(e)), 0);
        assert_int_equal(jar_read_changesets(path, &ids, &err), 0);
        assert_int_equal(strv_length(ids), 4);
        assert_string_equal(ids[0], "1");
        assert_string_equal(ids[1], "v56.2025-06-05T16:48:48");
        assert_string_equal(ids[2], "v56.2025-06-06T20:11:53");
        assert_string_equal(ids[3], "v60.2026-02-09T10:00:00");
}

/* "include: file:" entries in their order; the failures say what is wrong. */
static void test_changesets_include_and_failures(void **state) {
        static const char master[] = "databaseChangeLog:\n"
                                     "  - include:\n      file: migrations/b.yaml\n"
                                     "  - include:\n      file: migrations/a.yaml\n";
        static const char a[] = "databaseChangeLog:\n  - changeSet:\n      id: v50.001\n";
        static const char b[] = "databaseChangeLog:\n  - changeSet:\n      id: v51.001\n";
        static const char noid[] = "databaseChangeLog:\n  - changeSet:\n      author: x\n";
        static const char xml[] = "databaseChangeLog:\n  - include:\n      file: migrations/a.xml\n";
        _cleanup_free_ char *path = tmp_path("include.jar");
        _cleanup_strv_free_ char **ids = NULL;

        (void) state;
        const JarFixtureEntry ok[] = {
                {"liquibase.yaml", master, sizeof(master) - 1, false},
                {"migrations/a.yaml", a, sizeof(a) - 1, false},
                {"migrations/b.yaml", b, sizeof(b) - 1, false},
        };
        assert_int_equal(jar_fixture_write(path, ok, ELEMENTSOF(ok)), 0);
        assert_int_equal(jar_read_changesets(path, &ids, NULL), 0);
        assert_int_equal(strv_length(ids), 2);
        assert_string_equal(ids[0], "v51.001");
        assert_string_equal(ids[1], "v50.001");

        /* a named file missing, no master, a change set without id, a non-YAML changelog */
        const JarFixtureEntry missing[] = {{"liquibase.yaml", master, sizeof(master) - 1, false}};
        const JarFixtureEntry nomaster[] = {{"migrations/a.yaml", a, sizeof(a) - 1, false}};
        const JarFixtureEntry bad[] = {
                {"liquibase.yaml", master, sizeof(master) - 1, false},
                {"migrations/a.yaml", a, sizeof(a) - 1, false},
                {"migrations/b.yaml", noid, sizeof(noid) - 1, false},
        };
        const JarFixtureEntry notyaml[] = {{"liquibase.yaml", xml, sizeof(xml) - 1, false}};
        struct {
                const JarFixtureEntry *e;
                size_t n;
                int r;
                const char *says;
        } cases[] = {
                {missing, ELEMENTSOF(missing), -ENOENT, "migrations/b.yaml is not in the JAR"},
                {nomaster, ELEMENTSOF(nomaster), -ENOENT, "no liquibase.yaml"},
                {bad, ELEMENTSOF(bad), -EBADMSG, "change sets of migrations/b.yaml"},
                {notyaml, ELEMENTSOF(notyaml), -EOPNOTSUPP, "not YAML"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_strv_free_ char **none = NULL;
                _cleanup_free_ char *err = NULL;

                assert_int_equal(jar_fixture_write(path, cases[i].e, cases[i].n), 0);
                assert_int_equal(jar_read_changesets(path, &none, &err), cases[i].r);
                assert_null(none);
                assert_non_null(err);
                assert_non_null(strstr(err, cases[i].says));
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_good_java21),
                cmocka_unit_test(test_good_java11_stored_enterprise),
                cmocka_unit_test(test_fd),
                cmocka_unit_test(test_manifest_forms),
                cmocka_unit_test(test_properties_forms),
                cmocka_unit_test(test_not_metabase),
                cmocka_unit_test(test_not_runnable),
                cmocka_unit_test(test_not_zip),
                cmocka_unit_test(test_not_regular),
                cmocka_unit_test(test_gen_class_stub_java11),
                cmocka_unit_test(test_one_class_java21),
                cmocka_unit_test(test_multi_release_ignored),
                cmocka_unit_test(test_java_for_version),
                cmocka_unit_test(test_hostile),
                cmocka_unit_test(test_many_classes),
                cmocka_unit_test(test_java_needed_and_hints),
                cmocka_unit_test(test_free_null),
                cmocka_unit_test(test_changesets),
                cmocka_unit_test(test_changesets_include_and_failures),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
