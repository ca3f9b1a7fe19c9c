/* man.c - herd(1) and the bash completion, printed by `herd help --man` and
 * `herd help --bash-completion` from the option tables of options.c, the same rows that give
 * --help: an option cannot be in one and missing from the others. `make install` writes both. */
#include "cli/cli.h"

#include "cli/cli_internal.h"

#include <string.h>

/* Text for roff: a backslash becomes \e, a dash \- (so that options copy and paste as ASCII
 * from a rendered page), and a line that would start with a control character gets \& first. */
static void roff_text(FILE *out, const char *s, size_t len)
{
    if (len && (s[0] == '.' || s[0] == '\''))
        fputs("\\&", out);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\')
            fputs("\\e", out);
        else if (s[i] == '-')
            fputs("\\-", out);
        else
            fputc(s[i], out);
    }
}

static void roff_line(FILE *out, const char *s)
{
    roff_text(out, s, strlen(s));
    fputc('\n', out);
}

/* ".TP" with the option in bold and its value in italics, then its help, one .br per line. */
static void man_opt(FILE *out, const struct cli_opt *o)
{
    fputs(".TP\n", out);
    if (o->short_name)
        fprintf(out, "\\fB\\-%c\\fR, ", o->short_name);
    fputs("\\fB\\-\\-", out);
    roff_text(out, o->name, strlen(o->name));
    fputs("\\fR", out);
    if (o->meta) {
        fputs(" \\fI", out);
        roff_text(out, o->meta, strlen(o->meta));
        fputs("\\fR", out);
    }
    fputc('\n', out);
    for (const char *line = o->help; *line;) {
        size_t len = strcspn(line, "\n");
        roff_text(out, line, len);
        fputc('\n', out);
        line += len;
        if (*line == '\n')
            line++;
        if (*line)
            fputs(".br\n", out);
    }
    if ((o->flags & CLI_OUTPUT) && !o->write)
        fputs("(Not supported yet.)\n", out);
}

static int man_listed(const struct cli_opt *o)
{
    return o->help && o->section != CLI_SEC_HIDDEN;
}

/* Every listed row of a table, under .SS headings by section (need = 0), or the rows whose
 * flags include need, without headings. */
static void man_opts(FILE *out, const struct cli_opt *t, size_t n, unsigned need)
{
    if (need) {
        for (size_t i = 0; i < n; i++)
            if (man_listed(&t[i]) && (t[i].flags & need) == need)
                man_opt(out, &t[i]);
        return;
    }
    for (int sec = CLI_SEC_HIDDEN + 1; sec < CLI_SEC_COUNT; sec++) {
        int any = 0;
        for (size_t i = 0; i < n; i++) {
            if ((int)t[i].section != sec || !man_listed(&t[i]) || (t[i].flags & CLI_MERGE_ONLY))
                continue;
            if (!any) {
                const char *h = cli__section_heading(sec);
                size_t hl = strlen(h);
                fputs(".SS ", out);
                roff_text(out, h, hl && h[hl - 1] == ':' ? hl - 1 : hl);
                fputc('\n', out);
            }
            any = 1;
            man_opt(out, &t[i]);
        }
    }
}

