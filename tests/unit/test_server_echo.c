/* herd serve end to end, in process: start the server on port 0, talk to it over loopback with
 * plain blocking sockets and a hand-written client side of RFC 6455 (independent of proto/), and
 * stop it. Under ASan this also proves that stopping with open connections, partial frames and
 * queued output leaks nothing. Timing checks are lower bounds only (a reply held by --delay never
 * comes early), never upper bounds. */
#include "base/clock.h"
#include "base/compiler.h"
#include "server/server.h"
#include "tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" /* RFC 6455 1.3 */

static int tcp_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static int recv_all(int fd, void *p, size_t n)
{
    uint8_t *b = p;
    while (n) {
        ssize_t r = recv(fd, b, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Read an HTTP response head into buf (NUL terminated); returns the status or -1. */
static int read_head(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = recv(fd, buf + n, 1, 0);
        if (r <= 0)
            return -1;
        n++;
        buf[n] = 0;
        if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0) {
            int status = 0;
            if (sscanf(buf, "HTTP/1.1 %d", &status) != 1)
                return -1;
            return status;
        }
    }
    return -1;
}

/* Send a raw request and return the status of the answer (head in buf). */
static int request(int fd, const char *req, char *buf, size_t cap)
{
    if (send_all(fd, req, strlen(req)) != 0)
        return -1;
    return read_head(fd, buf, cap);
}

static int upgrade_req(int fd, const char *path, const char *extra, char *buf, size_t cap)
{
    char req[1024];
    snprintf(req, sizeof req,
             "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
             "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n"
             "Sec-WebSocket-Version: 13\r\n%s\r\n",
             path, extra ? extra : "");
    return request(fd, req, buf, cap);
}

/* A connected, upgraded client, or -1. */
static int ws_open(uint16_t port)
{
    int fd = tcp_connect(port);
    if (fd < 0)
        return -1;
    char head[2048];
    if (upgrade_req(fd, "/echo", NULL, head, sizeof head) != 101) {
        close(fd);
        return -1;
    }
    return fd;
}

static uint32_t mask_seed = 0x12345678;

/* Build a masked client frame; returns its length. out must hold len + 14. */
static size_t frame_build(uint8_t *out, int fin, unsigned op, const uint8_t *p, size_t len)
{
    size_t n = 0;
    out[n++] = (uint8_t)((fin ? 0x80 : 0) | op);
    if (len < 126) {
        out[n++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xffff) {
        out[n++] = 0x80 | 126;
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            out[n++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    mask_seed = mask_seed * 1103515245u + 12345u;
    uint8_t key[4] = {(uint8_t)(mask_seed >> 24), (uint8_t)(mask_seed >> 16),
                      (uint8_t)(mask_seed >> 8), (uint8_t)mask_seed};
    memcpy(out + n, key, 4);
    n += 4;
    for (size_t i = 0; i < len; i++)
        out[n + i] = p[i] ^ key[i & 3];
    return n + len;
}

static int send_frame(int fd, int fin, unsigned op, const void *p, size_t len)
{
    uint8_t *b = malloc(len + 14);
    size_t n = frame_build(b, fin, op, p, len);
    int rc = send_all(fd, b, n);
    free(b);
    return rc;
}

struct frame {
    int fin;
    unsigned op;
    int masked;
    size_t len;
    uint8_t *p; /* malloc'd, NUL terminated */
};

static int read_frame(int fd, struct frame *f)
{
    uint8_t h[10];
    memset(f, 0, sizeof *f);
    if (recv_all(fd, h, 2) != 0)
        return -1;
    f->fin = h[0] >> 7;
    f->op = h[0] & 0xf;
    f->masked = h[1] >> 7;
    uint64_t len = h[1] & 0x7f;
    if (len == 126) {
        if (recv_all(fd, h, 2) != 0)
            return -1;
        len = (uint64_t)h[0] << 8 | h[1];
    } else if (len == 127) {
        if (recv_all(fd, h, 8) != 0)
            return -1;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | h[i];
    }
    if (f->masked || len > (256u << 20))
        return -1;
    f->len = (size_t)len;
    f->p = malloc(f->len + 1);
    if (recv_all(fd, f->p, f->len) != 0) {
        free(f->p);
        f->p = NULL;
        return -1;
    }
    f->p[f->len] = 0;
    return 0;
}

/* Read a close frame; returns its code (1005 when empty) or -1. */
static int read_close(int fd)
{
    struct frame f;
    if (read_frame(fd, &f) != 0)
        return -1;
    int code = -1;
    if (f.op == 0x8)
        code = f.len >= 2 ? (f.p[0] << 8 | f.p[1]) : 1005;
    free(f.p);
    return code;
}

/* 1 when the peer closed the TCP connection (EOF or reset) with nothing more to read. */
static int read_eof(int fd)
{
    uint8_t b;
    ssize_t r = recv(fd, &b, 1, 0);
    return r == 0 || (r < 0 && (errno == ECONNRESET));
}

static int echo_ok(int fd, unsigned op, const uint8_t *p, size_t len)
{
    if (send_frame(fd, 1, op, p, len) != 0)
        return 0;
    struct frame f;
    if (read_frame(fd, &f) != 0)
        return 0;
    int ok = f.fin && f.op == op && f.len == len && memcmp(f.p, p, len) == 0;
    free(f.p);
    return ok;
}

static struct server *start(struct server_params *p)
{
    char err[256] = "";
    p->port = 0;
    struct server *s = server_start(p, err, sizeof err);
    if (!s)
        printf("# server_start: %s\n", err);
    return s;
}

static void test_handshake(uint16_t port)
{
    int fd = tcp_connect(port);
    char head[4096];
    CHECK_EQ_I64(
        upgrade_req(fd, "/echo", "Sec-WebSocket-Protocol: chat, superchat\r\n", head, sizeof head),
        101);
    CHECK(strstr(head, "\r\nSec-WebSocket-Accept: " ACCEPT "\r\n") != NULL);
    CHECK(strstr(head, "\r\nSec-WebSocket-Protocol: chat\r\n") != NULL);
    CHECK(strcasestr(head, "\r\nUpgrade: websocket\r\n") != NULL);
    CHECK(strstr(head, "Sec-WebSocket-Extensions") == NULL);
    CHECK(echo_ok(fd, 0x1, (const uint8_t *)"hi", 2));
    close(fd);

    /* Without a subprotocol offered, none is chosen; the head may arrive in pieces. */
    fd = tcp_connect(port);
    const char *part1 = "GET /echo?x=1 HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConn";
    const char *part2 =
        "ection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n";
    send_all(fd, part1, strlen(part1));
    usleep(20000);
    CHECK_EQ_I64(request(fd, part2, head, sizeof head), 101);
    CHECK(strstr(head, "Sec-WebSocket-Protocol") == NULL);
    CHECK(echo_ok(fd, 0x2, (const uint8_t *)"\x00\x01", 2));
    close(fd);

    /* A head with a frame right behind it, in one write. */
    fd = tcp_connect(port);
    char buf[1024];
    int n = snprintf(buf, sizeof buf,
                     "GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: "
                     "Upgrade\r\nSec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n");
    n += (int)frame_build((uint8_t *)buf + n, 1, 0x1, (const uint8_t *)"early", 5);
    send_all(fd, buf, (size_t)n);
    CHECK_EQ_I64(read_head(fd, head, sizeof head), 101);
    struct frame f;
    CHECK(read_frame(fd, &f) == 0 && f.op == 0x1 && f.len == 5 && memcmp(f.p, "early", 5) == 0);
    free(f.p);
    close(fd);
}

static void test_http_errors(uint16_t port)
{
    char head[4096];
    int fd = tcp_connect(port);
    CHECK_EQ_I64(upgrade_req(fd, "/nope", NULL, head, sizeof head), 404);
    CHECK(strstr(head, "\r\nContent-Length: 10\r\n") != NULL);
    char body[10];
    CHECK(recv_all(fd, body, sizeof body) == 0 && memcmp(body, "Not Found\n", 10) == 0);
    CHECK(read_eof(fd)); /* then the server closes */
    close(fd);

    fd = tcp_connect(port);
    CHECK_EQ_I64(request(fd, "GET /echo HTTP/1.1\r\nHost: a\r\n\r\n", head, sizeof head), 426);
    close(fd);

    fd = tcp_connect(port);
    CHECK_EQ_I64(request(fd,
                         "GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
                         head, sizeof head),
                 400);
    close(fd);

    fd = tcp_connect(port);
    CHECK_EQ_I64(request(fd,
                         "GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n"
                         "Sec-WebSocket-Version: 8\r\n\r\n",
                         head, sizeof head),
                 426);
    CHECK(strstr(head, "Sec-WebSocket-Version: 13") != NULL);
    close(fd);

    fd = tcp_connect(port);
    CHECK_EQ_I64(request(fd, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", head,
                         sizeof head),
                 405);
    close(fd);

    fd = tcp_connect(port);
    CHECK_EQ_I64(request(fd, "garbage\r\n\r\n", head, sizeof head), 400);
    close(fd);

    /* A head over 16 KiB: 431. */
    fd = tcp_connect(port);
    size_t big = 20000;
    char *req = malloc(big + 64);
    int n = snprintf(req, 64, "GET /echo HTTP/1.1\r\nX-Big: ");
    memset(req + n, 'a', big);
    memcpy(req + n + big, "\r\n\r\n", 5);
    send_all(fd, req, strlen(req));
    CHECK_EQ_I64(read_head(fd, head, sizeof head), 431);
    free(req);
    close(fd);
}

static void test_echo_sizes(uint16_t port)
{
    static const size_t sizes[] = {0, 1, 125, 126, 127, 65535, 65536, 70000, 1u << 20};
    int fd = ws_open(port);
    CHECK(fd >= 0);
    uint8_t *p = malloc(1u << 20);
    for (size_t i = 0; i < (1u << 20); i++)
        p[i] = (uint8_t)('a' + i % 26);
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        int ok_text = echo_ok(fd, 0x1, p, sizes[i]);
        int ok_bin = echo_ok(fd, 0x2, p, sizes[i]);
        char what[64];
        snprintf(what, sizeof what, "echo text+binary of %zu bytes", sizes[i]);
        tap_result(ok_text && ok_bin, __FILE__, __LINE__, what);
    }
    free(p);
    close(fd);
}

static void test_pipelined_and_split(uint16_t port)
{
    int fd = ws_open(port);
    /* 200 frames in one write: 200 echoes in order. */
    uint8_t *buf = malloc(200 * 64);
    size_t n = 0;
    for (int i = 0; i < 200; i++) {
        char msg[32];
        int len = snprintf(msg, sizeof msg, "msg-%d", i);
        n += frame_build(buf + n, 1, 0x1, (const uint8_t *)msg, (size_t)len);
    }
    send_all(fd, buf, n);
    int bad = 0;
    for (int i = 0; i < 200; i++) {
        char msg[32];
        int len = snprintf(msg, sizeof msg, "msg-%d", i);
        struct frame f;
        if (read_frame(fd, &f) != 0) {
            bad++;
            break;
        }
        CHECK_QUIET(f.op == 0x1 && f.len == (size_t)len && memcmp(f.p, msg, (size_t)len) == 0, bad);
        free(f.p);
    }
    CHECK_EQ_I64(bad, 0);

    /* One frame byte by byte: headers and payload split at every point. */
    uint8_t payload[300];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)i;
    n = frame_build(buf, 1, 0x2, payload, sizeof payload);
    for (size_t i = 0; i < n; i++) {
        send_all(fd, buf + i, 1);
        if (i < 20 || i % 50 == 0)
            usleep(1000);
    }
    struct frame f;
    CHECK(read_frame(fd, &f) == 0 && f.op == 0x2 && f.len == sizeof payload &&
          memcmp(f.p, payload, sizeof payload) == 0);
    free(f.p);

    /* A 200 KiB frame in three writes with pauses: the rest is read into the frame's chunk. */
    size_t big = 200u << 10;
    uint8_t *bp = malloc(big);
    uint8_t *fb = malloc(big + 14);
    for (size_t i = 0; i < big; i++)
        bp[i] = (uint8_t)(i * 7);
    n = frame_build(fb, 1, 0x2, bp, big);
    send_all(fd, fb, 7);
    usleep(20000);
    send_all(fd, fb + 7, 50000);
    usleep(20000);
    send_all(fd, fb + 50007, n - 50007);
    CHECK(read_frame(fd, &f) == 0 && f.len == big && memcmp(f.p, bp, big) == 0);
    free(f.p);
    free(bp);
    free(fb);
    free(buf);
    close(fd);
}

static void test_fragments_and_control(uint16_t port)
{
    int fd = ws_open(port);
    send_frame(fd, 0, 0x1, "Hel", 3);
    send_frame(fd, 1, 0x9, "pp", 2);
    send_frame(fd, 0, 0x0, "lo ", 3);
    send_frame(fd, 1, 0x0, "world", 5);
    static const struct {
        int fin;
        unsigned op;
        const char *p;
    } want[] = {{0, 0x1, "Hel"}, {1, 0xA, "pp"}, {0, 0x0, "lo "}, {1, 0x0, "world"}};
    for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
        struct frame f;
        int ok = read_frame(fd, &f) == 0 && f.fin == want[i].fin && f.op == want[i].op &&
                 f.len == strlen(want[i].p) && memcmp(f.p, want[i].p, f.len) == 0;
        char what[64];
        snprintf(what, sizeof what, "fragment sequence step %zu", i);
        tap_result(ok, __FILE__, __LINE__, what);
        free(f.p);
    }
    /* Ping with a 125-byte payload, pongs ignored. */
    uint8_t pp[125];
    memset(pp, 'x', sizeof pp);
    send_frame(fd, 1, 0xA, "unsolicited", 11);
    send_frame(fd, 1, 0x9, pp, sizeof pp);
    struct frame f;
    CHECK(read_frame(fd, &f) == 0 && f.op == 0xA && f.len == 125 && memcmp(f.p, pp, 125) == 0);
    free(f.p);
    /* Close with a reason: the same code back, then EOF. */
    send_frame(fd, 1, 0x8,
               "\x03\xe8"
               "bye",
               5);
    CHECK_EQ_I64(read_close(fd), 1000);
    CHECK(read_eof(fd));
    close(fd);

    fd = ws_open(port);
    send_frame(fd, 1, 0x8, "", 0);
    CHECK_EQ_I64(read_close(fd), 1000);
    CHECK(read_eof(fd));
    close(fd);

    fd = ws_open(port);
    send_frame(fd, 1, 0x8, "\x0b\xb9", 2); /* 3001 */
    CHECK_EQ_I64(read_close(fd), 3001);
    CHECK(read_eof(fd));
    close(fd);
}

static void test_violations(uint16_t port)
{
    /* Unmasked frame from a client: 1002 (5.1). */
    int fd = ws_open(port);
    send_all(fd, "\x81\x02hi", 4);
    CHECK_EQ_I64(read_close(fd), 1002);
    CHECK(read_eof(fd));
    close(fd);

    /* Invalid UTF-8: 1007; also when split across fragments and truncated at the end. */
    fd = ws_open(port);
    send_frame(fd, 1, 0x1, "ok\xff", 3);
    CHECK_EQ_I64(read_close(fd), 1007);
    CHECK(read_eof(fd));
    close(fd);

    fd = ws_open(port);
    send_frame(fd, 0, 0x1, "\xce", 1); /* first byte of U+03BA: valid so far */
    send_frame(fd, 1, 0x0, "\xba\xe2\x82", 3);
    struct frame f;
    CHECK(read_frame(fd, &f) == 0 && f.op == 0x1 && !f.fin && f.len == 1);
    free(f.p);
    CHECK_EQ_I64(read_close(fd), 1007);
    close(fd);

    /* Continuation without a message; a new message inside one; a reserved opcode; RSV1. */
    static const struct {
        uint8_t fin, op;
    } bad[] = {{1, 0x0}, {0, 0x3}, {1, 0xB}};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        fd = ws_open(port);
        send_frame(fd, bad[i].fin, bad[i].op, "x", 1);
        CHECK_EQ_I64(read_close(fd), 1002);
        close(fd);
    }
    fd = ws_open(port);
    send_frame(fd, 0, 0x1, "a", 1);
    send_frame(fd, 1, 0x2, "b", 1);
    struct frame f2;
    CHECK(read_frame(fd, &f2) == 0 && f2.len == 1);
    free(f2.p);
    CHECK_EQ_I64(read_close(fd), 1002);
    close(fd);
    fd = ws_open(port);
    send_all(fd, "\xc1\x80\x00\x00\x00\x00", 6); /* RSV1 without an extension */
    CHECK_EQ_I64(read_close(fd), 1002);
    close(fd);

    /* A frame over the per-thread limit: 1009, from the header alone. */
    fd = ws_open(port);
    uint8_t h[14] = {0x82, 0xff, 0, 0, 0, 0, 0x10, 0, 0, 0, 1, 2, 3, 4}; /* 256 MiB */
    send_all(fd, h, sizeof h);
    CHECK_EQ_I64(read_close(fd), 1009);
    close(fd);

    /* A bad close code: 1002. */
    fd = ws_open(port);
    send_frame(fd, 1, 0x8, "\x03\xed", 2); /* 1005 may not be sent */
    CHECK_EQ_I64(read_close(fd), 1002);
    close(fd);
}

