/* tap.h - a tiny TAP producer for herd's unit tests (run by prove).
 *
 * CHECK* macros print both operands on failure (libuv test/task.h style) and keep going, so one
 * run shows every failure. Each binary ends with `return tap_done();`, which prints the plan. */
#ifndef HERD_TESTS_TAP_H
#define HERD_TESTS_TAP_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

static inline void tap_result(int ok, const char *file, int line, const char *what)
{
    tap_n++;
    if (!ok)
        tap_failed++;
    printf("%sok %d - %s:%d: %s\n", ok ? "" : "not ", tap_n, file, line, what);
}

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        int ok_ = !!(cond);                                                                        \
        tap_result(ok_, __FILE__, __LINE__, #cond);                                                \
    } while (0)

#define CHECK_EQ_I64(a, b)                                                                         \
    do {                                                                                           \
        int64_t a_ = (int64_t)(a), b_ = (int64_t)(b);                                              \
        tap_result(a_ == b_, __FILE__, __LINE__, #a " == " #b);                                    \
        if (a_ != b_)                                                                              \
            printf("#   got %" PRId64 ", expected %" PRId64 "\n", a_, b_);                         \
    } while (0)

#define CHECK_EQ_U64(a, b)                                                                         \
    do {                                                                                           \
        uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                                           \
        tap_result(a_ == b_, __FILE__, __LINE__, #a " == " #b);                                    \
        if (a_ != b_)                                                                              \
            printf("#   got %" PRIu64 ", expected %" PRIu64 "\n", a_, b_);                         \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                                         \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        int ok_ = a_ && b_ && strcmp(a_, b_) == 0;                                                 \
        tap_result(ok_, __FILE__, __LINE__, #a " == " #b);                                         \
        if (!ok_)                                                                                  \
            printf("#   got \"%s\", expected \"%s\"\n", a_ ? a_ : "(null)", b_ ? b_ : "(null)");   \
    } while (0)

#define CHECK_EQ_MEM(a, b, n)                                                                      \
    do {                                                                                           \
        int ok_ = memcmp((a), (b), (n)) == 0;                                                      \
        tap_result(ok_, __FILE__, __LINE__, "memcmp(" #a ", " #b ", " #n ") == 0");                \
    } while (0)

/* For loops with many cases: count silently, report once. */
#define CHECK_QUIET(cond, counter)                                                                 \
    do {                                                                                           \
        if (!(cond))                                                                               \
            (counter)++;                                                                           \
    } while (0)

static inline void tap_diag(const char *msg)
{
    printf("# %s\n", msg);
}

static inline int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif
