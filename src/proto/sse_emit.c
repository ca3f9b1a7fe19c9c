/* sse_emit.c - Server-Sent Events out: an event per message, optionally one HTTP/1.1 chunk. */
#include "proto/sse_emit.h"

#include <string.h>

#define ID_FIELD "id: "
#define DATA_FIELD "data: "

size_t sse_emit_max(size_t len)
{
    /* chunk head (16 hex digits + CRLF), "id: " + 20 digits + LF, per line "data: " + LF (at
     * most len + 1 lines), the blank line, the chunk's CRLF */
    return 18 + 4 + 20 + 1 + 7 * (len + 1) + len + 1 + 2;
}

static size_t dec_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

static size_t hex_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 16) {
        v >>= 4;
        n++;
    }
    return n;
}

/* Line breaks in data: CRLF counts once. */
static size_t count_breaks(const uint8_t *p, size_t len, size_t *break_bytes)
{
    size_t n = 0, bytes = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '\n') {
            n++;
            bytes++;
        } else if (p[i] == '\r') {
            n++;
            bytes++;
            if (i + 1 < len && p[i + 1] == '\n') {
                i++;
                bytes++;
            }
        }
    }
    *break_bytes = bytes;
    return n;
}

static size_t event_size(uint64_t id, const uint8_t *data, size_t len)
{
    size_t bb;
    size_t lines = count_breaks(data, len, &bb) + 1;
    return strlen(ID_FIELD) + dec_len(id) + 1 + lines * (strlen(DATA_FIELD) + 1) + (len - bb) + 1;
}

size_t sse_emit_size(uint64_t id, const uint8_t *data, size_t len, unsigned flags)
{
    size_t ev = event_size(id, data, len);
    if (flags & SSE_EMIT_CHUNKED)
        return hex_len(ev) + 2 + ev + 2;
    return ev;
}

static uint8_t *put(uint8_t *o, const void *p, size_t n)
{
    if (n)
        memcpy(o, p, n);
    return o + n;
}

size_t sse_emit_event(uint8_t *out, uint64_t id, const uint8_t *data, size_t len, unsigned flags,
                      size_t *event_off)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t *o = out;
    if (flags & SSE_EMIT_CHUNKED) {
        size_t ev = event_size(id, data, len);
        size_t h = hex_len(ev);
        for (size_t i = 0; i < h; i++)
            o[i] = (uint8_t)hex[(ev >> (4 * (h - 1 - i))) & 0xf];
        o += h;
        o = put(o, "\r\n", 2);
    }
    if (event_off)
        *event_off = (size_t)(o - out);
    o = put(o, ID_FIELD, strlen(ID_FIELD));
    size_t d = dec_len(id);
    for (size_t i = d; i > 0; i--) {
        o[i - 1] = (uint8_t)('0' + id % 10);
        id /= 10;
    }
    o += d;
    *o++ = '\n';
    o = put(o, DATA_FIELD, strlen(DATA_FIELD));
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (data[i] != '\n' && data[i] != '\r')
            continue;
        o = put(o, data + start, i - start);
        if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
            i++;
        *o++ = '\n';
        o = put(o, DATA_FIELD, strlen(DATA_FIELD));
        start = i + 1;
    }
    o = put(o, data + start, len - start);
    *o++ = '\n';
    *o++ = '\n';
    if (flags & SSE_EMIT_CHUNKED)
        o = put(o, "\r\n", 2);
    return (size_t)(o - out);
}
