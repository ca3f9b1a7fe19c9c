/* scenario.c - YAML scenario files into struct run_options, one per group (see scenario.h).
 *
 * libyaml's document API loads the whole file into a node tree whose nodes carry their start
 * marks, which is all the error messages need. Aliases are resolved by libyaml to shared nodes
 * (no expansion), and the walk below is only three levels deep (top mapping, groups list, group
 * mapping, value list), so no input makes it recurse or multiply work beyond the group limit.
 * Before the tree is built, one pass over the parser's events refuses nesting deeper than
 * SCENARIO_MAX_DEPTH and more than SCENARIO_MAX_NODES nodes (see shape_check).
 *
 * Values reach cli_run_option as text: YAML's `100`, `true` and `"100"` all arrive as their
 * characters, and the command line's parsers decide what they mean. */
#include "scenario/scenario.h"

#include "base/compiler.h"
#include "base/err.h"
#include "base/file.h"
#include "base/log.h"
#include "flow/flow.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define KEY_MAX 48 /* longer keys are no option */

struct entry {
    char canon[KEY_MAX]; /* the long option with dashes; "threshold" for thresholds */
    const char *key; /* as written (into the document) */
    yaml_mark_t key_mark;
    yaml_node_t *value;
};

struct ctx {
    const char *name;
    const struct scenario_input *in;
    yaml_document_t *doc;
    struct scenario *s;
    char **copy; /* per node: its scalar copied for run_options (owned by s->_strings) */
    char *err;
    size_t errlen;
};

/* ---- messages ---- */

static int failv(struct ctx *c, yaml_mark_t m, const char *fmt, va_list ap)
{
    if (c->err && c->errlen) {
        int n = snprintf(c->err, c->errlen, "%s:%lu:%lu: ", c->name, (unsigned long)m.line + 1,
                         (unsigned long)m.column + 1);
        if (n >= 0 && (size_t)n < c->errlen)
            vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
        /* One line, whatever the user's text held. */
        for (char *p = c->err; *p; p++) {
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
        }
    }
    return HERD_E_INVAL;
}

static int fail(struct ctx *c, yaml_mark_t m, const char *fmt, ...) PRINTF_LIKE(3, 4);
static int fail(struct ctx *c, yaml_mark_t m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = failv(c, m, fmt, ap);
    va_end(ap);
    return rc;
}

/* A user's text for a message: at most 40 bytes, control bytes as '?' (failv does that). */
static const char *shown(const char *s)
{
    return s ? s : "";
}

/* ---- nodes ---- */

static int is_null(const yaml_node_t *n)
{
    if (!n)
        return 1;
    if (n->type != YAML_SCALAR_NODE)
        return 0;
    if (n->tag && strcmp((const char *)n->tag, YAML_NULL_TAG) == 0)
        return 1;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *v = (const char *)n->data.scalar.value;
    return !*v || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
           strcmp(v, "NULL") == 0;
}

/* The text of a scalar node, NULL if it holds a NUL byte (it would be cut short). */
static const char *scalar_text(const yaml_node_t *n)
{
    const char *v = (const char *)n->data.scalar.value;
    return strlen(v) == n->data.scalar.length ? v : NULL;
}

/* The scalar of node n copied for run_options, which keeps pointers to its values; one copy
 * per node, however many groups use it. */
static const char *value_copy(struct ctx *c, yaml_node_t *n)
{
    size_t id = (size_t)(n - c->doc->nodes.start);
    if (!c->copy[id]) {
        c->copy[id] = xstrdup((const char *)n->data.scalar.value);
        c->s->_strings[c->s->_nstrings++] = c->copy[id];
    }
    return c->copy[id];
}

static const char *kind_name(const yaml_node_t *n)
{
    return n->type == YAML_MAPPING_NODE    ? "a mapping"
           : n->type == YAML_SEQUENCE_NODE ? "a list"
                                           : "a value";
}

/* ---- entries: the keys of one mapping ---- */

