/* client.h - the load engine's face: what to run (struct client_params, filled in by cli or
 * scenario), and the workers that run it.
 *
 * A run has N worker threads, each with its own event loop, connections, pools and two stats
 * blocks. Connections are sharded over workers and never shared; the only cross-thread traffic
 * is the reporter's once-per-interval swap request and the stop request. */
#ifndef HERD_CLIENT_CLIENT_H
#define HERD_CLIENT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "load/load.h"
#include "proto/url.h"
#include "stats/stats.h"

struct stats;
struct flow; /* flow/flow.h */
struct csv_table; /* flow/csv.h */

enum client_role {
    ROLE_PING, /* flood WebSocket PINGs, time PONGs */
    ROLE_ECHO, /* send stamped data messages, time their echoes */
    ROLE_PUBLISH, /* send stamped data messages at --rate */
    ROLE_SUBSCRIBE, /* receive, time stamps one way */
    ROLE_IDLE, /* hold the connection only */
};
extern const char *const client_role_name[]; /* "ping", "echo", ... */

#define CLIENT_MAX_HEADERS 32
#define CLIENT_MAX_BIND 4096

struct client_params {
    const char *url_text; /* as given, for the report */
    struct url url; /* parsed */
    enum client_role role;
    uint64_t connections; /* -c: concurrent connections to hold */
    uint64_t duration_ns; /* -d: run time after the first connection opened */
    unsigned threads; /* -t: worker threads (0 = number of CPUs) */
    double connect_rate; /* --connect-rate: new connections per second, 0 = unlimited */
    double rate; /* --rate: messages/s per connection, 0 = closed model */
    unsigned pipeline; /* --pipeline: messages in flight per connection (closed model) */
    size_t size; /* -s: payload bytes (0 = the stamp's natural size) */
    int binary; /* --binary (default text) */
    const char *message; /* --message / --message-file template, NULL = generated */
    size_t message_len;
    const char *headers[CLIENT_MAX_HEADERS]; /* -H "K: V" lines, validated */
    size_t nheaders;
    const char *subprotocol; /* --subprotocol, NULL = none */
    const char *origin; /* --origin, NULL = none */
    const char *method; /* --method: publishing over HTTP (default POST) */
    int compress; /* --compress: offer permessage-deflate */
    /* --compress=PARAMS: the RFC 7692 parameters to offer (cli checked them), NULL for none */
    const char *compress_params;
    uint64_t timeout_ns; /* --timeout: connect + handshake (default 10 s) */
    uint64_t idle_timeout_ns; /* --idle-timeout: silence on an open connection, 0 = none */
    uint64_t ping_interval_ns; /* --ping-interval: keep-alive PINGs on idle/subscribe, 0 = none */
    uint64_t max_message; /* largest message accepted (default 64 MiB) */
    int quiet; /* -q */
    /* shard I of N: this process takes its share of every count and rate */
    unsigned shard_index, shard_count;
    /* First global connection number of this run ({{conn}}, stamp publisher ids): a scenario
     * gives each group its own range so that ids stay unique in one run. */
    uint32_t index_base;

    /* Accepted and validated by cli now; the engine uses them as each feature lands. */
    /* --bind: source addresses as written ("127.0.0.2-127.0.0.40"), NULL = the kernel's choice */
    const char *bind;
    /* --read-rate: bytes/s a slow subscriber reads; -1 = unlimited (default), 0 = stop reading */
    double read_rate;
    int reconnect; /* --reconnect: open again after a drop */
    /* --backoff: "none", "fixed:1s" or "exp:100ms..30s" with optional ",jitter=full|equal|none",
     * as written (cli checked the syntax); NULL = the engine's default */
    const char *backoff;
    uint64_t max_retries; /* --max-retries: reconnect attempts per connection, 0 = unlimited */
    int insecure; /* --insecure: skip TLS certificate verification */
    const char *cacert; /* --cacert: CA bundle file, NULL = the system's */
    const char *cert; /* --cert: client certificate file (cli requires --key with it) */
    const char *key; /* --key: its private key file */
    const char *sni; /* --sni: TLS server name, NULL = the URL's host */
    int tls_resume; /* --tls-resume: resume TLS sessions on reconnect */
    unsigned procs; /* --procs: local processes to spread the run over, 0 = automatic */
    /* --stages: ramp the open connections k6-style; when set, `connections` is the largest
     * target and the run lasts the stages' total duration */
    struct stage stages[LOAD_MAX_STAGES];
    size_t nstages;
    /* --flow or a scenario group's flow: the compiled conversation each connection holds (its
     * steps, then the role it names), NULL for a built-in role */
    const struct flow *flow;
    /* --data: per-connection rows for {{data.COL}}, NULL without */
    const struct csv_table *data;
};

/* Defaults (DESIGN.md): 10 connections, 10 s, ping role, pipeline 1, 10 s timeout. */
void client_params_defaults(struct client_params *p);

/* A started run. Opaque. */
struct client_run;

/* What would make client_run_start refuse p that is the user's to fix (exit 2): a TLS file
 * (--cacert, --cert, --key) that cannot be loaded, a bad --backoff or --compress. Loads and frees
 * what it checks; nothing connects. Returns 0, or < 0 with one line naming the option in err. */
int client_params_check(const struct client_params *p, char *err, size_t errlen);

/* Validate p and start the worker threads; the run begins connecting at once. Returns NULL and
 * fills err (one line) when it cannot start. p must outlive the run. */
struct client_run *client_run_start(const struct client_params *p, char *err, size_t errlen);

/* Ask every worker to swap its active and inactive stats blocks, wait until all did, and add the
 * inactive ones into `into` (then zero them). Called by the reporter once per interval; the only
 * synchronisation between reporter and workers. Also sums the open-connection gauge. */
void client_run_collect(struct client_run *r, struct stats *into);

/* Mono time (ns) at which the first connection opened, 0 while none has. */
uint64_t client_run_first_open_ns(const struct client_run *r);

/* Connections not finished for good, over all workers (for ending a run whose connections all
 * dropped). */
size_t client_run_live(const struct client_run *r);

/* The reason of the first TLS failure of the run, or NULL when there was none. */
const char *client_run_tls_error(const struct client_run *r);

/* The reason of the run's first failure of class cls (one line), or NULL when none was kept:
 * every class whose failures have a reason to give (a socket error, a bad handshake reply, a
 * protocol violation, TLS) keeps its first, so that errors.other is never the only trace. */
const char *client_run_why(const struct client_run *r, enum err_class cls);

/* Whether every worker has finished (all connections closed after a stop). */
int client_run_done(const struct client_run *r);

/* After every run of a `herd run` has been joined: the messages each subscriber never saw after
 * its last one from a publisher, which no gap can show (a reader that fell behind and was cut
 * off by the end of the run, a server that stopped sending to it). A publisher's last message is
 * the highest seq any subscriber of these runs saw of it, or what herd's own publishers of these
 * runs sent. Adds them to totals[i] (the stats of runs[i]) as messages.unseen, and to
 * fanout.expected, so that delivered / expected is "received of published". */
void client_runs_count_unseen(struct client_run *const *runs, size_t n,
                              struct stats *const *totals);

/* Ask the workers to stop: send close frames, wait at most `grace_ns` for close handshakes, then
 * drop what is left. Returns at once; client_run_join waits. `abrupt` skips the grace period. */
void client_run_stop(struct client_run *r, uint64_t grace_ns, int abrupt);
void client_run_join(struct client_run *r);
void client_run_free(struct client_run *r);

#endif
