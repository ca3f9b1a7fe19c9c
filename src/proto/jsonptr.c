/* jsonptr.c - JSON Pointers (RFC 6901) found in one pass over a JSON text (RFC 8259).
 *
 * A recursive-descent validator that carries, down the document, the set of pointers (a bit
 * mask) whose tokens still match the path to where it is: entering a member or an element keeps
 * the pointers whose next token is its name or index, and a value at a pointer's full depth is
 * recorded where it lies. Nothing is copied or decoded on the way; member names are compared
 * with their escapes undone on the fly. The recursion is bounded by JSON_MAX_NESTING. */
#include "proto/jsonptr.h"

#include "base/compiler.h"
#include "base/err.h"

#include <string.h>

#define MAX_PTRS 64 /* the mask's width */

int jptr_compile(const char *p, size_t n, struct jptr *out, const char **why)
{
    memset(out, 0, sizeof *out);
    if (n == 0)
        return 0; /* the whole document */
    if (p[0] != '/') {
        *why = "a JSON pointer starts with /";
        return HERD_E_INVAL;
    }
    size_t used = 0, i = 0;
    while (i < n) {
        i++; /* the '/' */
        if (out->ntok == JPTR_MAX_DEPTH) {
            *why = "a JSON pointer deeper than 16 tokens";
            return HERD_E_INVAL;
        }
        out->off[out->ntok] = (uint16_t)used;
        size_t start = used;
        for (; i < n && p[i] != '/'; i++) {
            char c = p[i];
            if (c == '~') {
                if (i + 1 == n || (p[i + 1] != '0' && p[i + 1] != '1')) {
                    *why = "'~' in a JSON pointer must be ~0 or ~1";
                    return HERD_E_INVAL;
                }
                c = p[++i] == '0' ? '~' : '/';
            }
            if (used == JPTR_MAX_TEXT) {
                *why = "a JSON pointer longer than 256 bytes";
                return HERD_E_INVAL;
            }
            out->text[used++] = c;
        }
        out->len[out->ntok] = (uint16_t)(used - start);
        out->ntok++;
    }
    return 0;
}

