/* procs.c - `herd run --procs N`: spread one run over N local processes. One process can hold no
 * more connections than its descriptor limit allows; N processes, each shard I of N, can. The
 * parent re-executes itself (/proc/self/exe) N times with the same command line minus what the
 * option table keeps in the parent (--procs, --shard, the report files, --threshold, -q), plus
 * `--shard I/N --json DIR/shard-I.json -q` and one run id for all (HERD_RUN_ID), forwards SIGINT
 * and SIGTERM, waits for every child and merges their reports exactly as `herd merge` does. The
 * user's reports and thresholds belong to the parent. */
#include "cmd/cmd.h"

#include "base/clock.h"
#include "base/log.h"
#include "base/rng.h"
#include "base/syslimits.h"
#include "report/report.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROCS_MAX 1024u
#define CHILD_ENV "HERD_PROCS_CHILD"
#define RUN_ID_ENV "HERD_RUN_ID"

int procs_is_child(void)
{
    return getenv(CHILD_ENV) != NULL;
}

unsigned procs_needed(const struct run_options *o)
{
    const struct client_params *p = &o->client;
    unsigned long nofile = syslimits_nofile_raise();
    uint64_t shards = p->shard_count ? p->shard_count : 1;
    uint64_t mine = p->connections / shards + 1;
    if (mine + FD_RESERVE <= nofile || getenv(CHILD_ENV) || nofile <= FD_RESERVE + 1)
        return 1;
    uint64_t avail = nofile - FD_RESERVE;
    uint64_t n = (mine + avail - 1) / avail;
    while (n <= PROCS_MAX && p->connections / (shards * n) + 1 > avail)
        n++;
    if (n > PROCS_MAX)
        return 1; /* run_execute says why it cannot */
    fprintf(stderr, "herd: -c %llu needs %llu processes of %lu descriptors; running --procs %llu\n",
            (unsigned long long)(p->connections / shards), (unsigned long long)n, nofile,
            (unsigned long long)n);
    return (unsigned)n;
}

/* The children's arguments after the inserted ones: every option of the command line that
 * the option table does not keep in the parent (CLI_PARENT_ONLY: --procs, --shard, the report
 * files, --threshold, -q), each as "--name=value" (or "--name" for a flag given bare), and the
 * URL. Parsed with the parser's own walk, so "-qc10" or "--json F" are taken apart as the parser
 * takes them. The strings are malloc'ed into args->own. */
struct child_args {
    char **v; /* where the next argument goes */
    size_t n;
    char **own; /* the strings made here, to free */
    size_t nown;
};

static int child_arg_add(void *ctx, const char *name, const char *value)
{
    struct child_args *a = ctx;
    if (strcmp(name, "url") == 0) {
        a->v[a->n++] = (char *)value;
        return 0;
    }
    if (cli_run_option_flags(name) & CLI_PARENT_ONLY)
        return 0;
    size_t len = strlen(name) + (value ? strlen(value) + 1 : 0) + 3;
    char *arg = xmalloc(len);
    snprintf(arg, len, "--%s%s%s", name, value ? "=" : "", value ? value : "");
    a->own[a->nown++] = arg;
    a->v[a->n++] = arg;
    return 0;
}

struct child {
    pid_t pid;
    int status;
    int done;
    char shard[48];
    char path[4200];
};

