/* test_proto_sse.c - the event stream parser: each rule of WHATWG HTML 9.2.6, the spec's
 * examples, and for every input the same events whole, split in two at every byte, and byte by
 * byte. A small consumer rebuilds events from the pieces as sse.h says and logs them as text:
 * "[type|data|id]" per dispatched event, "R<ms>;" per retry, "#<text>;" per comment and "$<id>"
 * (the last event id) at the end; NUL bytes are logged as "\0". */
#include "proto/sse.h"
#include "base/err.h"
#include "tap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BUF 8192

struct text {
    char s[BUF];
    size_t n;
};

struct rebuild {
    struct text data, type, id, pending_id, comment, log;
    int in_value; /* between a piece with SSE_F_START and the one with SSE_F_END */
    int errors; /* API contract violations seen */
};

static void put(struct text *t, const void *p, size_t n)
{
    if (n > sizeof t->s - t->n)
        n = sizeof t->s - t->n;
    if (n)
        memcpy(t->s + t->n, p, n);
    t->n += n;
}

static void put_str(struct text *t, const char *s)
{
    put(t, s, strlen(s));
}

/* Log text with NUL shown as "\0". */
static void put_log(struct text *log, const struct text *t)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->s[i])
            put(log, &t->s[i], 1);
        else
            put_str(log, "\\0");
    }
}

static void rebuild_init(struct rebuild *r)
{
    memset(r, 0, sizeof *r);
}

static void on_item(struct rebuild *r, const struct sse_item *it)
{
    int piece = it->kind == SSE_DATA || it->kind == SSE_EVENT || it->kind == SSE_ID ||
                it->kind == SSE_COMMENT;
    if (piece) {
        /* START exactly on the first piece of a value; pieces only point at bytes. */
        if (!!(it->flags & SSE_F_START) == r->in_value)
            r->errors++;
        if ((it->len == 0) != (it->p == NULL))
            r->errors++;
        if (it->len == 0 && !(it->flags & SSE_F_END))
            r->errors++;
        r->in_value = !(it->flags & SSE_F_END);
    } else if (it->flags || r->in_value) {
        r->errors++;
    }
    switch (it->kind) {
    case SSE_DATA:
        if (it->flags & SSE_F_LF)
            put_str(&r->data, "\n");
        put(&r->data, it->p, it->len);
        break;
    case SSE_EVENT:
        if (it->flags & SSE_F_START)
            r->type.n = 0;
        put(&r->type, it->p, it->len);
        break;
    case SSE_ID:
        if (it->flags & SSE_F_START)
            r->pending_id.n = 0;
        put(&r->pending_id, it->p, it->len);
        if ((it->flags & (SSE_F_END | SSE_F_NUL)) == SSE_F_END)
            r->id = r->pending_id;
        break;
    case SSE_COMMENT:
        if (it->flags & SSE_F_START)
            r->comment.n = 0;
        put(&r->comment, it->p, it->len);
        if (it->flags & SSE_F_END) {
            put_str(&r->log, "#");
            put_log(&r->log, &r->comment);
            put_str(&r->log, ";");
        }
        break;
    case SSE_RETRY: {
        char num[32];
        snprintf(num, sizeof num, "R%" PRIu64 ";", it->retry);
        put_str(&r->log, num);
        break;
    }
    case SSE_DISPATCH:
        put_str(&r->log, "[");
        if (r->type.n)
            put_log(&r->log, &r->type);
        else
            put_str(&r->log, "message");
        put_str(&r->log, "|");
        put_log(&r->log, &r->data);
        put_str(&r->log, "|");
        put_log(&r->log, &r->id);
        put_str(&r->log, "]");
        r->data.n = r->type.n = 0;
        break;
    case SSE_DISCARD:
        if (r->data.n)
            r->errors++;
        r->type.n = 0;
        break;
    default: r->errors++;
    }
}

/* Feed one chunk through a scratch copy that is clobbered afterwards, so a piece pointing
 * anywhere but into the current chunk would show. */
