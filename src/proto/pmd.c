/* pmd.c - permessage-deflate (RFC 7692): negotiation and the per-message codec.
 *
 * The Sec-WebSocket-Extensions grammar (RFC 6455 9.1, RFC 7692 5):
 *   extension-list  = 1#element
 *   element         = token *( OWS ";" OWS param )
 *   param           = token [ "=" ( token / quoted-string ) ]
 * and a parameter value, token or quoted, must be a token once unquoted. */
#include "proto/pmd.h"

#include "base/compiler.h"
#include "base/err.h"
#include "proto/http1.h"

#include <stdio.h>
#include <string.h>

/* ---- parsing the header ---- */

/* One parsed element: its name and up to 8 parameters. */
#define PMD_MAX_PARAMS 8
struct ext_param {
    const char *name;
    size_t name_len;
    char value[16]; /* unquoted; a longer value is invalid for every parameter we know */
    int has_value;
    int value_bad; /* too long, or not a token once unquoted */
};
struct ext_elem {
    const char *name;
    size_t name_len;
    struct ext_param params[PMD_MAX_PARAMS];
    size_t nparams;
    int too_many;
};

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static int ieq(const char *a, size_t n, const char *b)
{
    if (strlen(b) != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned x = (unsigned char)a[i], y = (unsigned char)b[i];
        if ((x - 'A' < 26 ? x | 0x20 : x) != (y - 'A' < 26 ? y | 0x20 : y))
            return 0;
    }
    return 1;
}

static const char *skip_ows(const char *p, const char *end)
{
    while (p < end && is_ows(*p))
        p++;
    return p;
}

static const char *token_end(const char *p, const char *end)
{
    while (p < end && http1_is_tchar((unsigned char)*p))
        p++;
    return p;
}

/* Parse one element at *pp (up to a comma or the end). Returns 0 and advances *pp past the
 * element's comma, or -1 for a syntax error. */
static int elem_parse(const char **pp, const char *end, struct ext_elem *e)
{
    const char *p = skip_ows(*pp, end);
    memset(e, 0, sizeof *e);
    const char *t = token_end(p, end);
    if (t == p)
        return -1;
    e->name = p;
    e->name_len = (size_t)(t - p);
    p = skip_ows(t, end);
    while (p < end && *p == ';') {
        p = skip_ows(p + 1, end);
        t = token_end(p, end);
        if (t == p)
            return -1;
        struct ext_param tmp, *pa = e->nparams < PMD_MAX_PARAMS ? &e->params[e->nparams] : &tmp;
        memset(pa, 0, sizeof *pa);
        pa->name = p;
        pa->name_len = (size_t)(t - p);
        p = skip_ows(t, end);
        if (p < end && *p == '=') {
            p = skip_ows(p + 1, end);
            pa->has_value = 1;
            size_t n = 0;
            if (p < end && *p == '"') {
                p++;
                for (;;) {
                    if (p == end)
                        return -1;
                    char c = *p++;
                    if (c == '"')
                        break;
                    if (c == '\\') {
                        if (p == end)
                            return -1;
                        c = *p++;
                    }
                    if (n + 1 < sizeof pa->value)
                        pa->value[n++] = c;
                    else
                        pa->value_bad = 1;
                }
            } else {
                t = token_end(p, end);
                if (t == p)
                    return -1;
                for (; p < t; p++) {
                    if (n + 1 < sizeof pa->value)
                        pa->value[n++] = *p;
                    else
                        pa->value_bad = 1;
                }
            }
            pa->value[n] = '\0';
            if (n == 0 || (size_t)(token_end(pa->value, pa->value + n) - pa->value) != n)
                pa->value_bad = 1;
            p = skip_ows(p, end);
        }
        if (e->nparams < PMD_MAX_PARAMS)
            e->nparams++;
        else
            e->too_many = 1;
    }
    if (p < end && *p != ',')
        return -1;
    *pp = p < end ? p + 1 : p;
    return 0;
}