int procs_execute(struct run_options *o, unsigned nprocs, int argc, char **argv, FILE *out)
{
    const struct client_params *p = &o->client;
    /* The user's outputs are the parent's: checked before any child starts. */
    struct report_outputs outs;
    char err[600];
    cli_run_outputs(o, out, &outs);
    if (report_outputs_check(&outs, err, sizeof err) != 0) {
        fprintf(stderr, "herd: %s\n", err);
        return EXIT_USAGE;
    }
    /* Each process holds only its share of the figures: one endpoint would show a part. */
    if (o->metrics_listen) {
        fprintf(stderr,
                "herd: --metrics-listen: not available with --procs (%u processes "
                "would each hold a share of the figures); run one process, or shards "
                "with --shard I/N each with its own --metrics-listen\n",
                nprocs);
        return EXIT_USAGE;
    }
    unsigned sc = p->shard_count ? p->shard_count : 1;
    const char *tmp = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/herd-procs-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "herd: --procs: cannot create a directory for the shard reports (%s): %s\n",
                dir, strerror(errno));
        return EXIT_NORUN;
    }

    struct child *kids = xcalloc(nprocs, sizeof *kids);
    /* exe, "run", --shard I/N, --json F, -q, [--start-at=T], the rest, --watch-pid=PID (the
     * first child only, so that the target is sampled once), NULL */
    char **args = xcalloc((size_t)argc + 9 + RUN_MAX_WATCH, sizeof *args);
    args[0] = "/proc/self/exe";
    args[1] = "run";
    args[2] = "--shard";
    args[4] = "--json";
    args[6] = "-q";
    size_t fixed = 7;
    /* Every child waits for the one instant the parent was given (a "+30s" resolved once, here),
     * so that they start together. An instant already half a second gone is left out: the
     * children start at once (a child would refuse one more than a second gone). */
    char start_arg[64];
    if (o->start_at_real_ns && real_ns() < o->start_at_real_ns + NS_PER_S / 2) {
        snprintf(start_arg, sizeof start_arg, "--start-at=%llu.%09llu",
                 (unsigned long long)(o->start_at_real_ns / NS_PER_S),
                 (unsigned long long)(o->start_at_real_ns % NS_PER_S));
        args[fixed++] = start_arg;
    }
    struct child_args ca = {args + fixed, 0, xcalloc((size_t)argc + 1, sizeof(char *)), 0};
    cli_run_walk(argc, argv, child_arg_add, &ca);
    char watch[RUN_MAX_WATCH][32];
    for (size_t i = 0; i < o->nwatch && i < RUN_MAX_WATCH; i++)
        snprintf(watch[i], sizeof watch[i], "--watch-pid=%d", o->watch_pid[i]);
    size_t nargs = 7 + ca.n;
    setenv(CHILD_ENV, "1", 1);
    /* One run id for every child: the high half of their publisher ids (client/worker.c). A
     * shard without it takes 0, and then two independent --procs runs on one topic would share
     * every publisher id; with it, the children of this run agree and another run differs. A
     * run id given from outside (the shards of a larger run) is kept. */
    const char *given_id = getenv(RUN_ID_ENV);
    int own_id = !given_id || !*given_id;
    if (own_id) {
        struct rng g;
        rng_init(&g);
        uint32_t id;
        do {
            rng_bytes(&g, &id, sizeof id);
            id &= INT32_MAX;
        } while (id == 0);
        char idbuf[16];
        snprintf(idbuf, sizeof idbuf, "%u", id);
        setenv(RUN_ID_ENV, idbuf, 1);
    }

    sigset_t sigs, old;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &sigs, &old);
    if (!p->quiet)
        fprintf(stderr, "herd: running %u processes, shard reports in %s\n", nprocs, dir);

    pid_t parent = getpid();
    unsigned started = 0, alive = 0;
    int start_failed = 0;
    for (unsigned k = 0; k < nprocs; k++) {
        struct child *c = &kids[k];
        /* Within the user's shard i of n (if any), whose connections are i, i+n, i+2n, ...:
         * child k takes every N-th of them from i+k*n, which is shard i+k*n of n*N. */
        snprintf(c->shard, sizeof c->shard, "%u/%u", p->shard_index + k * sc, sc * nprocs);
        snprintf(c->path, sizeof c->path, "%s/shard-%u.json", dir, k);
        args[3] = c->shard;
        args[5] = c->path;
        for (size_t i = 0; i < o->nwatch && i < RUN_MAX_WATCH; i++)
            args[nargs + i] = k == 0 ? watch[i] : NULL;
        c->pid = fork();
        if (c->pid == 0) {
            /* Its own process group: a Ctrl-C reaches the parent alone, which forwards it once
             * (the terminal's copy plus the forwarded one would be two, which means "now"). */
            setpgid(0, 0);
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (getppid() != parent)
                _exit(EXIT_NORUN);
            int null = open("/dev/null", O_WRONLY);
            if (null >= 0) {
                dup2(null, STDOUT_FILENO);
                close(null);
            }
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            execv(args[0], args);
            fprintf(stderr, "herd: --procs: cannot run %s: %s\n", args[0], strerror(errno));
            _exit(127);
        }
        if (c->pid < 0) {
            fprintf(stderr, "herd: --procs: cannot start process %u: %s\n", k, strerror(errno));
            start_failed = 1;
            c->done = 1;
            break;
        }
        started++;
        alive++;
    }
    unsetenv(CHILD_ENV);
    if (own_id)
        unsetenv(RUN_ID_ENV);

    int signaled = 0;
    while (alive) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        int sig = sigtimedwait(&sigs, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM || start_failed) {
            int fwd = sig == SIGINT || sig == SIGTERM ? sig : SIGTERM;
            signaled += sig == SIGINT || sig == SIGTERM;
            start_failed = 0;
            for (unsigned k = 0; k < started; k++) {
                if (!kids[k].done)
                    kill(kids[k].pid, fwd);
            }
        }
        for (unsigned k = 0; k < started; k++) {
            if (!kids[k].done && waitpid(kids[k].pid, &kids[k].status, WNOHANG) == kids[k].pid) {
                kids[k].done = 1;
                alive--;
            }
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    /* Merge what the children wrote. */
    struct report_read merged, next;
    int have = 0, child_failed = started < nprocs, usage = 0;
    for (unsigned k = 0; k < started; k++) {
        struct child *c = &kids[k];
        int st = c->status;
        if (WIFSIGNALED(st)) {
            fprintf(stderr, "herd: --procs: process %u (shard %s, pid %d) died of signal %d (%s)\n",
                    k, c->shard, (int)c->pid, WTERMSIG(st), strsignal(WTERMSIG(st)));
            child_failed = 1;
        } else if (WIFEXITED(st) && WEXITSTATUS(st) != EXIT_OK &&
                   WEXITSTATUS(st) != EXIT_THRESHOLD && WEXITSTATUS(st) != EXIT_NORUN &&
                   WEXITSTATUS(st) != EXIT_EMPTY) {
            fprintf(stderr, "herd: --procs: process %u (shard %s) exited with %d\n", k, c->shard,
                    WEXITSTATUS(st));
            usage += WEXITSTATUS(st) == EXIT_USAGE;
            child_failed = 1;
        }
        struct report_read *r = have ? &next : &merged;
        int rc = report_json_read(c->path, r, err, sizeof err);
        if (rc != 0) {
            if (WIFEXITED(st) && WEXITSTATUS(st) != EXIT_USAGE)
                fprintf(stderr, "herd: --procs: process %u (shard %s) left no report: %s\n", k,
                        c->shard, err);
            child_failed = 1;
            report_read_free(r);
        } else if (!have) {
            have = 1;
        } else {
            report_read_merge(&merged, &next);
            report_read_free(&next);
        }
        unlink(c->path);
    }
    rmdir(dir);
    for (size_t i = 0; i < ca.nown; i++)
        free(ca.own[i]);
    free(ca.own);
    free(args);
    free(kids);
    if (!have)
        return usage ? EXIT_USAGE : EXIT_NORUN;

    if (child_failed || signaled)
        merged.complete = 0;
    report_env_fill(&merged.env); /* the parent's command line, not a child's */
    struct report_kv *cfg = xcalloc(REPORT_MAX_CONFIG, sizeof *cfg);
    size_t ncfg = 0;
    int has_procs = 0;
    char nbuf[16];
    snprintf(nbuf, sizeof nbuf, "%u", nprocs);
    for (size_t i = 0; i < o->nconfig && ncfg < REPORT_MAX_CONFIG; i++) {
        cfg[ncfg] = o->config[i];
        if (strcmp(cfg[ncfg].key, "procs") == 0) {
            cfg[ncfg].value = nbuf;
            has_procs = 1;
        }
        ncfg++;
    }
    if (!has_procs && ncfg < REPORT_MAX_CONFIG)
        cfg[ncfg++] = (struct report_kv){"procs", nbuf, 1};

    /* A scenario's children carry its thresholds (the run's and the groups') in their reports:
     * check those on the merged figures too. */
    int failed = 0, empty = 0;
    int wrote = merge_finish(&merged, o->thresholds, o->nthresholds, o->scenario_path != NULL, cfg,
                             ncfg, &outs, &failed, &empty);
    int opened = merged.total.ctr[CTR_CONNECTIONS_OPENED] != 0;
    /* As for one process (run.c), judged on the merged figures: a child whose share measured
     * nothing does not make the run empty. */
    int code = !opened                    ? EXIT_NORUN
               : empty && !o->allow_empty ? EXIT_EMPTY
               : failed                   ? EXIT_THRESHOLD
               : child_failed             ? EXIT_NORUN
               : wrote != 0               ? EXIT_NORUN
                                          : EXIT_OK;
    if (!opened)
        fprintf(stderr, "herd: no connection opened to %s in any of the %u processes\n",
                p->url_text ? p->url_text : o->scenario_path, nprocs);
    free(cfg);
    report_read_free(&merged);
    return code;
}