static int canon_of(struct ctx *c, yaml_node_t *key, char *canon, const char **text)
{
    if (key->type != YAML_SCALAR_NODE)
        return fail(c, key->start_mark, "expected an option name as key, got %s", kind_name(key));
    const char *k = scalar_text(key);
    if (!k)
        return fail(c, key->start_mark, "a key holds a NUL byte");
    *text = k;
    size_t len = strlen(k);
    if (len >= KEY_MAX) {
        canon[0] = '\0'; /* unknown, reported by whoever looks it up */
        return 0;
    }
    for (size_t i = 0; i <= len; i++)
        canon[i] = k[i] == '_' ? '-' : k[i];
    if (strcmp(canon, "thresholds") == 0)
        strcpy(canon, "threshold");
    return 0;
}

/* The keys of mapping m as entries (*out malloc'ed), refusing duplicates. */
static int entries_of(struct ctx *c, yaml_node_t *m, struct entry **out, size_t *n)
{
    size_t cap = (size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
    struct entry *e = xcalloc(cap ? cap : 1, sizeof *e);
    *out = e;
    *n = 0;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *key = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *val = yaml_document_get_node(c->doc, p->value);
        if (!key)
            continue;
        struct entry *x = &e[*n];
        if (canon_of(c, key, x->canon, &x->key) != 0)
            return HERD_E_INVAL;
        x->key_mark = key->start_mark;
        x->value = val;
        for (size_t i = 0; i < *n; i++) {
            if (x->canon[0] && strcmp(e[i].canon, x->canon) == 0)
                return fail(c, x->key_mark, "duplicate key %.40s (also at line %lu)", shown(x->key),
                            (unsigned long)e[i].key_mark.line + 1);
        }
        (*n)++;
    }
    return 0;
}

static const struct entry *find(const struct entry *e, size_t n, const char *canon)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(e[i].canon, canon) == 0)
            return &e[i];
    }
    return NULL;
}

/* What cli's option table says of a key: where it may stand. */
static int is_run_wide(const char *canon)
{
    return (cli_run_option_flags(canon) & CLI_RUN_WIDE) != 0;
}

static int is_cmdline_only(const char *canon)
{
    return (cli_run_option_flags(canon) & CLI_CMDLINE_ONLY) != 0;
}

/* Apply one scalar value of entry x to o; errors point at the value's node `at`. */
static int apply_one(struct ctx *c, struct run_options *o, const struct entry *x, yaml_node_t *at)
{
    char msg[400];
    if (at->type != YAML_SCALAR_NODE)
        return fail(c, at->start_mark, "%.40s: expected a value, got %s", x->key, kind_name(at));
    if (is_null(at))
        return fail(c, at->start_mark, "%.40s: expected a value, got nothing", x->key);
    if (!scalar_text(at))
        return fail(c, at->start_mark, "%.40s: the value holds a NUL byte", x->key);
    if (c->in && c->in->no_files &&
        (strcmp(x->canon, "message-file") == 0 || strcmp(x->canon, "flow") == 0 ||
         strcmp(x->canon, "data") == 0))
        return fail(c, x->key_mark, "%.40s: files are not read here", x->key);
    /* A key in a file is written with underscores; the command line's names carry dashes. */
    const char *name = strcmp(x->canon, "threshold") == 0 ? "threshold" : x->key;
    int rc = cli_run_option(o, name, value_copy(c, at), msg, sizeof msg);
    if (rc == CLI_HELP)
        return fail(c, x->key_mark, "%.40s: not allowed in a scenario file", x->key);
    if (rc != 0) {
        /* A threshold's message names the option: say it as the file does. */
        const char *m = strncmp(msg, "threshold: ", 11) == 0 && strcmp(x->key, "threshold") != 0
                            ? msg + 11
                            : msg;
        return fail(c, at->start_mark, "%s%s%s", m == msg ? "" : x->key, m == msg ? "" : ": ", m);
    }
    return 0;
}

