/* sse.c - incremental event stream parser (WHATWG HTML 9.2.6).
 *
 * A byte-at-a-time state machine over the line structure of 9.2.5's grammar, with a fast scan
 * through values (the only part of a line that can be long). A line is processed when its end is
 * seen, but its value is reported as it arrives, so nothing is buffered. */
#include "proto/sse.h"

#include <string.h>

/* Where we are. */
enum {
    S_BOM, /* start of stream: a UTF-8 BOM may come, maybe split over chunks */
    S_LINE, /* start of a line */
    S_NAME, /* in a field name */
    S_COLON, /* just after the colon: one space may follow */
    S_VALUE, /* in a value (or a comment) */
};

/* sse_parser.flags */
#define P_CR 0x01 /* the last byte ended a line with CR: an LF right after it is part of it */
#define P_DATA 0x02 /* the event being built has a data line */
#define P_TYPE 0x04 /* the event being built has an event type */
#define P_STARTED 0x08 /* a piece of the current value was reported */
#define P_BAD 0x10 /* "id" value has a NUL, or "retry" value a non-digit */
#define P_DIGIT 0x20 /* "retry" value has a digit */
#define P_ID 0x40 /* the event being built has an id field (even an empty one) */

#define NAME_MAX_LEN ((uint8_t)sizeof(((struct sse_parser *)0)->name))

static const uint8_t bom[3] = {0xef, 0xbb, 0xbf};

void sse_init(struct sse_parser *p)
{
    memset(p, 0, sizeof *p);
    p->state = S_BOM;
}

/* The field of a name, SSE_NONE for one to ignore ("Otherwise: the field is ignored"). */
static uint8_t field_of(const struct sse_parser *p)
{
    if (p->name_len == 4 && memcmp(p->name, "data", 4) == 0)
        return SSE_DATA;
    if (p->name_len == 5 && memcmp(p->name, "event", 5) == 0)
        return SSE_EVENT;
    if (p->name_len == 2 && memcmp(p->name, "id", 2) == 0)
        return SSE_ID;
    if (p->name_len == 5 && memcmp(p->name, "retry", 5) == 0)
        return SSE_RETRY;
    return SSE_NONE;
}

static void value_start(struct sse_parser *p, uint8_t field)
{
    p->field = field;
    p->flags &= (uint8_t) ~(P_STARTED | P_BAD | P_DIGIT);
    p->retry = 0;
}

/* Accumulate retry digits; the value counts only if it "consists of only ASCII digits" (an empty
 * value is ignored too, as browsers do). Saturates rather than wrapping. */
static void retry_add(struct sse_parser *p, const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)s[i] - '0';
        if (d > 9) {
            p->flags |= P_BAD;
            return;
        }
        p->flags |= P_DIGIT;
        if (p->retry > (UINT64_MAX - d) / 10)
            p->retry = UINT64_MAX;
        else
            p->retry = p->retry * 10 + d;
    }
}

/* End of the line at buf[i] (CR or LF): consume it, remembering a CR so that a following LF,
 * maybe at the start of the next chunk, is not a second (blank) line. */
static size_t line_end(struct sse_parser *p, const uint8_t *buf, size_t i)
{
    if (buf[i] == '\r')
        p->flags |= P_CR;
    p->state = S_LINE;
    return i + 1;
}

