/* SPDX-License-Identifier: MIT */
/* Writes the seed corpus of fuzz-jar into a directory: JARs built with libzip at build time, so no
 * binary is committed. Usage: gen-jar-seed DIR */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jar-fixture.h"

int main(int argc, char *argv[]) {
        static const struct {
                const char *name, *tag, *main_class;
                unsigned major;
                bool store;
        } seeds[] = {
                {"good-java21.jar", "v0.56.3", "metabase.core", 65, false},
                {"good-java11-stored.jar", "v1.49.10.2", "metabase.core.bootstrap", 55, true},
                {"bad-tag.jar", "v0.56", "metabase.core", 65, true},
                {"no-properties.jar", NULL, "metabase.core", 65, true},
                {"no-main-class.jar", "v0.56.3", NULL, 65, true},
        };
        char path[4096];

        if (argc != 2) {
                fprintf(stderr, "Usage: %s DIR\n", argv[0]);
                return 2;
        }
        for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
                int r;

                (void) snprintf(path, sizeof(path), "%s/%s", argv[1], seeds[i].name);
                r = jar_fixture_write_metabase(
                        path, seeds[i].tag, seeds[i].main_class, seeds[i].major, seeds[i].store);
                if (r < 0) {
                        fprintf(stderr, "Failed to write %s: %s\n", path, strerror(-r));
                        return 1;
                }
        }
        /* Releases as Metabase builds them: a gen-class stub at 49, the rest at the Java needed. */
        {
                static const JarFixtureClass java11[] = {
                        {"clojure/core__init.class", 52},
                        {"metabase/util/Native.class", 55},
                };
                static const JarFixtureClass java21[] = {
                        {"metabase/util/Native.class", 65},
                        {"META-INF/versions/22/metabase/util/Native.class", 66},
                        {"module-info.class", 67},
                };
                int r;

                (void) snprintf(path, sizeof(path), "%s/release-stub49.jar", argv[1]);
                r = jar_fixture_write_release(path, "v0.52.9", "metabase.core.bootstrap", 49, java11, 2, false);
                if (r >= 0) {
                        (void) snprintf(path, sizeof(path), "%s/release-java21-mr.jar", argv[1]);
                        r = jar_fixture_write_release(
                                path, "v0.56.3", "metabase.core.bootstrap", 49, java21, 3, true);
                }
                if (r < 0) {
                        fprintf(stderr, "Failed to write %s: %s\n", path, strerror(-r));
                        return 1;
                }
        }
        /* Structured seeds for fuzz-jar (see there): 'S', class header, properties, NUL, manifest. */
        static const struct {
                const char *name;
                const char *data;
                size_t size;
        } structured[] = {
#define SEED(name, s) {name, s, sizeof(s) - 1}
                SEED("structured-good",
                     "S\xCA\xFE\xBA\xBE\x00\x00\x00\x41"
                     "#Metabase version\ndate=2025-08-01\ntag=v0.56.3\nbranch=release-x.56.x\nhash=0123abc\n\0"
                     "Manifest-Version: 1.0\r\nCreated-By: Leiningen\r\nMain-Class: metabase.core\r\n\r\n"),
                SEED("structured-wrapped",
                     "S\xCA\xFE\xBA\xBE\x00\x00\x00\x37"
                     "tag = v1.49.10.2\r\n\0"
                     "Manifest-Version: 1.0\nClass-Path: a.jar\n b.jar\nMain-Class: metabase.\n core\n"),
                SEED("structured-classes",
                     "S\xCA\xFE\xBA\xBE\x00\x00\x00\x31"
                     "tag=v0.53.1\n\0"
                     "Main-Class: metabase.core\n\n\0"
                     "\xCA\xFE\xBA\xBE\x00\x00\x00\x37\x01\x02\xCA\xFE\xBA\xBE\x00\x00\x00\x41\x03\x04"),
#undef SEED
        };
        for (size_t i = 0; i < sizeof(structured) / sizeof(structured[0]); i++) {
                FILE *f;

                (void) snprintf(path, sizeof(path), "%s/%s", argv[1], structured[i].name);
                f = fopen(path, "we");
                if (!f || fwrite(structured[i].data, 1, structured[i].size, f) != structured[i].size ||
                    fclose(f) != 0) {
                        fprintf(stderr, "Failed to write %s\n", path);
                        return 1;
                }
        }
        return 0;
}