/* Apply entry x (a scalar, or a list for the repeatable options) to o. */
static int apply_entry(struct ctx *c, struct run_options *o, const struct entry *x)
{
    int kind = x->canon[0] ? cli_run_option_kind(x->canon) : CLI_OPT_UNKNOWN;
    if (kind == CLI_OPT_UNKNOWN)
        return fail(c, x->key_mark,
                    "unknown key %.40s (keys are herd run long options, e.g. connect_rate)",
                    shown(x->key));
    if (is_cmdline_only(x->canon))
        return fail(c, x->key_mark, "%.40s: not allowed in a scenario file", x->key);
    yaml_node_t *v = x->value;
    if (!v || is_null(v))
        return fail(c, x->key_mark, "%.40s: missing value (expected %s)", x->key,
                    kind == CLI_OPT_FLAG ? "true or false" : "a value");
    if (v->type == YAML_SEQUENCE_NODE) {
        if (!(cli_run_option_flags(x->canon) & CLI_REPEATABLE))
            return fail(c, v->start_mark, "%.40s: expected one value, got a list", x->key);
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
             it++) {
            yaml_node_t *item = yaml_document_get_node(c->doc, *it);
            if (item && apply_one(c, o, x, item) != 0)
                return HERD_E_INVAL;
        }
        return 0;
    }
    return apply_one(c, o, x, v);
}

/* ---- the command line over the top-level keys ---- */

static int override_matches(const struct scenario_override *ov, const char *canon)
{
    return strcmp(ov->name, canon) == 0;
}

/* For the top level (group NULL), every option of the command line; for a group, those the
 * group does not set itself, except --threshold, which is the whole run's. */
static int apply_overrides(struct ctx *c, struct run_options *o, const struct entry *group,
                           size_t ngroup)
{
    for (size_t i = 0; c->in && i < c->in->noverrides; i++) {
        const struct scenario_override *ov = &c->in->overrides[i];
        if (group && (find(group, ngroup, ov->name) || strcmp(ov->name, "threshold") == 0))
            continue;
        if (is_cmdline_only(ov->name) || strcmp(ov->name, "url") == 0)
            continue;
        char msg[400];
        int rc = cli_run_option(o, ov->name, ov->value, msg, sizeof msg);
        if (rc != 0) {
            if (c->err && c->errlen)
                snprintf(c->err, c->errlen, "%s: --%s", c->name, msg);
            return HERD_E_INVAL;
        }
    }
    return 0;
}

/* Whether the command line sets option canon. */
static int overridden(const struct ctx *c, const char *canon)
{
    for (size_t i = 0; c->in && i < c->in->noverrides; i++) {
        if (override_matches(&c->in->overrides[i], canon))
            return 1;
    }
    return 0;
}

/* ---- groups ---- */

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= SCENARIO_NAME_MAX)
        return 0;
    for (; *s; s++) {
        char ch = *s;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-' || ch == '.'))
            return 0;
    }
    return 1;
}

/* cli_run_finish says "--stages: ..."; in a file the option is "stages", at its key when the
 * group or the top level has one. */
static int finish_failed(struct ctx *c, const char *msg, yaml_mark_t group_mark,
                         const struct entry *ge, size_t ng, const struct entry *te, size_t nt)
{
    if (strncmp(msg, "--", 2) != 0)
        return fail(c, group_mark, "%s", msg);
    const char *name = msg + 2;
    size_t len = strcspn(name, ":");
    char canon[KEY_MAX] = "";
    if (len < sizeof canon) {
        memcpy(canon, name, len);
        canon[len] = '\0';
    }
    const struct entry *x = find(ge, ng, canon);
    if (!x)
        x = find(te, nt, canon);
    char shown_name[KEY_MAX];
    snprintf(shown_name, sizeof shown_name, "%s", canon);
    for (char *p = shown_name; *p; p++)
        *p = *p == '-' ? '_' : *p;
    return fail(c, x ? x->key_mark : group_mark, "%s%s", shown_name, name + len);
}

/* `flow:` written inline (a list of steps) rather than as a file name: compiled by the group once
 * its options (and so its --data) are known, never applied as an option. */
static int inline_flow(const struct entry *x)
{
    return strcmp(x->canon, "flow") == 0 && x->value && x->value->type == YAML_SEQUENCE_NODE;
}

