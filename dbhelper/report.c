/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lineproto.h"
#include "report.h"

static void report_vline(const char *prefix, const char *fmt, va_list ap) _printf_(2, 0);
static void report_vline(const char *prefix, const char *fmt, va_list ap) {
        char line[2048];
        size_t n = 0;
        int k;

        k = snprintf(line, sizeof(line), "%s", prefix);
        if (k >= 0 && (size_t) k < sizeof(line))
                (void) vsnprintf(line + k, sizeof(line) - (size_t) k, fmt, ap);
        for (const char *c = line; *c; c++) {
                bool space = (unsigned char) *c <= ' ' || *c == 0x7f;
                if (!space)
                        line[n++] = *c;
                else if (n > 0 && line[n - 1] != ' ')
                        line[n++] = ' ';
        }
        line[n] = '\0';
        while (n > 0 && line[n - 1] == ' ')
                line[--n] = '\0';
        printf("%s\n", line);
}

void report_line(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        report_vline("", fmt, ap);
        va_end(ap);
}

int report_failure(const char *kind, const char *fmt, ...) {
        char prefix[64];
        va_list ap;

        (void) snprintf(prefix, sizeof(prefix), "error %s ", kind);
        va_start(ap, fmt);
        report_vline(prefix, fmt, ap);
        va_end(ap);
        return 1;
}

void report_values(const char *key, ...) {
        va_list ap;

        fputs(key, stdout);
        va_start(ap, key);
        for (const char *v; (v = va_arg(ap, const char *));) {
                _cleanup_free_ char *t = lineproto_encode(v, strnlen(v, LINEPROTO_VALUE_MAX));
                putchar(' ');
                fputs(t ?: "-", stdout);
        }
        va_end(ap);
        putchar('\n');
}