/* Window bits: 8..15, exactly two digits or one, no sign or leading zero. */
static int bits_value(const struct ext_param *pa)
{
    if (!pa->has_value || pa->value_bad)
        return -1;
    const char *v = pa->value;
    size_t n = strlen(v);
    if (n == 1 && v[0] >= '8' && v[0] <= '9')
        return v[0] - '0';
    if (n == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5')
        return 10 + (v[1] - '0');
    return -1;
}

enum { P_SNCT, P_CNCT, P_SMWB, P_CMWB, P_NKNOWN };
static const char *const param_names[P_NKNOWN] = {
    "server_no_context_takeover",
    "client_no_context_takeover",
    "server_max_window_bits",
    "client_max_window_bits",
};

static int param_id(const struct ext_param *pa)
{
    for (int i = 0; i < P_NKNOWN; i++)
        if (ieq(pa->name, pa->name_len, param_names[i]))
            return i;
    return -1;
}

/* The parameters of a permessage-deflate element, as given: 1 when valid (each known, at most
 * once, with the value its kind takes), else 0 with *why. For an offer, client_max_window_bits
 * may come without a value (PMD_BITS_ASKED). */
static int elem_params(const struct ext_elem *e, int offer, struct pmd_params *out,
                       const char **why)
{
    int seen[P_NKNOWN] = {0};
    *out = (struct pmd_params){0};
    if (e->too_many) {
        *why = "too many permessage-deflate parameters";
        return 0;
    }
    for (size_t i = 0; i < e->nparams; i++) {
        const struct ext_param *pa = &e->params[i];
        int id = param_id(pa);
        if (id < 0) {
            *why = "an unknown permessage-deflate parameter";
            return 0;
        }
        if (seen[id]++) {
            *why = "a permessage-deflate parameter given twice";
            return 0;
        }
        switch (id) {
        case P_SNCT:
        case P_CNCT:
            if (pa->has_value) {
                *why = "a value on a no_context_takeover parameter";
                return 0;
            }
            if (id == P_SNCT)
                out->server_no_context_takeover = 1;
            else
                out->client_no_context_takeover = 1;
            break;
        default: {
            int b = bits_value(pa);
            if (id == P_CMWB && offer && !pa->has_value) {
                out->client_max_window_bits = PMD_BITS_ASKED;
                break;
            }
            if (b < 0) {
                *why = "max_window_bits outside 8..15";
                return 0;
            }
            if (id == P_SMWB)
                out->server_max_window_bits = (uint8_t)b;
            else
                out->client_max_window_bits = (uint8_t)b;
            break;
        }
        }
    }
    return 1;
}

/* ---- the client's side ---- */

int pmd_option_parse(const char *text, struct pmd_params *offer, const char **why)
{
    *offer = (struct pmd_params){0};
    if (!text || !*text)
        return 0;
    /* The option is the element's parameter list with commas: parse it as an element. */
    char buf[256];
    size_t n = (size_t)snprintf(buf, sizeof buf, "permessage-deflate; %s", text);
    if (n >= sizeof buf) {
        *why = "too long";
        return HERD_E_INVAL;
    }
    for (char *c = buf; *c; c++)
        if (*c == ',')
            *c = ';';
    const char *p = buf;
    struct ext_elem e;
    if (elem_parse(&p, buf + n, &e) != 0 || p != buf + n) {
        *why = "expected parameters like server_no_context_takeover,client_max_window_bits=10";
        return HERD_E_INVAL;
    }
    if (!elem_params(&e, 1, offer, why))
        return HERD_E_INVAL;
    if (offer->client_max_window_bits == 8) {
        *why = "client_max_window_bits=8: zlib cannot compress with a 256-byte window (9..15)";
        return HERD_E_INVAL;
    }
    return 0;
}

size_t pmd_offer_format(const struct pmd_params *o, char *out, size_t cap)
{
    char smwb[32] = "", cmwb[32] = "";
    if (o->server_max_window_bits)
        snprintf(smwb, sizeof smwb, "; server_max_window_bits=%u", o->server_max_window_bits);
    if (o->client_max_window_bits == PMD_BITS_ASKED)
        snprintf(cmwb, sizeof cmwb, "; client_max_window_bits");
    else if (o->client_max_window_bits)
        snprintf(cmwb, sizeof cmwb, "; client_max_window_bits=%u", o->client_max_window_bits);
    int n =
        snprintf(out, cap, "permessage-deflate%s%s%s%s",
                 o->server_no_context_takeover ? "; server_no_context_takeover" : "",
                 o->client_no_context_takeover ? "; client_no_context_takeover" : "", smwb, cmwb);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static int fail(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return HERD_E_HANDSHAKE;
}

int pmd_response_check(const struct http1_header *h, size_t n, const struct pmd_params *offer,
                       struct pmd_params *agreed, const char **why)
{
    int found = 0;
    const char *reason = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!ieq(h[i].name, h[i].name_len, "sec-websocket-extensions"))
            continue;
        const char *p = h[i].value, *end = h[i].value + h[i].value_len;
        /* An empty header (or empty elements, RFC 9110 5.6.1) names nothing. */
        while (p < end) {
            const char *q = skip_ows(p, end);
            if (q < end && *q == ',') {
                p = q + 1;
                continue;
            }
            if (q == end)
                break;
            struct ext_elem e;
            if (elem_parse(&p, end, &e) != 0)
                return fail(why, "malformed Sec-WebSocket-Extensions");
            if (!ieq(e.name, e.name_len, "permessage-deflate"))
                return fail(why, "an extension that was not offered");
            if (found++)
                return fail(why, "permessage-deflate accepted twice");
            if (!elem_params(&e, 0, agreed, &reason))
                return fail(why, reason);
        }
    }
    if (!found)
        return 0;
    /* 7.1.2.2: client_max_window_bits only when offered, and no larger than offered. */
    if (agreed->client_max_window_bits) {
        if (!offer->client_max_window_bits)
            return fail(why, "client_max_window_bits that was not offered");
        if (offer->client_max_window_bits != PMD_BITS_ASKED &&
            agreed->client_max_window_bits > offer->client_max_window_bits)
            return fail(why, "client_max_window_bits larger than offered");
        if (agreed->client_max_window_bits == 8)
            return fail(why, "client_max_window_bits=8: zlib cannot compress with it");
    }
    /* 7.1.2.1: server_max_window_bits no larger than offered. */
    if (offer->server_max_window_bits &&
        agreed->server_max_window_bits > offer->server_max_window_bits)
        return fail(why, "server_max_window_bits larger than offered");
    /* What herd committed to in its offer holds whatever the answer says. */
    agreed->client_no_context_takeover |= offer->client_no_context_takeover;
    if (!agreed->client_max_window_bits && offer->client_max_window_bits != PMD_BITS_ASKED)
        agreed->client_max_window_bits = offer->client_max_window_bits;
    return 1;
}