static int parse_group(struct ctx *c, yaml_node_t *g, size_t index, const struct entry *top,
                       size_t ntop)
{
    struct scenario *s = c->s;
    if (g->type != YAML_MAPPING_NODE)
        return fail(c, g->start_mark, "groups: expected a mapping with name, url, ..., got %s",
                    is_null(g) ? "nothing" : kind_name(g));
    struct entry *ge = NULL;
    size_t ng = 0;
    int rc = entries_of(c, g, &ge, &ng);
    if (rc != 0)
        goto out;
    struct scenario_group *grp = &s->groups[index];
    cli_run_init(&grp->opts);
    grp->line = (unsigned)g->start_mark.line + 1;
    s->ngroups = index + 1;

    const struct entry *nm = find(ge, ng, "name");
    if (!nm) {
        rc = fail(c, g->start_mark, "group %zu: missing name", index + 1);
        goto out;
    }
    if (!nm->value || nm->value->type != YAML_SCALAR_NODE || is_null(nm->value)) {
        rc = fail(c, nm->value && !is_null(nm->value) ? nm->value->start_mark : nm->key_mark,
                  "name: expected a group name, got %s",
                  !nm->value || is_null(nm->value) ? "nothing" : kind_name(nm->value));
        goto out;
    }
    const char *name = scalar_text(nm->value);
    if (!name || !name_ok(name)) {
        rc = fail(c, nm->value->start_mark,
                  "name: expected letters, digits, _, - or . (at most %d), got \"%.40s\"",
                  SCENARIO_NAME_MAX - 1, shown(name));
        goto out;
    }
    for (size_t i = 0; i < index; i++) {
        if (strcmp(s->groups[i].name, name) == 0) {
            rc = fail(c, nm->value->start_mark, "duplicate group name \"%s\" (also at line %u)",
                      name, s->groups[i].line);
            goto out;
        }
    }
    snprintf(grp->name, sizeof grp->name, "%s", name);

    /* The group's keys first checked for what does not belong in a group. */
    for (size_t i = 0; i < ng; i++) {
        if (strcmp(ge[i].canon, "name") == 0)
            continue;
        if (is_run_wide(ge[i].canon)) {
            rc = fail(c, ge[i].key_mark, "%.40s: applies to the whole run: set it at the top level",
                      ge[i].key);
            goto out;
        }
        if (strcmp(ge[i].canon, "groups") == 0) {
            rc = fail(c, ge[i].key_mark, "groups: groups do not nest");
            goto out;
        }
    }
    /* 1. top-level keys the group does not set, 2. the command line, 3. the group's keys. */
    for (size_t i = 0; i < ntop; i++) {
        const char *k = top[i].canon;
        if (strcmp(k, "groups") == 0 || strcmp(k, "threshold") == 0 || find(ge, ng, k) ||
            (overridden(c, k) && strcmp(k, "threshold") != 0) || inline_flow(&top[i]))
            continue;
        if ((rc = apply_entry(c, &grp->opts, &top[i])) != 0)
            goto out;
    }
    if ((rc = apply_overrides(c, &grp->opts, ge, ng)) != 0)
        goto out;
    /* A group's own stages replace the connections and duration it inherited (from the top
     * level or the command line); in one place, stages with either is refused. */
    if (find(ge, ng, "stages"))
        grp->opts._load_given &= ~(CLI_GIVEN_CONNECTIONS | CLI_GIVEN_DURATION);
    const struct entry *flow_inline = NULL;
    for (size_t i = 0; i < ng; i++) {
        if (strcmp(ge[i].canon, "name") == 0)
            continue;
        if (inline_flow(&ge[i])) {
            flow_inline = &ge[i];
            continue;
        }
        if ((rc = apply_entry(c, &grp->opts, &ge[i])) != 0)
            goto out;
    }
    if (!flow_inline && !find(ge, ng, "flow")) {
        const struct entry *tf = find(top, ntop, "flow");
        if (tf && inline_flow(tf) && !overridden(c, "flow"))
            flow_inline = tf;
    }
    grp->threads_given =
        find(ge, ng, "threads") || find(top, ntop, "threads") || overridden(c, "threads");
    if (!grp->opts.client.url_text) {
        rc = fail(c, g->start_mark, "group \"%s\": missing url", grp->name);
        goto out;
    }
    char msg[400];
    if (cli_run_finish(&grp->opts, msg, sizeof msg) != 0) {
        /* A flow file's own errors already name their FILE:LINE:COLUMN. */
        size_t fl = grp->opts.flow_path ? strlen(grp->opts.flow_path) : 0;
        if (fl && strncmp(msg, grp->opts.flow_path, fl) == 0 && msg[fl] == ':' &&
            msg[fl + 1] >= '0' && msg[fl + 1] <= '9') {
            snprintf(c->err, c->errlen, "%s", msg);
            rc = HERD_E_INVAL;
        } else {
            rc = finish_failed(c, msg, g->start_mark, ge, ng, top, ntop);
        }
        goto out;
    }
    if (flow_inline) {
        if (grp->opts.flow_path) {
            rc = fail(c, flow_inline->key_mark, "flow: give the steps or a flow file, not both");
            goto out;
        }
        if (grp->opts.client.url.sse) {
            rc = fail(c, flow_inline->key_mark,
                      "flow: flows hold WebSocket conversations (ws:// or wss://)");
            goto out;
        }
        struct flow_input fin = {grp->opts.client.data, c->in ? c->in->no_files : 0};
        if (flow_compile_node(c->doc, flow_inline->value, c->name, &fin, &grp->opts.flow_owned,
                              c->err, c->errlen) != 0) {
            rc = HERD_E_INVAL;
            goto out;
        }
        grp->opts.client.flow = grp->opts.flow_owned;
        /* the report's config says the group holds a flow */
        cli_run_finish(&grp->opts, msg, sizeof msg);
    }
    rc = 0;
out:
    free(ge);
    return rc;
}

