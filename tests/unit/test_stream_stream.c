/* test_stream_stream.c - the buffered stream over a real socketpair: units split at every byte
 * and kept across reads, large units completed in their own chunk, the read budget, pauses,
 * rationed reads, EOF, and output queued when the kernel pushes back, with due times.
 *
 * The consumer speaks a toy protocol: a unit is a 4-byte big-endian length and that many bytes;
 * it consumes whole units only and says how long an incomplete one is once its header is in. */
#include "base/compiler.h"
#include "base/pool.h"
#include "stream/stream.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct sink {
    size_t units; /* whole units consumed */
    uint64_t sum; /* of every payload byte, weighted by position */
    size_t max_len; /* the longest buffer handed over */
    int stop_after; /* return STREAM_STOP once this many units were seen (0: never) */
    int pause_after; /* stream_pause once this many units were seen (0: never) */
    struct stream *s;
};

static long consume(void *ctx, uint8_t *buf, size_t len, size_t *need)
{
    struct sink *k = ctx;
    size_t off = 0;
    if (len > k->max_len)
        k->max_len = len;
    while (len - off >= 4) {
        uint32_t n = (uint32_t)buf[off] << 24 | (uint32_t)buf[off + 1] << 16 |
                     (uint32_t)buf[off + 2] << 8 | buf[off + 3];
        if (len - off < 4 + (size_t)n) {
            *need = 4 + (size_t)n;
            break;
        }
        for (uint32_t i = 0; i < n; i++)
            k->sum += (uint64_t)buf[off + 4 + i] * (i + 1);
        off += 4 + n;
        k->units++;
        if (k->stop_after && k->units == (size_t)k->stop_after)
            return STREAM_STOP;
        if (k->pause_after && k->units == (size_t)k->pause_after)
            stream_pause(k->s);
    }
    return (long)off;
}

static size_t unit_put(uint8_t *out, uint32_t n, uint8_t seed)
{
    out[0] = (uint8_t)(n >> 24);
    out[1] = (uint8_t)(n >> 16);
    out[2] = (uint8_t)(n >> 8);
    out[3] = (uint8_t)n;
    for (uint32_t i = 0; i < n; i++)
        out[4 + i] = (uint8_t)(seed + i * 13);
    return 4 + n;
}

static uint64_t unit_sum(uint32_t n, uint8_t seed)
{
    uint64_t s = 0;
    for (uint32_t i = 0; i < n; i++)
        s += (uint64_t)(uint8_t)(seed + i * 13) * (i + 1);
    return s;
}

static struct pool pool;
static uint8_t rbuf[64 << 10];
static const struct stream_env env = {&pool, rbuf, sizeof rbuf};
static const struct stream_rd rd_all = {.limit = SIZE_MAX};

static void pair(int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0)
        abort();
}

static void send_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            abort();
        p += w;
        n -= (size_t)w;
    }
}

/* Three units (small, empty, 300 bytes) split into two writes at every point, each write read
 * separately: the units come out whole and in order, and the split part is kept in between. */
static void test_every_split(void)
{
    uint8_t msg[512];
    size_t len = unit_put(msg, 5, 1);
    len += unit_put(msg + len, 0, 2);
    len += unit_put(msg + len, 300, 3);
    uint64_t want = unit_sum(5, 1) + unit_sum(300, 3);
    int bad = 0;
    for (size_t cut = 0; cut <= len; cut++) {
        int sv[2];
        pair(sv);
        struct stream s;
        stream_init(&s, sv[0]);
        struct sink k = {.s = &s};
        send_all(sv[1], msg, cut);
        size_t got = 0;
        int rc = stream_read(&s, &env, &rd_all, consume, &k, &got);
        CHECK_QUIET(rc == STREAM_DRAINED && got == cut, bad);
        send_all(sv[1], msg + cut, len - cut);
        rc = stream_read(&s, &env, &rd_all, consume, &k, &got);
        CHECK_QUIET(rc == STREAM_DRAINED && got == len - cut, bad);
        CHECK_QUIET(k.units == 3 && k.sum == want && stream_rx_held(&s) == 0, bad);
        close(sv[1]);
        rc = stream_read(&s, &env, &rd_all, consume, &k, NULL);
        CHECK_QUIET(rc == STREAM_EOF, bad);
        stream_close(&s, &pool, 0);
    }
    CHECK_EQ_I64(bad, 0);
}

