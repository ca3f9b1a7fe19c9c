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

/* tchar (RFC 9110 5.6.2): the characters of a token, such as a method, a header name or a
 * subprotocol: letters, digits and !#$%&'*+-.^_`|~. The one test of herd for it. */
extern const uint8_t http1_tchar_map[256];
static inline int http1_is_tchar(unsigned char c)
{
    return http1_tchar_map[c];
}

/* The first header named `name` (case-insensitive), or NULL. */
const struct http1_header *http1_header_find(const struct http1_header *h, size_t n,
                                             const char *name);

/* Whether a comma separated header value contains `token` (case-insensitive, whitespace around
 * elements ignored), e.g. Connection: keep-alive, Upgrade. */
int http1_token_list_has(const char *value, size_t value_len, const char *token);

/* How a message's body is delimited (RFC 9112 6.3), decided from its head by
 * http1_body_framing. */
enum http1_framing {
    HTTP1_BODY_LENGTH, /* Content-Length bytes (a request without either header: 0) */
    HTTP1_BODY_CHUNKED, /* the chunked transfer coding, to its last chunk */
    HTTP1_BODY_CLOSE, /* a response without either header: read until the connection closes */
};

/* One Content-Length value (RFC 9110 8.6): 1*DIGIT, below 10^19 so that it fits in 64 bits.
 * Empty, signed, spaced, hexadecimal or longer values are refused. Returns 0 with *out set, or
 * HERD_E_PROTO. */
int http1_content_length(const char *value, size_t len, uint64_t *out);

/* The body framing of a head (RFC 9112 6.1-6.3) with its headers h[0..n), for a request when
 * `request` (else a response) of HTTP/1.minor:
 *   - Transfer-Encoding (several fields form one list): chunked, as the only coding (herd undoes
 *     no other), and only in HTTP/1.1 (1.0 has no transfer codings); anything else is refused;
 *   - else Content-Length: every field and list element must carry the same valid value
 *     ("5, 5" is 5; "5, 6" or two fields that differ are refused);
 *   - else a request has no body (length 0) and a response runs until the connection closes.
 * Both Transfer-Encoding and Content-Length together are refused on either side: 6.3 says such a
 * message "ought to be handled as an error", the classic request smuggling shape. Returns the
 * framing (>= 0) with *length set for HTTP1_BODY_LENGTH, or HERD_E_PROTO. */
int http1_body_framing(const struct http1_header *h, size_t n, int request, int minor,
                       uint64_t *length);

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