static int parse_root(struct ctx *c, yaml_node_t *root)
{
    struct scenario *s = c->s;
    if (!root || is_null(root)) {
        yaml_mark_t m = {0, 0, 0};
        return fail(c, root ? root->start_mark : m, "no groups (the file is empty)");
    }
    if (root->type != YAML_MAPPING_NODE)
        return fail(c, root->start_mark,
                    "expected a mapping of options and groups at the top level, got %s",
                    kind_name(root));
    struct entry *top = NULL;
    size_t ntop = 0;
    int rc = entries_of(c, root, &top, &ntop);
    if (rc != 0)
        goto out;

    /* The top level: every key is checked here, once, where it is written. */
    cli_run_init(&s->top);
    const struct entry *groups = NULL;
    for (size_t i = 0; i < ntop; i++) {
        if (strcmp(top[i].canon, "groups") == 0) {
            groups = &top[i];
            continue;
        }
        if (strcmp(top[i].canon, "name") == 0) {
            rc = fail(c, top[i].key_mark, "name: names a group; put it in a group under groups:");
            goto out;
        }
        if (inline_flow(&top[i]))
            continue; /* compiled by each group */
        if (overridden(c, top[i].canon) && strcmp(top[i].canon, "threshold") != 0) {
            /* The command line wins; the file's value must still be valid. */
            struct run_options *scratch = xcalloc(1, sizeof *scratch);
            cli_run_init(scratch);
            rc = apply_entry(c, scratch, &top[i]);
            cli_run_options_free(scratch);
            free(scratch);
        } else {
            rc = apply_entry(c, &s->top, &top[i]);
        }
        if (rc != 0)
            goto out;
    }
    if ((rc = apply_overrides(c, &s->top, NULL, 0)) != 0)
        goto out;
    s->top.scenario_path = s->name;

    if (!groups) {
        rc = fail(c, root->start_mark, "no groups (expected groups: with a list of groups)");
        goto out;
    }
    yaml_node_t *gl = groups->value;
    if (!gl || is_null(gl)) {
        rc = fail(c, groups->key_mark, "groups: expected a list of groups, got nothing");
        goto out;
    }
    if (gl->type != YAML_SEQUENCE_NODE) {
        rc = fail(c, gl->start_mark, "groups: expected a list of groups, got %s", kind_name(gl));
        goto out;
    }
    size_t n = (size_t)(gl->data.sequence.items.top - gl->data.sequence.items.start);
    if (n == 0) {
        rc = fail(c, gl->start_mark, "groups: no groups (expected at least one)");
        goto out;
    }
    if (n > SCENARIO_MAX_GROUPS) {
        yaml_node_t *extra =
            yaml_document_get_node(c->doc, gl->data.sequence.items.start[SCENARIO_MAX_GROUPS]);
        rc = fail(c, extra ? extra->start_mark : gl->start_mark, "groups: at most %d groups",
                  SCENARIO_MAX_GROUPS);
        goto out;
    }
    /* Allocated once: each run_options holds pointers into itself. */
    s->groups = xcalloc(n, sizeof *s->groups);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *g = yaml_document_get_node(c->doc, gl->data.sequence.items.start[i]);
        if (!g) {
            rc = fail(c, gl->start_mark, "groups: a group is missing");
            goto out;
        }
        if ((rc = parse_group(c, g, i, top, ntop)) != 0)
            goto out;
        total += s->groups[i].opts.client.connections;
        if (total > INT32_MAX) {
            rc = fail(c, g->start_mark, "groups: more than %d connections in all", INT32_MAX);
            goto out;
        }
    }
    s->connections = total;
    rc = 0;
