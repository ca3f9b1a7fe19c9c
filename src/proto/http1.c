/* http1.c - HTTP/1.1 response and request heads (RFC 9112 2-5) and the chunked transfer coding
 * (RFC 9112 7.1).
 *
 * The head parsers are stateless: the caller hands all bytes received so far, and the parser
 * either finds the whole head or says HERD_E_AGAIN. Heads are parsed once per connection and are
 * small, so clarity wins over speed here; the chunked decoder, which runs per body byte, works
 * a run at a time with memchr and memmove. */
#include "proto/http1.h"

#include "base/compiler.h"
#include "base/err.h"

#include <string.h>

static int is_digit(unsigned c)
{
    return c - '0' < 10;
}

/* tchar (RFC 9110 5.6.2): ALPHA, DIGIT and !#$%&'*+-.^_`|~ */
#define T_DIGITS                                                                                   \
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,        \
    ['8'] = 1, ['9'] = 1
#define T_UPPER                                                                                    \
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,        \
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,        \
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,        \
    ['Y'] = 1, ['Z'] = 1
#define T_LOWER                                                                                    \
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,        \
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,        \
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,        \
    ['y'] = 1, ['z'] = 1
#define T_MARKS                                                                                    \
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,       \
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1
const uint8_t http1_tchar_map[256] = {T_DIGITS, T_UPPER, T_LOWER, T_MARKS};

static int is_tchar(unsigned c)
{
    return http1_tchar_map[c & 0xff];
}

/* Field values and reason phrases: VCHAR, SP, HTAB and obs-text (RFC 9110 5.5). Every other
 * control byte, a lone CR and NUL included, is refused: accepting them is how request smuggling
 * and header injection start (RFC 9110 5.5, last paragraph). */
static int is_text(unsigned c)
{
    return (c >= 0x20 && c != 0x7f) || c == '\t';
}

static int is_ows(unsigned c)
{
    return c == ' ' || c == '\t';
}

static unsigned ascii_lower(unsigned c)
{
    return c - 'A' < 26 ? c | 0x20 : c;
}

/* Case-insensitive comparison of ASCII names. Not strncasecmp: that one follows the locale, and
 * header names are ASCII whatever the locale (in tr_TR, 'I' is not the capital of 'i'). */
static int ascii_ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
            return 0;
    }
    return 1;
}

/* The end of the line starting at p: *lf gets the LF and the return value is where the line's
 * content ends (before the CR of a CRLF). NULL when no LF has arrived yet. A bare LF is accepted
 * as a line end (RFC 9112 2.2 allows a recipient to). */
static const char *line_end(const char *p, const char *end, const char **lf)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl)
        return NULL;
    *lf = nl;
    return nl > p && nl[-1] == '\r' ? nl - 1 : nl;
}

/* Field lines up to and including the empty line that ends the head (RFC 9112 5). */
static int parse_headers(const char *buf, const char *p, const char *end, struct http1_header *h,
                         size_t cap, size_t *count)
{
    size_t n = 0;
    for (;;) {
        if (p == end)
            return HERD_E_AGAIN;
        if (*p == '\r') {
            if (p + 1 == end)
                return HERD_E_AGAIN;
            if (p[1] != '\n')
                return HERD_E_PROTO;
            p += 2;
            break;
        }
        if (*p == '\n') {
            p++;
            break;
        }
        const char *lf, *eol = line_end(p, end, &lf);
        if (!eol)
            return HERD_E_AGAIN;

        /* A line starting with whitespace is an obs-fold (RFC 9112 5.2). The buffer is const,
         * so it cannot be replaced by spaces in place; no WebSocket or SSE server folds, and
         * failing loudly beats reading half a field. */
        const char *q = p;
        while (q < eol && is_tchar((unsigned char)*q))
            q++;
        /* No whitespace between the name and the colon (RFC 9112 5.1). */
        if (q == p || q == eol || *q != ':')
            return HERD_E_PROTO;

        const char *v = q + 1, *ve = eol;
        while (v < ve && is_ows((unsigned char)*v))
            v++;
        while (ve > v && is_ows((unsigned char)ve[-1]))
            ve--;
        for (const char *c = v; c < ve; c++) {
            if (!is_text((unsigned char)*c))
                return HERD_E_PROTO;
        }
        if (n == cap)
            return HERD_E_PROTO;
        h[n].name = p;
        h[n].name_len = (size_t)(q - p);
        h[n].value = v;
        h[n].value_len = (size_t)(ve - v);
        n++;
        p = lf + 1;
    }
    *count = n;
    return (int)(p - buf);
}

