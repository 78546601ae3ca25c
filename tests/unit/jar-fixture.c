/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "jar-fixture.h"

int jar_fixture_write(const char *path, const JarFixtureEntry *entries, size_t n) {
        zip_t *za;
        int zerr = 0;

        za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
        if (!za)
                return -EIO;

        for (size_t i = 0; i < n; i++) {
                zip_source_t *src;
                zip_int64_t idx;

                if (!entries[i].data) {
                        if (zip_dir_add(za, entries[i].name, ZIP_FL_ENC_UTF_8) < 0)
                                goto fail;
                        continue;
                }

                /* zip_close() reads the buffer: it must live until then, which it does (static or
                 * the caller's), so no copy is needed. */
                src = zip_source_buffer(za, entries[i].data, entries[i].size, 0);
                if (!src)
                        goto fail;
                idx = zip_file_add(za, entries[i].name, src, ZIP_FL_OVERWRITE | ZIP_FL_ENC_UTF_8);
                if (idx < 0) {
                        zip_source_free(src);
                        goto fail;
                }
                if (entries[i].store && zip_set_file_compression(za, (zip_uint64_t) idx, ZIP_CM_STORE, 0) < 0)
                        goto fail;
        }

        if (zip_close(za) < 0)
                goto fail;
        return 0;

fail:
        zip_discard(za);
        return -EIO;
}

static void class_file_fill(unsigned char *class_file, size_t size, unsigned major) {
        static const unsigned char magic[4] = {0xCA, 0xFE, 0xBA, 0xBE};

        memcpy(class_file, magic, sizeof(magic));
        class_file[4] = class_file[5] = 0;
        class_file[6] = (unsigned char) (major >> 8);
        class_file[7] = (unsigned char) major;
        /* Some constant-pool-ish bytes after the header, so the entry compresses. */
        for (size_t i = 8; i < size; i++)
                class_file[i] = (unsigned char) (i % 7);
}

int jar_fixture_write_release(
        const char *path,
        const char *tag,
        const char *main_class,
        unsigned main_major,
        const JarFixtureClass *classes,
        size_t n_classes,
        bool store) {
        unsigned char main_file[64], *class_files = NULL;
        char properties[256], manifest[1024], class_name[512];
        JarFixtureEntry *entries;
        size_t n = 0;
        int r;

        entries = calloc(n_classes + 4, sizeof(JarFixtureEntry));
        class_files = calloc(n_classes + 1, 64);
        if (!entries || !class_files) {
                free(entries);
                free(class_files);
                return -ENOMEM;
        }

        entries[n++] = (JarFixtureEntry){"META-INF/", NULL, 0, false};
        (void) snprintf(
                properties, sizeof(properties), "date=2025-08-01\ntag=%s\nhash=0123abc", tag ?: "v0.50.1");
        entries[n++] = (JarFixtureEntry){"version.properties", properties, strlen(properties), store};
        (void) snprintf(
                manifest,
                sizeof(manifest),
                "Manifest-Version: 1.0\r\nMulti-Release: true\r\nMain-Class: %s\r\n\r\n",
                main_class);
        entries[n++] = (JarFixtureEntry){"META-INF/MANIFEST.MF", manifest, strlen(manifest), store};
        r = snprintf(class_name, sizeof(class_name), "%s.class", main_class);
        if (r < 0 || (size_t) r >= sizeof(class_name)) {
                free(entries);
                free(class_files);
                return -EINVAL;
        }
        for (char *c = class_name; *c; c++)
                if (*c == '.' && strcmp(c, ".class") != 0)
                        *c = '/';
        class_file_fill(main_file, sizeof(main_file), main_major);
        entries[n++] = (JarFixtureEntry){class_name, main_file, sizeof(main_file), store};
        for (size_t i = 0; i < n_classes; i++) {
                class_file_fill(class_files + 64 * i, 64, classes[i].major);
                entries[n++] = (JarFixtureEntry){classes[i].name, class_files + 64 * i, 64, store};
        }

        r = jar_fixture_write(path, entries, n);
        free(entries);
        free(class_files);
        return r;
}

int jar_fixture_write_metabase(
        const char *path, const char *tag, const char *main_class, unsigned major, bool store) {
        unsigned char class_file[64] = {
                0xCA,
                0xFE,
                0xBA,
                0xBE,
                0x00,
                0x00,
                (unsigned char) (major >> 8),
                (unsigned char) major,
        };
        char properties[256], manifest[1024], class_name[512];
        JarFixtureEntry entries[5];
        size_t n = 0;
        int r;

        entries[n++] = (JarFixtureEntry){"META-INF/", NULL, 0, false};

        if (tag) {
                (void) snprintf(
                        properties,
                        sizeof(properties),
                        "date=2025-08-01\ntag=%s\nbranch=release-x.56.x\nhash=0123abc\n",
                        tag);
                entries[n++] = (JarFixtureEntry){"version.properties", properties, strlen(properties), store};
        }

        (void) snprintf(
                manifest,
                sizeof(manifest),
                "Manifest-Version: 1.0\r\n%s%s%sCreated-By: test-jar\r\n\r\n",
                main_class ? "Main-Class: " : "",
                main_class ?: "",
                main_class ? "\r\n" : "");
        entries[n++] = (JarFixtureEntry){"META-INF/MANIFEST.MF", manifest, strlen(manifest), store};

        if (main_class) {
                r = snprintf(class_name, sizeof(class_name), "%s.class", main_class);
                if (r < 0 || (size_t) r >= sizeof(class_name))
                        return -EINVAL;
                for (char *c = class_name; *c; c++)
                        if (*c == '.' && strcmp(c, ".class") != 0)
                                *c = '/';
                /* Some constant-pool-ish bytes after the header, so the entry compresses. */
                for (size_t i = 8; i < sizeof(class_file); i++)
                        class_file[i] = (unsigned char) (i % 7);
                entries[n++] = (JarFixtureEntry){class_name, class_file, sizeof(class_file), store};
        }

        return jar_fixture_write(path, entries, n);
}
