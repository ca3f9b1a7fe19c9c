/* session.h - the client's middle layer: the protocol of a connection, behind struct
 * session_ops (client/conn.h). Internal to src/client; includes only go down (conn.h).
 *
 *   ws.c       WebSocket (RFC 6455): the upgrade, frames both ways, PING/PONG, the close
 *              handshake; stamps found in data frames go up to the role
 *   sse.c      Server-Sent Events (WHATWG): the GET, the response head, chunked or
 *              Content-Length or close framing, the event stream, Last-Event-ID and retry
 *   http_pub.c publishing over HTTP: POSTs on keep-alive, each response timed (`post`)
 *   request.c  the request of a run, built once per worker */
#ifndef HERD_CLIENT_SESSION_H
#define HERD_CLIENT_SESSION_H

#include "client/conn.h"
#include "proto/http1.h"
#include "proto/sse.h"

extern const struct session_ops session_ws;
extern const struct session_ops session_sse;
extern const struct session_ops session_http_pub; /* --role publish on http(s):// */

/* An SSE connection's stream state, held from its first connect to its end for good (the last
 * event id outlives reconnects). */
#define SSE_ID_MAX 128
struct sse_state {
    struct sse_parser p;
    struct http1_chunked ch;
    uint64_t body_left; /* Content-Length framing: bytes left; UINT64_MAX = until close */
    uint64_t retry_ms; /* the server's reconnection time, 0 = none given */
    struct stamp stamp; /* the stamp of the event being built */
    struct stamp_split split; /* the stamp search in the data line being read */
    uint64_t ev_bytes; /* data bytes of the event being built (--max-message) */
    uint64_t line_bytes; /* bytes of the field line being read (--max-message) */
    uint8_t chunked; /* Transfer-Encoding: chunked */
    uint8_t has_stamp; /* `stamp` is set for the event being built */
    uint8_t id_bad; /* the id field being read is too long to keep */
    uint8_t id_len, buf_len, last_len;
    char id[SSE_ID_MAX]; /* the id field being read */
    char buf[SSE_ID_MAX]; /* the last event ID buffer (WHATWG) */
    char last[SSE_ID_MAX]; /* the last event ID string: sent as Last-Event-ID */
};

/* permessage-deflate on one WebSocket connection (allocated when the upgrade agreed to it). A
 * direction without context takeover uses the worker's shared stream, reset for each message;
 * one with takeover gets its own, made at its first message, kept for the connection's life. */
struct ws_pmd {
    struct pmd_params agreed;
    uint8_t rx_on; /* the message being received is compressed (RSV1 on its first frame) */
    uint64_t rx_total; /* its inflated bytes so far (--max-message) */
    z_stream *tx, *rx; /* own streams (context takeover), NULL until first used */
};

/* request.c: the run's request into w->req (WebSocket: the upgrade, with room for the key at
 * w->req_key_off; SSE: the GET, whose final CRLF is at w->req_key_off, where a Last-Event-ID
 * goes in). Returns 0, or < 0 with one line in err when -H and friends make it too long. */
int request__build(struct worker *w, char *err, size_t errlen);
/* Free what request__build made. */
void request__free(struct worker *w);
/* Connection c's request into w->wbuf: w->req, or rendered from the template with c's --data
 * row. Returns its length; *key_off is where the WebSocket key goes (SSE: the final CRLF). */
size_t request__render(struct conn *c, size_t *key_off);

#endif
