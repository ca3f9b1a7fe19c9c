/* test_stats_procwatch.c - --watch-pid's /proc reader: the stat line parser on kernel-shaped
 * lines (a command name with spaces and parentheses, short and malformed lines), and sampling
 * this very process, a zombie child and a pid that is gone. */
#include "stats/procwatch.h"
#include "tap.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_parse(void)
{
    struct proc_stat st;
    /* A command name with spaces and ')': the last ')' ends it. */
    const char line[] = "4242 (a) b(c) d) S 1 4242 4242 0 -1 4194560 100 0 0 0 12 34 0 0 20 0 7 "
                        "0 99 1000 256 18446744073709551615 1 1\n";
    CHECK_EQ_I64(proc_stat_parse(line, sizeof line - 1, &st), 0);
    CHECK_EQ_STR(st.comm, "a) b(c) d");
    CHECK_EQ_I64(st.state, 'S');
    CHECK_EQ_U64(st.utime, 12);
    CHECK_EQ_U64(st.stime, 34);
    CHECK_EQ_U64(st.threads, 7);
    CHECK_EQ_U64(st.starttime, 99);
    CHECK_EQ_U64(st.rss_pages, 256);
    /* A name longer than 31 bytes is cut, the fields still read. */
    const char longname[] = "1 (0123456789012345678901234567890123456789) R 1 1 1 0 -1 0 0 0 0 0 5 "
                            "6 0 0 20 0 1 0 7 0 8\n";
    CHECK_EQ_I64(proc_stat_parse(longname, sizeof longname - 1, &st), 0);
    CHECK_EQ_U64(strlen(st.comm), 31);
    CHECK_EQ_U64(st.rss_pages, 8);
    /* Every prefix that stops before field 24 (rss) is refused; so are bad numbers. */
    size_t upto = strlen("4242 (a) b(c) d) S 1 4242 4242 0 -1 4194560 100 0 0 0 12 34 0 0 20 0 7 "
                         "0 99 1000 ");
    int accepted = 0;
    for (size_t n = 0; n <= upto; n++)
        accepted += proc_stat_parse(line, n, &st) == 0;
    CHECK_EQ_I64(accepted, 0);
    CHECK_EQ_I64(proc_stat_parse(line, upto + 3, &st), 0); /* all of field 24 */
    const char *bad[] = {"", "1 x S 1", "1 (x S 1 2", "1 (x)S 1", "1 (x) S 1 2 3 4 5 6 7 8 9 1x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ_I64(proc_stat_parse(bad[i], strlen(bad[i]), &st), -1);
}

static void test_self(void)
{
    struct procwatch w;
    char err[128];
    CHECK_EQ_I64(procwatch_open(&w, getpid(), 1000000000ull, err, sizeof err), 0);
    /* Burn a little CPU so that the sample has some. */
    volatile uint64_t x = 0;
    for (uint64_t i = 0; i < 50000000ull; i++)
        x += i;
    struct procwatch_sample s;
    CHECK_EQ_I64(procwatch_sample(&w, 2000000000ull, &s), 0);
    CHECK(s.rss_bytes > 0);
    CHECK(s.threads >= 1);
    CHECK(s.fds >= 3); /* stdin, stdout, stderr at least */
    CHECK(s.cpu_user_pct + s.cpu_system_pct >= 0);
    CHECK(!w.gone);
}

static void test_gone(void)
{
    char err[128];
    struct procwatch w;
    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    CHECK_EQ_I64(procwatch_open(&w, child, 1, err, sizeof err), 0);
    struct procwatch_sample s;
    CHECK_EQ_I64(procwatch_sample(&w, 2, &s), 0);
    kill(child, SIGKILL);
    /* Until reaped it is a zombie: gone all the same. */
    for (int i = 0; i < 200; i++) {
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)child);
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
        if (f)
            fclose(f);
        struct proc_stat st;
        if (n && proc_stat_parse(buf, n, &st) == 0 && st.state == 'Z')
            break;
        usleep(5000);
    }
    CHECK_EQ_I64(procwatch_sample(&w, 3, &s), -1);
    CHECK(w.gone);
    CHECK_EQ_I64(procwatch_sample(&w, 4, &s), -1); /* stays gone */
    waitpid(child, NULL, 0);
    CHECK_EQ_I64(procwatch_open(&w, child, 5, err, sizeof err), -1);
    CHECK(strstr(err, "--watch-pid") != NULL);
}

int main(void)
{
    test_parse();
    test_self();
    test_gone();
    return tap_done();
}