/* "HTTP/1." DIGIT at p, which ends at end; the minor version, or a negative error. */
static int parse_version(const char *p, const char *end)
{
    static const char v1[] = "HTTP/1.";
    if (end - p < (long)sizeof(v1) || memcmp(p, v1, sizeof(v1) - 1) != 0 ||
        !is_digit((unsigned char)p[sizeof(v1) - 1]))
        return HERD_E_PROTO;
    return p[sizeof(v1) - 1] - '0';
}

/* Whether the bytes so far could still begin with s; lets a garbage reply fail at once instead
 * of after HTTP1_MAX_HEAD bytes or a timeout. */
static int could_start_with(const char *p, const char *end, const char *s)
{
    size_t have = (size_t)(end - p), n = strlen(s);
    return memcmp(p, s, have < n ? have : n) == 0;
}

static int response_parse(const char *buf, size_t len, struct http1_response *r)
{
    if (len == 0) /* buf may be NULL */
        return HERD_E_AGAIN;
    const char *p = buf, *end = buf + len;
    if (!could_start_with(p, end, "HTTP/1."))
        return HERD_E_PROTO;

    /* status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 4) */
    const char *lf, *eol = line_end(p, end, &lf);
    if (!eol)
        return HERD_E_AGAIN;
    int minor = parse_version(p, eol);
    if (minor < 0)
        return minor;
    p += 8;
    if (eol - p < 4 || *p != ' ' || !is_digit((unsigned char)p[1]) ||
        !is_digit((unsigned char)p[2]) || !is_digit((unsigned char)p[3]))
        return HERD_E_PROTO;
    r->minor_version = minor;
    r->status = (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
    p += 4;
    /* The SP before an empty reason is often left out; accept that as most clients do. */
    if (p < eol && *p++ != ' ')
        return HERD_E_PROTO;
    r->reason = p;
    r->reason_len = (size_t)(eol - p);
    for (; p < eol; p++) {
        if (!is_text((unsigned char)*p))
            return HERD_E_PROTO;
    }

    size_t count;
    int rc = parse_headers(buf, lf + 1, end, r->headers, r->num_headers, &count);
    if (rc >= 0)
        r->num_headers = count;
    return rc;
}

static int request_parse(const char *buf, size_t len, struct http1_request *r)
{
    if (len == 0) /* buf may be NULL */
        return HERD_E_AGAIN;
    const char *p = buf, *end = buf + len;

    /* A server SHOULD ignore at least one empty line before the request-line (RFC 9112 2.2);
     * some clients send a CRLF after a POST body. */
    while (p < end && (*p == '\r' || *p == '\n')) {
        if (*p == '\r' && p + 1 < end && p[1] != '\n')
            return HERD_E_PROTO;
        p++;
    }
    if (p == end)
        return HERD_E_AGAIN;

    /* request-line = method SP request-target SP HTTP-version (RFC 9112 3) */
    const char *lf, *eol = line_end(p, end, &lf);
    if (!eol)
        return HERD_E_AGAIN;
    const char *m = p;
    while (p < eol && is_tchar((unsigned char)*p))
        p++;
    if (p == m || p == eol || *p != ' ')
        return HERD_E_PROTO;
    r->method = m;
    r->method_len = (size_t)(p - m);
    const char *t = ++p;
    /* The target has no whitespace or control bytes (RFC 9112 3.2). */
    while (p < eol && (unsigned char)*p > 0x20 && *p != 0x7f)
        p++;
    if (p == t || p == eol || *p != ' ')
        return HERD_E_PROTO;
    r->path = t;
    r->path_len = (size_t)(p - t);
    p++;
    int minor = parse_version(p, eol);
    if (minor < 0 || eol - p != 8)
        return HERD_E_PROTO;
    r->minor_version = minor;

    size_t count;
    int rc = parse_headers(buf, lf + 1, end, r->headers, r->num_headers, &count);
    if (rc >= 0)
        r->num_headers = count;
    return rc;
}

/* Both parsers look at no more than HTTP1_MAX_HEAD bytes: a head that has not ended by then is
 * too big, and nothing is scanned twice past the limit however much the peer sends.
 * num_headers is written only on success, so that a caller retrying after HERD_E_AGAIN passes
 * the same struct with its capacity intact. */
int http1_response_parse(const char *buf, size_t len, struct http1_response *r)
{
    int rc = response_parse(buf, len < HTTP1_MAX_HEAD ? len : HTTP1_MAX_HEAD, r);
    return rc == HERD_E_AGAIN && len >= HTTP1_MAX_HEAD ? HERD_E_TOO_BIG : rc;
}

int http1_request_parse(const char *buf, size_t len, struct http1_request *r)
{
    int rc = request_parse(buf, len < HTTP1_MAX_HEAD ? len : HTTP1_MAX_HEAD, r);
    return rc == HERD_E_AGAIN && len >= HTTP1_MAX_HEAD ? HERD_E_TOO_BIG : rc;
}

const struct http1_header *http1_header_find(const struct http1_header *h, size_t n,
                                             const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i++) {
        if (h[i].name_len == len && ascii_ieq(h[i].name, name, len))
            return &h[i];
    }
    return NULL;
}

