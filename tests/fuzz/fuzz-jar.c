/* SPDX-License-Identifier: MIT */
/* libFuzzer target for jar_inspect_fd(). Two kinds of input:
 *  - anything: the input is the file (a memfd), which exercises the handling of broken archives;
 *  - 'S', 8 bytes of class-file header, version.properties, NUL, META-INF/MANIFEST.MF[, NUL,
 *    classes]: we build a valid JAR from the parts first (with metabase/core.class), so that the
 *    parsers of the two text files get fuzzed too; mutating a real archive mostly breaks its CRCs.
 *    The optional tail is the content of more classes, deflated and stored, and of a
 *    multi-release copy, for the class scan.
 * Either way the JAR must be accepted or refused with a message, without crashing or leaking.
 * Seeds: gen-jar-seed. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "jar-fixture.h"
#include "jar.h"
#include "macro.h"
#include "strv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *structured_dir = NULL;

static void remove_structured_dir(void) {
        char *p = strdup_printf("%s/input.jar", structured_dir);

        if (p)
                (void) unlink(p);
        (void) rmdir(structured_dir);
        free(p);
}

static int open_structured(const uint8_t *data, size_t size) {
        static char *path = NULL;
        const uint8_t *rest = data + 9, *nul;
        size_t n = size - 9;
        int fd;

        if (!path) {
                char t[] = "/tmp/fuzz-jar-XXXXXX";

                /* One file per process, rewritten for every input. */
                if (!mkdtemp(t))
                        abort();
                structured_dir = strdup(t);
                path = strdup_printf("%s/input.jar", t);
                if (!structured_dir || !path)
                        abort();
                (void) atexit(remove_structured_dir);
        }

        nul = memchr(rest, 0, n);
        const uint8_t *manifest = nul ? nul + 1 : rest + n, *end = data + size;
        const uint8_t *nul2 = memchr(manifest, 0, (size_t) (end - manifest));
        const uint8_t *tail = nul2 ? nul2 + 1 : end;
        size_t tail_n = (size_t) (end - tail), half = tail_n / 2;
        const JarFixtureEntry entries[] = {
                {"version.properties", rest, nul ? (size_t) (nul - rest) : n, false},
                {"META-INF/MANIFEST.MF", manifest, (size_t) ((nul2 ?: end) - manifest), false},
                {"metabase/core.class", data + 1, 8, true},
                {"metabase/util/a.class", tail, half, false},
                {"metabase/util/b.class", tail + half, tail_n - half, true},
                {"META-INF/versions/21/metabase/util/a.class", tail, tail_n, false},
        };
        if (jar_fixture_write(path, entries, ELEMENTSOF(entries)) < 0)
                abort();

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                abort();
        return fd;
}

static int open_raw(const uint8_t *data, size_t size) {
        int fd;

        fd = memfd_create("fuzz-jar", MFD_CLOEXEC);
        if (fd < 0)
                abort();
        for (size_t done = 0; done < size;) {
                ssize_t n = write(fd, data + done, size - done);
                if (n <= 0)
                        abort();
                done += (size_t) n;
        }
        return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *error = NULL;
        JarInfo *info = NULL;
        struct stat st;
        int r;

        fd = size >= 9 && data[0] == 'S' ? open_structured(data, size) : open_raw(data, size);
        if (fstat(fd, &st) < 0)
                abort();

        r = jar_inspect_fd(fd, JAR_INSPECT_HASH, &info, &error);
        if (r < 0) {
                if (info || (r != -ENOMEM && !error))
                        abort();
                return 0;
        }
        if (!info || error || !info->tag || !mb_version_is_valid(info->tag) || !info->main_class ||
            info->class_major < 45 || info->java_needed != info->class_major - 44 || !info->has_sha256 ||
            !sha256_hex_is_valid(info->sha256) || info->size != (uint64_t) st.st_size || !info->scanned ||
            info->class_major < info->main_class_major || (info->newest_class && info->classes == 0) ||
            jar_java_needed(info, NULL) < info->java_needed)
                abort();
        jar_info_free(info);
        return 0;
}
