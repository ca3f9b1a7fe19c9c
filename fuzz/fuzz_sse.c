/* fuzz_sse.c - libFuzzer target for the event stream parser.
 * Invariants: *consumed <= len, at least 1 byte per item, all of it for SSE_NONE; pieces lie in
 * the consumed bytes; START/END flags bracket each value. The events rebuilt from the pieces
 * (logged as text) are the same whole, in chunks of sizes drawn from the input, and byte by byte,
 * and the same as a plain line-at-a-time reading of WHATWG HTML 9.2.6. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/compiler.h"
#include "proto/sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct text {
    uint8_t *s;
    size_t n, cap;
};

static void put(struct text *t, const void *p, size_t n)
{
    if (t->n + n > t->cap) {
        t->cap = (t->n + n) * 2 + 64;
        t->s = realloc(t->s, t->cap);
        HERD_ASSERT(t->s);
    }
    if (n)
        memcpy(t->s + t->n, p, n);
    t->n += n;
}

static void put_str(struct text *t, const char *s)
{
    put(t, s, strlen(s));
}

static void put_event(struct text *log, const struct text *type, const struct text *d,
                      const struct text *id)
{
    put_str(log, "[");
    if (type->n)
        put(log, type->s, type->n);
    else
        put_str(log, "message");
    put_str(log, "|");
    put(log, d->s, d->n);
    put_str(log, "|");
    put(log, id->s, id->n);
    put_str(log, "]");
}

static void put_retry(struct text *log, uint64_t ms)
{
    char num[32];
    snprintf(num, sizeof num, "R%llu;", (unsigned long long)ms);
    put_str(log, num);
}

static void text_free(struct text *t)
{
    free(t->s);
}

/* The consumer sse.h describes. */
struct rebuild {
    struct text d, type, id, pending, comment, log;
    int in_value;
};

static void on_item(struct rebuild *r, const struct sse_item *it)
{
    int piece = it->kind == SSE_DATA || it->kind == SSE_EVENT || it->kind == SSE_ID ||
                it->kind == SSE_COMMENT;
    if (piece) {
        HERD_ASSERT(!!(it->flags & SSE_F_START) != r->in_value);
        HERD_ASSERT((it->len == 0) == (it->p == NULL));
        HERD_ASSERT(it->len || (it->flags & SSE_F_END));
        r->in_value = !(it->flags & SSE_F_END);
    } else {
        HERD_ASSERT(!it->flags && !r->in_value);
    }
    switch (it->kind) {
    case SSE_DATA:
        if (it->flags & SSE_F_LF)
            put_str(&r->d, "\n");
        put(&r->d, it->p, it->len);
        break;
    case SSE_EVENT:
        if (it->flags & SSE_F_START)
            r->type.n = 0;
        put(&r->type, it->p, it->len);
        break;
    case SSE_ID:
        if (it->flags & SSE_F_START)
            r->pending.n = 0;
        put(&r->pending, it->p, it->len);
        if ((it->flags & (SSE_F_END | SSE_F_NUL)) == SSE_F_END) {
            r->id.n = 0;
            put(&r->id, r->pending.s, r->pending.n);
        }
        break;
    case SSE_COMMENT:
        if (it->flags & SSE_F_START)
            r->comment.n = 0;
        put(&r->comment, it->p, it->len);
        if (it->flags & SSE_F_END) {
            put_str(&r->log, "#");
            put(&r->log, r->comment.s, r->comment.n);
            put_str(&r->log, ";");
        }
        break;
    case SSE_RETRY: put_retry(&r->log, it->retry); break;
    case SSE_DISPATCH:
        put_event(&r->log, &r->type, &r->d, &r->id);
        r->d.n = r->type.n = 0;
        break;
    case SSE_DISCARD:
        HERD_ASSERT(r->d.n == 0);
        r->type.n = 0;
        break;
    default: HERD_ASSERT(0);
    }
}

/* Parse in chunks: step > 0 is a fixed size, step == 0 sizes from a generator seeded by seed
 * (0 for the whole input at once). Each chunk is a fresh allocation, so ASan catches pieces that
 * point outside it. Returns the log. */