out:
    free(top);
    return rc;
}

/* ---- entry points ---- */

/* Line and column (0-based) of byte `offset` in data, for reader errors (bad encodings), which
 * libyaml reports as an offset only. */
static yaml_mark_t mark_at(const char *data, size_t len, size_t offset)
{
    yaml_mark_t m = {0, 0, 0};
    for (size_t i = 0; i < offset && i < len; i++) {
        if (data[i] == '\n') {
            m.line++;
            m.column = 0;
        } else if (((unsigned char)data[i] & 0xc0) != 0x80) {
            m.column++;
        }
    }
    m.index = offset;
    return m;
}

static int yaml_failed(struct ctx *c, const yaml_parser_t *p, const char *data, size_t len)
{
    const char *problem = p->problem ? p->problem : "cannot be read";
    switch (p->error) {
    case YAML_MEMORY_ERROR: return fail(c, p->problem_mark, "YAML: out of memory");
    case YAML_READER_ERROR:
        return fail(c, mark_at(data, len, p->problem_offset), "YAML: %s", problem);
    default:
        if (p->context)
            return fail(c, p->problem_mark, "YAML: %s %s (line %lu)", problem, p->context,
                        (unsigned long)p->context_mark.line + 1);
        return fail(c, p->problem_mark, "YAML: %s", problem);
    }
}

/* Refuse, before the document is loaded, collections nested deeper than SCENARIO_MAX_DEPTH and
 * more than SCENARIO_MAX_NODES nodes. libyaml's parser does work in proportion to the
 * collections open at every token (it keeps a possible simple key per flow level and checks them
 * all each time), so n levels cost n^2: `[[[...]]]` 100 000 deep took 23 s of CPU, and the 4 MiB
 * a file may have allows 4 million. Loading costs about 100 bytes and a few allocations per
 * node, so a 4 MiB file of `[],` (1.4 million lists) took 2 s and 400 MiB before the walk saw
 * that it holds no groups. This pass stops at the first collection too deep or node too many,
 * after a bounded amount of that work; a file that passes costs one linear pass more. Syntax
 * errors found here are the ones the loader would report (the same parser), at the same place. */
static int shape_check(struct ctx *c, const char *data, size_t len)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        die("out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    size_t depth = 0, nodes = 0;
    int rc = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = yaml_failed(c, &parser, data, len);
            break;
        }
        yaml_event_type_t type = ev.type;
        int node = type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT ||
                   type == YAML_SCALAR_EVENT || type == YAML_ALIAS_EVENT;
        if (node && ++nodes > SCENARIO_MAX_NODES)
            rc = fail(c, ev.start_mark,
                      "more than %d values, lists and mappings: too large for a scenario",
                      SCENARIO_MAX_NODES);
        else if ((type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT) &&
                 ++depth > SCENARIO_MAX_DEPTH)
            rc = fail(c, ev.start_mark,
                      "nested more than %d levels deep (a scenario needs a few levels)",
                      SCENARIO_MAX_DEPTH);
        else if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT)
            depth--;
        yaml_event_delete(&ev);
        if (rc != 0 || type == YAML_STREAM_END_EVENT)
            break;
    }
    yaml_parser_delete(&parser);
    return rc;
}

