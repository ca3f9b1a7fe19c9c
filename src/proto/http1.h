/* http1.h - HTTP/1.1 message heads and chunked transfer coding. Pure: no I/O, no allocation.
 *
 * Stateless pull parsers in the style of picohttpparser: the caller passes the bytes received so
 * far and a header array; the parser returns the head length, HERD_E_AGAIN (incomplete) or
 * HERD_E_PROTO. Names and values point into the caller's buffer. */
#ifndef HERD_PROTO_HTTP1_H
#define HERD_PROTO_HTTP1_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP1_MAX_HEAD 16384 /* larger heads are HERD_E_TOO_BIG */

struct http1_header {
    const char *name;
    size_t name_len;
    const char *value; /* leading and trailing whitespace removed */
    size_t value_len;
};

struct http1_response {
    int minor_version; /* HTTP/1.x */
    int status;
    const char *reason;
    size_t reason_len;
    struct http1_header *headers; /* caller's array */
    size_t num_headers; /* in: capacity of headers; out: count */
};

struct http1_request {
    const char *method;
    size_t method_len;
    const char *path;
    size_t path_len;
    int minor_version;
    struct http1_header *headers;
    size_t num_headers; /* in: capacity; out: count */
};

/* Parse a response head ending in CRLF CRLF (bare LF line ends are accepted). Returns the head
 * length (the body starts there), HERD_E_AGAIN, HERD_E_PROTO (malformed, or more headers than the
 * array holds) or HERD_E_TOO_BIG (no end within HTTP1_MAX_HEAD bytes). */
int http1_response_parse(const char *buf, size_t len, struct http1_response *r);

/* Parse a request head; same returns as http1_response_parse. */
int http1_request_parse(const char *buf, size_t len, struct http1_request *r);

/* The first header named `name` (case-insensitive), or NULL. */
const struct http1_header *http1_header_find(const struct http1_header *h, size_t n,
                                             const char *name);

/* Whether a comma separated header value contains `token` (case-insensitive, whitespace around
 * elements ignored), e.g. Connection: keep-alive, Upgrade. */
int http1_token_list_has(const char *value, size_t value_len, const char *token);

/* Chunked transfer decoding (RFC 9112 7.1), in place and incremental: zero-fill, then feed. */
struct http1_chunked {
    uint64_t remaining; /* bytes left of the current chunk's data */
    uint8_t state; /* internal */
    uint8_t hex_digits; /* internal */
};

/* Decode buf[0..*len) in place: on return buf[0..*len) holds the de-chunked data found so far.
 * Returns 0 when more input is needed, 1 when the terminating chunk and trailers have been seen
 * (bytes after them are not part of the body and are dropped from *len; *consumed tells where
 * they began), or HERD_E_PROTO. *consumed is always set to the number of input bytes used. */
int http1_chunked_decode(struct http1_chunked *c, uint8_t *buf, size_t *len, size_t *consumed);

#endif