static const char *const man_head[] = {
    ".SH NAME",
    "herd \\- load generator for WebSocket and Server\\-Sent Events APIs",
    ".SH SYNOPSIS",
    ".B herd run",
    "[\\fIOPTIONS\\fR] \\fIURL\\fR",
    ".br",
    ".B herd run \\-f",
    "\\fISCENARIO.yaml\\fR [\\fIOPTIONS\\fR]",
    ".br",
    ".B herd serve",
    "[\\fIOPTIONS\\fR]",
    ".br",
    ".B herd demo",
    "[\\fIOPTIONS\\fR]",
    ".br",
    ".B herd merge",
    "[\\fIOPTIONS\\fR] \\fIA.json B.json ...\\fR",
    ".SH DESCRIPTION",
    "herd opens many concurrent connections to a WebSocket (ws://, wss://) or Server\\-Sent",
    "Events (http://, https://) endpoint, drives traffic through them and measures, in HDR",
    "histograms: connection set\\-up (TCP, TLS, upgrade), round trip (PING/PONG, echo), one\\-way",
    "publisher\\-to\\-subscriber latency, broadcast fan\\-out and loss. It writes a summary on the",
    "terminal and, on request, a JSON report and a per\\-second CSV time series; thresholds set",
    "the exit status, for CI.",
    ".PP",
    "\\fBherd serve\\fR is the built\\-in target: \\fB/echo\\fR (echo and PONG),",
    "\\fB/pubsub/\\fITOPIC\\fR (broadcast to the topic's other connections),",
    "\\fB/sse/\\fITOPIC\\fR (the topic as an event stream) and \\fBPOST /publish/\\fITOPIC\\fR,",
    "with knobs to rehearse faults. \\fBherd demo\\fR runs a short load against it.",
    "\\fBherd merge\\fR joins the JSON reports of the shards of one run exactly.",
    NULL,
};

static const char *const man_exit[] = {
    ".SH EXIT STATUS",
    ".TP",
    ".B 0",
    "the run completed, measured what its role is for, and every threshold held",
    ".TP",
    ".B 1",
    "a threshold failed",
    ".TP",
    ".B 2",
    "bad usage or a bad scenario file (one line on stderr names the option, or FILE:LINE:COLUMN)",
    ".TP",
    ".B 3",
    "the run could not happen: no connection ever opened, or a report could not be written",
    ".TP",
    ".B 4",
    "the run measured nothing: its role's main figure stayed empty (no rtt, no latency), or",
    "every connection ended in an error; \\fB\\-\\-allow\\-empty\\fR makes such a run exit 0",
    NULL,
};

static const char *const man_tail[] = {
    ".SH SIGNALS",
    "SIGINT or SIGTERM ends \\fBherd run\\fR gracefully: close frames are sent and the reports",
    "are written, marked incomplete; a second one ends it at once, still writing them.",
    "\\fBherd serve\\fR prints its counts (connections, messages, what \\fB\\-\\-slow\\-policy\\fR",
    "did) when it stops and on SIGUSR1.",
    ".SH EXAMPLES",
    ".nf",
    "herd serve &",
    "herd run \\-c 1000 \\-d 30s ws://127.0.0.1:8080/echo",
    "herd run \\-c 200 \\-d 1m \\-\\-role echo \\-\\-rate 10 \\-\\-json run.json \\e",
    "    \\-\\-threshold 'rtt.p99<20ms' ws://127.0.0.1:8080/echo",
    "herd run \\-c 500 \\-\\-role subscribe http://127.0.0.1:8080/sse/news",
    "herd run \\-f examples/connection\\-storm.yaml \\-\\-json storm.json",
    "herd merge shard0.json shard1.json \\-\\-json run.json",
    ".fi",
    ".SH SEE ALSO",
    "The documentation beside the source: docs/usage.md (every option), docs/metrics.md",
    "(the report and its metrics), docs/benchmarks.md.",
    NULL,
};

static void man_lines(FILE *out, const char *const *lines)
{
    for (; *lines; lines++) {
        fputs(*lines, out);
        fputc('\n', out);
    }
}

void cli_man(FILE *out)
{
    fprintf(out, ".\\\" herd(1), printed by `herd help --man` from herd's option tables\n");
    fprintf(out, ".TH HERD 1 \"\" \"herd %s\" \"User Commands\"\n", HERD_VERSION);
    man_lines(out, man_head);
    fputs(".SH \"OPTIONS OF herd run\"\n", out);
    man_opts(out, cli__run_opts, cli__run_nopts, 0);
    fputs(".SH \"OPTIONS OF herd serve\"\n", out);
    man_opts(out, cli__serve_opts, cli__serve_nopts, 0);
    fputs(".SH \"OPTIONS OF herd merge\"\n", out);
    roff_line(out, "The reports to merge, then:");
    man_opts(out, cli__run_opts, cli__run_nopts, CLI_MERGE);
    man_lines(out, man_exit);
    man_lines(out, man_tail);
}

