/* SPDX-License-Identifier: MIT */
#pragma once

/* org.mbupgraded.Manager1 on the system bus: the methods (who may call what), the properties
 * and the signals, which it emits as the daemon's events come (events.h). */

#include "manager.h"

int bus_api_register(Manager *m);
