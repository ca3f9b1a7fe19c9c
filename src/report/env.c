/* env.c - where a run ran and how it was asked for: the report's "environment" object, which the
 * HTML report shows beside the configuration (a run is read again months later, on another
 * machine). */
#include "report/report.h"

#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

static char command_line[sizeof((struct report_env *)0)->command_line];

/* Append word to out[0..cap), quoted with '...' when it holds anything a shell would read. */
static size_t word_append(char *out, size_t used, size_t cap, const char *word)
{
    int plain = *word != '\0';
    for (const char *c = word; *c; c++) {
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,%@+", *c))
            plain = 0;
    }
    if (used && used + 1 < cap)
        out[used++] = ' ';
    if (!plain && used + 1 < cap)
        out[used++] = '\'';
    for (const char *c = word; *c && used + 5 < cap; c++) {
        if (*c == '\'' && !plain) { /* ' -> '\'' */
            memcpy(out + used, "'\\''", 4);
            used += 4;
        } else {
            out[used++] = *c;
        }
    }
    if (!plain && used + 1 < cap)
        out[used++] = '\'';
    out[used < cap ? used : cap - 1] = '\0';
    return used < cap ? used : cap - 1;
}

void report_env_command_line_set(int argc, char *const *argv)
{
    size_t used = word_append(command_line, 0, sizeof command_line, "herd");
    for (int i = 1; i < argc && argv[i]; i++)
        used = word_append(command_line, used, sizeof command_line, argv[i]);
}

void report_env_fill(struct report_env *e)
{
    memset(e, 0, sizeof *e);
    snprintf(e->command_line, sizeof e->command_line, "%s", command_line);
    struct utsname u;
    if (uname(&u) == 0) {
        snprintf(e->host, sizeof e->host, "%s", u.nodename);
        snprintf(e->kernel, sizeof e->kernel, "%s %s %s", u.sysname, u.release, u.machine);
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    e->cpus = n > 0 ? (unsigned)n : 0;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        e->nofile = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
}