/* A client that sends much more than it reads: the server stops reading at its queue limit
 * (back-pressure through TCP) and resumes as the client catches up; nothing is lost. */
enum { BP_FRAMES = 24, BP_SIZE = 1 << 20 };

static void *bp_sender(void *arg)
{
    int fd = *(int *)arg;
    uint8_t *p = malloc(BP_SIZE);
    for (int i = 0; i < BP_FRAMES; i++) {
        memset(p, 'A' + i, BP_SIZE);
        if (send_frame(fd, 1, 0x2, p, BP_SIZE) != 0)
            break;
    }
    free(p);
    return NULL;
}

static void test_backpressure(uint16_t port)
{
    int fd = ws_open(port);
    pthread_t th;
    pthread_create(&th, NULL, bp_sender, &fd);
    usleep(300000);
    int bad = 0;
    for (int i = 0; i < BP_FRAMES; i++) {
        struct frame f;
        if (read_frame(fd, &f) != 0) {
            bad++;
            break;
        }
        CHECK_QUIET(f.op == 0x2 && f.len == BP_SIZE && f.p[0] == 'A' + i &&
                        f.p[BP_SIZE - 1] == 'A' + i,
                    bad);
        free(f.p);
    }
    pthread_join(th, NULL);
    CHECK_EQ_I64(bad, 0);
    CHECK(echo_ok(fd, 0x1, (const uint8_t *)"after", 5));
    close(fd);
}

