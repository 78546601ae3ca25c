/* SPDX-License-Identifier: MIT */
/* libFuzzer target for what mbupgraded reads of a release and of Metabase's output: the
 * supported-db-versions.edn parser (from a JAR nobody vetted) and the log classifier (the unit's
 * output). Neither may read out of bounds; what the parser accepts is found again the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dbversion.h"
#include "macro.h"
#include "mblog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char *const keys[] = {"postgres", "mysql", "mariadb", "h2"};
        const char *text = (const char *) data;
        MbLogCondition c;

        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                DbVersion a, b;
                int r = db_versions_edn_lookup(text, size, keys[i], &a);

                if (r != 0 && r != -ENOENT && r != -EBADMSG && r != -EFBIG)
                        abort();
                if (r == 0 &&
                    (db_versions_edn_lookup(text, size, keys[i], &b) != 0 || db_version_compare(&a, &b) != 0))
                        abort();
        }

        c = mb_log_classify_text(text, size);
        if (c < MB_LOG_NONE || c >= _MB_LOG_CONDITION_MAX)
                abort();
        if (c != MB_LOG_NONE && (!mb_log_condition_explain(c) || !mb_log_condition_to_string(c)))
                abort();
        return 0;
}
