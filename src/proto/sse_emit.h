/* sse_emit.h - writing Server-Sent Events (WHATWG HTML 9.2.5 "Server-sent events", the
 * "text/event-stream" format), the server side of sse.h. Pure: no I/O, no allocation.
 *
 * One message becomes one event: an "id:" line, one "data:" line per line of the message, and
 * the blank line that dispatches it. A line break in the message (CRLF, LF or a lone CR, all
 * line ends to an event stream parser) ends a data line, so a receiver rebuilds the message
 * with LF for each break. With SSE_EMIT_CHUNKED the event is also framed as one chunk of HTTP/1.1
 * chunked transfer coding (RFC 9112 7.1): "<hex size>CRLF<event>CRLF". */
#ifndef HERD_PROTO_SSE_EMIT_H
#define HERD_PROTO_SSE_EMIT_H

#include <stddef.h>
#include <stdint.h>

#define SSE_EMIT_CHUNKED 0x1 /* frame the event as one HTTP/1.1 chunk */

/* The largest output of sse_emit_event for len bytes of data (every byte a line break). */
size_t sse_emit_max(size_t len);

/* The bytes sse_emit_event writes for data[0..len) with this id and flags. */
size_t sse_emit_size(uint64_t id, const uint8_t *data, size_t len, unsigned flags);

/* Write the event "id: <id>\ndata: <line>\n...\n" for data[0..len) at out, which must have room
 * for sse_emit_size() bytes (sse_emit_max(len) always is). Returns the bytes written. With
 * SSE_EMIT_CHUNKED, *event_off (when not NULL) is set to where the bare event starts, and the
 * event is the output less that many bytes at the start and 2 (CRLF) at the end: one encoding
 * serves chunked and unframed (HTTP/1.0) receivers alike. */
size_t sse_emit_event(uint8_t *out, uint64_t id, const uint8_t *data, size_t len, unsigned flags,
                      size_t *event_off);

/* The last chunk of a chunked body, "0\r\n\r\n" (RFC 9112 7.1): the end of a stream. */
#define SSE_EMIT_LAST_CHUNK "0\r\n\r\n"

#endif
