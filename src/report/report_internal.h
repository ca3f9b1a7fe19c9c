/* report_internal.h - shared by the files of src/report only: the figures derived from a report's
 * counters, histograms and time series that the summary, the JSON writer and the warnings all
 * show, computed in one place (derived.c) so that they never disagree. */
#ifndef HERD_REPORT_REPORT_INTERNAL_H
#define HERD_REPORT_REPORT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "report/report.h"
#include "stats/stats.h"

/* Fan-out as the subscribers saw it. expected = delivered + lost + unseen: every delivery, every
 * loss a gap showed, and the messages never seen after a subscriber's last one. */
struct report_fanout_fig {
    uint64_t messages, expected, delivered, unseen;
    /* delivered / (expected - unseen): the share of the messages whose fate the subscribers
     * saw (delivered, or lost in a gap) that arrived; 1.0 behind a server that only drops tails */
    double delivery_ratio;
    /* delivered / expected: the share of what was published (as far as any stamp or herd's own
     * publishers say) that arrived */
    double received_of_published;
};

/* Fills *f from s; returns 1 when fan-out was measured (fanout.messages > 0), else 0. */
int report__fanout(const struct stats *s, struct report_fanout_fig *f);

/* Drops: the errors of connections that had opened (every error is one failed attempt or one
 * drop of an open connection, so errors - connections.failed), never below 0. */
uint64_t report__dropped(const struct stats *s);

/* Recovery after drops (--reconnect). */
struct report_recovery_fig {
    uint64_t dropped; /* drops of open connections (report__dropped) */
    uint64_t back; /* of those, open again: connections.reconnects as timed in `reconnect` */
    int64_t back_50_us, back_90_us, back_100_us; /* of those back: p50, p90, max of reconnect */
    int busiest; /* the time series has a row with attempts */
    double busiest_t; /* that row's t (the end of its second) */
    uint64_t busiest_attempted; /* its attempts: the busiest second of attempts */
};

/* Fills *f from r's totals and rows; returns 1 when recovery applies: a connection came back,
 * or connections dropped in a run that asked for --reconnect. */
int report__recovery(const struct report *r, struct report_recovery_fig *f);

/* The error classes of s with a count, as "closed_by_server 20 (4001: 20), eof 3", into
 * out[0..outlen); "none" when there are none. */
void report__errors_text(const struct stats *s, char *out, size_t outlen);

#endif
