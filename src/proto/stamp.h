/* stamp.h - the herd1 stamp (DESIGN.md "The stamp"):
 *   herd1:<publisher>:<seq>:<unix_time_ns>      (decimal fields)
 * Senders put it in each data message; receivers in any process find it anywhere in a message,
 * even wrapped in JSON by a broker, to time it and detect loss, duplicates and reordering. Pure. */
#ifndef HERD_PROTO_STAMP_H
#define HERD_PROTO_STAMP_H

#include <stddef.h>
#include <stdint.h>

#define STAMP_MAX 72 /* "herd1:" + 3 x 20 digits + 2 colons = 68, and room to spare */

struct stamp {
    uint64_t publisher;
    uint64_t seq;
    uint64_t real_ns; /* CLOCK_REALTIME at the intended send time */
};

/* Format s into out (at least STAMP_MAX bytes). Returns the length, without a NUL. */
size_t stamp_format(char *out, const struct stamp *s);

/* Write v in decimal at out (at most 20 bytes, no NUL); returns the digit count. Message
 * templates use it for {{seq}} and {{conn}}. */
size_t stamp_put_u64(char *out, uint64_t v);

/* Find the first well-formed stamp in buf[0..len). Returns the offset of its 'h', or -1 when
 * none is there. A candidate that does not parse (missing field, non-digit, a field > 20 digits
 * or overflowing 64 bits) is skipped and the search goes on after it. The timestamp field ends at
 * the first non-digit or at the end of the buffer. */
long stamp_find(const uint8_t *buf, size_t len, struct stamp *s);

/* A message that arrives in pieces (WebSocket fragments, an SSE data line split over reads): its
 * first stamp is found wherever the boundaries fall, inside the stamp included, keeping only the
 * last bytes a stamp may still start in. Zero it before a message's first piece. */
struct stamp_split {
    uint8_t n; /* bytes held */
    uint8_t b[STAMP_MAX - 1]; /* the message's last bytes, that a stamp may start in */
};

/* Feed the next piece p[0..len) of a message, `final` when it is the last. Returns 1 when the
 * message's first stamp is now known (in *s), 0 when not yet (feed the next piece), -1 when the
 * message is over without one. Finds what stamp_find finds in the whole message, however it is
 * split. */
int stamp_split_feed(struct stamp_split *sp, const uint8_t *p, size_t len, int final,
                     struct stamp *s);

#endif
