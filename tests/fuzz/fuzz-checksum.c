/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the checksum file parser: metabase.sha256 as published beside a release,
 * "HEX", "HEX  metabase.jar" or "HEX *metabase.jar", or anything a hostile mirror serves. What
 * it accepts is 64 lower-case hex digits, and the input names that hash. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "feed.h"
#include "hash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char hex[65];

        memset(hex, 'x', sizeof(hex));
        if (feed_checksum_parse((const char *) data, size, hex) < 0)
                return 0;
        if (hex[64] != '\0' || !sha256_hex_is_valid(hex))
                abort();
        for (size_t i = 0; i < 64; i++)
                if (!isxdigit((unsigned char) hex[i]) || isupper((unsigned char) hex[i]))
                        abort();
        /* the digits are in the input, in either case */
        if (size < 64)
                abort();
        bool found = false;
        for (size_t i = 0; !found && i + 64 <= size; i++)
                found = strncasecmp((const char *) data + i, hex, 64) == 0;
        if (!found)
                abort();
        return 0;
}
