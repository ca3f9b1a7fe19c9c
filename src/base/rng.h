/* rng.h - per-thread random numbers.
 *
 * struct rng serves two needs: strong random bytes (WebSocket mask keys and Sec-WebSocket-Key,
 * RFC 6455 5.3 asks for a strong entropy source) taken from a buffer that getrandom() refills in
 * bulk, so a mask key costs a copy rather than a syscall; and a fast xoshiro256** generator for
 * jitter and sampling, where only statistical quality matters. Not thread safe: one per thread. */
#ifndef HERD_BASE_RNG_H
#define HERD_BASE_RNG_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define RNG_POOL_BYTES 4096

struct rng {
    size_t pos; /* next unused byte of pool */
    uint64_t s[4];
    uint8_t pool[RNG_POOL_BYTES];
};

/* Seed from getrandom(). Dies if the kernel gives no entropy. */
void rng_init(struct rng *r);

/* Refill the strong pool (internal; called by rng_bytes). */
void rng__refill(struct rng *r);

/* Copy n strong random bytes (n <= RNG_POOL_BYTES). */
static inline void rng_bytes(struct rng *r, void *out, size_t n)
{
    if (r->pos + n > RNG_POOL_BYTES)
        rng__refill(r);
    memcpy(out, r->pool + r->pos, n);
    r->pos += n;
}

/* Fast 64-bit pseudo-random value (xoshiro256**). */
static inline uint64_t rng_u64(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t x = s[1] * 5;
    uint64_t result = ((x << 7) | (x >> 57)) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return result;
}

/* Uniform in [0, n) for n > 0 (Lemire's multiply-shift, bias negligible for our n). */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_u64(r) * n) >> 64);
}

/* Uniform double in [0, 1). */
static inline double rng_unit(struct rng *r)
{
    return (double)(rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

#endif
