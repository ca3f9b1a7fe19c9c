/* serve.c - `herd serve`: run the built-in target until SIGINT/SIGTERM.
 *
 * --procs N: the command forks N processes, one after the other, each running a whole server
 * (--threads threads) on the same port with SO_REUSEPORT, so the kernel spreads connections over
 * every listener of every process; one process's descriptor limit no longer caps the server.
 * Each child reports on a pipe that it listens (and, with --port 0, the port the first one got,
 * which the others then join) or why it could not. The parent prints one line, forwards SIGINT
 * and SIGTERM to the children and waits for them (SIGKILL after SERVE_STOP_GRACE_S). A child
 * that exits by itself (--die-after does, in every child) ends the others too, unless
 * --die-after is set, when they all go on their own. Children get SIGTERM if the parent dies.
 * Topics are per process: a message published in one process reaches the subscribers of that
 * process only.
 *
 * At its end, and on SIGUSR1, each process prints what it did (struct server_counts) on one
 * line of stderr, unless -q; with --procs the parent forwards SIGUSR1 and each child prints its
 * own line, marked with its pid. */
#include "cmd/cmd.h"

#include "base/syslimits.h"
#include "net/net.h"
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SERVE_START_TIMEOUT_MS 30000 /* a child must report within this */
#define SERVE_STOP_GRACE_S 10 /* then the children still running are killed */

/* A child's report on the pipe: one write, shorter than PIPE_BUF, so it arrives whole. */
struct child_report {
    int ok;
    uint16_t port;
    char err[480]; /* as much as serve_one's message holds */
};

static void print_listening(const struct server_params *p, uint16_t port, unsigned procs)
{
    if (p->quiet)
        return;
    if (procs > 1)
        fprintf(stderr, "herd serve: listening on %s:%u (ws://%s:%u/echo), %u processes\n", p->bind,
                port, p->bind, port, procs);
    else
        fprintf(stderr, "herd serve: listening on %s:%u (ws://%s:%u/echo)\n", p->bind, port,
                p->bind, port);
}

static const char *policy_name(enum slow_policy sp)
{
    switch (sp) {
    case SLOW_BUFFER: return "buffer";
    case SLOW_DROP: return "drop";
    case SLOW_CLOSE: return "close";
    }
    return "?";
}

/* One line of what the server did so far (at its end, or on SIGUSR1). */
static void print_counts(const struct server *s, const struct server_params *p, int child)
{
    struct server_counts k;
    server_counts(s, &k);
    char who[32] = "";
    if (child)
        snprintf(who, sizeof who, " process %d", (int)getpid());
    fprintf(stderr,
            "herd serve%s: connections: accepted %" PRIu64 ", opened %" PRIu64 ", refused %" PRIu64
            "; messages: received %" PRIu64 ", published %" PRIu64 ", delivered %" PRIu64
            "; slow subscribers (--slow-policy %s): queued %" PRIu64 ", dropped %" PRIu64
            ", closed %" PRIu64 ", reset %" PRIu64 "\n",
            who, k.accepted, k.opened, k.refused, k.received, k.published, k.delivered,
            policy_name(p->slow_policy), k.queued, k.dropped, k.closed, k.reset);
}

/* Run one server until SIGINT/SIGTERM (SIGUSR1 prints the counts). report_fd >= 0: a --procs
 * child, which reports there instead of printing the listening line. counts: print the counts
 * on SIGUSR1 and at the end. */
static int serve_one(struct server_params *p, const sigset_t *sigs, int report_fd, int counts)
{
    char err[sizeof((struct child_report *)0)->err] = "";
    struct server *s = server_start(p, err, sizeof err);
    if (report_fd >= 0) {
        struct child_report r = {.ok = s != NULL, .port = s ? server_port(s) : 0};
        snprintf(r.err, sizeof r.err, "%s", err);
        ssize_t n = write(report_fd, &r, sizeof r);
        (void)n; /* the parent sees a short report as a failure */
        close(report_fd);
    }
    if (!s) {
        if (report_fd < 0)
            fprintf(stderr, "herd: serve: %s\n", err);
        return EXIT_NORUN;
    }
    if (report_fd < 0)
        print_listening(p, server_port(s), 1);
    int sig = 0;
    while (sigwait(sigs, &sig) == 0 && sig == SIGUSR1) {
        if (counts)
            print_counts(s, p, report_fd >= 0);
    }
    server_halt(s);
    if (counts)
        print_counts(s, p, report_fd >= 0);
    server_stop(s);
    return EXIT_OK;
}

/* Reap exited children; returns how many are left. */
static unsigned reap(pid_t *pids, unsigned n, int *exited_alone, int stopping)
{
    unsigned left = 0;
    for (unsigned i = 0; i < n; i++) {
        if (pids[i] <= 0)
            continue;
        int st;
        pid_t r = waitpid(pids[i], &st, WNOHANG);
        if (r == pids[i] || (r < 0 && errno == ECHILD)) {
            if (!stopping && r == pids[i])
                fprintf(stderr, "herd: serve: process %d %s %d\n", (int)pids[i],
                        WIFSIGNALED(st) ? "killed by signal" : "exited with status",
                        WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
            pids[i] = 0;
            *exited_alone = 1;
            continue;
        }
        left++;
    }
    return left;
}

static void signal_all(const pid_t *pids, unsigned n, int sig)
{
    for (unsigned i = 0; i < n; i++)
        if (pids[i] > 0)
            kill(pids[i], sig);
}

/* Forward sig to every child and wait for them, at most SERVE_STOP_GRACE_S, then SIGKILL. */
static void stop_all(pid_t *pids, unsigned n, int sig)
{
    int dummy = 0;
    signal_all(pids, n, sig);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    while (reap(pids, n, &dummy, 1) > 0) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= SERVE_STOP_GRACE_S) {
            signal_all(pids, n, SIGKILL);
            while (reap(pids, n, &dummy, 1) > 0)
                usleep(10000);
            return;
        }
        struct timespec tick = {0, 100 * 1000 * 1000};
        sigtimedwait(&chld, NULL, &tick);
    }
}