int sse_next(struct sse_parser *p, const uint8_t *buf, size_t len, size_t *consumed,
             struct sse_item *it)
{
    size_t i = 0;
    memset(it, 0, sizeof *it);
    while (i < len) {
        uint8_t c = buf[i];
        if (p->flags & P_CR) {
            /* "a U+000D CARRIAGE RETURN U+000A LINE FEED (CRLF) character pair" is one line
             * end; the flag survives the chunk boundary. */
            p->flags &= (uint8_t)~P_CR;
            if (c == '\n') {
                i++;
                continue;
            }
        }
        switch (p->state) {
        case S_BOM:
            /* "The UTF-8 decode algorithm strips one leading UTF-8 Byte Order Mark (BOM), if
             * any." */
            if (c == bom[p->bom]) {
                i++;
                if (++p->bom == sizeof bom)
                    p->state = S_LINE;
                continue;
            }
            if (p->bom == 0) {
                p->state = S_LINE;
                continue;
            }
            /* A partial BOM (EF or EF BB) then something else: those bytes (U+FFFD once decoded)
             * began the first line, so it is a field whose name matches nothing: ignore it. */
            p->state = S_NAME;
            p->name_len = NAME_MAX_LEN + 1;
            continue;
        case S_LINE:
            if (c == '\r' || c == '\n') {
                /* "If the line is empty (a blank line): Dispatch the event"; dispatching an
                 * event with an empty data buffer only clears the data and type buffers. */
                i = line_end(p, buf, i);
                /* Dispatching first sets the last event ID string from its buffer, even for an
                 * event without data: a blank line after an id field (an empty one resets the
                 * id) is reported too, so that the consumer can. */
                uint8_t had = p->flags & (P_DATA | P_TYPE | P_ID);
                p->flags &= (uint8_t) ~(P_DATA | P_TYPE | P_ID);
                if (had) {
                    it->kind = (had & P_DATA) ? SSE_DISPATCH : SSE_DISCARD;
                    *consumed = i;
                    return it->kind;
                }
                continue;
            }
            i++;
            if (c == ':') {
                /* "If the line starts with a U+003A COLON character (:): Ignore the line."
                 * Reported anyway (keep-alive comments are worth counting), as pieces. */
                value_start(p, SSE_COMMENT);
                p->state = S_VALUE;
                continue;
            }
            p->name[0] = (char)c;
            p->name_len = 1;
            p->state = S_NAME;
            continue;
        case S_NAME:
            if (c == '\r' || c == '\n') {
                /* "Otherwise, the string is not empty but does not contain a U+003A COLON
                 * character (:): process the field using the whole line as the field name,
                 * and the empty string as the field value." S_VALUE ends it at once. */
                value_start(p, field_of(p));
                p->state = S_VALUE;
                continue;
            }
            i++;
            if (c == ':') {
                value_start(p, field_of(p));
                p->state = S_COLON;
                continue;
            }
            if (p->name_len < NAME_MAX_LEN)
                p->name[p->name_len++] = (char)c;
            else
                p->name_len = NAME_MAX_LEN + 1; /* longer than every known name */
            continue;
        case S_COLON:
            /* "If value starts with a U+0020 SPACE character, remove it from value." Only one. */
            p->state = S_VALUE;
            if (c == ' ')
                i++;
            continue;
        default: {
            size_t j = i;
            while (j < len && buf[j] != '\n' && buf[j] != '\r')
                j++;
            const uint8_t *s = buf + i;
            size_t n = j - i;
            int ended = j < len;
            uint8_t field = p->field;
            i = ended ? line_end(p, buf, j) : j;
            if (field == SSE_NONE)
                continue;
            if (field == SSE_RETRY) {
                /* "If the field value consists of only ASCII digits, then interpret the field
                 * value as an integer in base ten, and set the event stream's reconnection
                 * time to that integer. Otherwise, ignore the field." */
                if (!(p->flags & P_BAD))
                    retry_add(p, s, n);
                if (!ended || (p->flags & (P_BAD | P_DIGIT)) != P_DIGIT)
                    continue;
                it->kind = SSE_RETRY;
                it->retry = p->retry;
                *consumed = i;
                return it->kind;
            }
            if (n == 0 && !ended)
                continue; /* nothing new; an empty piece is reported only to end a value */
            if (field == SSE_ID && memchr(s, 0, n))
                p->flags |= P_BAD; /* "If the field value does not contain U+0000 NULL" */
            it->kind = field;
            if (!(p->flags & P_STARTED)) {
                it->flags |= SSE_F_START;
                p->flags |= P_STARTED;
                /* "Append the field value to the data buffer, then append a single U+000A LINE
                 * FEED (LF) character"; the last LF is removed at dispatch, so an LF goes
                 * between data lines: before every one but the first. */
                if (field == SSE_DATA && (p->flags & P_DATA))
                    it->flags |= SSE_F_LF;
                if (field == SSE_DATA)
                    p->flags |= P_DATA;
                if (field == SSE_EVENT)
                    p->flags |= P_TYPE;
            }
            if (ended) {
                it->flags |= SSE_F_END;
                if (field == SSE_ID && (p->flags & P_BAD))
                    it->flags |= SSE_F_NUL;
                else if (field == SSE_ID)
                    p->flags |= P_ID;
            }
            it->p = n ? s : NULL;
            it->len = n;
            *consumed = i;
            return it->kind;
        }
        }
    }
    *consumed = len;
    return SSE_NONE;
}
