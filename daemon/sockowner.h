/* SPDX-License-Identifier: MIT */
#pragma once

/* Who answers on a port. Any local user may bind a free port: a listener on Metabase's port while
 * it is stopped (or on a rehearsal's port before the rehearsal binds it) could answer the health
 * and version checks. An answer counts only when the listening socket that took the connection was
 * made by a process of the unit's own control group.
 *
 * How: the kernel's sock_diag interface (NETLINK_SOCK_DIAG, readable by any user) lists the
 * listening TCP sockets with their owner's uid, inode and the cgroup (v2) id of the process that
 * made them (INET_DIAG_CGROUP_ID, Linux >= 5.7). Every listener that could have accepted our
 * connection (the peer's address and port, or the wildcard address of its family; for an IPv4
 * peer also IPv6 listeners on :: and ::ffff:ADDR) must be the unit's. The unit's cgroup id is the
 * inode number of its directory in the cgroup2 file system, /sys/fs/cgroup + its ControlGroup. */

#include <stdint.h>

/* fd: a connected TCP socket. control_group: the unit's ControlGroup ("/system.slice/x.service").
 * Returns 1 when every listener that could have taken the connection is the unit's, 0 when one is
 * not (*ret_reason says whose: "a listener of uid 65534, not of metabase.service"), a negative
 * errno when it cannot tell (*ret_reason says why). */
int sockowner_check(int fd, const char *control_group, char **ret_reason);

/* The cgroup id of a ControlGroup path (the inode of its cgroup2 directory); 0 when unknown. */
uint64_t sockowner_cgroup_id(const char *control_group);

/* Before Metabase is stopped and again right before it is started (issue 15, item 4): whether a
 * listener that is not the unit's could take a connection to host:port (host numeric, or
 * "localhost"; another name: any listener on the port), so that Metabase could not bind it. With
 * control_group "" or NULL (the unit is stopped: it has none) every listener is foreign. 1 with
 * *ret_reason ("port 3000 is held by a listener that is not ...'s (pid P, uid U, ...)"), 0 when
 * none is, a negative errno when the kernel can't be asked (*ret_reason says why). */
int sockowner_port_held(const char *host, uint16_t port, const char *control_group, char **ret_reason);