/* One byte at a time: the kept bytes grow by one each read. */
static void test_one_byte_reads(void)
{
    uint8_t msg[64];
    size_t len = unit_put(msg, 40, 9);
    int sv[2];
    pair(sv);
    struct stream s;
    stream_init(&s, sv[0]);
    struct sink k = {.s = &s};
    int bad = 0;
    for (size_t i = 0; i < len; i++) {
        send_all(sv[1], msg + i, 1);
        int rc = stream_read(&s, &env, &rd_all, consume, &k, NULL);
        CHECK_QUIET(rc == STREAM_DRAINED, bad);
        CHECK_QUIET(stream_rx_held(&s) == (i + 1 < len ? i + 1 : 0), bad);
    }
    CHECK_EQ_I64(bad, 0);
    CHECK_EQ_U64(k.units, 1);
    CHECK_EQ_U64(k.sum, unit_sum(40, 9));
    close(sv[1]);
    stream_close(&s, &pool, 0);
}

/* A unit larger than the read buffer is completed in its own chunk: handed over whole, once. */
static void test_large_unit(void)
{
    int sv[2];
    pair(sv);
    int big = 4 << 20;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    uint32_t n = 600000;
    uint8_t *msg = malloc(4 + n + 64);
    size_t len = unit_put(msg, n, 5);
    len += unit_put(msg + len, 10, 6);
    struct stream s;
    stream_init(&s, sv[0]);
    struct sink k = {.s = &s};
    size_t sent = 0;
    int guard = 0;
    while (k.units < 2 && guard++ < 100000) {
        if (sent < len) {
            ssize_t w = write(sv[1], msg + sent, len - sent < 70000 ? len - sent : 70000);
            if (w > 0)
                sent += (size_t)w;
        }
        int rc = stream_read(&s, &env, &rd_all, consume, &k, NULL);
        CHECK_QUIET(rc == STREAM_DRAINED || rc == STREAM_BUDGET, guard);
    }
    CHECK_EQ_U64(k.units, 2);
    CHECK_EQ_U64(k.sum, unit_sum(n, 5) + unit_sum(10, 6));
    CHECK(k.max_len >= 4 + n); /* the big unit came in one piece */
    CHECK_EQ_U64(stream_rx_held(&s), 0);
    CHECK_EQ_U64(pool.outstanding, 0);
    free(msg);
    close(sv[1]);
    stream_close(&s, &pool, 0);
}

/* A peer that keeps the socket full: one stream_read stops at its budget, with input left. */
static void test_budget(void)
{
    int sv[2];
    pair(sv);
    int big = 4 << 20;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    static uint8_t msg[(64 << 10) * (STREAM_READ_BUDGET + 4)];
    size_t len = 0, units = 0;
    while (len + 1004 <= sizeof msg) {
        len += unit_put(msg + len, 1000, (uint8_t)units);
        units++;
    }
    size_t sent = 0;
    for (;;) {
        ssize_t w = write(sv[1], msg + sent, len - sent);
        if (w <= 0)
            break;
        sent += (size_t)w;
        if (sent == len)
            break;
    }
    struct stream s;
    stream_init(&s, sv[0]);
    struct sink k = {.s = &s};
    size_t got = 0;
    int rc = stream_read(&s, &env, &rd_all, consume, &k, &got);
    if (sent > sizeof rbuf * STREAM_READ_BUDGET) {
        CHECK_EQ_I64(rc, STREAM_BUDGET);
        CHECK(got <= sizeof rbuf * STREAM_READ_BUDGET);
    } else {
        tap_diag("the socket took less than a budget's worth: budget not reached");
        CHECK(rc == STREAM_DRAINED);
    }
    /* Called again, it reads on from where it stopped. */
    while (rc == STREAM_BUDGET)
        rc = stream_read(&s, &env, &rd_all, consume, &k, NULL);
    CHECK_EQ_I64(rc, STREAM_DRAINED);
    CHECK_EQ_U64(k.units, sent / 1004);
    close(sv[1]);
    stream_close(&s, &pool, 0);
}

