/* load.h - pure schedule math: reconnect backoff, ramp stages, shares of counts and rates.
 * No I/O, no clocks: functions of time, parameters and (for jitter) a random number. */
#ifndef HERD_LOAD_LOAD_H
#define HERD_LOAD_LOAD_H

#include <stddef.h>
#include <stdint.h>

/* Parse a duration: "30s", "2m", "2min", "500ms", "250us", "10ns", "1h", "1.5s", compound
 * "1m30s"; a bare number alone is seconds. The one duration syntax of herd: options, backoff
 * specs, stages and scenario files all come here. Returns 0, or HERD_E_INVAL with *why. */
int load_parse_duration(const char *s, size_t len, uint64_t *ns, const char **why);

enum backoff_kind { BACKOFF_NONE, BACKOFF_FIXED, BACKOFF_EXP };
enum backoff_jitter { JITTER_NONE, JITTER_FULL, JITTER_EQUAL };

/* --backoff none | fixed:DUR | exp:MIN..MAX, each optionally followed by ,jitter=full|equal|none
 * (default jitter: none for fixed, full for exp). */
struct backoff {
    enum backoff_kind kind;
    enum backoff_jitter jitter;
    uint64_t base_ns; /* fixed delay, or the first exponential delay */
    uint64_t max_ns; /* exponential cap */
};

/* Parse a --backoff spec; returns 0 or HERD_E_INVAL with a static reason in *why. */
int backoff_parse(const char *spec, struct backoff *b, const char **why);

/* The delay before retry number `attempt` (0 for the first retry after a drop). `u` is a uniform
 * random number in [0, 1) used for jitter. */
uint64_t backoff_delay(const struct backoff *b, unsigned attempt, double u);

/* One stage of --stages: ramp linearly to `target` open connections over `dur_ns`. */
struct stage {
    uint64_t dur_ns;
    uint64_t target;
};

#define LOAD_MAX_STAGES 64

/* Parse "30s:1000,1m:1000,10s:0". Returns the number of stages or HERD_E_INVAL with *why. */
int stages_parse(const char *spec, struct stage *out, size_t max, const char **why);

/* Connections that should be open at time t_ns since the start, by linear interpolation from
 * `from` (the count before the first stage, normally 0). After the last stage: its target. */
uint64_t stages_target(const struct stage *st, size_t n, uint64_t from, uint64_t t_ns);

/* Total duration of the stages. */
uint64_t stages_duration(const struct stage *st, size_t n);

/* This shard's share of a count: items with index i where i % shards == shard. */
static inline uint64_t shard_share(uint64_t total, unsigned shard, unsigned shards)
{
    if (shards <= 1)
        return total;
    return total > shard ? (total - shard + shards - 1) / shards : 0;
}

#endif
