/* floor.c - the least a WebSocket load client can do, as the yardstick for herd's CPU cost.
 *
 * N connections on one epoll loop; after a bare upgrade (the reply is skipped up to the blank
 * line, not checked), each connection keeps one masked 32-byte binary frame in flight: one
 * write, then one read per round trip. No frame parsing, no timing, no histograms: whatever a
 * real client does beyond this is overhead to be judged against it.
 *
 * usage: floor HOST PORT PATH CONNECTIONS SECONDS
 * prints: round_trips=N seconds=S
 *
 * For windowed measurements it also prints, at each whole second K after the process started,
 * "tick=K at=T open=U round_trips=N": T the actual seconds since start (a tick is printed at the
 * first loop iteration past K), U the connections upgraded so far, N the round trips so far.
 * That costs one comparison per loop iteration and one printf per second. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct fconn {
    int fd;
    int upgraded;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: floor HOST PORT PATH CONNECTIONS SECONDS\n");
        return 2;
    }
    const char *host = argv[1], *path = argv[3];
    int port = atoi(argv[2]), n = atoi(argv[4]);
    double secs = atof(argv[5]);
    double start = now_s();
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    char req[512];
    int req_len = snprintf(req, sizeof req,
                           "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n",
                           path, host, port);
    /* One precomputed frame: FIN|binary, MASK|32, a mask key, 32 masked bytes. The floor does
     * not even pay for fresh mask keys. */
    unsigned char frame[38] = {0x82, 0x80 | 32, 0x11, 0x22, 0x33, 0x44};
    for (int i = 0; i < 32; i++)
        frame[6 + i] = (unsigned char)('a' ^ frame[2 + (i & 3)]);
    int ep = epoll_create1(0);
    struct fconn *cs = calloc((size_t)n, sizeof *cs);
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            perror("connect");
            return 3;
        }
        if (write(fd, req, (size_t)req_len) != req_len)
            return 3;
        fcntl(fd, F_SETFL, O_NONBLOCK);
        cs[i].fd = fd;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = &cs[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    static char buf[1 << 16];
    unsigned long long trips = 0;
    int upgraded = 0, tick = 1;
    double t0 = now_s(), end = t0 + secs, next_tick = start + 1, now;
    struct epoll_event evs[512];
    while ((now = now_s()) < end) {
        while (now >= next_tick) {
            printf("tick=%d at=%.4f open=%d round_trips=%llu\n", tick, now - start, upgraded,
                   trips);
            tick++;
            next_tick += 1;
        }
        int k = epoll_wait(ep, evs, 512, 100);
        for (int i = 0; i < k; i++) {
            struct fconn *c = evs[i].data.ptr;
            ssize_t r = read(c->fd, buf, sizeof buf);
            if (r <= 0)
                continue;
            if (!c->upgraded) {
                c->upgraded = 1; /* the 101 reply, assumed whole */
                upgraded++;
            } else {
                trips++;
            }
            if (write(c->fd, frame, sizeof frame) != (ssize_t)sizeof frame)
                return 4;
        }
    }
    printf("round_trips=%llu seconds=%.3f\n", trips, now_s() - t0);
    return 0;
}
