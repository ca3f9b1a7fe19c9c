/* srv_session.h - the middle layer of `herd serve`: the protocols of a connection, below the apps
 * (srv_app.h) and above the conn layer (srv_conn.h). Internal to src/server; includes only go
 * down.
 *
 *   http.c     HTTP/1.1 request heads, POST bodies (Content-Length or chunked), error replies,
 *              keep-alive, admission of long-lived connections (--reject, --max-connections)
 *   wsconn.c   WebSocket (RFC 6455): the upgrade, frames, PING/PONG, the close handshake, and
 *              the header of every frame the server sends (proto's builder, RSV bits from the
 *              session)
 *   sse.c      the event stream (WHATWG HTML 9.2): its head, chunked or bare events, its end
 *
 * What goes up to the app goes through struct srv_app_hooks: a request head (the router), the
 * bytes of a POST body, a WebSocket data frame, the close. A session and its app travel together
 * in one constant table (struct srv_session_ops, srv_conn.h), made with the SRV_*_SESSION macros
 * below by the app layer, which alone knows both.
 *
 * permessage-deflate (RFC 7692) will live inside the WebSocket session: negotiated in
 * srv_ws__upgrade, a per-connection zlib state reached from c->u.ws (which has room: the struct
 * stays within its 256 bytes), inflating in srv_ws__consume before the app sees a message, and
 * RSV1 on the messages it compresses through c->u.ws.rsv, which every frame header of the
 * connection takes (srv_ws__head). */
#ifndef HERD_SERVER_SRV_SESSION_H
#define HERD_SERVER_SRV_SESSION_H

#include "proto/http1.h"
#include "proto/ws.h"
#include "server/srv_conn.h"

#define SRV_MAX_FRAME (64ull << 20) /* per-thread limit on a frame's payload -> 1009 */
#define SRV_KEEPALIVE_NS (60 * NS_PER_S) /* an idle keep-alive connection between requests */

/* Session flags (c->sflags). */
#define SRV_SF_BODY 0x01 /* HTTP: reading a request body (else a head) */
#define SRV_SF_BODY_CHUNKED 0x02 /* HTTP: the request body is in chunked transfer coding */
#define SRV_SF_HTTP_CLOSE 0x04 /* HTTP: no keep-alive, close after the reply */
#define SRV_SF_CHUNKED 0x08 /* SSE: the stream is in chunked transfer coding (HTTP/1.1) */

/* What a session hands up to its app. Each hook may answer, switch the connection to another
 * session, or close it; NULL hooks are never called by the sessions that have no use for them. */
struct srv_app_hooks {
    /* HTTP: a whole request head. Answer it: upgrade (srv_ws__upgrade, srv_sse__open), take a
     * body (srv_http__body), or answer an error (srv_http__error). Returns 0, or < 0 when the
     * request was refused (answered, closing) or c closed. */
    int (*request)(struct srv_conn *c, const struct http1_request *req);
    /* HTTP: body bytes p[0..len) (de-chunked), in order; `done` with the last of them (len may
     * be 0). The session answers 200 after a done that returned 0. Returns 0, or < 0 when the
     * app refused (answered, closing) or closed c. */
    int (*body)(struct srv_conn *c, const uint8_t *p, size_t len, int done);
    /* WebSocket: a data frame of c (TEXT, BINARY or CONTINUATION), its payload unmasked at pl;
     * the client's header lies before pl, at least 4 bytes longer than a server header for the
     * same length (the mask key), so a reply can be re-framed in place. `complete`: it ends a
     * message. `due`: the due time of replies (--delay). Returns 0, or < 0 when c was closed or
     * is closing. */
    int (*message)(struct srv_conn *c, const struct ws_frame *f, uint8_t *pl, int complete,
                   uint64_t due);
    /* The connection closes: let go of what the app holds (NULL: nothing). */
    void (*close)(struct srv_conn *c);
};

/* The three sessions, each with an app: `static const struct srv_session_ops x =
 * SRV_WS_SESSION(&hooks);` in the app layer. */
#define SRV_HTTP_SESSION(hooks)                                                                    \
    {                                                                                              \
        .consume = srv_http__consume, .close = srv_session__close, .app = (hooks), .timed = 1      \
    }
#define SRV_WS_SESSION(hooks)                                                                      \
    {                                                                                              \
        .consume = srv_ws__consume, .close = srv_ws__close, .bye = srv_ws__bye, .app = (hooks)     \
    }
#define SRV_SSE_SESSION(hooks)                                                                     \
    {                                                                                              \
        .consume = srv_sse__consume, .close = srv_session__close, .bye = srv_sse__bye,             \
        .app = (hooks)                                                                             \
    }

/* ops->close of every session: none holds anything of its own yet; the app lets go. */
void srv_session__close(struct srv_conn *c);

/* ---- http.c ---- */

/* ops->consume of HTTP: request heads and POST bodies, one after another (keep-alive, pipelined
 * too), each head handed to the app's request hook. */
size_t srv_http__consume(struct srv_conn *c, uint8_t *p, size_t len, size_t *need);

/* Answer with an HTTP error status and a one-line body, then close. extra_headers is NULL or
 * CRLF-terminated header lines. */
void srv_http__error(struct srv_conn *c, int status, const char *extra_headers);

/* The faults and limits of a long-lived connection (an upgrade, an event stream), after its
 * request proved valid: --reject and --max-connections. Returns 0 when admitted (and counted),
 * < 0 after answering 503. */
int srv_http__admit(struct srv_conn *c);

/* The framing of a request's body (RFC 9112 6.3): a body delimited both ways, or by differing
 * lengths, or by a coding other than chunked, is answered 400 (the request smuggling shapes);
 * one delimited neither way 411. Returns 0 with *chunked, and *len the Content-Length (0 when
 * chunked), or < 0 when answered. */