static void test_many(uint16_t port)
{
    enum { N = 200 };
    int fds[N], opened = 0, bad = 0;
    for (int i = 0; i < N; i++) {
        fds[i] = ws_open(port);
        if (fds[i] >= 0)
            opened++;
    }
    CHECK_EQ_I64(opened, N);
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < N; i++) {
            char msg[32];
            int len = snprintf(msg, sizeof msg, "c%d-r%d", i, round);
            CHECK_QUIET(fds[i] >= 0 && echo_ok(fds[i], 0x1, (const uint8_t *)msg, (size_t)len),
                        bad);
        }
    CHECK_EQ_I64(bad, 0);
    for (int i = 0; i < N; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* The server is stopped with these still open: a partial frame in a tail, a client that does not
 * read while echoes pile up in the queue, a half-sent head. */
static void leave_open(uint16_t port, int fds[3])
{
    fds[0] = ws_open(port);
    uint8_t b[64];
    size_t n = frame_build(b, 1, 0x1, (const uint8_t *)"partial frame payload", 21);
    send_all(fds[0], b, n - 5);

    fds[1] = ws_open(port);
    int small = 4096;
    setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    size_t big = 1u << 20;
    uint8_t *p = calloc(1, big);
    for (int i = 0; i < 4; i++)
        send_frame(fds[1], 1, 0x2, p, big);
    free(p);

    fds[2] = tcp_connect(port);
    send_all(fds[2], "GET /echo HTTP/1.1\r\nHo", 22);
    usleep(50000);
}

/* A fixed port already served by someone else (even with SO_REUSEPORT) is an error. */
static void test_port_in_use(uint16_t port)
{
    struct server_params p;
    server_params_defaults(&p);
    p.threads = 1;
    p.port = port;
    char err[256] = "";
    struct server *s = server_start(&p, err, sizeof err);
    CHECK(s == NULL);
    CHECK(strstr(err, "in use") != NULL);
    if (s)
        server_stop(s);
}

static void test_max_connections(void)
{
    struct server_params p;
    server_params_defaults(&p);
    p.threads = 2;
    p.max_connections = 2;
    struct server *s = start(&p);
    CHECK(s != NULL);
    if (!s)
        return;
    uint16_t port = server_port(s);
    int a = ws_open(port), b = ws_open(port);
    CHECK(a >= 0 && b >= 0);
    int c = tcp_connect(port);
    char head[2048];
    CHECK_EQ_I64(upgrade_req(c, "/echo", NULL, head, sizeof head), 503);
    close(c);
    /* Closing one makes room (the server notices the close asynchronously). */
    send_frame(a, 1, 0x8, "\x03\xe8", 2);
    CHECK_EQ_I64(read_close(a), 1000);
    CHECK(read_eof(a));
    close(a);
    int got = 0;
    for (int i = 0; i < 100 && got != 101; i++) {
        c = tcp_connect(port);
        got = upgrade_req(c, "/echo", NULL, head, sizeof head);
        if (got != 101) {
            close(c);
            usleep(10000);
        }
    }
    CHECK_EQ_I64(got, 101);
    CHECK(echo_ok(c, 0x1, (const uint8_t *)"room", 4));
    close(c);
    close(b);
    server_stop(s);
}

static void test_reject(void)
{
    struct server_params p;
    server_params_defaults(&p);
    p.threads = 1;
    p.reject = 1.0;
    struct server *s = start(&p);
    CHECK(s != NULL);
    if (!s)
        return;
    char head[2048];
    int fd = tcp_connect(server_port(s));
    CHECK_EQ_I64(upgrade_req(fd, "/echo", NULL, head, sizeof head), 503);
    close(fd);
    server_stop(s);
}

static void test_delay(void)
{
    struct server_params p;
    server_params_defaults(&p);
    p.threads = 1;
    p.delay_ns = 200 * NS_PER_MS;
    struct server *s = start(&p);
    CHECK(s != NULL);
    if (!s)
        return;
    int fd = ws_open(server_port(s));
    CHECK(fd >= 0);
    uint64_t t0 = mono_ns();
    CHECK(echo_ok(fd, 0x1, (const uint8_t *)"late", 4));
    uint64_t t1 = mono_ns();
    CHECK(t1 - t0 >= p.delay_ns);
    send_frame(fd, 1, 0x9, "p", 1);
    struct frame f;
    CHECK(read_frame(fd, &f) == 0 && f.op == 0xA);
    free(f.p);
    CHECK(mono_ns() - t1 >= p.delay_ns);
    /* Order holds across held replies: echo, pong, echo, close. */
    send_frame(fd, 1, 0x1, "a", 1);
    send_frame(fd, 1, 0x9, "b", 1);
    send_frame(fd, 1, 0x2, "c", 1);
    send_frame(fd, 1, 0x8, "\x03\xe8", 2);
    static const unsigned ops[] = {0x1, 0xA, 0x2};
    for (int i = 0; i < 3; i++) {
        CHECK(read_frame(fd, &f) == 0 && f.op == ops[i] && f.len == 1 && f.p[0] == "abc"[i]);
        free(f.p);
    }
    CHECK_EQ_I64(read_close(fd), 1000);
    CHECK(read_eof(fd));
    close(fd);
    /* Stop while replies are held. */
    fd = ws_open(server_port(s));
    send_frame(fd, 1, 0x1, "held", 4);
    usleep(20000);
    server_stop(s);
    close(fd);
}

/* A client that floods, with frames smaller and faster than the server can echo them (its echoes
 * drained at once, so back-pressure never pauses it), does not starve the other connections of
 * the thread: the server reads a flooding socket a bounded number of times per wake-up and comes
 * back to it after the others. Another client's echoes come back while the flood goes on, long
 * before the flood's own end (FLOOD_NS), which is when a server that read until EAGAIN would
 * first look at them. */
#define FLOOD_NS (30 * NS_PER_S)

struct flood {
    int fd;
    atomic_int stop; /* set by the test: stop sending */
    atomic_int expired; /* set by the sender: FLOOD_NS passed while the test still waited */
};

static void *flood_send(void *arg)
{
    struct flood *fl = arg;
    enum { N = 20000 };
    static uint8_t buf[N * 12];
    size_t len = 0;
    for (int i = 0; i < N; i++)
        len += frame_build(buf + len, 1, 0x2, (const uint8_t *)"flood!", 6);
    uint64_t end = mono_ns() + FLOOD_NS;
    while (!atomic_load(&fl->stop)) {
        if (mono_ns() >= end) {
            atomic_store(&fl->expired, 1);
            break;
        }
        if (send_all(fl->fd, buf, len) != 0)
            break;
    }
    shutdown(fl->fd, SHUT_WR);
    return NULL;
}

static void *flood_drain(void *arg)
{
    struct flood *fl = arg;
    static uint8_t buf[1 << 20];
    for (;;) {
        ssize_t r = recv(fl->fd, buf, sizeof buf, 0);
        if (r > 0 || (r < 0 && errno == EINTR))
            continue;
        if (r < 0 && errno == EAGAIN && !atomic_load(&fl->stop))
            continue; /* the socket's 10 s timeout while the flood goes on */
        return NULL;
    }
}

static void test_flood(void)
{
    struct server_params p;
    server_params_defaults(&p);
    p.threads = 1; /* the flooder and the other client share one loop */
    struct server *s = start(&p);
    CHECK(s != NULL);
    if (!s)
        return;
    struct flood fl = {.fd = ws_open(server_port(s))};
    int other = ws_open(server_port(s));
    CHECK(fl.fd >= 0 && other >= 0);
    pthread_t tx, rx;
    pthread_create(&rx, NULL, flood_drain, &fl);
    pthread_create(&tx, NULL, flood_send, &fl);
    usleep(200000); /* the flood is under way */
    int bad = 0;
    for (int i = 0; i < 5; i++) {
        char msg[16];
        int n = snprintf(msg, sizeof msg, "other %d", i);
        CHECK_QUIET(echo_ok(other, 0x1, (const uint8_t *)msg, (size_t)n), bad);
    }
    CHECK_EQ_I64(bad, 0);
    CHECK(!atomic_load(&fl.expired)); /* answered during the flood, not after it */
    atomic_store(&fl.stop, 1);
    pthread_join(tx, NULL);
    pthread_join(rx, NULL); /* the server closes the flooder after its EOF */
    close(fl.fd);
    close(other);
    server_stop(s);
}

static void test_stall(void)
{
    struct server_params p;
    server_params_defaults(&p);
    p.threads = 2;
    p.stall_ns = 300 * NS_PER_MS;
    p.stall_every_ns = 500 * NS_PER_MS;
    struct server *s = start(&p);
    CHECK(s != NULL);
    if (!s)
        return;
    uint64_t t_start = mono_ns();
    int fd = ws_open(server_port(s));
    CHECK(fd >= 0);
    /* Back-to-back pings for a full stall period: one of them waits out most of a stall. */
    uint64_t max_rtt = 0;
    int bad = 0;
    while (mono_ns() - t_start < 1100 * NS_PER_MS) {
        uint64_t t0 = mono_ns();
        send_frame(fd, 1, 0x9, "s", 1);
        struct frame f;
        if (read_frame(fd, &f) != 0) {
            bad++;
            break;
        }
        CHECK_QUIET(f.op == 0xA, bad);
        free(f.p);
        uint64_t rtt = mono_ns() - t0;
        if (rtt > max_rtt)
            max_rtt = rtt;
    }
    CHECK_EQ_I64(bad, 0);
    CHECK(max_rtt >= 200 * NS_PER_MS);
    close(fd);
    server_stop(s);
}

/* --die-after ends the whole process with status 0; run it in a child. */
static void test_die_after(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        struct server_params p;
        server_params_defaults(&p);
        p.threads = 2;
        p.port = 0;
        p.die_after_ns = 100 * NS_PER_MS;
        char err[256];
        struct server *s = server_start(&p, err, sizeof err);
        if (!s)
            _exit(7);
        sleep(5);
        _exit(9);
    }
    int st = 0;
    uint64_t t0 = mono_ns();
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(mono_ns() - t0 < 4 * NS_PER_S);
}

