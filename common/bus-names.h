/* SPDX-License-Identifier: MIT */
#pragma once

/* The daemon's D-Bus names, for the daemon and its clients: one place. */

#define MB_BUS_NAME "org.mbupgraded.Manager1"
#define MB_BUS_PATH "/org/mbupgraded/Manager1"
#define MB_BUS_INTERFACE "org.mbupgraded.Manager1"

#define MB_ERROR_REFUSED "org.mbupgraded.Error.Refused"
#define MB_ERROR_BUSY "org.mbupgraded.Error.Busy"
#define MB_ERROR_NOTHING "org.mbupgraded.Error.NothingToDo"
#define MB_ERROR_TOO_LATE "org.mbupgraded.Error.TooLate"
#define MB_ERROR_UNCONFIRMED "org.mbupgraded.Error.NeedsConfirmation"