/* Pause, stop, rationed reads (limit, piece) and the hup rule. */
static void test_pause_stop_limit(void)
{
    uint8_t msg[4096];
    size_t len = 0;
    for (int i = 0; i < 10; i++)
        len += unit_put(msg + len, 100, (uint8_t)i);
    int sv[2];
    pair(sv);
    struct stream s;
    stream_init(&s, sv[0]);
    struct sink k = {.s = &s, .pause_after = 3};
    send_all(sv[1], msg, len);
    struct stream_rd piece = {.limit = SIZE_MAX, .piece = 250};
    int rc = stream_read(&s, &env, &piece, consume, &k, NULL);
    /* 250-byte reads: the second read's buffer (42 kept + 250) completes units 3 and 4; the
     * pause asked for at the third ends the reading after that buffer. */
    CHECK_EQ_I64(rc, STREAM_PAUSED);
    CHECK_EQ_U64(k.units, 4);
    CHECK(k.max_len <= 250 + 104);
    struct stream_rd lim = {.limit = 300};
    size_t got = 0;
    rc = stream_read(&s, &env, &lim, consume, &k, &got);
    CHECK_EQ_I64(rc, STREAM_LIMIT);
    CHECK_EQ_U64(got, 300);
    CHECK_EQ_U64(k.units, 7); /* 84 kept + 300 = 384: three more units, 72 bytes kept */
    CHECK_EQ_U64(stream_rx_held(&s), 72);
    k.stop_after = 8;
    rc = stream_read(&s, &env, &rd_all, consume, &k, NULL);
    CHECK_EQ_I64(rc, STREAM_STOPPED);
    CHECK_EQ_U64(k.units, 8);
    stream_close(&s, &pool, 0);
    close(sv[1]);

    /* EOF right behind data, with hup: the same call sees both. */
    pair(sv);
    stream_init(&s, sv[0]);
    struct sink k2 = {.s = &s};
    send_all(sv[1], msg, 104);
    close(sv[1]);
    struct stream_rd hup = {.limit = SIZE_MAX, .hup = 1};
    rc = stream_read(&s, &env, &hup, consume, &k2, NULL);
    CHECK_EQ_I64(rc, STREAM_EOF);
    CHECK_EQ_U64(k2.units, 1);
    stream_close(&s, &pool, 0);
    CHECK_EQ_U64(pool.outstanding, 0);
}

static size_t drain(int fd, uint8_t *out, size_t cap)
{
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, out + n, cap - n);
        if (r <= 0)
            return n;
        n += (size_t)r;
    }
}

/* Writes: at once while the kernel takes them; queued behind when it does not, flushed in order
 * later; due times hold chunks back until their time. */