/* ---- the server's side ---- */

int pmd_offer_select(const struct http1_header *h, size_t n, int server_no_takeover,
                     struct pmd_params *agreed)
{
    for (size_t i = 0; i < n; i++) {
        if (!ieq(h[i].name, h[i].name_len, "sec-websocket-extensions"))
            continue;
        const char *p = h[i].value, *end = h[i].value + h[i].value_len;
        while (p < end) {
            const char *q = skip_ows(p, end);
            if (q < end && *q == ',') {
                p = q + 1;
                continue;
            }
            if (q == end)
                break;
            struct ext_elem e;
            if (elem_parse(&p, end, &e) != 0)
                return 0; /* the rest of this header cannot be read */
            if (!ieq(e.name, e.name_len, "permessage-deflate"))
                continue;
            struct pmd_params o;
            const char *why;
            if (!elem_params(&e, 1, &o, &why))
                continue; /* 7.1: an offer we cannot take is declined, not the request */
            if (o.server_max_window_bits == 8)
                continue; /* herd's deflater cannot keep to a 256-byte window */
            *agreed = (struct pmd_params){
                .server_no_context_takeover =
                    (uint8_t)(o.server_no_context_takeover || server_no_takeover),
                .client_no_context_takeover = o.client_no_context_takeover,
                .server_max_window_bits = o.server_max_window_bits,
                /* The client's window is its own business: herd inflates with any. */
            };
            return 1;
        }
    }
    return 0;
}

