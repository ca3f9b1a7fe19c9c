/* sse.h - Server-Sent Events: an incremental parser for the "text/event-stream" format (WHATWG
 * HTML, 9.2.6 "Interpreting an event stream"). Pure: no I/O, no allocation, no logging.
 *
 * Pull API in the style of picohttpparser, but incremental: the caller hands each chunk it reads,
 * in any split, and calls sse_next() until it returns SSE_NONE. The parser keeps a few bytes of
 * state (never a buffer of lines or events): field values are reported as pieces pointing into
 * the caller's chunk, so no field name or value length can make it use more memory. Joining the
 * pieces, and deciding how much of them to keep, is the consumer's business:
 *
 *     SSE_DATA     append the piece to the event's data (first an LF when SSE_F_LF is set)
 *     SSE_EVENT    SSE_F_START: clear the event type; append the piece
 *     SSE_ID       SSE_F_START: clear a pending id; append; on SSE_F_END make it the last event
 *                  id, unless SSE_F_NUL says it contained NUL (then the field is ignored)
 *     SSE_RETRY    set the reconnection time to item.retry milliseconds
 *     SSE_DISPATCH dispatch (data, event type or "message", last event id); clear data and type
 *     SSE_DISCARD  a blank line ended an event without data (but with a type or an id): not
 *                  dispatched; set the last event id from its buffer; clear the type
 *     SSE_COMMENT  a piece of a comment line (after the ':'); may be ignored
 *
 * At the end of the stream whatever is pending (the event being built and a field line without
 * its line end) is discarded, as the spec says. A new connection needs sse_init() again (the BOM
 * may come again); the last event id belongs to the consumer and outlives the parser.
 *
 * Values are raw bytes: the spec decodes the stream as UTF-8 with replacement, herd compares
 * bytes, so invalid UTF-8 is passed through as it is. */
#ifndef HERD_PROTO_SSE_H
#define HERD_PROTO_SSE_H

#include <stddef.h>
#include <stdint.h>

/* What sse_next() found; also in sse_item.kind. */
enum sse_kind {
    SSE_NONE = 0, /* the chunk is used up: feed the next one */
    SSE_DATA, /* a piece of a "data" value */
    SSE_EVENT, /* a piece of an "event" value (the event type) */
    SSE_ID, /* a piece of an "id" value */
    SSE_RETRY, /* a valid "retry" value (ASCII digits only), complete */
    SSE_COMMENT, /* a piece of a comment */
    SSE_DISPATCH, /* blank line after data: dispatch the event */
    SSE_DISCARD, /* blank line after an event type or an id but no data: set the last event id,
                  * clear the type */
};

/* sse_item.flags */
#define SSE_F_START 0x1 /* first piece of this field's value */
#define SSE_F_END 0x2 /* last piece: the line ended (the piece may be empty) */
#define SSE_F_LF 0x4 /* SSE_DATA: not the event's first data line: an LF goes before it */
#define SSE_F_NUL 0x8 /* SSE_ID with SSE_F_END: the value contained NUL: ignore the field */

/* One thing found by sse_next(). Pieces point into the buffer passed to that call and are valid
 * as long as it is. */
struct sse_item {
    uint8_t kind; /* enum sse_kind */
    uint8_t flags; /* SSE_F_* */
    const uint8_t *p; /* piece kinds: the bytes; NULL when len is 0 */
    size_t len;
    uint64_t retry; /* SSE_RETRY: milliseconds, saturated at UINT64_MAX */
};

/* Parser state, 24 bytes; zero it with sse_init(). Fields are internal. */
struct sse_parser {
    uint64_t retry; /* digits of a "retry" value so far */
    uint8_t state; /* where we are in a line */
    uint8_t field; /* enum sse_kind of the current line's field, SSE_NONE to ignore it */
    uint8_t flags; /* internal P_* bits */
    uint8_t bom; /* bytes of a leading BOM matched so far */
    uint8_t name_len; /* bytes of the field name, one more than name holds when longer */
    char name[5]; /* the field name: the names that matter have at most 5 bytes */
};

/* Start parsing a new stream. */
void sse_init(struct sse_parser *p);

/* Parse on from the start of buf[0..len), the next chunk of the stream (or the rest of the
 * current one). Stops at the first item and returns its kind (> 0) with *it filled and
 * *consumed the bytes used (at least 1; pieces lie in buf[0..*consumed)). Returns SSE_NONE with
 * *consumed == len when the chunk holds nothing more to report. Never fails: every byte string is
 * a valid event stream. */
int sse_next(struct sse_parser *p, const uint8_t *buf, size_t len, size_t *consumed,
             struct sse_item *it);

#endif
