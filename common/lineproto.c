/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lineproto.h"
#include "macro.h"

static const char hex[] = "0123456789abcdef";

static bool byte_plain(unsigned char c) {
        return c > ' ' && c < 0x7f && c != '\\';
}

char *lineproto_encode(const void *p, size_t n) {
        const unsigned char *s = p;
        char *t, *o;

        if (n == 0)
                return strdup("-");
        if (n == 1 && s[0] == '-')
                return strdup("\\x2d");
        if (n > (SIZE_MAX - 1) / 4)
                return NULL;
        t = o = malloc(n * 4 + 1);
        if (!t)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (byte_plain(s[i]))
                        *o++ = (char) s[i];
                else {
                        *o++ = '\\';
                        *o++ = 'x';
                        *o++ = hex[s[i] >> 4];
                        *o++ = hex[s[i] & 15];
                }
        *o = '\0';
        return t;
}

static int unhex(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int lineproto_decode(const char *t, size_t n, char **ret, size_t *ret_len) {
        _cleanup_free_ char *v = NULL;
        size_t k = 0;

        if (n == 0)
                return -EBADMSG;
        v = malloc(n + 1);
        if (!v)
                return -ENOMEM;
        if (!(n == 1 && t[0] == '-'))
                for (size_t i = 0; i < n; i++) {
                        unsigned char c = (unsigned char) t[i];
                        int hi, lo;

                        if (byte_plain(c)) {
                                v[k++] = (char) c;
                                continue;
                        }
                        if (c != '\\' || n - i < 4 || t[i + 1] != 'x')
                                return -EBADMSG;
                        hi = unhex(t[i + 2]);
                        lo = unhex(t[i + 3]);
                        if (hi < 0 || lo < 0)
                                return -EBADMSG;
                        v[k++] = (char) (hi << 4 | lo);
                        i += 3;
                }
        v[k] = '\0';
        *ret = TAKE_PTR(v);
        if (ret_len)
                *ret_len = k;
        return 0;
}

int lineproto_split(const char *line, char ***ret) {
        char **l;
        size_t n = 0;

        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (const char *p = line;;) {
                size_t w = strcspn(p, " "), len;
                char *v, **nl;
                int r;

                r = lineproto_decode(p, w, &v, &len);
                if (r >= 0 && strlen(v) != len) {
                        free(v);
                        r = -EBADMSG;
                }
                if (r >= 0) {
                        nl = realloc(l, sizeof(char *) * (n + 2));
                        if (!nl) {
                                free(v);
                                r = -ENOMEM;
                        } else {
                                l = nl;
                                l[n++] = v;
                                l[n] = NULL;
                        }
                }
                if (r < 0) {
                        strv_freep(&l);
                        return r;
                }
                if (!p[w])
                        break;
                p += w + 1;
        }
        *ret = l;
        return 0;
}

char *lineproto_display(const char *s) {
        char *t, *o;
        size_t n = strlen(s);

        if (n > (SIZE_MAX - 1) / 4)
                return NULL;
        t = o = malloc(n * 4 + 1);
        if (!t)
                return NULL;
        for (const unsigned char *c = (const unsigned char *) s; *c; c++)
                if (*c == '\\') {
                        *o++ = '\\';
                        *o++ = '\\';
                } else if (*c == '\n') {
                        *o++ = '\\';
                        *o++ = 'n';
                } else if (*c == '\t') {
                        *o++ = '\\';
                        *o++ = 't';
                } else if (*c >= ' ' && *c < 0x7f)
                        *o++ = (char) *c;
                else {
                        *o++ = '\\';
                        *o++ = 'x';
                        *o++ = hex[*c >> 4];
                        *o++ = hex[*c & 15];
                }
        *o = '\0';
        return t;
}