static void test_write_queue(void)
{
    int sv[2];
    pair(sv);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    struct stream s;
    stream_init(&s, sv[0]);
    static uint8_t data[1 << 20], back[1 << 20];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7);
    ssize_t w = stream_write(&s, &pool, data, 100);
    CHECK_EQ_I64(w, 100);
    CHECK(!stream_tx_pending(&s));
    w = stream_write(&s, &pool, data + 100, 300000);
    CHECK(w >= 0 && w < 300000);
    CHECK(stream_tx_pending(&s));
    CHECK_EQ_U64(s.tx_bytes, 300000 - (size_t)w);
    /* Queued bytes keep their order behind later writes. */
    struct iovec iov[2] = {{data + 300100, 50}, {data + 300150, 70}};
    CHECK_EQ_I64(stream_writev(&s, &pool, iov, 2, 0, 0, 1), 0);
    size_t have = 0;
    int guard = 0;
    while ((stream_tx_pending(&s) || have < 300220) && guard++ < 10000) {
        have += drain(sv[1], back + have, sizeof back - have);
        CHECK_QUIET(stream_flush(&s, &pool, 0) >= 0, guard);
    }
    have += drain(sv[1], back + have, sizeof back - have);
    CHECK_EQ_U64(have, 300220);
    CHECK_EQ_MEM(back, data, 300220);
    CHECK_EQ_U64(s.tx_bytes, 0);

    /* Due times: a chunk due later is not written by an earlier flush. */
    CHECK_EQ_I64(stream_writev(&s, &pool, &(struct iovec){data, 10}, 1, 5000, 1000, 1), 0);
    CHECK(stream_tx_pending(&s));
    CHECK_EQ_U64(stream_tx_due(&s), 5000);
    CHECK_EQ_I64(stream_flush(&s, &pool, 4999), 0);
    CHECK_EQ_I64(stream_flush(&s, &pool, 5000), 10);
    CHECK(!stream_tx_pending(&s));
    /* try_now 0 only queues. */
    CHECK_EQ_I64(stream_writev(&s, &pool, &(struct iovec){data, 10}, 1, 0, 0, 0), 0);
    CHECK_EQ_U64(s.tx_bytes, 10);
    stream_tx_discard(&s, &pool);
    CHECK_EQ_U64(s.tx_bytes, 0);
    /* A write to a closed peer is an error, not a queue. */
    close(sv[1]);
    drain(sv[0], back, sizeof back);
    w = stream_write(&s, &pool, data, 10);
    CHECK(w == -EPIPE || w == -ECONNRESET);
    stream_close(&s, &pool, 0);
    CHECK_EQ_U64(pool.outstanding, 0);
}

/* stream_try_writev writes what the kernel takes and queues nothing; it writes nothing while a
 * queue exists (the queue goes first). */
static void test_try_write(void)
{
    int sv[2];
    pair(sv);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    struct stream s;
    stream_init(&s, sv[0]);
    static uint8_t data[1 << 20], back[1 << 20];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 11);
    struct iovec iov = {data, 100};
    CHECK_EQ_I64(stream_try_writev(&s, &iov, 1), 100);
    /* The kernel takes part of a large write: the rest is the caller's, nothing is queued. */
    iov = (struct iovec){data + 100, 300000};
    ssize_t w = stream_try_writev(&s, &iov, 1);
    CHECK(w > 0 && w < 300000);
    CHECK(!stream_tx_pending(&s));
    CHECK_EQ_U64(s.tx_bytes, 0);
    /* Full: nothing is taken. */
    iov = (struct iovec){data + 100 + w, 300000 - (size_t)w};
    CHECK_EQ_I64(stream_try_writev(&s, &iov, 1), 0);
    /* The caller queues its rest; a try then writes nothing until the queue is gone. */
    CHECK_EQ_I64(stream_writev(&s, &pool, &iov, 1, 0, 0, 0), 0);
    CHECK_EQ_I64(stream_try_writev(&s, &(struct iovec){data, 1}, 1), 0);
    size_t have = 0;
    int guard = 0;
    while ((stream_tx_pending(&s) || have < 300100) && guard++ < 10000) {
        have += drain(sv[1], back + have, sizeof back - have);
        CHECK_QUIET(stream_flush(&s, &pool, 0) >= 0, guard);
    }
    have += drain(sv[1], back + have, sizeof back - have);
    CHECK_EQ_U64(have, 300100);
    CHECK_EQ_MEM(back, data, 300100);
    stream_close(&s, &pool, 0);
    close(sv[1]);
    CHECK_EQ_U64(pool.outstanding, 0);
}

int main(void)
{
    pool_init(&pool);
    test_every_split();
    test_one_byte_reads();
    test_large_unit();
    test_budget();
    test_pause_stop_limit();
    test_write_queue();
    test_try_write();
    pool_destroy(&pool);
    return tap_done();
}