/* Start a child: fork, run a server, report on the pipe. Returns its pid (the child never
 * returns from here), or -1. */
static pid_t start_child(struct server_params *p, const sigset_t *sigs, int fds[2], int counts)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    close(fds[0]);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        exit(EXIT_NORUN); /* the parent is already gone */
    exit(serve_one(p, sigs, fds[1], counts));
}

/* Read child pid's report within the start timeout. Returns 0 with *r filled, or -1 (err). */
static int read_report(int fd, pid_t pid, struct child_report *r, char *err, size_t errlen)
{
    int waited = 0;
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int rc = poll(&pfd, 1, 100);
        if (rc > 0) {
            ssize_t n = read(fd, r, sizeof *r);
            if (n == (ssize_t)sizeof *r) {
                r->err[sizeof r->err - 1] = '\0';
                return 0;
            }
            snprintf(err, errlen, "a process did not report (read: %s)",
                     n < 0 ? strerror(errno) : "short");
            return -1;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            snprintf(err, errlen, "process %d exited before it listened", (int)pid);
            return -1;
        }
        waited += 100;
        if (waited >= SERVE_START_TIMEOUT_MS) {
            snprintf(err, errlen, "process %d did not start listening within %d s", (int)pid,
                     SERVE_START_TIMEOUT_MS / 1000);
            return -1;
        }
    }
}

static int serve_procs(struct server_params *p, const sigset_t *sigs)
{
    unsigned n = p->procs;
    /* Probe a fixed port once, as one process would: "address in use" stays an error. */
    if (p->port) {
        int rc = net_port_free(p->bind, p->port);
        if (rc < 0) {
            fprintf(stderr, "herd: serve: cannot listen on %s:%u: %s\n", p->bind, p->port,
                    strerror(-rc));
            return EXIT_NORUN;
        }
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        fprintf(stderr, "herd: serve: pipe: %s\n", strerror(errno));
        return EXIT_NORUN;
    }
    pid_t *pids = calloc(n, sizeof *pids);
    if (!pids) {
        fprintf(stderr, "herd: serve: out of memory\n");
        return EXIT_NORUN;
    }
    struct server_params cp = *p;
    cp.quiet = 1;
    cp.procs = 1;
    cp._share_port = 1;
    char err[512] = "";
    int code = EXIT_OK;
    for (unsigned i = 0; i < n; i++) {
        pids[i] = start_child(&cp, sigs, fds, !p->quiet);
        if (pids[i] < 0) {
            snprintf(err, sizeof err, "fork: %s", strerror(errno));
            pids[i] = 0;
            break;
        }
        struct child_report r;
        if (read_report(fds[0], pids[i], &r, err, sizeof err) != 0)
            break;
        if (!r.ok) {
            snprintf(err, sizeof err, "%s", r.err);
            break;
        }
        cp.port = r.port; /* with --port 0, the others join the first one's port */
    }
    close(fds[0]);
    close(fds[1]);
    if (err[0]) {
        fprintf(stderr, "herd: serve: %s\n", err);
        stop_all(pids, n, SIGTERM);
        free(pids);
        return EXIT_NORUN;
    }
    print_listening(p, cp.port, n);

    sigset_t waitset = *sigs;
    sigaddset(&waitset, SIGCHLD);
    for (;;) {
        int sig = 0;
        sigwait(&waitset, &sig);
        if (sig == SIGUSR1) {
            signal_all(pids, n, SIGUSR1);
            continue;
        }
        if (sig != SIGCHLD) {
            stop_all(pids, n, sig);
            break;
        }
        int alone = 0;
        unsigned left = reap(pids, n, &alone, 0);
        if (left == 0)
            break;
        if (alone && !p->die_after_ns) {
            /* One process of the server is gone: the server is broken; end the rest. */
            stop_all(pids, n, SIGTERM);
            code = EXIT_NORUN;
            break;
        }
    }
    free(pids);
    return code;
}

int cmd_serve(int argc, char **argv)
{
    struct server_params p;
    char err[512] = "";
    int rc = cli_serve_parse(argc, argv, &p, err, sizeof err);
    if (rc == CLI_HELP)
        return EXIT_OK;
    if (rc < 0 || server_params_check(&p, err, sizeof err) != 0) {
        fprintf(stderr, "herd: %s\n", err);
        return EXIT_USAGE;
    }
    syslimits_nofile_raise();
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGUSR1); /* print the counts */
    sigset_t blocked = sigs;
    sigaddset(&blocked, SIGCHLD); /* --procs waits for it with sigwait */
    pthread_sigmask(SIG_BLOCK, &blocked, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (p.procs > 1)
        return serve_procs(&p, &sigs);
    return serve_one(&p, &sigs, -1, !p.quiet);
}