static void feed(struct sse_parser *p, struct rebuild *r, const uint8_t *chunk, size_t len)
{
    static uint8_t scratch[BUF];
    if (len > sizeof scratch) {
        r->errors++;
        return;
    }
    memcpy(scratch, chunk, len);
    size_t off = 0;
    for (;;) {
        struct sse_item it;
        size_t used = (size_t)-1;
        int k = sse_next(p, scratch + off, len - off, &used, &it);
        if (used > len - off || k < 0) {
            r->errors++;
            break;
        }
        if (k == SSE_NONE) {
            if (used != len - off)
                r->errors++;
            break;
        }
        if (used == 0 || k != it.kind ||
            (it.len && (it.p < scratch + off || it.p + it.len > scratch + off + used)))
            r->errors++;
        on_item(r, &it);
        off += used;
    }
    memset(scratch, 0xaa, len);
}

/* Parse in[0..n): whole (cut == n), or in two pieces at cut, or byte by byte (step 1). Returns
 * the log with the last event id appended. */
static struct text parse(const char *in, size_t n, size_t cut, size_t step, int *errors)
{
    struct sse_parser p;
    struct rebuild *r = malloc(sizeof *r);
    struct text log;
    sse_init(&p);
    rebuild_init(r);
    const uint8_t *u = (const uint8_t *)in;
    if (step) {
        for (size_t i = 0; i < n; i += step)
            feed(&p, r, u + i, n - i < step ? n - i : step);
    } else {
        feed(&p, r, u, cut);
        feed(&p, r, u + cut, n - cut);
    }
    put_str(&r->log, "$");
    put_log(&r->log, &r->id);
    *errors += r->errors;
    log = r->log;
    free(r);
    return log;
}

static int same(const struct text *a, const struct text *b)
{
    return a->n == b->n && memcmp(a->s, b->s, a->n) == 0;
}

/* Check the whole-input log against `want`, then every two-piece split and byte by byte
 * against the whole. */
static void check_n(const char *in, size_t n, const char *want)
{
    int errors = 0, differ = 0;
    struct text whole = parse(in, n, n, 0, &errors);
    put(&whole, "", 1);
    CHECK_EQ_STR(whole.s, want);
    whole.n--;
    for (size_t cut = 0; cut <= n; cut++) {
        struct text t = parse(in, n, cut, 0, &errors);
        CHECK_QUIET(same(&t, &whole), differ);
    }
    struct text t = parse(in, n, 0, 1, &errors);
    CHECK_QUIET(same(&t, &whole), differ);
    CHECK_EQ_I64(differ, 0);
    CHECK_EQ_I64(errors, 0);
}

static void check(const char *in, const char *want)
{
    check_n(in, strlen(in), want);
}

/* The examples of WHATWG HTML 9.2.5/9.2.6. */
static void test_spec_examples(void)
{
    tap_diag("spec examples");
    /* "The following event stream, once followed by a blank line ..." */
    check("data: YHOO\ndata: +2\ndata: 10\n\n", "[message|YHOO\n+2\n10|]$");
    /* "The following stream contains four blocks ..." */
    check(": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\n"
          "data:  third event\n",
          "# test stream;[message|first event|1][message|second event|]$");
    /* The same with its closing blank line: the last event fires, with one leading space. */
    check(": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\n"
          "data:  third event\n\n",
          "# test stream;[message|first event|1][message|second event|][message| third event|]$");
    /* "The following stream fires two events: ... The first block fires events with the data
     * set to the empty string ... the second with the data set to a single newline character.
     * The last block is discarded because it is not followed by a blank line." */
    check("data\n\ndata\ndata\n\ndata:", "[message||][message|\n|]$");
    /* "The following stream fires two identical events: ... because the space after the colon
     * is ignored if present." */
    check("data:test\n\ndata: test\n\n", "[message|test|][message|test|]$");
    /* Event types (9.2.4's "add"/"remove" example). */
    check("event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\nevent: add\n"
          "data: 113411\n\n",
          "[add|73857293|][remove|2153|][add|113411|]$");
}

