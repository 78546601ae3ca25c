/* SPDX-License-Identifier: MIT */
#pragma once

/* What mbupgraded-db's PostgreSQL verbs share (db.c, pg-clone.c, pg-fleet.c): libpq's cleanups,
 * a query with text parameters, a failed statement's SQLSTATE. */

#include <libpq-fe.h>
#include <stdbool.h>

#include "macro.h"

DEFINE_POINTER_CLEANUP(PGconn, PQfinish, pq_finishp);
DEFINE_POINTER_CLEANUP(PGresult, PQclear, pq_clearp);
DEFINE_POINTER_CLEANUP(char, PQfreemem, pq_freememp);
#define _cleanup_pgconn_ _cleanup_(pq_finishp)
#define _cleanup_pgresult_ _cleanup_(pq_clearp)
#define _cleanup_pqfree_ _cleanup_(pq_freememp)

/* PQexecParams with n text parameters and a text result. */
static inline PGresult *pg_query(PGconn *c, const char *sql, int n, const char *const *params) {
        return PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
}

static inline bool pg_sqlstate_is(const PGresult *r, const char *state) {
        const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        return s && streq(s, state);
}
