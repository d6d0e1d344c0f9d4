#!/usr/bin/env bash
# The machine's floor for one message per wake-up: a C echo server doing only epoll_wait, read and write
# (edge-triggered, like the mio loop), pinned to CPU 0, answering a client on CPU 1 that sends one byte,
# waits for the echo and pauses 200 µs (a real peer's messages come ~1.7 ms apart, so the server sleeps
# between messages as the scheduler does). Prints the server's user and system CPU per message from
# getrusage. Whatever this costs per wake-up, no scheduler can go below it per message; under the real
# 2.9.0 peers a task is ~3 such wake-ups with external storage and ~8-10 with the embedded one.
#   scripts/wakeup-floor.sh    MESSAGES (20000)  ROUNDS (3)  TIMEOUTS ("-1 250": epoll_wait's timeout in
#   ms; -1 = none, as the forwarder and scaler-rs, which arms a timerfd for its next deadline and waits
#   at most 250 ms only when it has none; 250 = the timed wait scaler-rs used before the timerfd)
set -euo pipefail
command -v gcc >/dev/null || { echo "gcc is needed (apt-get install -y gcc)" >&2; exit 2; }
MESSAGES=${MESSAGES:-20000}; ROUNDS=${ROUNDS:-3}; TIMEOUTS=${TIMEOUTS:-"-1 250"}
DIR=$(mktemp -d); trap 'rm -rf "$DIR"' EXIT
cat > "$DIR/floor.c" <<'C'
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
static void pin(int cpu) { cpu_set_t s; CPU_ZERO(&s); CPU_SET(cpu, &s); sched_setaffinity(0, sizeof s, &s); }
static double us(struct timeval a, struct timeval b) { return (b.tv_sec - a.tv_sec) * 1e6 + (b.tv_usec - a.tv_usec); }
int main(int argc, char **argv) {
    int timeout = atoi(argv[1]); long n = atol(argv[2]); int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) return 1;
    pid_t child = fork();
    if (child == 0) {
        pin(1); close(sv[0]); char b = 1;
        for (long i = 0; i < n; i++) { if (write(sv[1], &b, 1) != 1 || read(sv[1], &b, 1) != 1) return 1; usleep(200); }
        return 0;
    }
    pin(0); close(sv[1]); fcntl(sv[0], F_SETFL, O_NONBLOCK);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = sv[0]};
    epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev);
    struct rusage r0, r1; getrusage(RUSAGE_SELF, &r0); long got = 0;
    while (got < n) {
        struct epoll_event e[8]; char b[64];
        if (epoll_wait(ep, e, 8, timeout) <= 0) continue;
        int m = read(sv[0], b, sizeof b);
        if (m <= 0) break;
        got += m;
        if (write(sv[0], b, m) != m) return 1;
    }
    getrusage(RUSAGE_SELF, &r1);
    printf("| %d | %.2f | %.2f |\n", timeout, us(r0.ru_utime, r1.ru_utime) / n, us(r0.ru_stime, r1.ru_stime) / n);
    waitpid(child, 0, 0);
    return 0;
}
C
gcc -O2 -o "$DIR/floor" "$DIR/floor.c"
echo "| epoll_wait timeout ms | user µs per message | system µs per message |"
echo "|---|---|---|"
for _ in $(seq 1 "$ROUNDS"); do
    for t in $TIMEOUTS; do "$DIR/floor" "$t" "$MESSAGES"; done
done
