/* SPDX-License-Identifier: MIT */
#pragma once

/* mbupgraded-db fleet-agent (pg-fleet.c): a node's link to the fleet's coordination database. */
int pg_fleet_main(int argc, char *argv[]);
