/* clock.h - the two clocks herd uses. Monotonic time measures intervals; realtime is only for
 * stamps that other processes read. Never mix them in one variable: name them *_mono_ns and
 * *_real_ns. clock_gettime goes through the vDSO, so these cost no syscall. */
#ifndef HERD_BASE_CLOCK_H
#define HERD_BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define NS_PER_US 1000ull
#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull

#endif
