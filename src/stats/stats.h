/* stats.h - what herd measures: HDR histograms, counters and error classes, per thread.
 *
 * Each worker thread owns two struct stats blocks (active and inactive) and records into the
 * active one with plain increments: no atomics, no locks. Once per interval the reporter asks
 * every worker to swap, then merges the inactive blocks; merging is exact (histograms add bucket
 * by bucket), so figures from threads, processes and shards combine without loss.
 *
 * Metric and counter names are DESIGN.md's; `connections.opened` is CTR_CONNECTIONS_OPENED. */
#ifndef HERD_STATS_STATS_H
#define HERD_STATS_STATS_H

#include <stddef.h>
#include <stdint.h>

/* ---- HDR histogram (own implementation, HdrHistogram semantics) ---- */

/* Histogram parameters used for every metric: 1 us to 1 h, 3 significant digits. */
#define HIST_LOWEST 1
#define HIST_HIGHEST 3600000000LL
#define HIST_SIGFIGS 3

struct hist {
    int64_t lowest; /* lowest discernible value, >= 1 */
    int64_t highest; /* highest trackable value */
    int32_t sigfigs; /* 1..5 */
    int32_t unit_magnitude;
    int32_t sub_bucket_half_count_magnitude;
    int32_t sub_bucket_count;
    int32_t sub_bucket_half_count;
    int32_t bucket_count;
    int64_t sub_bucket_mask;
    int32_t counts_len;
    int32_t _pad;
    int64_t total_count;
    int64_t min_value; /* smallest recorded, INT64_MAX when empty */
    int64_t max_value; /* largest recorded, 0 when empty */
    int64_t clamped; /* values above `highest` recorded as `highest` (or below 0 as 0) */
    int64_t counts[]; /* counts_len entries */
};

/* A zeroed histogram covering lowest..highest at sigfigs significant digits, or NULL when the
 * arguments are out of range or memory runs out. hist_new_default() is 1 us..1 h at 3 digits. */
struct hist *hist_new(int64_t lowest, int64_t highest, int sigfigs);
struct hist *hist_new_default(void);
void hist_free(struct hist *h);
void hist_reset(struct hist *h);

/* Record value v (count times). Values above `highest` are recorded as `highest` and counted in
 * `clamped`; negative values are recorded as 0. Never fails, never allocates. */
void hist_record_n(struct hist *h, int64_t v, int64_t count);
static inline void hist_record(struct hist *h, int64_t v)
{
    hist_record_n(h, v, 1);
}

/* dst += src. Both must have the same parameters: returns 0, or -1 (nothing added) if not. */
int hist_add(struct hist *dst, const struct hist *src);

/* Statistics, HdrHistogram semantics. hist_percentile(h, 99.0) is the highest value equivalent
 * to the bucket where the cumulative count first reaches ceil(p/100 * total); 0 when empty.
 * As in HdrHistogram, p <= 0 gives hist_min() and p > 100 counts as 100. */
int64_t hist_percentile(const struct hist *h, double p);
int64_t hist_min(const struct hist *h); /* lowest equivalent value of the min; 0 when empty */
int64_t hist_max(const struct hist *h); /* highest equivalent value of the max; 0 when empty */
double hist_mean(const struct hist *h);
double hist_stdev(const struct hist *h);

/* How many samples lie at or below each of bounds[0..n) (ascending) into out[0..n), at the
 * histogram's precision: a sample counts when its bucket is at or below the bucket of the bound
 * (HdrHistogram's getCountBetweenValues). The cumulative buckets of a Prometheus histogram. */
void hist_count_at_or_below(const struct hist *h, const int64_t *bounds, size_t n, uint64_t *out);

/* Values v1 and v2 fall into the same bucket. */
int hist_values_equivalent(const struct hist *h, int64_t v1, int64_t v2);

/* HdrHistogram V2 compressed encoding, base64 (the `hdr` field of the JSON report), which other
 * HdrHistogram implementations decode: *out is malloc'ed, NUL terminated; returns its length or
 * a negative error. */
