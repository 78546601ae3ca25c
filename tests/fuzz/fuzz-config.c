/* SPDX-License-Identifier: MIT */
/* libFuzzer target for config_load(): the input is written to a memfd and loaded by path. It must
 * either load or fail with a message, and never crash, leak or read out of bounds. The input is
 * also fed to parse_duration(), whose result must survive format_duration(). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "config.h"
#include "macro.h"
#include "strv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_duration(const uint8_t *data, size_t size) {
        char s[128], buf[64];
        uint64_t u, back;

        if (size >= sizeof(s))
                return;
        memcpy(s, data, size);
        s[size] = '\0';
        if (parse_duration(s, &u) < 0)
                return;
        format_duration(u, buf, sizeof(buf));
        if (parse_duration(buf, &back) < 0 || back != u)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *error = NULL;
        char path[64];
        Config *c = NULL;
        int r;

        fuzz_duration(data, size);

        fd = memfd_create("fuzz-config", MFD_CLOEXEC);
        if (fd < 0)
                abort();
        for (size_t done = 0; done < size;) {
                ssize_t n = write(fd, data + done, size - done);
                if (n <= 0)
                        abort();
                done += (size_t) n;
        }
        (void) snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

        r = config_load(path, &c, &error);
        if (r < 0) {
                /* Every refusal explains itself, except running out of memory. */
                if (c || (r != -ENOMEM && !error))
                        abort();
                return 0;
        }
        if (!c || error)
                abort();
        /* The invariants the daemon relies on. */
        if (!c->releases.feed || !c->policy.skip || c->policy.n_skip != strv_length(c->policy.skip) ||
            c->backup.keep < 1 || c->backup.keep > 1000 || !c->state_dir || c->state_dir[0] != '/' ||
            !c->backup.dir || c->backup.dir[0] != '/' || !c->admin_group || !c->service.unit)
                abort();
        for (size_t i = 0; i < c->policy.n_skip; i++)
                if (!mb_version_is_valid(c->policy.skip[i]))
                        abort();
        config_free(c);
        return 0;
}
