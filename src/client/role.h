/* role.h - the client's top layer below the worker: what a connection does once open, as data
 * plus hooks (struct role_ops, client/conn.h), and what the roles keep: message templates,
 * per-publisher sequence tracking, fan-out tallies. Internal to src/client; includes only go
 * down (session.h, conn.h).
 *
 *   roles.c    ping, echo, publish, subscribe, idle: the load models (closed: `pipeline` in
 *              flight; open: --rate from the intended send time) and what a stamp means
 *   track.c    loss, duplicates and reordering per publisher; fan-out tallies
 *   message.c  templates: {{stamp}}, {{seq}}, {{conn}}
 *   flow.c     conversations: runs a compiled flow (flow/flow.h) on each connection */
#ifndef HERD_CLIENT_ROLE_H
#define HERD_CLIENT_ROLE_H

#include "client/session.h"

/* The role table for r. */
const struct role_ops *role__ops(enum client_role r);

/* ---- flow.c: conversations (a run with p->flow) ---- */

extern const struct role_ops role_flow;
/* Free a connection's flow state (end of run). */
void flow__conn_free(struct conn *c);

/* ---- message.c ---- */

/* A message template, parsed once: literal runs and placeholders. */
enum seg_kind { SEG_LIT, SEG_STAMP, SEG_SEQ, SEG_CONN };
struct seg {
    enum seg_kind kind;
    uint32_t off, len; /* SEG_LIT: bytes of tmpl->text */
};
struct template
{
    char *text;
    size_t text_len;
    struct seg segs[64];
    size_t nsegs;
    size_t pad_to; /* pad the rendered message with filler to this size (generated messages) */
};

int template__parse(struct template *t, const char *text, size_t len, size_t pad_to, char *err,
                    size_t errlen);
void template__free(struct template *t);
/* Render message number seq of connection c into out (cap bytes). Returns the length. */
size_t template__render(const struct template *t, uint8_t *out, size_t cap, const struct stamp *s,
                        uint64_t conn_index);
/* The longest render. */
size_t template__max_len(const struct template *t);

/* ---- track.c: sequence tracking per connection (loss, duplicates, reordering per publisher) */

struct pub_seen {
    uint64_t pub; /* publisher id (any value: herd serve --tick publishes as 0) */
    uint64_t top; /* highest seq seen */
    uint64_t bits; /* bit k: seq top-1-k arrived */
    uint64_t top_ns; /* the stamp time of the highest seq */
    uint8_t used; /* 0 = free slot */
};
struct track {
    uint32_t cap, n; /* slots (a power of two), used */
    struct pub_seen e[];
};
enum track_kind {
    TRACK_FIRST, /* the first message heard from this publisher: the baseline */
    TRACK_NEW, /* above the highest seen (lost ones before it were added to *lost) */
    TRACK_DUP, /* seen before */
    TRACK_LATE, /* below the highest seen and not seen before: reordered */
    TRACK_COLLISION, /* below the highest seen with a newer stamp time: another publisher uses
                      * the same id (not counted as a duplicate or a reorder) */
};
/* Account seq (stamped at real_ns) of publisher pub; *t is created or grown as needed (setup,
 * not per message once the publishers are known). Messages found lost are added to *lost. */
enum track_kind track__seen(struct track **t, uint64_t pub, uint64_t seq, uint64_t real_ns,
                            uint64_t *lost);
/* Call fn for each publisher the table has heard from, with its highest seq. */
void track__each(const struct track *t, void (*fn)(void *ctx, uint64_t pub, uint64_t top),
                 void *ctx);
/* At the end: the messages still missing in the windows, which count as lost. */
uint64_t track__flush(struct track *t);
void track__free(struct track **t);

/* ---- track.c: the last seq of each publisher (a small hash map, used at the end of a run) */

struct publast_entry {
    uint64_t pub, last;
    uint8_t used;
};
struct publast {
    struct publast_entry *e;
    size_t cap, n;
};
/* Note that publisher pub reached seq (keeps the highest). */
void publast__note(struct publast *m, uint64_t pub, uint64_t seq);
/* The highest seq noted for pub, 0 when none. */
uint64_t publast__get(const struct publast *m, uint64_t pub);
void publast__free(struct publast *m);

/* ---- track.c: fan-out tallies (struct fan_table, client/conn.h) ---- */

void fan__add(struct fan_table *t, uint64_t pub, uint64_t seq, uint64_t stamp_ns, uint64_t last_ns,
              uint64_t count);
struct fan_entry *fan__find(const struct fan_table *t, uint64_t pub, uint64_t seq);
void fan__clear(struct fan_table *t);
void fan__free(struct fan_table *t);

#endif
