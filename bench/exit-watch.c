/* SPDX-License-Identifier: MIT */
/* exit-watch PID: waits until process PID exits (through a pidfd, no polling) and prints the
 * CLOCK_MONOTONIC time of that moment in microseconds, the clock systemd's *TimestampMonotonic
 * properties use. The downtime benchmark compares it with the new process's
 * ExecMainStartTimestampMonotonic: the gap between the old Metabase gone and the new one forked. */
#define _GNU_SOURCE
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

int main(int argc, char *argv[]) {
        struct pollfd p = {.events = POLLIN};
        struct timespec ts;

        if (argc != 2) {
                fprintf(stderr, "usage: %s PID\n", argv[0]);
                return 2;
        }
        p.fd = (int) syscall(SYS_pidfd_open, atoi(argv[1]), 0);
        if (p.fd < 0) {
                perror("pidfd_open");
                return 1;
        }
        /* Ready for a starting signal: the benchmark waits for this line before it goes on. */
        printf("watching\n");
        fflush(stdout);
        while (poll(&p, 1, -1) < 0)
                ;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        printf("%lld\n", (long long) ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
        return 0;
}