long hist_v2_encode(const struct hist *h, char **out);

/* Decode base64 V2 compressed text into a new histogram (*out, caller frees). Returns 0, or
 * HERD_E_PROTO for malformed input (never crashes, whatever the bytes). */
int hist_v2_decode(const char *b64, size_t len, struct hist **out);

/* ---- metrics, counters, error classes ---- */

enum metric {
    M_CONNECT, /* socket connect started -> TCP established */
    M_TLS, /* TLS handshake started -> finished */
    M_HANDSHAKE, /* HTTP request sent -> response head complete */
    M_READY, /* connection attempt started -> open and usable */
    M_FIRST_MESSAGE, /* open -> first data message received */
    M_RTT, /* PING -> PONG, or echo sent -> echo received */
    M_LATENCY, /* stamp time -> received, one way */
    M_FANOUT, /* stamp time -> last expected subscriber received it */
    M_RECONNECT, /* drop detected -> open again */
    M_POST, /* HTTP publishing: request intended send time -> response head */
    M_COUNT
};
extern const char *const metric_name[M_COUNT]; /* "connect", "tls", ... */

enum counter {
    CTR_CONNECTIONS_ATTEMPTED,
    CTR_CONNECTIONS_OPENED,
    CTR_CONNECTIONS_FAILED, /* attempts that never opened */
    CTR_CONNECTIONS_CLOSED, /* opened connections that closed, for any reason */
    CTR_CONNECTIONS_RECONNECTS,
    /* attempts cut short before they opened or failed: still connecting when the run ended (or
     * a --stages ramp-down took them); attempted = opened + failed + pending at the end */
    CTR_CONNECTIONS_PENDING,
    CTR_MESSAGES_SENT,
    CTR_MESSAGES_RECEIVED,
    CTR_MESSAGES_LOST,
    CTR_MESSAGES_DUPLICATED,
    CTR_MESSAGES_REORDERED,
    /* messages of a publisher a subscriber never saw after its last one (known from the
     * publisher's highest seq seen by any subscriber, or sent by herd): loss no gap shows */
    CTR_MESSAGES_UNSEEN,
    /* a seq that went backwards with a newer stamp time: two publishers with one id */
    CTR_STAMPS_COLLISIONS,
    /* stamped messages whose stamp lay ahead of herd's clock (recorded as latency 0): the
     * sender's clock runs ahead (another host, another clock source) */
    CTR_LATENCY_AHEAD,
    /* permessage-deflate: payload bytes before and after compression, each way */
    CTR_DEFLATE_SENT_PAYLOAD,
    CTR_DEFLATE_SENT_COMPRESSED,
    CTR_DEFLATE_RECEIVED_COMPRESSED,
    CTR_DEFLATE_RECEIVED_PAYLOAD,
    CTR_BYTES_SENT,
    CTR_BYTES_RECEIVED,
    CTR_PINGS_SENT,
    CTR_PINGS_RECEIVED, /* PONGs answering our PINGs */
    CTR_TLS_RESUMED, /* TLS handshakes that resumed a session (--tls-resume) */
    /* errors.tls by kind: */
    CTR_TLS_ERR_VERIFY, /* the server's certificate failed verification */
    CTR_TLS_ERR_ALERT, /* the server sent a fatal alert */
    CTR_TLS_ERR_PROTOCOL, /* anything else: no common version or cipher, bad records, EOF */
    CTR_FANOUT_MESSAGES, /* published messages whose fan-out was settled */
    CTR_FANOUT_EXPECTED, /* sum over those of the subscribers expected to get each */
    CTR_FANOUT_DELIVERED, /* sum over those of the subscribers that did get each */
    /* conversations (flows): */
    CTR_FLOW_COMPLETED, /* connections that ran every step of their flow */
    CTR_FLOW_UNMATCHED, /* messages no expect, reply or `on` rule of the flow matched */
    CTR_FLOW_ON_MATCHED, /* messages an `on` rule matched (answered or counted) */
    CTR_REQUESTS_SENT, /* correlated requests sent (request steps) */
    CTR_REQUESTS_ANSWERED, /* their replies received in time (timed in steps.<name>) */
    CTR_COUNT
};
extern const char *const counter_name[CTR_COUNT]; /* "connections.attempted", ... */

