/* pool.h - per-thread buffer chunks in size classes, on intrusive free lists, no locks.
 *
 * Connections hold bytes only while a frame or event is incomplete, or while a write could not
 * complete; those bytes live in chunks from the owning thread's pool and go back to it as soon as
 * they are consumed. Requests above the largest class use malloc (counted in `oversize`). */
#ifndef HERD_BASE_POOL_H
#define HERD_BASE_POOL_H

#include <stddef.h>
#include <stdint.h>

#define POOL_CLASSES 4

/* A chunk of `cap` bytes. `data` follows the header. */
struct chunk {
    struct chunk *next; /* free-list link while pooled; queue link while in use */
    uint32_t cap; /* usable bytes in data[] */
    uint32_t cls; /* size class index, or POOL_CLASSES for oversize */
    uint32_t len; /* bytes used, for the holder (0 from pool_get) */
    uint32_t off; /* bytes already consumed, for the holder (0 from pool_get) */
    uint8_t data[];
};

struct pool {
    struct chunk *free[POOL_CLASSES];
    uint32_t nfree[POOL_CLASSES];
    uint64_t outstanding; /* chunks handed out and not yet returned */
    uint64_t oversize; /* allocations above the largest class */
};

/* Class capacities: 256 B, 2 KiB, 16 KiB, 64 KiB allocations, less the chunk header. */
extern const uint32_t pool_class_cap[POOL_CLASSES];

void pool_init(struct pool *p);

/* Release every pooled chunk (outstanding ones remain the caller's). */
void pool_destroy(struct pool *p);

/* A chunk of at least `size` bytes, or NULL when out of memory. */
struct chunk *pool_get(struct pool *p, size_t size);

/* Return a chunk from pool_get. NULL is ignored. At most 1024 chunks per class are kept; the rest
 * are freed so that a burst does not pin memory for the rest of the run. */
void pool_put(struct pool *p, struct chunk *c);

#endif
