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

static void test_free_null(void **state) {
        assert_null(jar_info_free(NULL));
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
                cmocka_unit_test(test_free_null),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