/* ---- bash completion ---- */

/* Whether an option's value is one of a few words ("buffer, drop or close"): then *words gets
 * them space-separated. */
static int choice_words(const char *form, char *words, size_t cap)
{
    if (!form || !strstr(form, " or "))
        return 0;
    size_t n = 0;
    for (const char *p = form; *p;) {
        size_t len = strcspn(p, ", ");
        if (len == 0) {
            p++;
            continue;
        }
        if (!(len == 2 && strncmp(p, "or", 2) == 0)) {
            for (size_t i = 0; i < len; i++)
                if (!((p[i] >= 'a' && p[i] <= 'z') || p[i] == '-'))
                    return 0;
            if (n + len + 2 > cap)
                return 0;
            if (n)
                words[n++] = ' ';
            memcpy(words + n, p, len);
            n += len;
        }
        p += len;
    }
    words[n] = '\0';
    return n > 0;
}

/* The bash case arms of one command: its options, which take a file, which take one of a few
 * words, and which take some other value. */
static void bash_cmd(FILE *out, const char *cmd, const struct cli_opt *t, size_t n, unsigned need)
{
    fprintf(out, "    %s)\n        opts='", cmd);
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        const struct cli_opt *o = &t[i];
        if (!man_listed(o) || (o->flags & need) != need)
            continue;
        if (!need && (o->flags & CLI_MERGE_ONLY))
            continue;
        fprintf(out, "%s--%s", first ? "" : " ", o->name);
        if (o->short_name)
            fprintf(out, " -%c", o->short_name);
        first = 0;
    }
    fputs("'\n        case \"$prev\" in\n", out);
    for (size_t i = 0; i < n; i++) {
        const struct cli_opt *o = &t[i];
        char words[256];
        if (o->arg != CLI_ARG_VALUE || !man_listed(o) || (o->flags & need) != need)
            continue;
        if (o->short_name)
            fprintf(out, "        --%s | -%c)", o->name, o->short_name);
        else
            fprintf(out, "        --%s)", o->name);
        if (o->meta && strcmp(o->meta, "F") == 0)
            fputs(" COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n", out);
        else if (choice_words(o->form, words, sizeof words))
            fprintf(out, " COMPREPLY=($(compgen -W '%s' -- \"$cur\")); return ;;\n", words);
        else
            fputs(" return ;;\n", out); /* a number, a duration, a URL: nothing to offer */
    }
    fputs("        esac\n", out);
    fprintf(out, "        if [[ $cur == -* ]]; then\n"
                 "            COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n");
    if (strcmp(cmd, "merge") == 0)
        fputs("        else\n            COMPREPLY=($(compgen -f -X '!*.json' -- \"$cur\"))\n",
              out);
    fputs("        fi\n        ;;\n", out);
}

void cli_bash_completion(FILE *out)
{
    fputs("# bash completion for herd, printed by `herd help --bash-completion` from herd's\n"
          "# option tables (installed as share/bash-completion/completions/herd)\n"
          "_herd() {\n"
          "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} opts\n"
          "    if ((COMP_CWORD == 1)); then\n"
          "        COMPREPLY=($(compgen -W 'run serve demo merge help version' -- \"$cur\"))\n"
          "        return\n"
          "    fi\n"
          "    case ${COMP_WORDS[1]} in\n",
          out);
    bash_cmd(out, "run", cli__run_opts, cli__run_nopts, 0);
    bash_cmd(out, "serve", cli__serve_opts, cli__serve_nopts, 0);
    bash_cmd(out, "merge", cli__run_opts, cli__run_nopts, CLI_MERGE);
    fputs("    help)\n"
          "        COMPREPLY=($(compgen -W 'run serve demo merge' -- \"$cur\"))\n"
          "        ;;\n"
          "    esac\n"
          "}\n"
          "complete -F _herd herd\n",
          out);
}
