/* SPDX-License-Identifier: MIT */
/* libFuzzer target for jar_inspect_fd(): the input is a file (a memfd). It must either be accepted
 * as a Metabase JAR or refused with a message, without crashing or leaking. Seeds: gen-jar-seed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "jar.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *error = NULL;
        JarInfo *info = NULL;
        int r;

        fd = memfd_create("fuzz-jar", MFD_CLOEXEC);
        if (fd < 0)
                abort();
        for (size_t done = 0; done < size;) {
                ssize_t n = write(fd, data + done, size - done);
                if (n <= 0)
                        abort();
                done += (size_t) n;
        }

        r = jar_inspect_fd(fd, JAR_INSPECT_HASH, &info, &error);
        if (r < 0) {
                if (info || (r != -ENOMEM && !error))
                        abort();
                return 0;
        }
        if (!info || error || !info->tag || !mb_version_is_valid(info->tag) || !info->main_class ||
            info->class_major < 45 || info->java_needed != info->class_major - 44 || !info->has_sha256 ||
            !sha256_hex_is_valid(info->sha256) || info->size != size)
                abort();
        jar_info_free(info);
        return 0;
}
