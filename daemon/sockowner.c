/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <dirent.h>
#include <inttypes.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "macro.h"
#include "sockowner.h"
#include "strv.h"

static inline void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

#define CGROUP_ROOT "/sys/fs/cgroup"
#define LISTEN_STATE 10 /* TCP_LISTEN */

uint64_t sockowner_cgroup_id(const char *control_group) {
        _cleanup_free_ char *p = NULL;
        struct statfs sf;
        struct stat st;

        if (isempty(control_group) || control_group[0] != '/' || strstr(control_group, "/.."))
                return 0;
        /* cgroup2 at /sys/fs/cgroup, or (systemd's hybrid layout) at /sys/fs/cgroup/unified, where
         * systemd keeps the same tree: the id the kernel reports is the cgroup2 one. */
        if (statfs(CGROUP_ROOT, &sf) >= 0 && sf.f_type == CGROUP2_SUPER_MAGIC)
                p = strdup_printf(CGROUP_ROOT "%s", control_group);
        else
                p = strdup_printf(CGROUP_ROOT "/unified%s", control_group);
        if (!p || stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
                return 0;
        return (uint64_t) st.st_ino;
}

typedef struct Peer {
        int family; /* AF_INET or AF_INET6 (never a v4-mapped one: that is AF_INET) */
        uint32_t addr[4];
        uint16_t port; /* network order */
} Peer;

static int peer_of(int fd, Peer *ret) {
        union {
                struct sockaddr sa;
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
        } sa = {};
        socklen_t len = sizeof(sa);

        if (getpeername(fd, &sa.sa, &len) < 0)
                return negative_errno();
        *ret = (Peer){};
        if (sa.sa.sa_family == AF_INET) {
                ret->family = AF_INET;
                ret->addr[0] = sa.in.sin_addr.s_addr;
                ret->port = sa.in.sin_port;
        } else if (sa.sa.sa_family == AF_INET6) {
                ret->port = sa.in6.sin6_port;
                if (IN6_IS_ADDR_V4MAPPED(&sa.in6.sin6_addr)) {
                        ret->family = AF_INET;
                        memcpy(&ret->addr[0], &sa.in6.sin6_addr.s6_addr[12], 4);
                } else {
                        ret->family = AF_INET6;
                        memcpy(ret->addr, &sa.in6.sin6_addr, 16);
                }
        } else
                return -EAFNOSUPPORT;
        return 0;
}

/* Whether a listener of this family on this address could take a connection to peer (family 0:
 * an address not known, which any listener on the port could be in the way of). */
static bool could_accept(const Peer *peer, int family, const uint32_t src[4]) {
        static const uint32_t any[4] = {};

        if (peer->family == 0)
                return true;
        if (family == AF_INET)
                return peer->family == AF_INET && (src[0] == 0 || src[0] == peer->addr[0]);
        if (memcmp(src, any, 16) == 0)
                return true; /* [::] takes IPv4 too unless IPV6_V6ONLY: counted either way */
        if (peer->family == AF_INET6)
                return memcmp(src, peer->addr, 16) == 0;
        /* ::ffff:a.b.c.d */
        return src[0] == 0 && src[1] == 0 && src[2] == htonl(0xffff) && src[3] == peer->addr[0];
}

/* The pid holding socket inode, by a scan of /proc (0: not found or not visible to us). */
static pid_t pid_of_inode(uint64_t inode) {
        _cleanup_(closedirp) DIR *proc = opendir("/proc");
        char want[64];
        struct dirent *de;

        if (!proc || inode == 0)
                return 0;
        snprintf(want, sizeof(want), "socket:[%" PRIu64 "]", inode);
        while ((de = readdir(proc))) {
                _cleanup_(closedirp) DIR *fds = NULL;
                char path[64];
                struct dirent *fe;
                unsigned pid;

                if (safe_atou(de->d_name, &pid) < 0)
                        continue;
                snprintf(path, sizeof(path), "/proc/%u/fd", pid);
                fds = opendir(path);
                if (!fds)
                        continue;
                while ((fe = readdir(fds))) {
                        char link[320], target[64];
                        ssize_t k;

                        if (fe->d_name[0] == '.')
                                continue;
                        snprintf(link, sizeof(link), "/proc/%u/fd/%s", pid, fe->d_name);
                        k = readlink(link, target, sizeof(target) - 1);
                        if (k <= 0)
                                continue;
                        target[k] = '\0';
                        if (streq(target, want))
                                return (pid_t) pid;
                }
        }
        return 0;
}

typedef struct Verdict {
        unsigned candidates;
        bool foreign, no_cgroup;
        uint32_t uid;
        uint64_t inode;
} Verdict;

/* want: the unit's cgroup id; 0 (the unit has none: it is stopped) makes every listener foreign. */
static int dump_family(int nl, int family, const Peer *peer, uint64_t want, Verdict *v) {
        struct {
                struct nlmsghdr nlh;
                struct inet_diag_req_v2 req;
        } msg = {
                .nlh =
                        {
                                .nlmsg_len = sizeof(msg),
                                .nlmsg_type = SOCK_DIAG_BY_FAMILY,
                                .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
                                .nlmsg_seq = (uint32_t) family,
                        },
                .req =
                        {
                                .sdiag_family = (uint8_t) family,
                                .sdiag_protocol = IPPROTO_TCP,
                                .idiag_states = 1U << LISTEN_STATE,
                        },
        };
        _cleanup_free_ char *buf = malloc(32768);

        if (!buf)
                return -ENOMEM;
        if (send(nl, &msg, sizeof(msg), 0) < 0)
                return negative_errno();
        for (;;) {
                ssize_t k = recv(nl, buf, 32768, 0);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        return -EIO;
                for (struct nlmsghdr *h = (struct nlmsghdr *) buf; NLMSG_OK(h, (size_t) k);
                     h = NLMSG_NEXT(h, k)) {
                        struct inet_diag_msg *d;
                        struct rtattr *a;
                        uint64_t cgid = 0;
                        bool has_cgid = false;
                        int len;

                        if (h->nlmsg_type == NLMSG_DONE)
                                return 0;
                        if (h->nlmsg_type == NLMSG_ERROR) {
                                struct nlmsgerr *e = NLMSG_DATA(h);
                                return e->error < 0 ? e->error : -EIO;
                        }
                        if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
                            h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
                                continue;
                        d = NLMSG_DATA(h);
                        if (d->idiag_state != LISTEN_STATE || d->id.idiag_sport != peer->port ||
                            !could_accept(peer, d->idiag_family, d->id.idiag_src))
                                continue;
                        a = (struct rtattr *) (d + 1);
                        len = (int) (h->nlmsg_len - NLMSG_LENGTH(sizeof(*d)));
                        for (; RTA_OK(a, len); a = RTA_NEXT(a, len))
                                if (a->rta_type == INET_DIAG_CGROUP_ID && RTA_PAYLOAD(a) >= sizeof(uint64_t)) {
                                        memcpy(&cgid, RTA_DATA(a), sizeof(cgid));
                                        has_cgid = true;
                                }
                        v->candidates++;
                        if (!has_cgid)
                                v->no_cgroup = true;
                        else if (cgid != want && !v->foreign) {
                                v->foreign = true;
                                v->uid = d->idiag_uid;
                                v->inode = d->idiag_inode;
                        }
                }
        }
}

/* Asks the kernel about every listener that could take a connection to peer: into *v. */
static int listeners(const Peer *peer, uint64_t want, Verdict *v, char **ret_reason) {
        _cleanup_close_ int nl = -EBADF;
        int r;

        nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
        r = nl < 0 ? negative_errno() : dump_family(nl, AF_INET6, peer, want, v);
        if (r >= 0 && peer->family != AF_INET6)
                r = dump_family(nl, AF_INET, peer, want, v);
        if (r < 0)
                *ret_reason = strdup_printf("cannot ask the kernel who listens (sock_diag): %s", strerror(-r));
        return r;
}

/* Whose the foreign listener v found is: "pid P, uid U" (pid when /proc shows it). */
static char *foreign_owner(const Verdict *v) {
        pid_t pid = pid_of_inode(v->inode);

        if (pid > 0)
                return strdup_printf("pid %d, uid %u, socket inode %" PRIu64, (int) pid, v->uid, v->inode);
        return strdup_printf("uid %u, socket inode %" PRIu64, v->uid, v->inode);
}

int sockowner_port_held(const char *host, uint16_t port, const char *control_group, char **ret_reason) {
        _cleanup_free_ char *owner = NULL;
        Verdict v = {};
        Peer peer = {.port = htons(port)};
        int r;

        *ret_reason = NULL;
        if (streq_ptr(host, "localhost"))
                host = "127.0.0.1";
        if (host && inet_pton(AF_INET, host, peer.addr) == 1)
                peer.family = AF_INET;
        else if (host && inet_pton(AF_INET6, host, peer.addr) == 1) {
                peer.family = AF_INET6;
                if (IN6_IS_ADDR_V4MAPPED((struct in6_addr *) peer.addr)) {
                        peer.family = AF_INET;
                        peer.addr[0] = peer.addr[3];
                        peer.addr[1] = peer.addr[2] = peer.addr[3] = 0;
                }
        }
        r = listeners(&peer, sockowner_cgroup_id(control_group), &v, ret_reason);
        if (r < 0)
                return r;
        if (!v.foreign)
                return 0;
        owner = foreign_owner(&v);
        *ret_reason = strdup_printf(
                "port %u is held by a listener that is not %s's (%s)",
                (unsigned) port,
                isempty(control_group) ? "the unit" : control_group,
                strempty(owner));
        return 1;
}

int sockowner_check(int fd, const char *control_group, char **ret_reason) {
        Verdict v = {};
        uint64_t want;
        Peer peer;
        int r;

        *ret_reason = NULL;
        want = sockowner_cgroup_id(control_group);
        if (want == 0) {
                *ret_reason = strdup_printf(
                        "the unit's control group %s is not known here", control_group ?: "(none)");
                return -ENODATA;
        }
        r = peer_of(fd, &peer);
        if (r < 0) {
                *ret_reason = strdup_printf("cannot tell whom the connection went to: %s", strerror(-r));
                return r;
        }
        r = listeners(&peer, want, &v, ret_reason);
        if (r < 0)
                return r;
        if (v.foreign) {
                _cleanup_free_ char *owner = foreign_owner(&v);
                *ret_reason = strdup_printf(
                        "port %u is held by a listener that is not %s's (%s)",
                        (unsigned) ntohs(peer.port),
                        control_group,
                        strempty(owner));
                return 0;
        }
        if (v.candidates == 0) {
                *ret_reason = strdup_printf("nothing listens on port %u any more", (unsigned) ntohs(peer.port));
                return -ENOENT;
        }
        if (v.no_cgroup) {
                *ret_reason = strdup("the kernel does not report the listening socket's control group");
                return -EOPNOTSUPP;
        }
        return 1;
}