/* An array index token: 0, or digits without a leading zero, that fits; else -1. */
static long token_index(const struct jptr *j, unsigned t)
{
    const char *s = j->text + j->off[t];
    size_t n = j->len[t];
    if (n == 0 || n > 9 || (n > 1 && s[0] == '0'))
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* ---- strings ---- */

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = (unsigned char)p[i], d;
        if (c - '0' < 10)
            d = c - '0';
        else if ((c | 0x20) - 'a' < 6)
            d = (c | 0x20) - 'a' + 10;
        else
            return -1;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

/* Decode the next character of a string's raw text at *pp (before end) into utf8[0..4); returns
 * its byte count, or 0 for an invalid escape. The raw text is already validated by scan_string,
 * so this only decodes. */
static int next_char(const char **pp, const char *end, char utf8[4])
{
    const char *p = *pp;
    if (*p != '\\') {
        utf8[0] = *p;
        *pp = p + 1;
        return 1;
    }
    char e = p[1];
    *pp = p + 2;
    switch (e) {
    case 'b': utf8[0] = '\b'; return 1;
    case 'f': utf8[0] = '\f'; return 1;
    case 'n': utf8[0] = '\n'; return 1;
    case 'r': utf8[0] = '\r'; return 1;
    case 't': utf8[0] = '\t'; return 1;
    case 'u': break;
    default: utf8[0] = e; return 1; /* \" \\ \/ */
    }
    unsigned cp;
    if (hex4(p + 2, &cp) != 0)
        return 0;
    *pp = p + 6;
    if (cp >= 0xd800 && cp < 0xdc00 && end - *pp >= 6 && (*pp)[0] == '\\' && (*pp)[1] == 'u') {
        unsigned lo;
        if (hex4(*pp + 2, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            *pp += 6;
        }
    }
    if (cp < 0x80) {
        utf8[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        utf8[0] = (char)(0xc0 | cp >> 6);
        utf8[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        utf8[0] = (char)(0xe0 | cp >> 12);
        utf8[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        utf8[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    utf8[0] = (char)(0xf0 | cp >> 18);
    utf8[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    utf8[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    utf8[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Whether a string's raw text raw[0..rn) is, unescaped, s[0..n). */
static int raw_eq(const char *raw, size_t rn, const char *s, size_t n)
{
    const char *p = raw, *end = raw + rn;
    size_t i = 0;
    while (p < end) {
        if (*p != '\\') { /* runs of plain bytes compare directly */
            if (i == n || *p != s[i])
                return 0;
            p++;
            i++;
            continue;
        }
        char u[4];
        int k = next_char(&p, end, u);
        if (k == 0 || n - i < (size_t)k || memcmp(s + i, u, (size_t)k) != 0)
            return 0;
        i += (size_t)k;
    }
    return i == n;
}

/* ---- the walk ---- */

struct walk {
    const char *p, *end;
    const struct jptr *ptrs;
    size_t n;
    struct jval *out;
};

static void ws(struct walk *w)
{
    while (w->p < w->end && (*w->p == ' ' || *w->p == '\t' || *w->p == '\n' || *w->p == '\r'))
        w->p++;
}

/* A string at w->p (its opening quote): *raw and *rn get what lies between the quotes. */
static int scan_string(struct walk *w, const char **raw, size_t *rn)
{
    const char *p = w->p + 1;
    const char *start = p;
    for (;;) {
        if (p == w->end)
            return HERD_E_PROTO;
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            break;
        if (c < 0x20)
            return HERD_E_PROTO;
        if (c == '\\') {
            if (w->end - p < 2)
                return HERD_E_PROTO;
            char e = p[1];
            if (e == 'u') {
                unsigned v;
                if (w->end - p < 6 || hex4(p + 2, &v) != 0)
                    return HERD_E_PROTO;
                p += 6;
                continue;
            }
            if (!memchr("\"\\/bfnrt", e, 8))
                return HERD_E_PROTO;
            p += 2;
            continue;
        }
        p++;
    }
    *raw = start;
    *rn = (size_t)(p - start);
    w->p = p + 1;
    return 0;
}

static int scan_number(struct walk *w)
{
    const char *p = w->p, *end = w->end;
    if (p < end && *p == '-')
        p++;
    if (p == end)
        return HERD_E_PROTO;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    } else {
        return HERD_E_PROTO;
    }
    if (p < end && *p == '.') {
        p++;
        if (p == end || *p < '0' || *p > '9')
            return HERD_E_PROTO;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p == end || *p < '0' || *p > '9')
            return HERD_E_PROTO;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    w->p = p;
    return 0;
}

static int literal(struct walk *w, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(w->end - w->p) < n || memcmp(w->p, lit, n) != 0)
        return HERD_E_PROTO;
    w->p += n;
    return 0;
}

/* The value at w->p, at `depth`, reached by the pointers in mask. */
static int value(struct walk *w, uint64_t mask, unsigned depth)
{
    ws(w);
    if (w->p == w->end)
        return HERD_E_PROTO;
    const char *start = w->p;
    uint8_t type;
    const char *vp = start;
    size_t vlen = 0;
    char c = *w->p;
    if (c == '{' || c == '[') {
        if (depth == JSON_MAX_NESTING)
            return HERD_E_PROTO;
        int obj = c == '{';
        type = obj ? JV_OBJECT : JV_ARRAY;
        w->p++;
        ws(w);
        if (w->p < w->end && *w->p == (obj ? '}' : ']')) {
            w->p++;
        } else {
            for (long index = 0;; index++) {
                uint64_t child = 0;
                if (obj) {
                    ws(w);
                    const char *k;
                    size_t kn;
                    if (w->p == w->end || *w->p != '"' || scan_string(w, &k, &kn) != 0)
                        return HERD_E_PROTO;
                    for (uint64_t m = mask; m; m &= m - 1) {
                        unsigned i = (unsigned)__builtin_ctzll(m);
                        const struct jptr *j = &w->ptrs[i];
                        if (j->ntok > depth &&
                            raw_eq(k, kn, j->text + j->off[depth], j->len[depth]))
                            child |= 1ull << i;
                    }
                    ws(w);
                    if (w->p == w->end || *w->p != ':')
                        return HERD_E_PROTO;
                    w->p++;
                } else {
                    for (uint64_t m = mask; m; m &= m - 1) {
                        unsigned i = (unsigned)__builtin_ctzll(m);
                        const struct jptr *j = &w->ptrs[i];
                        if (j->ntok > depth && token_index(j, depth) == index)
                            child |= 1ull << i;
                    }
                }
                int rc = value(w, child, depth + 1);
                if (rc != 0)
                    return rc;
                ws(w);
                if (w->p == w->end)
                    return HERD_E_PROTO;
                if (*w->p == ',') {
                    w->p++;
                    continue;
                }
                if (*w->p != (obj ? '}' : ']'))
                    return HERD_E_PROTO;
                w->p++;
                break;
            }
        }
        vlen = (size_t)(w->p - start);
    } else if (c == '"') {
        type = JV_STRING;
        if (scan_string(w, &vp, &vlen) != 0)
            return HERD_E_PROTO;
    } else if (c == 't' || c == 'f' || c == 'n') {
        type = c == 't' ? JV_TRUE : c == 'f' ? JV_FALSE : JV_NULL;
        if (literal(w, c == 't' ? "true" : c == 'f' ? "false" : "null") != 0)
            return HERD_E_PROTO;
        vlen = (size_t)(w->p - start);
    } else {
        type = JV_NUMBER;
        if (scan_number(w) != 0)
            return HERD_E_PROTO;
        vlen = (size_t)(w->p - start);
    }
    for (uint64_t m = mask; m; m &= m - 1) {
        unsigned i = (unsigned)__builtin_ctzll(m);
        if (w->ptrs[i].ntok == depth && w->out[i].type == JV_NONE)
            w->out[i] = (struct jval){vp, vlen, type};
    }
    return 0;
}

int json_find(const char *json, size_t len, const struct jptr *ptrs, size_t n, struct jval *out)
{
    HERD_ASSERT(n <= MAX_PTRS);
    for (size_t i = 0; i < n; i++)
        out[i] = (struct jval){0};
    struct walk w = {json, json + len, ptrs, n, out};
    uint64_t mask = n == MAX_PTRS ? ~0ull : (1ull << n) - 1;
    int rc = value(&w, mask, 0);
    if (rc == 0) {
        ws(&w);
        if (w.p != w.end)
            rc = HERD_E_PROTO;
    }
    if (rc != 0)
        for (size_t i = 0; i < n; i++)
            out[i] = (struct jval){0};
    return rc;
}

int jval_eq(const struct jval *v, const char *s, size_t n)
{
    if (v->type == JV_NONE)
        return 0;
    if (v->type == JV_STRING)
        return raw_eq(v->p, v->len, s, n);
    return v->len == n && memcmp(v->p, s, n) == 0;
}

long jval_copy(const struct jval *v, char *out, size_t cap)
{
    if (v->type == JV_NONE)
        return -1;
    if (v->type != JV_STRING) {
        if (v->len > cap)
            return -1;
        memcpy(out, v->p, v->len);
        return (long)v->len;
    }
    const char *p = v->p, *end = v->p + v->len;
    size_t n = 0;
    while (p < end) {
        char u[4];
        int k = next_char(&p, end, u);
        if (k == 0 || cap - n < (size_t)k)
            return -1;
        memcpy(out + n, u, (size_t)k);
        n += (size_t)k;
    }
    return (long)n;
}
