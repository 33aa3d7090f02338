/*
 * The floor under every hop in docs/BENCHMARKS.md "Scale-out": the round
 * trip of 16 bytes between two processes over loopback TCP (TCP_NODELAY),
 * with no work on either side. A pause between round trips lets both
 * processes go idle first, as they do between invites at a low rate.
 *
 *   cc -O2 -o /tmp/loopback-rtt benches/loopback-rtt.c
 *   /tmp/loopback-rtt [PAUSE_US] [ROUNDS]    (defaults: 5000 2000)
 *
 * Prints the 10th, 50th and 90th percentile of the round trip in µs.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void no_delay(int fd) {
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
        perror("setsockopt");
        exit(1);
    }
}

int main(int argc, char **argv) {
    int pause = argc > 1 ? atoi(argv[1]) : 5000;
    int rounds = argc > 2 ? atoi(argv[2]) : 2000;
    if (pause < 0 || rounds < 10) {
        fprintf(stderr, "usage: %s [PAUSE_US >= 0] [ROUNDS >= 10]\n", argv[0]);
        return 2;
    }
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(listener, 1) != 0 || getsockname(listener, (struct sockaddr *)&addr, &len) != 0) {
        perror("listen");
        return 1;
    }
    pid_t child = fork();
    if (child < 0) {
        perror("fork");
        return 1;
    }
    if (child == 0) { /* echoes until the other side closes */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
            perror("connect");
            _exit(1);
        }
        no_delay(fd);
        char buf[64];
        ssize_t n;
        while ((n = read(fd, buf, sizeof buf)) > 0) {
            if (write(fd, buf, (size_t)n) != n) _exit(1);
        }
        _exit(0);
    }
    int fd = accept(listener, NULL, NULL);
    if (fd < 0) {
        perror("accept");
        return 1;
    }
    no_delay(fd);
    double *rtt = malloc(sizeof *rtt * (size_t)rounds);
    if (rtt == NULL) return 1;
    char buf[64] = "ping";
    for (int i = 0; i < rounds; i++) {
        double start = now_us();
        if (write(fd, buf, 16) != 16) return 1;
        for (int got = 0; got < 16;) {
            ssize_t n = read(fd, buf + got, (size_t)(16 - got));
            if (n <= 0) return 1;
            got += (int)n;
        }
        rtt[i] = now_us() - start;
        if (pause > 0) usleep((useconds_t)pause);
    }
    qsort(rtt, (size_t)rounds, sizeof *rtt, by_value);
    printf("pause %d us, %d round trips: p10 %.1f us, p50 %.1f us, p90 %.1f us\n", pause, rounds,
           rtt[rounds / 10], rtt[rounds / 2], rtt[rounds * 9 / 10]);
    close(fd);
    waitpid(child, NULL, 0);
    free(rtt);
    return 0;
}