int scenario_parse_buffer(const char *data, size_t len, const char *name,
                          const struct scenario_input *in, struct scenario *s, char *err,
                          size_t errlen)
{
    memset(s, 0, sizeof *s);
    cli_run_init(&s->top);
    s->name = xstrdup(name ? name : "scenario");
    struct ctx c = {s->name, in, NULL, s, NULL, err, errlen};
    if (err && errlen)
        err[0] = '\0';
    int rc = shape_check(&c, data, len);
    if (rc != 0)
        return rc;

    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        die("out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    yaml_document_t doc;
    if (!yaml_parser_load(&parser, &doc)) {
        rc = yaml_failed(&c, &parser, data, len);
        yaml_parser_delete(&parser);
        return rc;
    }
    /* One document per file: a second one would be silently ignored. */
    yaml_document_t next;
    if (!yaml_parser_load(&parser, &next)) {
        rc = yaml_failed(&c, &parser, data, len);
    } else {
        yaml_node_t *nroot = yaml_document_get_root_node(&next);
        if (nroot)
            rc = fail(&c, nroot->start_mark, "a second YAML document: one scenario per file");
        yaml_document_delete(&next);
    }
    if (rc == 0) {
        size_t nnodes = (size_t)(doc.nodes.top - doc.nodes.start);
        c.doc = &doc;
        c.copy = xcalloc(nnodes ? nnodes : 1, sizeof *c.copy);
        s->_strings = xcalloc(nnodes ? nnodes : 1, sizeof *s->_strings);
        rc = parse_root(&c, yaml_document_get_root_node(&doc));
        free(c.copy);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

int scenario_parse_file(const char *path, const struct scenario_input *in, struct scenario *s,
                        char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    cli_run_init(&s->top);
    char *buf = NULL;
    size_t len = 0;
    int rc = file_read_all(path, SCENARIO_MAX_BYTES, &buf, &len);
    if (rc == HERD_E_TOO_BIG) {
        if (err && errlen)
            snprintf(err, errlen, "%s: larger than %u MiB: not a scenario", path,
                     SCENARIO_MAX_BYTES >> 20);
        return rc;
    }
    if (rc != 0) {
        if (err && errlen)
            snprintf(err, errlen, "%s: %s", path, strerror(-rc));
        return HERD_E_INVAL;
    }
    rc = scenario_parse_buffer(buf, len, path, in, s, err, errlen);
    free(buf);
    return rc;
}

void scenario_threads_assign(struct scenario *s, unsigned ncpus)
{
    if (ncpus == 0)
        ncpus = 1;
    for (size_t i = 0; i < s->ngroups; i++) {
        struct scenario_group *g = &s->groups[i];
        if (g->threads_given)
            continue;
        double share = s->connections ? (double)ncpus * (double)g->opts.client.connections /
                                            (double)s->connections
                                      : 1.0;
        unsigned t = (unsigned)(share + 0.5);
        g->opts.client.threads = t ? t : 1;
        /* The report's config says what the group got. */
        snprintf(g->_threads_text, sizeof g->_threads_text, "%u", g->opts.client.threads);
        for (size_t k = 0; k < g->opts.nconfig; k++) {
            if (strcmp(g->opts.config[k].key, "threads") == 0)
                g->opts.config[k].value = g->_threads_text;
        }
    }
}

void scenario_free(struct scenario *s)
{
    for (size_t i = 0; s->groups && i < s->ngroups; i++)
        cli_run_options_free(&s->groups[i].opts);
    free(s->groups);
    cli_run_options_free(&s->top);
    for (size_t i = 0; i < s->_nstrings; i++)
        free(s->_strings[i]);
    free(s->_strings);
    free(s->name);
    memset(s, 0, sizeof *s);
}