/* Out of descriptors: the server keeps serving once fds are back, and does not spin. */
static void test_emfile(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit rl = {.rlim_cur = 64, .rlim_max = 64};
        struct server_params p;
        server_params_defaults(&p);
        p.threads = 1;
        p.port = 0;
        char err[256];
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            _exit(7);
        struct server *s = server_start(&p, err, sizeof err);
        if (!s)
            _exit(7);
        uint16_t port = server_port(s);
        /* The client sockets share the limit: exhaust it from this side. */
        int fds[64], n = 0;
        while (n < 64) {
            int fd = tcp_connect(port);
            if (fd < 0)
                break;
            fds[n++] = fd;
        }
        usleep(200000);
        for (int i = 0; i < n; i++)
            close(fds[i]);
        usleep(200000);
        int fd = ws_open(port);
        int ok = fd >= 0 && echo_ok(fd, 0x1, (const uint8_t *)"back", 4);
        if (fd >= 0)
            close(fd);
        server_stop(s);
        exit(ok ? 0 : 1); /* not _exit: sanitizers and coverage check the child too */
    }
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_die_after();
    test_emfile();

    struct server_params p;
    server_params_defaults(&p);
    p.threads = 2;
    struct server *s = start(&p);
    CHECK(s != NULL);
    if (!s)
        return tap_done();
    uint16_t port = server_port(s);
    CHECK(port != 0);

    test_port_in_use(port);
    test_handshake(port);
    test_http_errors(port);
    test_echo_sizes(port);
    test_pipelined_and_split(port);
    test_fragments_and_control(port);
    test_violations(port);
    test_many(port);
    test_backpressure(port);
    int fds[3];
    leave_open(port, fds);
    int idle = ws_open(port);
    usleep(20000);
    server_stop(s);
    CHECK_EQ_I64(read_close(idle), 1001); /* going away */
    CHECK(read_eof(idle));
    close(idle);
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0)
            close(fds[i]);

    test_max_connections();
    test_reject();
    test_delay();
    test_stall();
    test_flood();
    return tap_done();
}
