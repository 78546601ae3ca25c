/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "fleet-protocol.h"
#include "lineproto.h"
#include "strv.h"

/* Each kind's key and values, in order: i the id, a the age, r the reason (last), z a reason of
 * at most MODE_REASON_MAX bytes written (not last), every other letter a token (see field()). */
#define MODE_REASON_MAX 1000U
static const struct {
        const char *key, *values;
} kinds[_FLEET_LINE_MAX] = {
        [FLEET_LINE_READY] = {"ready", ""},
        [FLEET_LINE_CREATED] = {"created", "n"},
        [FLEET_LINE_NOTIFY] = {"notify", ""},
        [FLEET_LINE_ROLLOUT] = {"rollout", "ifthslbmzr"},
        [FLEET_LINE_COMMITTED] = {"committed", "ith"},
        [FLEET_LINE_ENDED] = {"ended", "isr"},
        [FLEET_LINE_NODE] = {"node", "nvsgaipr"},
        [FLEET_LINE_FLEET] = {"fleet", "i"},
        [FLEET_LINE_FORGED] = {"forged", "i"},
        [FLEET_LINE_RESTORED] = {"restored", "i"},
        [FLEET_LINE_PROPOSED] = {"proposed", "i"},
        [FLEET_LINE_LEADER] = {"leader", "i"},
        [FLEET_LINE_FOLLOWER] = {"follower", "il"},
        [FLEET_LINE_SET] = {"set", "is"},
        [FLEET_LINE_BACKUP] = {"backup", "i"},
        [FLEET_LINE_BACKUP_OK] = {"backup-ok", "i"},
        [FLEET_LINE_ERROR] = {"error", NULL},
};

const char *fleet_line_kind_to_string(FleetLineKind k) {
        return k >= 0 && k < _FLEET_LINE_MAX ? kinds[k].key : NULL;
}

static char **field(FleetLine *l, char code) {
        switch (code) {
        case 'n':
                return &l->name;
        case 'f':
                return &l->from;
        case 't':
                return &l->to;
        case 'h':
                return &l->sha256;
        case 's':
                return &l->state;
        case 'l':
                return &l->leader;
        case 'b':
                return &l->backup;
        case 'v':
                return &l->version;
        case 'g':
                return &l->staged;
        case 'p':
                return &l->step;
        case 'm':
                return &l->mode;
        case 'z':
                return &l->mode_reason;
        default:
                return &l->reason;
        }
}

/* How many of s's first bytes encode in at most budget bytes. */
static size_t fit(const char *s, size_t budget) {
        size_t n = 0, used = 0;

        for (; s[n]; n++) {
                size_t c = (unsigned char) s[n] > ' ' && (unsigned char) s[n] < 0x7f && s[n] != '\\' ? 1 : 4;
                if (used + c > budget)
                        break;
                used += c;
        }
        /* "-" alone is the empty value: the encoder writes it as four bytes. */
        if (n == 1 && s[0] == '-' && budget < 4)
                n = 0;
        return n;
}

char *fleet_line_format(const FleetLine *l) {
        char line[FLEET_LINE_MAX];
        size_t k;

        if (l->kind < 0 || l->kind >= _FLEET_LINE_MAX || !kinds[l->kind].values)
                return NULL;
        k = (size_t) snprintf(line, sizeof(line), "%s", kinds[l->kind].key);
        for (const char *c = kinds[l->kind].values; *c; c++) {
                _cleanup_free_ char *t = NULL;

                if (*c == 'i' || *c == 'a')
                        t = strdup_printf("%" PRIu64, *c == 'i' ? l->id : l->age_ms);
                else {
                        const char *s = strempty(*field((FleetLine *) l, *c));
                        size_t n = *c == 'r' ? fit(s, sizeof(line) - k - 2)
                                : *c == 'z'  ? fit(s, MODE_REASON_MAX)
                                             : strnlen(s, FLEET_TOKEN_MAX);
                        t = lineproto_encode(s, n);
                }
                if (!t || k + 1 + strlen(t) >= sizeof(line))
                        return NULL; /* tokens of FLEET_TOKEN_MAX bytes fit, whatever they hold */
                line[k++] = ' ';
                memcpy(line + k, t, strlen(t) + 1);
                k += strlen(t);
        }
        return strdup(line);
}

static bool token_ok(const char *s) {
        if (strlen(s) > FLEET_TOKEN_MAX)
                return false;
        for (const char *c = s; *c; c++)
                if ((unsigned char) *c <= ' ' || (unsigned char) *c >= 0x7f)
                        return false;
        return true;
}

static int parse_error(const char *line, FleetLine *l) {
        const char *kind = line + strlen("error "), *msg = kind + strcspn(kind, " ");

        l->kind = FLEET_LINE_ERROR;
        l->name = strndup(kind, (size_t) (msg - kind));
        l->reason = lineproto_display(msg + strspn(msg, " "));
        return l->name && l->reason ? 0 : -ENOMEM;
}

int fleet_line_parse(const char *line, FleetLine *ret) {
        _cleanup_strv_free_ char **w = NULL;
        FleetLine l = {};
        size_t i = 1;
        int r;

        if (startswith(line, "error ")) {
                r = parse_error(line, &l);
                if (r < 0) {
                        fleet_line_done(&l);
                        return r;
                }
                *ret = l;
                return 0;
        }
        r = lineproto_split(line, &w);
        if (r < 0)
                return r;
        for (l.kind = 0; l.kind < _FLEET_LINE_MAX; l.kind++)
                if (kinds[l.kind].values && streq(w[0], kinds[l.kind].key))
                        break;
        if (l.kind == _FLEET_LINE_MAX || strv_length(w) != 1 + strlen(kinds[l.kind].values))
                return -EBADMSG;
        for (const char *c = kinds[l.kind].values; *c; c++, i++) {
                if (*c == 'i' || *c == 'a')
                        r = safe_atou64(w[i], *c == 'i' ? &l.id : &l.age_ms);
                else if (*c == 'r' || *c == 'z') {
                        *field(&l, *c) = lineproto_display(w[i]);
                        r = *field(&l, *c) ? 0 : -ENOMEM;
                } else if (!token_ok(w[i]))
                        r = -EBADMSG;
                else {
                        /* a copy: w[i] taken out would end w early, and strv_free() leak the rest */
                        *field(&l, *c) = strdup(w[i]);
                        r = *field(&l, *c) ? 0 : -ENOMEM;
                }
                if (r < 0) {
                        fleet_line_done(&l);
                        return r == -ENOMEM ? r : -EBADMSG;
                }
        }
        *ret = l;
        return 0;
}

void fleet_line_done(FleetLine *l) {
        free(l->name);
        free(l->from);
        free(l->to);
        free(l->sha256);
        free(l->state);
        free(l->leader);
        free(l->backup);
        free(l->version);
        free(l->staged);
        free(l->step);
        free(l->reason);
        free(l->mode);
        free(l->mode_reason);
        *l = (FleetLine){};
}
