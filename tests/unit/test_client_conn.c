/* test_client_conn.c - the client's connection state machine, driven on this thread against
 * scripted peers: each connection gets one end of a socketpair (the run's connect seam) and the
 * test plays the server on the other end, byte by byte where it matters.
 *
 *   - the upgrade reply (with a message right behind it) split at every byte;
 *   - frames arriving one byte at a time: a PONG, a fragmented stamped message with a PING
 *     between its fragments;
 *   - close handshakes both ways, and a server that just goes away;
 *   - an SSE stream that drops and comes back with Last-Event-ID, after the server's `retry`. */
#include "base/clock.h"
#include "client/worker.h"
#include "proto/url.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- the scripted peers ---- */

#define MAX_PEERS 8
static int peers[MAX_PEERS];
static int npeers;

static int connect_pair(struct conn *c, void *arg)
{
    (void)c;
    (void)arg;
    int sv[2];
    if (npeers == MAX_PEERS || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0)
        return -EMFILE;
    peers[npeers++] = sv[1];
    return sv[0];
}

static void peers_close(void)
{
    for (int i = 0; i < npeers; i++)
        close(peers[i]);
    npeers = 0;
}

struct fixture {
    struct client_params p;
    struct client_run *r;
    struct worker *w;
    struct conn *c;
};

static void setup(struct fixture *f, const char *url, enum client_role role)
{
    memset(f, 0, sizeof *f);
    client_params_defaults(&f->p);
    const char *why = NULL;
    if (url_parse(url, &f->p.url, &why) != 0)
        abort();
    f->p.url_text = url;
    f->p.role = role;
    f->p.connections = 1;
    f->p.threads = 1;
}

static void start(struct fixture *f)
{
    char err[256];
    f->r = run__prepare(&f->p, err, sizeof err);
    if (!f->r) {
        printf("# run__prepare: %s\n", err);
        abort();
    }
    f->r->connect_fn = connect_pair;
    f->w = &f->r->workers[0];
    f->c = &f->w->conns[0];
    worker__begin(f->w);
}

static void finish(struct fixture *f)
{
    client_run_free(f->r);
    peers_close();
}

/* Run the client's loop until cond holds (or about two seconds pass). */
#define SPIN_UNTIL(f, cond)                                                                        \
    do {                                                                                           \
        for (int spin_ = 0; spin_ < 1000 && !(cond); spin_++)                                      \
            loop_run_once((f)->w->loop, 2 * NS_PER_MS);                                            \
    } while (0)

static void spin(struct fixture *f, int n)
{
    for (int i = 0; i < n; i++)
        loop_run_once(f->w->loop, 0);
}

static void peer_send(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EPIPE)
            return;
        if (w < 0) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            poll(&pfd, 1, 100);
            continue;
        }
        b += w;
        n -= (size_t)w;
    }
}

/* Send p[0..n) one byte at a time, letting the client read each before the next. */
static void peer_send_bytewise(struct fixture *f, int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        peer_send(fd, b + i, 1);
        spin(f, 2);
    }
}

/* What the client wrote so far (the client's writes happen inside its callbacks). */
static size_t peer_recv(int fd, uint8_t *out, size_t cap)
{
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, out + n, cap - n);
        if (r <= 0)
            return n;
        n += (size_t)r;
    }
}

static int64_t ctr(const struct fixture *f, int id)
{
    return (int64_t)f->w->st->ctr[id];
}

static int64_t hcount(const struct fixture *f, int m)
{
    return f->w->st->hist[m]->total_count;
}

/* The key of a WebSocket upgrade request in req (NUL-terminated), into key[25]. */
static int request_key(const char *req, char key[WS_KEY_LEN + 1])
{
    const char *k = strstr(req, "Sec-WebSocket-Key: ");
    if (!k)
        return -1;
    memcpy(key, k + 19, WS_KEY_LEN);
    key[WS_KEY_LEN] = 0;
    return 0;
}