int srv_http__body_framing(struct srv_conn *c, const struct http1_request *req, uint64_t *len,
                           int *chunked);

/* From a request hook: take the request's body (framed as srv_http__body_framing said), handed
 * to the app's body hook as it comes, under the head deadline; "Expect: 100-continue" is
 * answered at once. Returns 0, or < 0 when c was closed. */
int srv_http__body(struct srv_conn *c, const struct http1_request *req, uint64_t len, int chunked);

/* ---- wsconn.c ---- */

/* Validate a WebSocket upgrade request, admit it (srv_http__admit) and answer 101 (or an error,
 * then close). Returns 0 when the connection is now a WebSocket in session `ops`
 * (SRV_WS_SESSION), < 0 when it was refused. */
int srv_ws__upgrade(struct srv_conn *c, const struct http1_request *req,
                    const struct srv_session_ops *ops);

/* ops->consume of a WebSocket: frames (payloads unmasked in place), control frames answered
 * here, data frames handed to the app's message hook. */
size_t srv_ws__consume(struct srv_conn *c, uint8_t *p, size_t len, size_t *need);

/* ops->bye of a WebSocket: a close frame 1001 (going away). */
void srv_ws__bye(struct srv_conn *c);

/* ops->close of a WebSocket: permessage-deflate's state goes, then the app lets go. */
void srv_ws__close(struct srv_conn *c);

/* Whether c agreed to permessage-deflate: every data message it gets is compressed (RSV1). */
static inline int srv_ws__compressed(const struct srv_conn *c)
{
    return c->u.ws.pmd != NULL;
}

/* The window (8..15) c's messages are compressed with: what it asked of the server, else 15. */
int srv_ws__tx_bits(const struct srv_conn *c);

/* Compress the messages of a broadcast once for every subscriber that agreed to
 * permessage-deflate with the window `bits` (herd serve always agrees without server context
 * takeover, so one compression serves them all): message k is the payload p[k] of len[k] bytes
 * with data opcode op[k]; the frames (RSV1 headers and compressed payloads) go back to back into
 * the worker's buffer for that window, *frames, message k at off[k]..off[k+1]. Valid until the
 * next call for the same window. Returns 0, or < 0 when out of memory. */
int srv_ws__compress_run(struct srv_worker *w, int bits, size_t n, const uint8_t *const *p,
                         const size_t *len, const uint8_t *op, const uint8_t **frames, size_t *off);

/* Free the worker's permessage-deflate state (its shared zlib streams and scratches). */
void srv_ws__worker_free(struct srv_worker *w);

/* The header of a server frame (unmasked), through proto's builder, into out: FIN, opcode and
 * payload length as given, the RSV bits of c's session (c->u.ws.rsv on the first frame of a data
 * message: none until an extension sets them; never on control frames). c NULL: a frame built
 * once for many connections (a broadcast), which carries none. Returns the header's length. */
size_t srv_ws__head(uint8_t out[WS_MAX_HEAD], const struct srv_conn *c, int fin, unsigned op,
                    uint64_t len);

/* Reply with a frame's payload under a new server header (opcode op, the frame's FIN), written
 * in place before the payload (the client's header was longer) and batched. Returns 0, or < 0
 * when c was closed. */
int srv_ws__reply(struct srv_conn *c, const struct ws_frame *f, unsigned op, uint8_t *pl,
                  uint64_t due);

/* Send a close frame with `code` in the batch of the input being processed, and close once it is
 * out (RFC 6455 7.1.1-7.1.2). */
void srv_ws__send_close(struct srv_conn *c, unsigned code, uint64_t due);

/* The same outside the batch (c is not the connection whose input is processed), after what is
 * queued for c. */
void srv_ws__end(struct srv_conn *c, unsigned code, uint64_t due);

/* ---- sse.c ---- */

/* GET /sse/<topic>, before anything is answered: the method (405) and admission
 * (srv_http__admit). Returns 0 when it may open, < 0 when it was refused (answered). */
int srv_sse__check(struct srv_conn *c, const struct http1_request *req);

/* Answer 200 with the stream's head (and "retry:" with --sse-retry): c is now an event stream in
 * session `ops` (SRV_SSE_SESSION), chunked for HTTP/1.1, bare for HTTP/1.0. Returns 0, or < 0
 * when c was closed. */
int srv_sse__open(struct srv_conn *c, const struct http1_request *req,
                  const struct srv_session_ops *ops);

/* ops->consume of an event stream: input is discarded (so that the client's EOF is seen). */
size_t srv_sse__consume(struct srv_conn *c, uint8_t *p, size_t len, size_t *need);

/* ops->bye of an event stream: the last chunk, when chunked. */
void srv_sse__bye(struct srv_conn *c);

/* Encode the message payload[0..len) with this id into the worker's SSE buffer, after `at`
 * bytes already there (grown as needed), flags as sse_emit_event's. Returns the bytes encoded,
 * 0 when out of memory; *event_off (when not NULL) as sse_emit_event's. */
size_t srv_sse__encode(struct srv_worker *w, size_t at, uint64_t seq, const uint8_t *payload,
                       size_t len, unsigned flags, size_t *event_off);

/* The bytes to send c of an event encoded by srv_sse__encode at buf[0..len): all of it for a
 * chunked stream, the bare event for an HTTP/1.0 one. */
const uint8_t *srv_sse__bytes(const struct srv_conn *c, const uint8_t *buf, size_t len,
                              size_t event_off, size_t *out_len);

/* End a stream: the last chunk when chunked, then close once it is out. */
void srv_sse__end(struct srv_conn *c, uint64_t due);

#endif
