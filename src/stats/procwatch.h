/* procwatch.h - the target's side of a run (--watch-pid): a local process's CPU (user and
 * system), resident memory, open descriptors and threads, sampled from /proc once per second by
 * the reporter. Nothing here runs on a worker thread.
 *
 * A process is followed by its pid and its start time (field 22 of /proc/PID/stat), so a pid
 * that the kernel hands to a new process after the watched one exited is not mistaken for it;
 * a zombie counts as gone. */
#ifndef HERD_STATS_PROCWATCH_H
#define HERD_STATS_PROCWATCH_H

#include <stddef.h>
#include <stdint.h>

/* What /proc/PID/stat says that procwatch uses. */
struct proc_stat {
    char comm[32]; /* the command name, cut to 31 bytes */
    char state; /* R, S, D, Z, X, ... */
    uint64_t utime, stime; /* clock ticks */
    uint64_t threads;
    uint64_t starttime; /* clock ticks after boot */
    uint64_t rss_pages;
};

/* Parse the text of /proc/PID/stat (buf[0..len), no NUL needed): "pid (comm) state ..." where
 * comm may hold spaces and parentheses (the last ')' ends it). Returns 0, or -1 when the text is
 * not such a line (too few fields, a field that is not a number). */
int proc_stat_parse(const char *buf, size_t len, struct proc_stat *out);

struct procwatch {
    int pid;
    int gone; /* exited (or unreadable) since */
    char name[32];
    uint64_t starttime;
    uint64_t last_utime, last_stime, last_ns;
};

/* One sample: CPU over the time since the previous sample (or since procwatch_open). */
struct procwatch_sample {
    double cpu_user_pct, cpu_system_pct; /* percent of one CPU */
    uint64_t rss_bytes, threads;
    int64_t fds; /* -1: /proc/PID/fd could not be read (another user's process) */
};

/* Start watching pid at now_ns (CLOCK_MONOTONIC). Returns 0, or -1 with one line in err when
 * there is no such process (or it is a zombie) or /proc cannot be read. */
int procwatch_open(struct procwatch *w, int pid, uint64_t now_ns, char *err, size_t errlen);

/* Sample w at now_ns. Returns 0 with *out filled, or -1 once the process is gone (w->gone is
 * set then, and stays set). */
int procwatch_sample(struct procwatch *w, uint64_t now_ns, struct procwatch_sample *out);

#endif