/* #element lists (RFC 9110 5.6.1): elements separated by commas with optional whitespace around
 * them; empty elements are allowed and ignored. */
int http1_token_list_has(const char *value, size_t value_len, const char *token)
{
    size_t tlen = strlen(token);
    const char *p = value, *end = value + value_len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        const char *s = p;
        while (s < e && is_ows((unsigned char)*s))
            s++;
        const char *t = e;
        while (t > s && is_ows((unsigned char)t[-1]))
            t--;
        if ((size_t)(t - s) == tlen && ascii_ieq(s, token, tlen))
            return 1;
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
}

/* ---- body framing (RFC 9112 6) ---- */

int http1_content_length(const char *value, size_t len, uint64_t *out)
{
    /* 19 digits stay below 10^19 < 2^64: no overflow check needed per digit. */
    if (len == 0 || len > 19)
        return HERD_E_PROTO;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!is_digit((unsigned char)value[i]))
            return HERD_E_PROTO;
        v = v * 10 + (uint64_t)(value[i] - '0');
    }
    *out = v;
    return 0;
}

/* Fold the Content-Length list value[0..len) into *v (UINT64_MAX: none seen yet). Returns 0, or
 * HERD_E_PROTO for an invalid element or one that differs from those before it. */
static int content_length_fold(const char *value, size_t len, uint64_t *v)
{
    const char *p = value, *end = value + len;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        while (p < e && is_ows((unsigned char)*p))
            p++;
        const char *t = e;
        while (t > p && is_ows((unsigned char)t[-1]))
            t--;
        uint64_t one;
        if (http1_content_length(p, (size_t)(t - p), &one) != 0)
            return HERD_E_PROTO;
        if (*v != UINT64_MAX && *v != one)
            return HERD_E_PROTO;
        *v = one;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

/* Walk the codings of a Transfer-Encoding list value[0..len): *chunked_at gets the position (in
 * codings seen so far, counted in *ncodings) of a chunked coding, or stays -1. Returns 0, or
 * HERD_E_PROTO for an empty element or a second chunked. Coding parameters are not allowed on
 * chunked, and ignored on others (which make the body unreadable anyway). */
static int codings_scan(const char *value, size_t len, int *ncodings, int *chunked_at)
{
    const char *p = value, *end = value + len;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        while (p < e && is_ows((unsigned char)*p))
            p++;
        const char *t = p;
        while (t < e && is_tchar((unsigned char)*t))
            t++;
        if (t == p)
            return HERD_E_PROTO;
        if (t - p == 7 && ascii_ieq(p, "chunked", 7)) {
            const char *rest = t;
            while (rest < e && is_ows((unsigned char)*rest))
                rest++;
            if (*chunked_at >= 0 || rest != e)
                return HERD_E_PROTO;
            *chunked_at = *ncodings;
        }
        (*ncodings)++;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

int http1_body_framing(const struct http1_header *h, size_t n, int request, int minor,
                       uint64_t *length)
{
    uint64_t cl = UINT64_MAX;
    int has_te = 0, ncodings = 0, chunked_at = -1;
    for (size_t i = 0; i < n; i++) {
        if (h[i].name_len == 17 && ascii_ieq(h[i].name, "transfer-encoding", 17)) {
            has_te = 1;
            if (codings_scan(h[i].value, h[i].value_len, &ncodings, &chunked_at) != 0)
                return HERD_E_PROTO;
        } else if (h[i].name_len == 14 && ascii_ieq(h[i].name, "content-length", 14)) {
            if (content_length_fold(h[i].value, h[i].value_len, &cl) != 0)
                return HERD_E_PROTO;
        }
    }
    if (has_te) {
        /* Both: the smuggling shape (6.3 item 3). HTTP/1.0 knows no transfer coding, so a
         * framing that relies on one is faulty there (6.1). */
        if (cl != UINT64_MAX || minor < 1)
            return HERD_E_PROTO;
        /* herd undoes no coding but chunked, so chunked must be the only one: a body in gzip
         * (or anything else) could be neither read nor measured. */
        if (chunked_at != 0 || ncodings != 1)
            return HERD_E_PROTO;
        return HTTP1_BODY_CHUNKED;
    }
    if (cl != UINT64_MAX) {
        *length = cl;
        return HTTP1_BODY_LENGTH;
    }
    if (request) {
        *length = 0;
        return HTTP1_BODY_LENGTH;
    }
    return HTTP1_BODY_CLOSE;
}

/* ---- chunked transfer coding (RFC 9112 7.1) ----
 *
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   last-chunk   = 1*("0") [ chunk-ext ] CRLF
 *
 * A byte-driven state machine, so that input may be split anywhere; the data of a chunk is
 * moved as one run. The state struct is zero for "expecting a chunk-size". */
enum {
    CH_SIZE = 0, /* hex digits of chunk-size; c->remaining accumulates the value */
    CH_SIZE_WS, /* whitespace after the size (BWS before ';') */
    CH_EXT, /* chunk-ext, up to the line end */
    CH_SIZE_LF, /* CR seen at the end of the size line */
    CH_DATA, /* c->remaining bytes of chunk-data to go */
    CH_DATA_CR, /* the CRLF after chunk-data */
    CH_DATA_LF, /* CR seen after chunk-data */
    CH_TRAILER, /* start of a trailer line, or of the final CRLF */
    CH_TRAILER_IN, /* inside a trailer line */
    CH_END_LF, /* CR of the final CRLF seen */
    CH_DONE,
};

static int hex_value(unsigned c)
{
    if (c - '0' < 10)
        return (int)(c - '0');
    c |= 0x20;
    if (c - 'a' < 6)
        return (int)(c - 'a' + 10);
    return -1;
}

int http1_chunked_decode(struct http1_chunked *c, uint8_t *buf, size_t *len, size_t *consumed)
{
    size_t in = 0, out = 0, n = *len;
    int rc = 0;

    if (c->state == CH_DONE) {
        *len = 0;
        *consumed = 0;
        return 1;
    }
    while (in < n) {
        unsigned b = buf[in];
        switch (c->state) {
        case CH_SIZE: {
            int d = hex_value(b);
            if (d >= 0) {
                /* Four more bits would not fit: a size that cannot be a real chunk, and a
                 * classic overflow to smuggle a small size past a proxy. */
                if (c->remaining >> 60)
                    goto proto;
                c->remaining = c->remaining << 4 | (unsigned)d;
                if (c->hex_digits < UINT8_MAX)
                    c->hex_digits++;
                in++;
                continue;
            }
            if (c->hex_digits == 0)
                goto proto;
            if (is_ows(b))
                c->state = CH_SIZE_WS;
            else if (b == ';')
                c->state = CH_EXT;
            else if (b == '\r')
                c->state = CH_SIZE_LF;
            else if (b == '\n')
                goto size_line_done;
            else
                goto proto;
            in++;
            continue;
        }
        case CH_SIZE_WS:
            if (b == ';')
                c->state = CH_EXT;
            else if (b == '\r')
                c->state = CH_SIZE_LF;
            else if (b == '\n')
                goto size_line_done;
            else if (!is_ows(b))
                goto proto;
            in++;
            continue;
        case CH_EXT:
            /* Extensions are ignored (RFC 9112 7.1.1), but their bytes must be text. */
            while (in < n && buf[in] != '\r' && buf[in] != '\n') {
                if (!is_text(buf[in]))
                    goto proto;
                in++;
            }
            if (in == n)
                continue;
            if (buf[in] == '\n')
                goto size_line_done;
            c->state = CH_SIZE_LF;
            in++;
            continue;
        case CH_SIZE_LF:
            if (b != '\n')
                goto proto;
            goto size_line_done;
        case CH_DATA: {
            size_t run = n - in;
            if (run > c->remaining)
                run = (size_t)c->remaining;
            memmove(buf + out, buf + in, run);
            out += run;
            in += run;
            c->remaining -= run;
            if (c->remaining == 0)
                c->state = CH_DATA_CR;
            continue;
        }
        case CH_DATA_CR:
            if (b == '\r') {
                c->state = CH_DATA_LF;
                in++;
                continue;
            }
            if (b != '\n')
                goto proto;
            goto next_chunk;
        case CH_DATA_LF:
            if (b != '\n')
                goto proto;
            goto next_chunk;
        case CH_TRAILER:
            if (b == '\r')
                c->state = CH_END_LF;
            else if (b == '\n')
                goto done;
            else
                c->state = CH_TRAILER_IN;
            in++;
            continue;
        case CH_TRAILER_IN: {
            /* Trailer fields are dropped: herd has no use for them, and RFC 9110 6.5.1 lets a
             * recipient discard them. */
            const uint8_t *lf = memchr(buf + in, '\n', n - in);
            if (!lf) {
                in = n;
                continue;
            }
            in = (size_t)(lf - buf) + 1;
            c->state = CH_TRAILER;
            continue;
        }
        case CH_END_LF:
            if (b != '\n')
                goto proto;
            goto done;
        default: goto proto;
        }

    size_line_done:
        in++;
        c->state = c->remaining ? CH_DATA : CH_TRAILER;
        continue;
    next_chunk:
        in++;
        c->state = CH_SIZE;
        c->remaining = 0;
        c->hex_digits = 0;
        continue;
    done:
        in++;
        c->state = CH_DONE;
        rc = 1;
        break;
    }
    *len = out;
    *consumed = in;
    return rc;

proto:
    *len = out;
    *consumed = in;
    return HERD_E_PROTO;
}
