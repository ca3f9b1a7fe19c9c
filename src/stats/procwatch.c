/* procwatch.c - sampling a local process from /proc (see procwatch.h). */
#include "stats/procwatch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* A decimal field at *p (leading spaces skipped, a '-' allowed and read as 0: a few fields are
 * signed); advances *p past it. Returns 0, or -1 when there is no number. */
static int field_u64(const char **p, const char *end, uint64_t *out)
{
    const char *s = *p;
    while (s < end && *s == ' ')
        s++;
    int neg = s < end && *s == '-';
    s += neg;
    if (s >= end || *s < '0' || *s > '9')
        return -1;
    uint64_t v = 0;
    for (; s < end && *s >= '0' && *s <= '9'; s++)
        v = v * 10 + (uint64_t)(*s - '0'); /* wraps on absurd input; never UB */
    if (s < end && *s != ' ' && *s != '\n')
        return -1;
    *out = neg ? 0 : v;
    *p = s;
    return 0;
}

int proc_stat_parse(const char *buf, size_t len, struct proc_stat *out)
{
    memset(out, 0, sizeof *out);
    const char *end = buf + len;
    const char *open = memchr(buf, '(', len);
    const char *close = NULL;
    for (const char *c = end; c > buf; c--) {
        if (c[-1] == ')') {
            close = c - 1;
            break;
        }
    }
    if (!open || !close || close < open)
        return -1;
    size_t n = (size_t)(close - open - 1);
    if (n >= sizeof out->comm)
        n = sizeof out->comm - 1;
    memcpy(out->comm, open + 1, n);
    out->comm[n] = '\0';
    const char *p = close + 1;
    if (end - p < 2 || p[0] != ' ')
        return -1;
    out->state = p[1];
    p += 2;
    /* Fields 4.. after the state (field 3): take 14 utime, 15 stime, 20 threads, 22 start time,
     * 24 rss. */
    for (int f = 4; f <= 24; f++) {
        uint64_t v;
        if (field_u64(&p, end, &v) != 0)
            return -1;
        switch (f) {
        case 14: out->utime = v; break;
        case 15: out->stime = v; break;
        case 20: out->threads = v; break;
        case 22: out->starttime = v; break;
        case 24: out->rss_pages = v; break;
        default: break;
        }
    }
    return 0;
}

/* Read /proc/PID/stat. Returns 0, or -1 (no such process, or unreadable). */
static int read_stat(int pid, struct proc_stat *st)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    if (n <= 0)
        return -1;
    return proc_stat_parse(buf, (size_t)n, st);
}

static int64_t count_fds(int pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(d);
    return n;
}

int procwatch_open(struct procwatch *w, int pid, uint64_t now_ns, char *err, size_t errlen)
{
    memset(w, 0, sizeof *w);
    w->pid = pid;
    struct proc_stat st;
    if (read_stat(pid, &st) != 0 || st.state == 'Z' || st.state == 'X') {
        snprintf(err, errlen, "--watch-pid: %d: no such process", pid);
        return -1;
    }
    snprintf(w->name, sizeof w->name, "%s", st.comm);
    w->starttime = st.starttime;
    w->last_utime = st.utime;
    w->last_stime = st.stime;
    w->last_ns = now_ns;
    return 0;
}

int procwatch_sample(struct procwatch *w, uint64_t now_ns, struct procwatch_sample *out)
{
    memset(out, 0, sizeof *out);
    if (w->gone)
        return -1;
    struct proc_stat st;
    if (read_stat(w->pid, &st) != 0 || st.state == 'Z' || st.state == 'X' ||
        st.starttime != w->starttime) {
        w->gone = 1;
        return -1;
    }
    long tck = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    double dt = now_ns > w->last_ns ? (double)(now_ns - w->last_ns) / 1e9 : 0;
    if (dt > 0 && tck > 0) {
        /* Ticks only grow; a smaller value would be a reused pid, which starttime rules out. */
        uint64_t du = st.utime >= w->last_utime ? st.utime - w->last_utime : 0;
        uint64_t ds = st.stime >= w->last_stime ? st.stime - w->last_stime : 0;
        out->cpu_user_pct = (double)du / (double)tck / dt * 100.0;
        out->cpu_system_pct = (double)ds / (double)tck / dt * 100.0;
    }
    out->rss_bytes = st.rss_pages * (uint64_t)(page > 0 ? page : 4096);
    out->threads = st.threads;
    out->fds = count_fds(w->pid);
    w->last_utime = st.utime;
    w->last_stime = st.stime;
    w->last_ns = now_ns;
    return 0;
}
