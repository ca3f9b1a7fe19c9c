/* server.h - `herd serve`, the built-in target: /echo, /pubsub/<topic>, /sse/<topic>,
 * POST /publish/<topic>, with knobs for rehearsing faults. Built on loop, net and proto; one
 * event loop per thread, SO_REUSEPORT listeners, no shared state on the echo path. Topics belong
 * to one process: with `herd serve --procs N` each process has its own. */
#ifndef HERD_SERVER_SERVER_H
#define HERD_SERVER_SERVER_H

#include <stddef.h>
#include <stdint.h>

enum slow_policy { SLOW_BUFFER, SLOW_DROP, SLOW_CLOSE };

struct server_params {
    const char *bind; /* --bind address (default 127.0.0.1) */
    uint16_t port; /* --port (default 8080; 0 = any free port) */
    unsigned threads; /* --threads (0 = number of CPUs) */
    uint64_t delay_ns; /* --delay: hold each reply */
    uint64_t stall_ns; /* --stall: freeze for this long ... */
    uint64_t stall_every_ns; /* ... every this long */
    double tick_rate; /* --tick: stamped messages per second to topic "tick" */
    enum slow_policy slow_policy; /* --slow-policy */
    uint64_t queue_limit; /* --queue-limit bytes per subscriber (default 1 MiB) */
    uint64_t sndbuf; /* --sndbuf: SO_SNDBUF of accepted sockets, 0 = the kernel's autotuning */
    uint64_t max_connections; /* --max-connections, 0 = unlimited */
    double reject; /* --reject: fraction of upgrades answered 503 */
    uint64_t die_after_ns; /* --die-after: exit abruptly after this long, 0 = never */
    const char *tls_cert, *tls_key; /* --tls-cert / --tls-key */
    uint64_t history; /* --history: messages per topic kept for Last-Event-ID (default 1024) */
    uint64_t sse_retry_ms; /* --sse-retry: "retry:" at the start of every stream; 0 = none */
    unsigned procs; /* --procs: processes, 0 or 1 = this one (the command forks the others) */
    int compress; /* --compress: accept permessage-deflate on /echo and /pubsub/<topic> */
    /* internal: join a fixed port with SO_REUSEPORT without first checking that nothing listens
     * there (the processes of --procs share it) */
    int _share_port;
    int quiet;
};

void server_params_defaults(struct server_params *p);

/* Check what the options name before anything starts: --tls-cert and --tls-key come together
 * and load. 0, or HERD_E_INVAL with a one-line message naming the option. */
int server_params_check(const struct server_params *p, char *err, size_t errlen);

struct server;

/* What the server did since it started, summed over its threads: what `herd serve` prints at
 * its end and on SIGUSR1, so that a rehearsal can be checked from the server's side too. */
struct server_counts {
    uint64_t accepted; /* TCP connections (and TLS sessions) accepted */
    uint64_t opened; /* WebSocket upgrades and event streams admitted */
    uint64_t refused; /* upgrades and streams answered 503 (--max-connections, --reject) */
    uint64_t received; /* data messages received: WebSocket messages, POST /publish bodies */
    uint64_t published; /* messages published on a topic (WebSocket, POST, --tick) */
    uint64_t delivered; /* copies of them given to subscribers (written, or queued) */
    /* --slow-policy: what the subscribers that did not keep up met */
    uint64_t queued; /* copies that waited in a subscriber's queue (the kernel took not all) */
    uint64_t dropped; /* copies not given (drop: past --queue-limit) */
    uint64_t closed; /* subscribers closed for it (close: past --queue-limit; buffer: past the
                        hard cap): 1008, or the end of the event stream, after what was queued */
    uint64_t reset; /* connections reset because their final bytes could not be delivered
                       before the close deadline: a closed slow subscriber that never reads
                       again sees a reset, not the 1008 */
};

/* The counts so far; safe to call from another thread while the server runs. */
void server_counts(const struct server *s, struct server_counts *out);

/* Bind and start the worker threads. Returns NULL with a one-line message in err on failure
 * (e.g. address in use). */
struct server *server_start(const struct server_params *p, char *err, size_t errlen);

/* The port actually bound (useful with port 0). */
uint16_t server_port(const struct server *s);

/* Stop accepting, close every connection, join the threads; the counts stay readable. */
void server_halt(struct server *s);

/* Halt (when not halted yet) and free. */
void server_stop(struct server *s);

#endif