static void test_line_ends(void)
{
    tap_diag("line ends: LF, CR, CRLF");
    check("data: a\ndata: b\n\n", "[message|a\nb|]$");
    check("data: a\rdata: b\r\r", "[message|a\nb|]$");
    check("data: a\r\ndata: b\r\n\r\n", "[message|a\nb|]$");
    check("data: a\r\ndata: b\rdata: c\n\r\n", "[message|a\nb\nc|]$");
    /* CRLF is one line end, LF CR and CR CR are two. */
    check("data: a\r\n\n", "[message|a|]$");
    check("data: a\n\r", "[message|a|]$");
    check("data: a\r\r", "[message|a|]$");
    check("data: a\r\ndata: b\n\r\n", "[message|a\nb|]$");
    /* Blank lines before anything are harmless. */
    check("\n\r\n\r\ndata: x\n\n", "[message|x|]$");
    check("\r\n\r\n", "$");

    /* CR at the end of one chunk, LF at the start of the next: one line end, not a blank line
     * (which would dispatch "a" alone). */
    struct sse_parser p;
    struct rebuild *r = malloc(sizeof *r);
    sse_init(&p);
    rebuild_init(r);
    feed(&p, r, (const uint8_t *)"data: a\r", 8);
    feed(&p, r, (const uint8_t *)"\ndata: b\n", 9);
    CHECK_EQ_I64(r->log.n, 0);
    feed(&p, r, (const uint8_t *)"\n", 1);
    put(&r->log, "", 1);
    CHECK_EQ_STR(r->log.s, "[message|a\nb|]");
    CHECK_EQ_I64(r->errors, 0);
    free(r);
}

static void test_bom(void)
{
    tap_diag("byte order mark");
    check("\xef\xbb\xbf"
          "data: x\n\n",
          "[message|x|]$");
    /* Only one is stripped: a second one makes the first line's field name unknown. */
    check("\xef\xbb\xbf\xef\xbb\xbf"
          "data: x\n\ndata: y\n\n",
          "[message|y|]$");
    /* Only at the start of the stream. */
    check("data: x\n\n\xef\xbb\xbf"
          "data: y\n\n",
          "[message|x|]$");
    /* A partial BOM is not a BOM: it starts an unknown field name (U+FFFD once decoded). */
    check("\xef\xbb"
          "data: x\n\ndata: y\n\n",
          "[message|y|]$");
    check("\xef"
          "data: x\n\ndata: y\n\n",
          "[message|y|]$");
    check("\xef:comment\ndata: y\n\n", "[message|y|]$");
    check("\xef\xbb\ndata: y\n\n", "[message|y|]$");
    check("\xef\xbb\xbf", "$");
    check("\xef\xbb\xbf\n:c\n", "#c;$");
    check("\xef\xbb\xbf:c\n", "#c;$");
}

static void test_fields(void)
{
    tap_diag("fields, colons and spaces");
    check("data:  two\n\n", "[message| two|]$");
    check("data:none\n\n", "[message|none|]$");
    check("data:\n\n", "[message||]$");
    check("data\n\n", "[message||]$");
    check("data:a:b: c\n\n", "[message|a:b: c|]$");
    check("data: a\ndata\ndata: b\n\n", "[message|a\n\nb|]$");
    check("data:\tx\n\n", "[message|\tx|]$");
    check("data: x \n\n", "[message|x |]$");
    /* Unknown fields, including near misses, are ignored. */
    check("data : x\n\n", "$");
    check(" data: x\n\n", "$");
    check("foo: bar\ndata: x\nDATA: y\ndatax: z\ndat: w\nevent2: q\nidx: 3\nretry1: 4\n\n",
          "[message|x|]$");
    check("dataaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: x\n\n", "$");
    check("Event: up\ndata: x\n\n", "[message|x|]$");
    check("foo\n\n", "$");
    /* Comments: everything after the colon, spaces kept; nothing else happens. */
    check(":\n: hi\n:: x\n\n", "#;# hi;#: x;$");
    check(":data: x\n\n", "#data: x;$");
    /* NUL and other bytes in data go through. */
    check_n("data: a\0b\n\n", 11, "[message|a\\0b|]$");
    check("data: \xff\xfe\n\n", "[message|\xff\xfe|]$");
}

static void test_dispatch(void)
{
    tap_diag("event type, dispatch, end of stream");
    check("event: a\nevent: b\ndata: x\n\n", "[b|x|]$");
    check("data: x\nevent: up\n\n", "[up|x|]$");
    check("event\ndata: x\n\n", "[message|x|]$");
    /* No data: no dispatch, and the type does not leak into the next event. */
    check("event: foo\n\ndata: x\n\n", "[message|x|]$");
    check("event: foo\n\n\n\n", "$");
    /* The type is per event. */
    check("event: foo\ndata: 1\n\ndata: 2\n\n", "[foo|1|][message|2|]$");
    /* End of stream without a blank line: the partial event is discarded. */
    check("data: x\n", "$");
    check("data: x", "$");
    check("data: x\n\ndata: y\n", "[message|x|]$");
    check("", "$");
}

