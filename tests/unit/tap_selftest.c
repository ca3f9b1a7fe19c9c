/* tap_selftest.c - tap.h itself: every way a unit binary can fail must fail under prove.
 *
 * Not a test_*.c, so `make unit` does not run it as a test: tests/unit/tap_selftest.sh runs
 * each case below under prove and checks prove's verdict (only "pass" may pass). */
#include "tap.h"

#include <signal.h>
#include <sys/wait.h>

int main(int argc, char **argv)
{
    const char *c = argc > 1 ? argv[1] : "";
    int bad = 0;
    CHECK(1);
    if (strcmp(c, "pass") == 0) {
        CHECK_QUIET(1, bad);
        CHECK_EQ_I64(bad, 0);
    } else if (strcmp(c, "fail") == 0) {
        CHECK_EQ_I64(1 + 1, 3);
    } else if (strcmp(c, "quiet-unreported") == 0) {
        CHECK_QUIET(0, bad); /* counted, never reported by a check */
    } else if (strcmp(c, "early-return") == 0) {
        return 0; /* main ends without tap_done() */
    } else if (strcmp(c, "early-exit") == 0) {
        exit(0);
    } else if (strcmp(c, "crash") == 0) {
        raise(SIGSEGV);
    } else if (strcmp(c, "abort") == 0) {
        abort();
    } else if (strcmp(c, "child-exits") == 0) {
        /* A forked child that exits is no failure of the parent's. */
        pid_t pid = fork();
        if (pid == 0)
            exit(0);
        int st = 0;
        CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st));
    } else {
        printf("Bail out! unknown case \"%s\"\n", c);
        return 2;
    }
    CHECK(1);
    return tap_done();
}