size_t pmd_response_format(const struct pmd_params *a, char *out, size_t cap)
{
    struct pmd_params o = *a;
    o.client_max_window_bits = 0;
    return pmd_offer_format(&o, out, cap);
}

/* ---- the codec ---- */

static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};

int pmd_mem_level(int bits)
{
    int m = bits - 7;
    return m < 1 ? 1 : m > 8 ? 8 : m;
}

int pmd_deflate_init(z_stream *z, int bits, int mem_level)
{
    memset(z, 0, sizeof *z);
    if (bits < 9)
        bits = 9;
    /* Raw deflate (negative bits): no zlib header or checksum (7.2.1). */
    return deflateInit2(z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -bits, mem_level,
                        Z_DEFAULT_STRATEGY) == Z_OK
               ? 0
               : HERD_E_NOMEM;
}

int pmd_inflate_init(z_stream *z, int bits)
{
    memset(z, 0, sizeof *z);
    if (bits < 8 || bits > 15)
        bits = 15;
    return inflateInit2(z, -bits) == Z_OK ? 0 : HERD_E_NOMEM;
}

void pmd_deflate_end(z_stream *z)
{
    deflateEnd(z);
}

void pmd_inflate_end(z_stream *z)
{
    inflateEnd(z);
}

size_t pmd_deflate_bound(size_t len)
{
    /* deflateBound's worst case for the largest window and memLevel, plus the sync flush's
     * empty stored block (5 bytes) and a little room. */
    return len + (len >> 12) + (len >> 14) + (len >> 25) + 13 + 5 + 16;
}

long pmd_deflate(z_stream *z, const uint8_t *in, size_t len, uint8_t *out, size_t cap, int fresh)
{
    if (fresh && deflateReset(z) != Z_OK)
        return HERD_E_NOMEM;
    z->next_in = (Bytef *)(uintptr_t)in;
    z->avail_in = (uInt)len;
    z->next_out = out;
    z->avail_out = (uInt)cap;
    int rc = deflate(z, Z_SYNC_FLUSH);
    /* All input taken and the flush complete: room was left over in out. */
    if ((rc != Z_OK && rc != Z_BUF_ERROR) || z->avail_in != 0 || z->avail_out == 0) {
        deflateReset(z);
        return HERD_E_TOO_BIG;
    }
    size_t n = cap - z->avail_out;
    HERD_ASSERT(n >= 4 && memcmp(out + n - 4, tail, 4) == 0);
    return (long)(n - 4);
}

int pmd_inflate(z_stream *z, const uint8_t *in, size_t len, int last, uint8_t *scratch, size_t scap,
                uint64_t max, uint64_t *total, pmd_sink_fn *sink, void *ctx)
{
    for (int part = 0; part < 1 + (last != 0); part++) {
        z->next_in = part ? (Bytef *)(uintptr_t)tail : (Bytef *)(uintptr_t)in;
        z->avail_in = part ? 4 : (uInt)len;
        for (;;) {
            z->next_out = scratch;
            z->avail_out = (uInt)scap;
            int rc = inflate(z, Z_SYNC_FLUSH);
            size_t got = scap - z->avail_out;
            if (got) {
                /* Counted before it is handed over: past the limit nothing more goes out. */
                if (*total + got > max) {
                    *total += got;
                    return HERD_E_TOO_BIG;
                }
                *total += got;
                int s = sink(ctx, scratch, got);
                if (s < 0)
                    return s;
            }
            if (rc == Z_STREAM_END) {
                /* A final block ended the deflate stream; anything after it starts a new one
                 * (the 00 00 FF FF tail appended after it is an empty stored block). */
                inflateReset(z);
                if (z->avail_in == 0)
                    break;
                continue;
            }
            if (rc == Z_BUF_ERROR || (rc == Z_OK && z->avail_in == 0 && z->avail_out))
                break; /* every input byte used and every output byte out */
            if (rc != Z_OK)
                return HERD_E_PROTO;
        }
    }
    return 0;
}