enum err_class {
    ERR_REFUSED,
    ERR_TIMEOUT,
    ERR_DNS,
    ERR_TLS,
    ERR_HTTP_STATUS, /* by code: stats.http_status[] */
    ERR_HANDSHAKE, /* bad upgrade reply */
    ERR_PROTOCOL, /* invalid frame or event stream */
    ERR_RESET,
    ERR_EOF,
    ERR_CLOSED_BY_SERVER, /* by close code: stats.close_code[] */
    ERR_IDLE_TIMEOUT,
    ERR_PORTS, /* no local port left for the address pair (EADDRNOTAVAIL): use --bind */
    ERR_DESCRIPTORS, /* the process or system ran out of file descriptors (EMFILE, ENFILE) */
    ERR_MEMORY, /* the kernel refused memory for a socket (ENOMEM, ENOBUFS) */
    ERR_OTHER, /* any other socket error */
    ERR_EXPECT, /* a flow's expect step saw no matching message in time */
    ERR_REPLY_TIMEOUT, /* a request step's reply never came (within its timeout) */
    ERR_COUNT
};
extern const char *const err_class_name[ERR_COUNT]; /* "refused", "timeout", ... */

#define STATS_HTTP_CODES 600
/* Histograms of a flow's request steps, "steps.<name>", besides the fixed metrics. */
#define STATS_MAX_STEPS 16
#define STATS_STEP_NAME 48 /* a step name with its NUL */
#define STATS_CLOSE_CODES 5000

struct stats {
    uint64_t ctr[CTR_COUNT];
    uint64_t err[ERR_COUNT];
    uint64_t http_status[STATS_HTTP_CODES]; /* errors.http_status by code */
    uint64_t close_code[STATS_CLOSE_CODES]; /* errors.closed_by_server by code */
    int64_t open; /* gauge: connections open now (not reset) */
    int64_t connecting; /* gauge: attempts in flight (connecting, TLS, handshake) */
    uint64_t ahead_max_us; /* the most a stamp lay ahead of herd's clock (merged as a max) */
    int64_t peak; /* gauge: most connections open at once */
    struct hist *hist[M_COUNT];
    /* Request steps' histograms (steps.<name>): registered at setup (stats_step_add), in the
     * same order in every block of a run, so a worker records by index; merged by name. */
    unsigned nsteps;
    struct hist *step[STATS_MAX_STEPS];
    char step_name[STATS_MAX_STEPS][STATS_STEP_NAME];
};

/* The index of the step histogram `name` (without "steps."), added when new (setup and the
 * reporter only: it allocates). Returns the index, or -1 when STATS_MAX_STEPS are in use or the
 * name is too long. */
int stats_step_add(struct stats *s, const char *name);
/* The step histogram `name` (without "steps."), NULL when there is none. */
const struct hist *stats_step_find(const struct stats *s, const char *name);

/* Allocate the histograms and zero everything; dies on out of memory (setup only). */
void stats_init(struct stats *s);
void stats_free(struct stats *s);

/* Zero counters, errors and histograms; the gauges are left alone. */
void stats_reset(struct stats *s);

/* dst += src for counters, errors and histograms; gauges are summed too (the caller decides
 * what a gauge sum means: across threads, open adds up). */
void stats_merge(struct stats *dst, const struct stats *src);

/* Count an error of a class; the code-indexed helpers also count the class. */
static inline void stats_error(struct stats *s, enum err_class c)
{
    s->err[c]++;
}
void stats_http_status(struct stats *s, int status);
void stats_close_code(struct stats *s, unsigned code);

/* Sum of all error classes. */
uint64_t stats_errors_total(const struct stats *s);

#endif
