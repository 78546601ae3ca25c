/* SPDX-License-Identifier: MIT */
#pragma once

/* The daemon as a whole: the one place that creates the modules, in the order they depend on
 * one another, wires them to the event loop and the bus, and frees them. Nothing calls up into
 * it; main.c runs it. */

#include "config.h"
#include "manager.h"

/* Takes config. */
int daemon_new(Config *config, Manager **ret);
/* Directories, the event loop, the bus, the unit, then every module; a journal left by a
 * daemon that died is resumed. */
int daemon_startup(Manager *m);
Manager *daemon_free(Manager *m);
