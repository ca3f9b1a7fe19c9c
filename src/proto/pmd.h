/* pmd.h - permessage-deflate (RFC 7692): the extension's negotiation, both sides, and the
 * per-message codec over zlib. Pure: no I/O, no logging; the codec allocates only when a stream
 * is set up (zlib's state), never per message.
 *
 * Negotiation. The client offers one permessage-deflate with the parameters it wants
 * (pmd_offer_format); the server picks the first offer it can take (pmd_offer_select) and
 * answers with what was agreed (pmd_response_format); the client checks that answer against its
 * offer (pmd_response_check): an answer that accepts what was not offered, or with invalid
 * parameters, fails the handshake.
 *
 * Messages (7.2). A message is compressed as one deflate stream flushed with Z_SYNC_FLUSH, less
 * the final 00 00 FF FF; the receiver appends them back before inflating. Without context
 * takeover for a direction, its sender starts every message with an empty window, so a
 * receiver (or a sender) may share one zlib stream among every connection of a thread and
 * reset it between messages; with takeover, each connection keeps its own. */
#ifndef HERD_PROTO_PMD_H
#define HERD_PROTO_PMD_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

struct http1_header;

#define PMD_BITS_ASKED 1 /* client_max_window_bits offered without a value */

/* Parameters of an offer or of an agreement. Window bits are 8..15, or 0 when not given. */
struct pmd_params {
    uint8_t server_no_context_takeover;
    uint8_t client_no_context_takeover;
    uint8_t server_max_window_bits;
    uint8_t client_max_window_bits; /* in an offer, PMD_BITS_ASKED: offered without a value */
};

/* herd run --compress[=PARAMS]: PARAMS is a comma separated list of the RFC 7692 parameters:
 * server_no_context_takeover, client_no_context_takeover, server_max_window_bits=N,
 * client_max_window_bits[=N] (N in 9..15: zlib cannot compress with a 256-byte window, so 8 is
 * refused for what herd compresses and allowed for the server's side). NULL or "" is the plain
 * offer. Returns 0, or HERD_E_INVAL with *why set. */
int pmd_option_parse(const char *text, struct pmd_params *offer, const char **why);

/* The Sec-WebSocket-Extensions value of an offer, into out[0..cap). Returns its length, or 0
 * when it does not fit. */
size_t pmd_offer_format(const struct pmd_params *offer, char *out, size_t cap);

/* Client: the server's answer, in every Sec-WebSocket-Extensions header of h[0..n). Returns 1
 * with *agreed filled when it accepted permessage-deflate within the offer, 0 when it declined
 * (no extension: run uncompressed), HERD_E_HANDSHAKE with *why for an answer that accepts what
 * was not offered, repeats a parameter, gives an invalid value or names another extension. */
int pmd_response_check(const struct http1_header *h, size_t n, const struct pmd_params *offer,
                       struct pmd_params *agreed, const char **why);

/* Server: the first permessage-deflate offer among the request's Sec-WebSocket-Extensions
 * headers h[0..n) that can be accepted (7.1: unknown parameters or invalid values make an offer
 * unacceptable, not the request). The agreement asks for server_no_context_takeover when
 * `server_no_takeover` (so that one compressed message can be shared by every subscriber) and
 * takes the client's no-takeover and window requests. Returns 1 with *agreed, else 0. */
int pmd_offer_select(const struct http1_header *h, size_t n, int server_no_takeover,
                     struct pmd_params *agreed);

/* The server's answer for an agreement, into out[0..cap). Returns its length, or 0. */
size_t pmd_response_format(const struct pmd_params *agreed, char *out, size_t cap);

/* ---- the codec ---- */

/* What inflating a message found: the caller's sink takes the inflated bytes piece by piece
 * (each piece is valid until the sink returns), so a message is never held whole. */
typedef int pmd_sink_fn(void *ctx, const uint8_t *p, size_t len);

/* A deflate stream for messages of one direction. `bits`: the window (9..15; 8 becomes 9 for
 * the deflater, which cannot do 8), `mem_level` zlib's memLevel (1..9: memory against speed).
 * Returns 0, or HERD_E_NOMEM. */
int pmd_deflate_init(z_stream *z, int bits, int mem_level);

/* The memLevel for a window: zlib's default (8) for the largest window, less for small ones, so
 * that a small negotiated window keeps the deflater small too. */
int pmd_mem_level(int bits);
int pmd_inflate_init(z_stream *z, int bits);
void pmd_deflate_end(z_stream *z);
void pmd_inflate_end(z_stream *z);

/* Compress the message in[0..len) into out[0..cap), its 00 00 FF FF tail removed; reset the
 * stream first when `fresh` (no context takeover). Returns the compressed length, or
 * HERD_E_TOO_BIG when out is too small (the stream is then reset), HERD_E_NOMEM. */
long pmd_deflate(z_stream *z, const uint8_t *in, size_t len, uint8_t *out, size_t cap, int fresh);

/* The most pmd_deflate may write for len bytes of input. */
size_t pmd_deflate_bound(size_t len);

/* Inflate the next piece in[0..len) of a compressed message (`last` for its final frame's
 * payload, after which the tail is appended) through scratch[0..scap), handing every inflated
 * piece to sink. *total counts the inflated bytes of the message; past `max` it stops with
 * HERD_E_TOO_BIG before handing the excess over (a decompression bomb is never held). Returns 0,
 * HERD_E_TOO_BIG, HERD_E_PROTO (invalid deflate data), or what the sink returned (< 0). The
 * caller resets the stream (inflateReset) before a message when the sender takes no context. */
int pmd_inflate(z_stream *z, const uint8_t *in, size_t len, int last, uint8_t *scratch, size_t scap,
                uint64_t max, uint64_t *total, pmd_sink_fn *sink, void *ctx);

#endif