static struct text parse(const uint8_t *data, size_t size, size_t step, uint32_t seed)
{
    struct sse_parser p;
    struct rebuild r;
    memset(&r, 0, sizeof r);
    sse_init(&p);
    size_t start = 0;
    while (start < size) {
        size_t n = size - start;
        if (step) {
            n = n < step ? n : step;
        } else if (seed) {
            seed = seed * 1103515245u + 12345u;
            size_t want = 1 + (seed >> 16) % 17;
            n = n < want ? n : want;
        }
        uint8_t *chunk = malloc(n);
        HERD_ASSERT(chunk);
        memcpy(chunk, data + start, n);
        size_t off = 0;
        for (;;) {
            struct sse_item it;
            size_t used = (size_t)-1;
            int k = sse_next(&p, chunk + off, n - off, &used, &it);
            HERD_ASSERT(used <= n - off);
            if (k == SSE_NONE) {
                HERD_ASSERT(used == n - off);
                break;
            }
            HERD_ASSERT(k == it.kind && k > 0 && used >= 1);
            HERD_ASSERT(!it.len || (it.p >= chunk + off && it.p + it.len <= chunk + off + used));
            on_item(&r, &it);
            off += used;
        }
        free(chunk);
        start += n;
    }
    put_str(&r.log, "$");
    put(&r.log, r.id.s, r.id.n);
    text_free(&r.d);
    text_free(&r.type);
    text_free(&r.id);
    text_free(&r.pending);
    text_free(&r.comment);
    return r.log;
}

/* The spec read literally: split into lines, then process each line. */
static struct text reference(const uint8_t *s, size_t size)
{
    struct text log = {0}, d = {0}, type = {0}, id = {0};
    int has_data = 0;
    size_t i = size >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
    for (;;) {
        size_t j = i;
        while (j < size && s[j] != '\r' && s[j] != '\n')
            j++;
        if (j == size)
            break; /* an unfinished line at the end is discarded */
        const uint8_t *line = s + i;
        size_t n = j - i;
        i = j + 1 + (s[j] == '\r' && j + 1 < size && s[j + 1] == '\n');
        if (n == 0) {
            if (has_data)
                put_event(&log, &type, &d, &id);
            d.n = type.n = 0;
            has_data = 0;
            continue;
        }
        if (line[0] == ':') {
            put_str(&log, "#");
            put(&log, line + 1, n - 1);
            put_str(&log, ";");
            continue;
        }
        const uint8_t *colon = memchr(line, ':', n);
        size_t name_len = colon ? (size_t)(colon - line) : n;
        const uint8_t *v = colon ? colon + 1 : line + n;
        size_t vn = n - (size_t)(v - line);
        if (vn && v[0] == ' ')
            v++, vn--;
        if (name_len == 4 && memcmp(line, "data", 4) == 0) {
            if (has_data)
                put_str(&d, "\n");
            put(&d, v, vn);
            has_data = 1;
        } else if (name_len == 5 && memcmp(line, "event", 5) == 0) {
            type.n = 0;
            put(&type, v, vn);
        } else if (name_len == 2 && memcmp(line, "id", 2) == 0) {
            if (!memchr(v, 0, vn)) {
                id.n = 0;
                put(&id, v, vn);
            }
        } else if (name_len == 5 && memcmp(line, "retry", 5) == 0) {
            uint64_t ms = 0;
            size_t k = 0;
            while (k < vn && v[k] >= '0' && v[k] <= '9') {
                unsigned dig = v[k++] - '0';
                ms = ms > (UINT64_MAX - dig) / 10 ? UINT64_MAX : ms * 10 + dig;
            }
            if (vn && k == vn)
                put_retry(&log, ms);
        }
    }
    put_str(&log, "$");
    put(&log, id.s, id.n);
    text_free(&d);
    text_free(&type);
    text_free(&id);
    return log;
}

static void same(const struct text *a, const struct text *b)
{
    HERD_ASSERT(a->n == b->n && (a->n == 0 || memcmp(a->s, b->s, a->n) == 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct text whole = parse(data, size, 0, 0);
    struct text ref = reference(data, size);
    same(&whole, &ref);

    uint32_t seed = 2166136261u;
    for (size_t i = 0; i < size; i++)
        seed = (seed ^ data[i]) * 16777619u;
    struct text chunked = parse(data, size, 0, seed | 1);
    same(&whole, &chunked);
    text_free(&chunked);

    if (size <= 4096) {
        struct text bytes = parse(data, size, 1, 0);
        same(&whole, &bytes);
        text_free(&bytes);
    }
    text_free(&whole);
    text_free(&ref);
    return 0;
}
