/* tap.h - a tiny TAP producer for herd's unit tests (run by prove).
 *
 * Every check prints one line, `ok N - file:line: expr` or `not ok N - ...`; the CHECK_EQ_* forms
 * also print both operands when they differ (libuv test/task.h style). Checks keep going, so one
 * run shows every failure. Each binary ends with `return tap_done();`, which prints the plan
 * `1..N` and returns 1 when a check failed.
 *
 * No failure is silent; prove sees each one:
 * - a failed check is a `not ok` line. The failure count is private (tap__failed): a test cannot
 *   fail the binary without such a line.
 * - CHECK_QUIET counts failures of a loop's cases into the test's own counter, which a check then
 *   reports (CHECK_EQ_U64(bad, 0)). If no check did and nothing else failed, tap_done() adds a
 *   `not ok` line for them.
 * - a crash leaves no plan line (prove: "No plan found") and a signal status; returning from
 *   main or calling exit() before tap_done() prints `Bail out!`. Both fail under prove.
 *   stdout is line-buffered, so every line written before a crash reaches prove, also from a
 *   forked child (which never bails out for its parent).
 * tests/unit/tap_selftest.sh checks each of these under prove. */
#ifndef HERD_TESTS_TAP_H
#define HERD_TESTS_TAP_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static int tap_n, tap__failed, tap__quiet, tap__done;
static pid_t tap__pid;

static inline void tap_result(int ok, const char *file, int line, const char *what)
{
    tap_n++;
    if (!ok)
        tap__failed++;
    printf("%sok %d - %s:%d: %s\n", ok ? "" : "not ", tap_n, file, line, what);
}

static void tap__at_exit(void)
{
    if (!tap__done && getpid() == tap__pid)
        printf("Bail out! exited after %d checks without tap_done()\n", tap_n);
}

__attribute__((constructor)) static void tap__init(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    tap__pid = getpid();
    atexit(tap__at_exit);
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

/* For loops with many cases: count failures silently into counter, then report the counter
 * once with a check (CHECK_EQ_U64(counter, 0)). */
#define CHECK_QUIET(cond, counter)                                                                 \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            (counter)++;                                                                           \
            tap__quiet++;                                                                          \
        }                                                                                          \
    } while (0)

static inline void tap_diag(const char *msg)
{
    printf("# %s\n", msg);
}

static inline int tap_done(void)
{
    if (tap__quiet && !tap__failed) {
        tap_result(0, __FILE__, __LINE__, "every CHECK_QUIET failure is reported by a check");
        printf("#   %d CHECK_QUIET failures, and no check failed\n", tap__quiet);
    }
    tap__done = 1;
    printf("1..%d\n", tap_n);
    return tap__failed ? 1 : 0;
}

#endif