static size_t reply_101(char *out, size_t cap, const char *key)
{
    char acc[WS_ACCEPT_LEN + 1];
    ws_accept_make(acc, key, strlen(key));
    return (size_t)snprintf(out, cap,
                            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                            "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                            acc);
}

/* Read the client's upgrade request from the peer and answer it (whole). */
static void accept_upgrade(struct fixture *f, int fd)
{
    uint8_t req[4096];
    SPIN_UNTIL(f, f->c->state == CS_HANDSHAKE);
    size_t n = peer_recv(fd, req, sizeof req - 1);
    req[n] = 0;
    char key[WS_KEY_LEN + 1], rep[512];
    CHECK_EQ_I64(request_key((char *)req, key), 0);
    peer_send(fd, rep, reply_101(rep, sizeof rep, key));
    SPIN_UNTIL(f, f->c->state != CS_HANDSHAKE);
}

/* The next frame the client sent, unmasked into payload; returns its opcode or -1. */
static int client_frame(int fd, uint8_t *payload, size_t *len)
{
    static uint8_t buf[65536];
    static size_t have;
    have += peer_recv(fd, buf + have, sizeof buf - have);
    struct ws_frame fr;
    int n = ws_frame_decode(buf, have, WS_F_EXPECT_MASKED, 1 << 20, &fr);
    if (n < 0)
        return -1;
    ws_mask(payload, buf + fr.head_len, (size_t)fr.payload_len, fr.mask, 0);
    *len = (size_t)fr.payload_len;
    memmove(buf, buf + n, have - (size_t)n);
    have -= (size_t)n;
    return fr.opcode;
}

static size_t server_frame(uint8_t *out, int fin, unsigned op, const void *p, size_t len)
{
    return ws_frame_encode(out, len + WS_MAX_HEAD, fin, 0, op, p, len, NULL);
}

/* ---- the upgrade reply split at every byte ---- */

static void test_upgrade_every_split(void)
{
    int bad = 0, cases = 0;
    for (size_t cut = 0;; cut++) {
        struct fixture f;
        setup(&f, "ws://127.0.0.1:9/x", ROLE_IDLE);
        start(&f);
        uint8_t req[4096];
        SPIN_UNTIL(&f, f.c->state == CS_HANDSHAKE);
        size_t n = peer_recv(peers[0], req, sizeof req - 1);
        req[n] = 0;
        char key[WS_KEY_LEN + 1];
        CHECK_QUIET(request_key((char *)req, key) == 0, bad);
        /* The 101, and a stamped message right behind it in the same bytes. */
        uint8_t msg[1024];
        size_t head = reply_101((char *)msg, sizeof msg, key), len = head;
        char text[64];
        int tl = snprintf(text, sizeof text, "x herd1:5:1:%llu y", (unsigned long long)real_ns());
        len += server_frame(msg + len, 1, WS_OP_TEXT, text, (size_t)tl);
        if (cut > len) {
            finish(&f);
            break;
        }
        cases++;
        peer_send(peers[0], msg, cut);
        spin(&f, 3);
        CHECK_QUIET(f.c->state == (cut < head ? CS_HANDSHAKE : CS_OPEN), bad);
        peer_send(peers[0], msg + cut, len - cut);
        SPIN_UNTIL(&f, ctr(&f, CTR_MESSAGES_RECEIVED) == 1);
        CHECK_QUIET(f.c->state == CS_OPEN, bad);
        CHECK_QUIET(ctr(&f, CTR_CONNECTIONS_OPENED) == 1, bad);
        CHECK_QUIET(ctr(&f, CTR_MESSAGES_RECEIVED) == 1, bad);
        CHECK_QUIET(hcount(&f, M_HANDSHAKE) == 1 && hcount(&f, M_LATENCY) == 1, bad);
        CHECK_QUIET(stats_errors_total(f.w->st) == 0, bad);
        CHECK_QUIET(ctr(&f, CTR_BYTES_RECEIVED) == (int64_t)len, bad);
        if (f.c->state != CS_OPEN) {
            printf("# cut %zu of %zu: state %d, bytes in %lld", cut, len, f.c->state,
                   (long long)ctr(&f, CTR_BYTES_RECEIVED));
            for (int e = 0; e < ERR_COUNT; e++)
                if (f.w->st->err[e])
                    printf(", errors.%s %llu", err_class_name[e],
                           (unsigned long long)f.w->st->err[e]);
            printf("\n");
        }
        finish(&f);
    }
    CHECK(cases > 150);
    CHECK_EQ_I64(bad, 0);
}

/* ---- frames one byte at a time ---- */

static void test_frames_bytewise(void)
{
    struct fixture f;
    setup(&f, "ws://127.0.0.1:9/x", ROLE_PING);
    start(&f);
    int fd = peers[0];
    accept_upgrade(&f, fd);
    CHECK_EQ_I64(f.c->state, CS_OPEN);
    /* The ping role sends one PING (pipeline 1) with its intended time as payload. */
    uint8_t pl[256], fr[512];
    size_t len = 0;
    CHECK_EQ_I64(client_frame(fd, pl, &len), WS_OP_PING);
    CHECK_EQ_U64(len, 8);
    size_t n = server_frame(fr, 1, WS_OP_PONG, pl, len);
    peer_send_bytewise(&f, fd, fr, n);
    CHECK_EQ_I64(ctr(&f, CTR_PINGS_RECEIVED), 1);
    CHECK_EQ_I64(hcount(&f, M_RTT), 1);
    /* The PONG made room: the next PING went out. */
    CHECK_EQ_I64(client_frame(fd, pl, &len), WS_OP_PING);

    /* A fragmented text message with its stamp in the first fragment and a PING between the
     * fragments, every byte on its own. */
    char text[64];
    int tl =
        snprintf(text, sizeof text, "{\"m\":\"herd1:3:7:%llu\"", (unsigned long long)real_ns());
    n = server_frame(fr, 0, WS_OP_TEXT, text, (size_t)tl);
    n += server_frame(fr + n, 1, WS_OP_PING, "hey", 3);
    n += server_frame(fr + n, 1, WS_OP_CONT, "}", 1);
    peer_send_bytewise(&f, fd, fr, n);
    CHECK_EQ_I64(ctr(&f, CTR_MESSAGES_RECEIVED), 1);
    CHECK_EQ_I64(hcount(&f, M_LATENCY), 1);
    CHECK_EQ_I64(hcount(&f, M_FIRST_MESSAGE), 1);
    /* The PING was answered with its payload. */
    CHECK_EQ_I64(client_frame(fd, pl, &len), WS_OP_PONG);
    CHECK(len == 3 && memcmp(pl, "hey", 3) == 0);
    CHECK_EQ_I64(stats_errors_total(f.w->st), 0);

    /* A stamp cut by fragment boundaries, after multi-byte UTF-8, a PING between the pieces:
     * timed all the same, once. */
    char stamp[64];
    int sl = snprintf(stamp, sizeof stamp, "herd1:3:8:%llu", (unsigned long long)real_ns());
    n = server_frame(fr, 0, WS_OP_TEXT, "\xc3\xa9\xe2\x82\xac ", 6);
    n += server_frame(fr + n, 0, WS_OP_CONT, stamp, 8);
    n += server_frame(fr + n, 1, WS_OP_PING, "", 0);
    n += server_frame(fr + n, 0, WS_OP_CONT, stamp + 8, (size_t)sl - 12);
    n += server_frame(fr + n, 0, WS_OP_CONT, stamp + sl - 4, 4);
    n += server_frame(fr + n, 1, WS_OP_CONT, " herd1:3:9:1", 12); /* a second stamp: ignored */
    peer_send(fd, fr, n);
    SPIN_UNTIL(&f, ctr(&f, CTR_MESSAGES_RECEIVED) == 2);
    CHECK_EQ_I64(ctr(&f, CTR_MESSAGES_RECEIVED), 2);
    CHECK_EQ_I64(hcount(&f, M_LATENCY), 2);
    CHECK(f.c->u.ws.h.open.frag == NULL);
    CHECK_EQ_I64(client_frame(fd, pl, &len), WS_OP_PONG);
    CHECK_EQ_I64(stats_errors_total(f.w->st), 0);

    /* A stamp from a clock 5 ms ahead of ours: still a sample (0), counted as ahead. */
    sl = snprintf(stamp, sizeof stamp, "herd1:4:1:%llu",
                  (unsigned long long)(real_ns() + 5 * NS_PER_MS));
    n = server_frame(fr, 1, WS_OP_TEXT, stamp, (size_t)sl);
    peer_send(fd, fr, n);
    SPIN_UNTIL(&f, ctr(&f, CTR_MESSAGES_RECEIVED) == 3);
    CHECK_EQ_I64(hcount(&f, M_LATENCY), 3);
    CHECK_EQ_I64(ctr(&f, CTR_LATENCY_AHEAD), 1);
    CHECK(f.w->st->ahead_max_us >= 3000 && f.w->st->ahead_max_us <= 5000);

    /* A frame that breaks the rules, byte by byte too: a continuation with no message. */
    n = server_frame(fr, 1, WS_OP_CONT, "z", 1);
    peer_send_bytewise(&f, fd, fr, n);
    CHECK_EQ_I64(f.c->state, CS_DONE);
    CHECK_EQ_U64(f.w->st->err[ERR_PROTOCOL], 1);
    finish(&f);
}

/* ---- close handshakes ---- */

static void test_close_by_server(void)
{
    struct fixture f;
    setup(&f, "ws://127.0.0.1:9/x", ROLE_IDLE);
    start(&f);
    int fd = peers[0];
    accept_upgrade(&f, fd);
    uint8_t fr[64], pl[64];
    size_t n = ws_close_encode(fr, WS_CLOSE_GOING_AWAY, NULL), len = 0;
    peer_send_bytewise(&f, fd, fr, n);
    /* Answered with the same code (RFC 6455 5.5.1), then the connection is over. */
    CHECK_EQ_I64(client_frame(fd, pl, &len), WS_OP_CLOSE);
    CHECK(len == 2 && pl[0] == 0x03 && pl[1] == 0xe9);
    CHECK_EQ_I64(f.c->state, CS_DONE);
    CHECK_EQ_U64(f.w->st->close_code[1001], 1);
    CHECK_EQ_I64(ctr(&f, CTR_CONNECTIONS_CLOSED), 1);
    finish(&f);
}

static void test_close_by_client(void)
{
    struct fixture f;
    setup(&f, "ws://127.0.0.1:9/x", ROLE_IDLE);
    start(&f);
    int fd = peers[0];
    accept_upgrade(&f, fd);
    conn__stop(f.c);
    CHECK_EQ_I64(f.c->state, CS_CLOSING);
    uint8_t fr[64], pl[64];
    size_t len = 0;
    CHECK_EQ_I64(client_frame(fd, pl, &len), WS_OP_CLOSE);
    CHECK(len == 2 && pl[0] == 0x03 && pl[1] == 0xe8);
    size_t n = ws_close_encode(fr, WS_CLOSE_NORMAL, NULL);
    peer_send_bytewise(&f, fd, fr, n);
    CHECK_EQ_I64(f.c->state, CS_DONE);
    CHECK_EQ_I64(stats_errors_total(f.w->st), 0);
    CHECK_EQ_I64(ctr(&f, CTR_CONNECTIONS_CLOSED), 1);
    finish(&f);
}

/* A close that is never answered: the grace period ends it, without an error. */
static void test_close_unanswered(void)
{
    struct fixture f;
    setup(&f, "ws://127.0.0.1:9/x", ROLE_IDLE);
    start(&f);
    accept_upgrade(&f, peers[0]);
    conn__stop(f.c);
    uint64_t t0 = mono_ns();
    for (int i = 0; i < 400 && f.c->state != CS_DONE; i++)
        loop_run_once(f.w->loop, 10 * NS_PER_MS);
    CHECK_EQ_I64(f.c->state, CS_DONE);
    CHECK(mono_ns() - t0 >= CLOSE_GRACE_NS - 50 * NS_PER_MS);
    CHECK_EQ_I64(stats_errors_total(f.w->st), 0);
    finish(&f);
}

/* The server goes away without a close frame: errors.eof. */
static void test_server_vanishes(void)
{
    struct fixture f;
    setup(&f, "ws://127.0.0.1:9/x", ROLE_IDLE);
    start(&f);
    accept_upgrade(&f, peers[0]);
    close(peers[0]);
    peers[0] = -1;
    SPIN_UNTIL(&f, f.c->state == CS_DONE);
    CHECK_EQ_I64(f.c->state, CS_DONE);
    CHECK_EQ_U64(f.w->st->err[ERR_EOF], 1);
    finish(&f);
}

/* ---- permessage-deflate ---- */

struct collect {
    uint8_t buf[1 << 16];
    size_t n;
};

static int collect_piece(void *ctx, const uint8_t *p, size_t len)
{
    struct collect *k = ctx;
    if (k->n + len > sizeof k->buf)
        return -1;
    memcpy(k->buf + k->n, p, len);
    k->n += len;
    return 0;
}

/* Answer the upgrade with `ext` as Sec-WebSocket-Extensions; returns the request. */
static void accept_upgrade_ext(struct fixture *f, int fd, const char *ext, char *req, size_t cap)
{
    SPIN_UNTIL(f, f->c->state == CS_HANDSHAKE);
    size_t n = peer_recv(fd, (uint8_t *)req, cap - 1);
    req[n] = 0;
    char key[WS_KEY_LEN + 1], acc[WS_ACCEPT_LEN + 1], rep[512];
    request_key(req, key);
    ws_accept_make(acc, key, strlen(key));
    int rl = snprintf(rep, sizeof rep,
                      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                      "Sec-WebSocket-Extensions: %s\r\n\r\n",
                      acc, ext);
    peer_send(fd, rep, (size_t)rl);
    SPIN_UNTIL(f, f->c->state != CS_HANDSHAKE);
}

static void test_deflate(void)
{
    struct fixture f;
    setup(&f, "ws://127.0.0.1:9/x", ROLE_ECHO);
    f.p.compress = 1;
    f.p.compress_params = "client_max_window_bits";
    f.p.max_message = 65536;
    start(&f);
    int fd = peers[0];
    char req[4096];
    accept_upgrade_ext(&f, fd,
                       "permessage-deflate; server_no_context_takeover; client_max_window_bits=10",
                       req, sizeof req);
    CHECK(strstr(req, "\r\nSec-WebSocket-Extensions: permessage-deflate; "
                      "client_max_window_bits\r\n") != NULL);
    CHECK_EQ_I64(f.c->state, CS_OPEN);
    CHECK(f.c->u.ws.h.open.pmd != NULL);

    /* The echo role's message goes out compressed: RSV1, and it inflates to a stamp. */
    static uint8_t raw[65536], pl[65536];
    size_t have = 0;
    for (int i = 0; i < 50 && have < 2; i++) {
        spin(&f, 2);
        have += peer_recv(fd, raw + have, sizeof raw - have);
    }
    struct ws_frame fr;
    int n = ws_frame_decode(raw, have, WS_F_EXPECT_MASKED | WS_F_ALLOW_RSV1, 1 << 20, &fr);
    CHECK(n > 0 && fr.rsv == 4 && fr.opcode == WS_OP_TEXT && fr.fin);
    ws_mask(pl, raw + fr.head_len, (size_t)fr.payload_len, fr.mask, 0);
    z_stream z;
    pmd_inflate_init(&z, 10);
    static struct collect got;
    static uint8_t scr[512];
    uint64_t total = 0;
    CHECK_EQ_I64(pmd_inflate(&z, pl, (size_t)fr.payload_len, 1, scr, sizeof scr, 1 << 20, &total,
                             collect_piece, &got),
                 0);
    struct stamp st;
    CHECK(stamp_find(got.buf, got.n, &st) >= 0);
    CHECK(ctr(&f, CTR_DEFLATE_SENT_PAYLOAD) == (int64_t)got.n);
    CHECK(ctr(&f, CTR_DEFLATE_SENT_COMPRESSED) == (int64_t)fr.payload_len);
    pmd_inflate_end(&z);

    /* Its echo, compressed by the server in two fragments, RSV1 on the first only, every byte
     * on its own: timed as an echo. */
    z_stream d;
    pmd_deflate_init(&d, 15, 8);
    static uint8_t comp[4096], out[8192];
    long cn = pmd_deflate(&d, got.buf, got.n, comp, sizeof comp, 1);
    size_t half = (size_t)cn / 2, on = 0;
    on += ws_frame_head_encode(out, 0, 4, WS_OP_TEXT, half, NULL);
    memcpy(out + on, comp, half);
    on += half;
    on += ws_frame_head_encode(out + on, 1, 0, WS_OP_CONT, (size_t)cn - half, NULL);
    memcpy(out + on, comp + half, (size_t)cn - half);
    on += (size_t)cn - half;
    peer_send_bytewise(&f, fd, out, on);
    CHECK_EQ_I64(ctr(&f, CTR_MESSAGES_RECEIVED), 1);
    CHECK_EQ_I64(hcount(&f, M_RTT), 1);
    CHECK_EQ_I64(ctr(&f, CTR_DEFLATE_RECEIVED_PAYLOAD), (int64_t)got.n);
    CHECK_EQ_I64(stats_errors_total(f.w->st), 0);

    /* A small frame that inflates past --max-message: closed with 1009, a protocol error. */
    static uint8_t zeros[1 << 20];
    cn = pmd_deflate(&d, zeros, sizeof zeros, comp, sizeof comp, 1);
    CHECK(cn > 0 && cn < 2048);
    on = ws_frame_encode(out, sizeof out, 1, 4, WS_OP_BINARY, comp, (size_t)cn, NULL);
    have = peer_recv(fd, raw, sizeof raw); /* what the echo role sent meanwhile */
    peer_send(fd, out, on);
    SPIN_UNTIL(&f, f.c->state == CS_DONE);
    CHECK_EQ_I64(f.c->state, CS_DONE);
    CHECK_EQ_U64(f.w->st->err[ERR_PROTOCOL], 1);
    CHECK(ctr(&f, CTR_DEFLATE_RECEIVED_PAYLOAD) <= (int64_t)got.n + 65536 + (16 << 10));
    have = peer_recv(fd, raw, sizeof raw);
    size_t at = 0, len = 0;
    int last = -1;
    while (at < have) { /* the close is the last frame the client sent */
        n = ws_frame_decode(raw + at, have - at, WS_F_EXPECT_MASKED | WS_F_ALLOW_RSV1, 1 << 20,
                            &fr);
        if (n <= 0)
            break;
        last = fr.opcode;
        len = (size_t)fr.payload_len;
        ws_mask(pl, raw + at + fr.head_len, len, fr.mask, 0);
        at += (size_t)n;
    }
    CHECK(last == WS_OP_CLOSE && len >= 2 && pl[0] == 0x03 && pl[1] == 0xf1);
    pmd_deflate_end(&d);
    finish(&f);

    /* An answer that accepts what was not offered fails the handshake. */
    setup(&f, "ws://127.0.0.1:9/x", ROLE_IDLE);
    f.p.compress = 1;
    start(&f);
    accept_upgrade_ext(&f, peers[0], "permessage-deflate; client_max_window_bits=10", req,
                       sizeof req);
    CHECK_EQ_I64(f.c->state, CS_DONE);
    CHECK_EQ_U64(f.w->st->err[ERR_HANDSHAKE], 1);
    finish(&f);

    /* A declined offer runs uncompressed. */
    setup(&f, "ws://127.0.0.1:9/x", ROLE_IDLE);
    f.p.compress = 1;
    start(&f);
    accept_upgrade(&f, peers[0]);
    CHECK_EQ_I64(f.c->state, CS_OPEN);
    CHECK(f.c->u.ws.h.open.pmd == NULL);
    finish(&f);
}

/* ---- SSE: a drop, `retry`, and Last-Event-ID ---- */

static size_t chunk(char *out, const char *data)
{
    return (size_t)sprintf(out, "%zx\r\n%s\r\n", strlen(data), data);
}

static void test_sse_reconnect(void)
{
    struct fixture f;
    setup(&f, "http://127.0.0.1:9/sse/t", ROLE_SUBSCRIBE);
    f.p.reconnect = 1;
    f.p.backoff = "fixed:2s"; /* the server's retry (50 ms) must win over this */
    start(&f);
    SPIN_UNTIL(&f, f.c->state == CS_HANDSHAKE);
    char req[4096], out[4096];
    size_t n = peer_recv(peers[0], (uint8_t *)req, sizeof req - 1);
    req[n] = 0;
    CHECK(strstr(req, "GET /sse/t HTTP/1.1\r\n") == req);
    CHECK(strstr(req, "Accept: text/event-stream\r\n") != NULL);
    CHECK(strstr(req, "Last-Event-ID") == NULL);
    n = (size_t)sprintf(out, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n");
    char ev[256];
    snprintf(ev, sizeof ev, "retry: 50\nid: 41\ndata: herd1:2:1:%llu\n\nid: 42\ndata: b\n\n",
             (unsigned long long)real_ns());
    n += chunk(out + n, ev);
    peer_send_bytewise(&f, peers[0], out, n);
    CHECK_EQ_I64(ctr(&f, CTR_MESSAGES_RECEIVED), 2);
    CHECK_EQ_I64(hcount(&f, M_LATENCY), 1);
    close(peers[0]);
    peers[0] = -1;
    uint64_t t_drop = mono_ns();
    SPIN_UNTIL(&f, npeers == 2 && f.c->state == CS_HANDSHAKE);
    CHECK_EQ_I64(npeers, 2);
    CHECK(mono_ns() - t_drop < NS_PER_S); /* the 50 ms retry, not the 2 s backoff */
    n = peer_recv(peers[1], (uint8_t *)req, sizeof req - 1);
    req[n] = 0;
    CHECK(strstr(req, "\r\nLast-Event-ID: 42\r\n") != NULL);
    CHECK_EQ_U64(f.w->st->err[ERR_EOF], 1);
    /* The second stream opens: a reconnect, timed. */
    /* It ends after an id line with no value: that resets the last event ID (WHATWG), so the
     * next request carries none. */
    n = (size_t)sprintf(out, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                             "Content-Length: 13\r\n\r\ndata: c\n\nid\n\n");
    peer_send(peers[1], out, n);
    SPIN_UNTIL(&f, ctr(&f, CTR_MESSAGES_RECEIVED) == 3);
    CHECK_EQ_I64(ctr(&f, CTR_CONNECTIONS_RECONNECTS), 1);
    CHECK_EQ_I64(hcount(&f, M_RECONNECT), 1);
    SPIN_UNTIL(&f, npeers == 3 && f.c->state == CS_HANDSHAKE);
    CHECK_EQ_I64(npeers, 3);
    n = peer_recv(peers[2], (uint8_t *)req, sizeof req - 1);
    req[n] = 0;
    CHECK(strstr(req, "GET /sse/t HTTP/1.1\r\n") == req);
    CHECK(strstr(req, "Last-Event-ID") == NULL);
    finish(&f);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* a client that closed is seen in the checks, not as a signal */
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_upgrade_every_split();
    test_frames_bytewise();
    test_close_by_server();
    test_close_by_client();
    test_close_unanswered();
    test_server_vanishes();
    test_deflate();
    test_sse_reconnect();
    return tap_done();
}
