/* SPDX-License-Identifier: MIT */
#pragma once

/* maintenance_flag: a file that exists while Metabase is down for an operation (from its stop to
 * the first healthy answer after it), so that nginx can answer with a maintenance page
 * (config/nginx-maintenance.conf.in) instead of a 502. */

#include "manager.h"

/* Creates the flag (and its directory) saying what is going on; failures are logged, never fatal. */
void maintenance_begin(Manager *m, const char *what);
/* Removes it; fine when it is not there. */
void maintenance_end(Manager *m);