static void test_id(void)
{
    tap_diag("id");
    check("id: 42\ndata: a\n\n", "[message|a|42]$42");
    /* The last event id persists across events, and is set without a dispatch. */
    check("id: 1\ndata: a\n\ndata: b\n\n", "[message|a|1][message|b|1]$1");
    check("id: 7\n\ndata: x\n\n", "[message|x|7]$7");
    check("id: 7\n\n", "$7");
    check("id: 7\n", "$7");
    /* An empty id resets it; "id" alone too. */
    check("id: 1\ndata: a\n\nid:\ndata: b\n\n", "[message|a|1][message|b|]$");
    check("id: 1\n\nid\n", "$");
    /* An id with NUL is ignored: the last one stays. */
    check_n("id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n", 32, "[message|a|1][message|b|1]$1");
    check_n("id: \0\n", 6, "$");
    check_n("id: 5\n\0id: 6\n", 13, "$5");
    /* An id line without its line end at the end of the stream never happened. */
    check("id: 1\n\nid: 2", "$1");
    check("id: a b \n", "$a b ");
}

/* WHATWG: dispatching sets the last event ID string from its buffer before anything else, even
 * for an event without data; a blank line after an id field is therefore reported (as DISCARD
 * when there is no data), so that the consumer can. */
static void test_id_only_event(void)
{
    static const struct {
        const char *in;
        int kinds[4];
    } cases[] = {
        {"id\n\n", {SSE_ID, SSE_DISCARD, SSE_NONE}},
        {"id: 9\n\n", {SSE_ID, SSE_DISCARD, SSE_NONE}},
        {"id: 9\ndata: x\n\n", {SSE_ID, SSE_DATA, SSE_DISPATCH, SSE_NONE}},
        {"id: a\0b\n\n", {SSE_ID, SSE_NONE}}, /* ignored id: nothing to set */
        {"\n\n", {SSE_NONE}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        struct sse_parser p;
        sse_init(&p);
        const uint8_t *b = (const uint8_t *)cases[k].in;
        size_t len = k == 3 ? 9 : strlen(cases[k].in), off = 0;
        int got[8], n = 0;
        while (n < 8) {
            struct sse_item it;
            size_t used = 0;
            int kind = sse_next(&p, b + off, len - off, &used, &it);
            off += used;
            got[n++] = kind;
            if (kind == SSE_NONE)
                break;
        }
        int same = 1;
        for (int i = 0; i < n; i++)
            same &= got[i] == cases[k].kinds[i];
        CHECK(same && cases[k].kinds[n - 1] == SSE_NONE);
    }
}

static void test_retry(void)
{
    tap_diag("retry");
    check("retry: 1000\n", "R1000;$");
    check("retry:0\n", "R0;$");
    check("retry: 007\r", "R7;$");
    check("retry: 18446744073709551615\n", "R18446744073709551615;$");
    check("retry: 99999999999999999999999999\n", "R18446744073709551615;$");
    check("retry: 3\ndata: x\n\n", "R3;[message|x|]$");
    /* Anything but ASCII digits: ignored. */
    check("retry: 10a\n", "$");
    check("retry: a10\n", "$");
    check("retry: -1\n", "$");
    check("retry: +1\n", "$");
    check("retry: 1.5\n", "$");
    check("retry: 1 \n", "$");
    check("retry:  5\n", "$");
    check("retry: \xd9\xa3\n", "$"); /* ARABIC-INDIC DIGIT THREE is not an ASCII digit */
    check("retry:\n", "$");
    check("retry\n", "$");
    check("retry: 5", "$");
    check("retry: 5\nretry: x\nretry: 6\n", "R5;R6;$");
}

/* Items as the API promises them: pieces, flags, and consumption. */
static void test_items(void)
{
    tap_diag("items and pieces");
    struct sse_parser p;
    struct sse_item it;
    size_t used;
    const uint8_t *a = (const uint8_t *)"data: abc\ndata: d\n\n";

    CHECK(sizeof(struct sse_parser) <= 24);
    sse_init(&p);
    CHECK_EQ_I64(sse_next(&p, a, 19, &used, &it), SSE_DATA);
    CHECK_EQ_U64(it.flags, SSE_F_START | SSE_F_END);
    CHECK(it.p == a + 6);
    CHECK_EQ_U64(it.len, 3);
    CHECK_EQ_U64(used, 10);
    CHECK_EQ_I64(sse_next(&p, a + 10, 9, &used, &it), SSE_DATA);
    CHECK_EQ_U64(it.flags, SSE_F_START | SSE_F_END | SSE_F_LF);
    CHECK(it.p == a + 16);
    CHECK_EQ_U64(used, 8);
    CHECK_EQ_I64(sse_next(&p, a + 18, 1, &used, &it), SSE_DISPATCH);
    CHECK_EQ_U64(used, 1);
    CHECK_EQ_I64(sse_next(&p, a + 19, 0, &used, &it), SSE_NONE);
    CHECK_EQ_U64(used, 0);

    /* A value in three chunks: a start piece, a middle piece, an empty end piece. */
    sse_init(&p);
    CHECK_EQ_I64(sse_next(&p, a, 7, &used, &it), SSE_DATA);
    CHECK_EQ_U64(it.flags, SSE_F_START);
    CHECK_EQ_U64(it.len, 1);
    CHECK_EQ_U64(used, 7);
    CHECK_EQ_I64(sse_next(&p, a + 7, 2, &used, &it), SSE_DATA);
    CHECK_EQ_U64(it.flags, 0);
    CHECK(it.p == a + 7 && it.len == 2);
    CHECK_EQ_I64(sse_next(&p, a + 9, 1, &used, &it), SSE_DATA);
    CHECK_EQ_U64(it.flags, SSE_F_END);
    CHECK(it.p == NULL && it.len == 0);
    CHECK_EQ_U64(used, 1);

    /* The name and the colon alone give nothing yet. */
    sse_init(&p);
    CHECK_EQ_I64(sse_next(&p, a, 6, &used, &it), SSE_NONE);
    CHECK_EQ_U64(used, 6);

    /* A NUL in an id is reported on the end piece. */
    sse_init(&p);
    CHECK_EQ_I64(sse_next(&p, (const uint8_t *)"id: \0", 5, &used, &it), SSE_ID);
    CHECK_EQ_U64(it.flags, SSE_F_START);
    CHECK_EQ_I64(sse_next(&p, (const uint8_t *)"1\n", 2, &used, &it), SSE_ID);
    CHECK_EQ_U64(it.flags, SSE_F_END | SSE_F_NUL);

    /* A long value streams through in as many pieces as chunks, without any limit. */
    enum { BIG = 1 << 20 };
    uint8_t *big = malloc(BIG);
    memset(big, 'x', BIG);
    memcpy(big, "data:", 5);
    sse_init(&p);
    size_t total = 0, pieces = 0, off = 0;
    int k, bad = 0;
    while ((k = sse_next(&p, big + off, BIG - off, &used, &it)) != SSE_NONE) {
        CHECK_QUIET(k == SSE_DATA, bad);
        total += it.len, pieces++, off += used;
    }
    CHECK_EQ_I64(bad, 0);
    CHECK_EQ_U64(total, BIG - 5);
    CHECK_EQ_U64(pieces, 1);
    for (int i = 0; i < 3; i++) {
        k = sse_next(&p, big + 5, BIG - 5, &used, &it);
        CHECK_EQ_I64(k, SSE_DATA);
        CHECK_EQ_U64(it.len, BIG - 5);
        CHECK_EQ_U64(it.flags, 0);
    }
    CHECK_EQ_I64(sse_next(&p, (const uint8_t *)"\n\n", 2, &used, &it), SSE_DATA);
    CHECK_EQ_U64(it.flags, SSE_F_END);
    CHECK_EQ_I64(sse_next(&p, (const uint8_t *)"\n", 1, &used, &it), SSE_DISPATCH);
    /* Same for a long field name, which is ignored. */
    memset(big, 'n', BIG);
    sse_init(&p);
    CHECK_EQ_I64(sse_next(&p, big, BIG, &used, &it), SSE_NONE);
    CHECK_EQ_I64(sse_next(&p, (const uint8_t *)"data: x\n\n", 9, &used, &it), SSE_NONE);
    free(big);
}

int main(void)
{
    test_id_only_event();
    test_spec_examples();
    test_line_ends();
    test_bom();
    test_fields();
    test_dispatch();
    test_id();
    test_retry();
    test_items();
    return tap_done();
}
