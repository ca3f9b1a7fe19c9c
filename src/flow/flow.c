/* flow.c - the flow compiler (YAML steps into struct flow), template rendering and message
 * matching (flow.h). Compiling walks a libyaml document once; every error names the file, line
 * and column of the key or value at fault. */
#include "flow/flow.h"

#include "base/compiler.h"
#include "base/err.h"
#include "base/file.h"
#include "base/log.h"
#include "client/client.h"
#include "proto/stamp.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

const char *const flow_op_name[] = {
    [FOP_SEND] = "send",   [FOP_EXPECT] = "expect", [FOP_REQUEST] = "request",
    [FOP_SLEEP] = "sleep", [FOP_REPEAT] = "repeat", [FOP_END] = "end",
    [FOP_THEN] = "then",   [FOP_CLOSE] = "close",
};

#define DEFAULT_EXPECT_TIMEOUT_NS (10ull * 1000000000ull)
#define DEFAULT_REQUEST_TIMEOUT_NS (10ull * 1000000000ull)
#define DEFAULT_OPEN_WINDOW 64
#define MAX_IN_FLIGHT 4096

struct cc {
    const char *name;
    yaml_document_t *doc;
    struct flow *f;
    const struct flow_input *in;
    char *err;
    size_t errlen;
    uint32_t defined; /* bit v: variable v is captured by a step before this point */
    int any_var; /* on rules: every variable of the flow counts as defined */
    int request_only; /* the run's request: only {{data.COL}} and {{conn}} */
};

/* ---- messages ---- */

static int cfail(struct cc *c, yaml_mark_t m, const char *fmt, ...) PRINTF_LIKE(3, 4);
static int cfail(struct cc *c, yaml_mark_t m, const char *fmt, ...)
{
    if (c->err && c->errlen && !c->err[0]) {
        int n = c->name ? snprintf(c->err, c->errlen, "%s:%lu:%lu: ", c->name,
                                   (unsigned long)m.line + 1, (unsigned long)m.column + 1)
                        : 0;
        if (n >= 0 && (size_t)n < c->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
        for (char *p = c->err; *p; p++) {
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
        }
    }
    return HERD_E_INVAL;
}

static const char *kind_of(const yaml_node_t *n)
{
    return !n                              ? "nothing"
           : n->type == YAML_MAPPING_NODE  ? "a mapping"
           : n->type == YAML_SEQUENCE_NODE ? "a list"
                                           : "a value";
}

static int is_null(const yaml_node_t *n)
{
    if (!n)
        return 1;
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *v = (const char *)n->data.scalar.value;
    return !*v || strcmp(v, "~") == 0 || strcmp(v, "null") == 0;
}

/* The scalar's text, or an error (a NUL inside, or not a scalar). */
static int scalar(struct cc *c, yaml_node_t *n, const char *what, const char **out, size_t *len)
{
    if (!n || n->type != YAML_SCALAR_NODE)
        return cfail(c, n ? n->start_mark : (yaml_mark_t){0, 0, 0}, "%s: expected a value, got %s",
                     what, kind_of(n));
    *out = (const char *)n->data.scalar.value;
    *len = n->data.scalar.length;
    if (strlen(*out) != *len)
        return cfail(c, n->start_mark, "%s: the value holds a NUL byte", what);
    return 0;
}

/* ---- units ---- */

static int parse_number(const char **s, double *v)
{
    const char *p = *s;
    if (*p < '0' || *p > '9')
        return -1;
    double x = 0;
    while (*p >= '0' && *p <= '9')
        x = x * 10 + (*p++ - '0');
    if (*p == '.') {
        p++;
        double f = 0.1;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9') {
            x += (*p++ - '0') * f;
            f /= 10;
        }
    }
    *v = x;
    *s = p;
    return 0;
}

/* "250ms", "2s", "1.5s", "1m", "100us", "1h"; a bare number is seconds. */
static int parse_duration(const char *s, uint64_t *ns)
{
    double v;
    if (parse_number(&s, &v) != 0)
        return -1;
    double mul = strcmp(s, "") == 0 || strcmp(s, "s") == 0 ? 1e9
                 : strcmp(s, "ms") == 0                    ? 1e6
                 : strcmp(s, "us") == 0                    ? 1e3
                 : strcmp(s, "m") == 0                     ? 60e9
                 : strcmp(s, "h") == 0                     ? 3600e9
                                                           : -1;
    if (mul < 0 || v * mul > 86400e9 * 365)
        return -1;
    *ns = (uint64_t)(v * mul);
    return 0;
}

/* "10", "10/s", "600/m" per second. */
static int parse_rate(const char *s, double *per_s)
{
    double v;
    if (parse_number(&s, &v) != 0 || v <= 0)
        return -1;
    if (*s == '\0' || strcmp(s, "/s") == 0)
        *per_s = v;
    else if (strcmp(s, "/m") == 0 || strcmp(s, "/min") == 0)
        *per_s = v / 60;
    else
        return -1;
    return v <= 1e9 ? 0 : -1;
}

/* A whole number in [lo, hi], or "forever" (0) when forever_ok. */
static int parse_count(const char *s, uint64_t lo, uint64_t hi, int forever_ok, uint64_t *out)
{
    if (forever_ok && strcmp(s, "forever") == 0) {
        *out = 0;
        return 0;
    }
    if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 18)
        return -1;
    uint64_t v = strtoull(s, NULL, 10);
    if (v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* ---- templates ---- */

static int var_find(const struct flow *f, const char *name, size_t n)
{
    for (size_t i = 0; i < f->nvars; i++) {
        if (strlen(f->var_name[i]) == n && memcmp(f->var_name[i], name, n) == 0)
            return (int)i;
    }
    return -1;
}

static int var_name_ok(const char *s, size_t n)
{
    if (n == 0 || n >= sizeof((struct flow *)0)->var_name[0])
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
              (i > 0 && ch >= '0' && ch <= '9')))
            return 0;
    }
    return 1;
}

static int seg_add(struct cc *c, struct flow_tmpl *t, yaml_mark_t m, struct flow_seg s)
{
    if (t->nsegs == FLOW_MAX_SEGS)
        return cfail(c, m, "too many placeholders in one template (at most %d pieces)",
                     FLOW_MAX_SEGS);
    t->segs[t->nsegs++] = s;
    return 0;
}

/* Parse text[0..len) (a scalar written at m) into t. */
static int tmpl_parse(struct cc *c, struct flow_tmpl *t, const char *text, size_t len,
                      yaml_mark_t m)
{
    memset(t, 0, sizeof *t);
    t->text = xmalloc(len + 1);
    memcpy(t->text, text, len);
    t->text[len] = '\0';
    t->len = len;
    size_t lit = 0, i = 0, max = 0;
    while (i + 1 < len) {
        if (text[i] != '{' || text[i + 1] != '{') {
            i++;
            continue;
        }
        const char *end = memmem(text + i + 2, len - i - 2, "}}", 2);
        if (!end)
            break;
        const char *name = text + i + 2;
        size_t n = (size_t)(end - name);
        /* trim spaces: {{ seq }} */
        while (n && *name == ' ')
            name++, n--;
        while (n && name[n - 1] == ' ')
            n--;
        struct flow_seg s = {0};
        size_t width = 20;
#define IS(lit_) (n == sizeof lit_ - 1 && memcmp(name, lit_, n) == 0)
        if (c->request_only && !IS("conn") && !(n > 5 && memcmp(name, "data.", 5) == 0))
            return cfail(c, m, "{{%.*s}}: the request takes only {{data.COL}} and {{conn}}",
                         (int)(n > 40 ? 40 : n), name);
        if (IS("seq"))
            s.kind = FSEG_SEQ;
        else if (IS("conn"))
            s.kind = FSEG_CONN;
        else if (IS("stamp")) {
            s.kind = FSEG_STAMP;
            width = STAMP_MAX;
            t->has_stamp = 1;
        } else if (IS("uuid")) {
            s.kind = FSEG_UUID;
            width = 36;
        } else if (IS("time_ms"))
            s.kind = FSEG_TIME_MS;
        else if (IS("time"))
            s.kind = FSEG_TIME;
        else if (n > 5 && memcmp(name, "rand ", 5) == 0) {
            char buf[64];
            unsigned long long a, b;
            int used = 0;
            snprintf(buf, sizeof buf, "%.*s", (int)(n < 63 ? n : 63), name);
            if (sscanf(buf, "rand %llu %llu%n", &a, &b, &used) != 2 ||
                (size_t)used != strlen(buf) || a > b)
                return cfail(c, m, "{{%.*s}}: expected {{rand A B}} with whole numbers A <= B",
                             (int)(n > 40 ? 40 : n), name);
            s.kind = FSEG_RAND;
            s.a = a;
            s.b = b;
        } else if (n > 5 && memcmp(name, "data.", 5) == 0) {
            const struct csv_table *d = c->in ? c->in->data : NULL;
            if (!d)
                return cfail(c, m, "{{%.*s}}: no --data file gives columns", (int)(n > 40 ? 40 : n),
                             name);
            int col = csv_column(d, name + 5, n - 5);
            if (col < 0)
                return cfail(c, m, "{{%.*s}}: the --data file has no column \"%.*s\"",
                             (int)(n > 40 ? 40 : n), name, (int)(n - 5 > 40 ? 40 : n - 5),
                             name + 5);
            s.kind = FSEG_DATA;
            s.off = (uint32_t)col;
            width = d->col_max[col];
        } else {
            int v = var_find(c->f, name, n);
            if (v < 0 || (!c->any_var && !(c->defined & (1u << v))))
                return cfail(c, m,
                             "{{%.*s}}: undefined variable (no step before captures it; "
                             "placeholders are seq, conn, stamp, uuid, time, time_ms, rand A B, "
                             "data.COL)",
                             (int)(n > 40 ? 40 : n), name);
            s.kind = FSEG_VAR;
            s.off = (uint32_t)v;
            width = FLOW_VAR_MAX;
        }
#undef IS
        if (i > lit) {
            struct flow_seg l = {
                .kind = FSEG_LIT, .off = (uint32_t)lit, .len = (uint32_t)(i - lit)};
            if (seg_add(c, t, m, l) != 0)
                return HERD_E_INVAL;
            max += i - lit;
        }
        if (seg_add(c, t, m, s) != 0)
            return HERD_E_INVAL;
        max += width;
        i = (size_t)(end - text) + 2;
        lit = i;
    }
    if (len > lit) {
        struct flow_seg l = {.kind = FSEG_LIT, .off = (uint32_t)lit, .len = (uint32_t)(len - lit)};
        if (seg_add(c, t, m, l) != 0)
            return HERD_E_INVAL;
        max += len - lit;
    }
    t->max_len = max;
    if (max > c->f->max_render)
        c->f->max_render = max;
    return 0;
}

static void tmpl_free(struct flow_tmpl *t)
{
    free(t->text);
    t->text = NULL;
}

void flow_tmpl_free(struct flow_tmpl *t)
{
    tmpl_free(t);
}

int flow_tmpl_compile_request(struct flow_tmpl *t, const char *text, size_t len,
                              const struct csv_table *data, char *err, size_t errlen)
{
    struct flow scratch_flow;
    memset(&scratch_flow, 0, sizeof scratch_flow);
    struct flow_input in = {data, 1};
    struct cc c = {NULL, NULL, &scratch_flow, &in, err, errlen, 0, 0, 1};
    if (err && errlen)
        err[0] = '\0';
    yaml_mark_t m = {0, 0, 0};
    return tmpl_parse(&c, t, text, len, m);
}

static size_t put_u64(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

size_t flow_render(const struct flow_tmpl *t, const struct flow_env *env, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < t->nsegs; i++) {
        const struct flow_seg *g = &t->segs[i];
        switch (g->kind) {
        case FSEG_LIT:
            memcpy(out + n, t->text + g->off, g->len);
            n += g->len;
            break;
        case FSEG_SEQ: n += put_u64(out + n, env->seq); break;
        case FSEG_CONN: n += put_u64(out + n, env->conn); break;
        case FSEG_STAMP:
            if (env->stamp) {
                memcpy(out + n, env->stamp, env->stamp_len);
                n += env->stamp_len;
            }
            break;
        case FSEG_UUID: {
            uint64_t a = env->rand64(env->rand_ctx), b = env->rand64(env->rand_ctx);
            uint8_t u[16];
            memcpy(u, &a, 8);
            memcpy(u + 8, &b, 8);
            u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* RFC 9562 version 4 */
            u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
            static const char hex[] = "0123456789abcdef";
            for (int k = 0; k < 16; k++) {
                if (k == 4 || k == 6 || k == 8 || k == 10)
                    out[n++] = '-';
                out[n++] = hex[u[k] >> 4];
                out[n++] = hex[u[k] & 15];
            }
            break;
        }
        case FSEG_RAND: {
            uint64_t span = g->b - g->a;
            uint64_t r = env->rand64(env->rand_ctx);
            n += put_u64(out + n, g->a + (span == UINT64_MAX ? r : r % (span + 1)));
            break;
        }
        case FSEG_TIME_MS: n += put_u64(out + n, env->real_ns / 1000000); break;
        case FSEG_TIME: n += put_u64(out + n, env->real_ns / 1000000000); break;
        case FSEG_VAR:
            memcpy(out + n, env->var[g->off], env->var_len[g->off]);
            n += env->var_len[g->off];
            break;
        case FSEG_DATA:
            if (env->data) {
                size_t len;
                const char *cell = csv_cell(env->data, env->row, g->off, &len);
                memcpy(out + n, cell, len);
                n += len;
            }
            break;
        }
    }
    return n;
}

/* ---- match rules and captures ---- */

static int ptr_add(struct cc *c, const char *p, size_t n, yaml_mark_t m)
{
    struct flow *f = c->f;
    for (size_t i = 0; i < f->nptrs; i++) {
        if (strlen(f->ptr_text[i]) == n && memcmp(f->ptr_text[i], p, n) == 0)
            return (int)i;
    }
    if (n >= sizeof f->ptr_text[0])
        return cfail(c, m, "JSON pointer \"%.40s...\": longer than %zu bytes", p,
                     sizeof f->ptr_text[0] - 1);
    if (f->nptrs == FLOW_MAX_PTRS)
        return cfail(c, m, "more than %d distinct JSON pointers in one flow", FLOW_MAX_PTRS);
    const char *why = NULL;
    if (jptr_compile(p, n, &f->ptrs[f->nptrs], &why) != 0)
        return cfail(c, m, "bad JSON pointer \"%.*s\": %s", (int)(n > 40 ? 40 : n), p,
                     why ? why : "invalid");
    memcpy(f->ptr_text[f->nptrs], p, n);
    f->ptr_text[f->nptrs][n] = '\0';
    return (int)f->nptrs++;
}

static int rule_add(struct cc *c, struct flow_match *mt, yaml_mark_t m, struct flow_rule **out)
{
    if (mt->n == sizeof mt->r / sizeof mt->r[0])
        return cfail(c, m, "too many match rules in one step (at most %d JSON pointers)",
                     FLOW_MAX_RULES);
    *out = &mt->r[mt->n++];
    memset(*out, 0, sizeof **out);
    return 0;
}

static int regex_compile(struct cc *c, yaml_node_t *v, regex_t **out)
{
    const char *s;
    size_t n;
    if (scalar(c, v, "regex", &s, &n) != 0)
        return HERD_E_INVAL;
    regex_t *re = xcalloc(1, sizeof *re);
    int rc = regcomp(re, s, REG_EXTENDED);
    if (rc != 0) {
        char why[128];
        regerror(rc, re, why, sizeof why);
        free(re);
        return cfail(c, v->start_mark, "bad regex \"%.40s\": %s", s, why);
    }
    *out = re;
    return 0;
}

/* One match key (json, regex, contains) of a step into mt; 1 when key is none of them. */
static int match_key(struct cc *c, struct flow_match *mt, const char *key, yaml_node_t *v)
{
    struct flow_rule *r = NULL;
    if (strcmp(key, "json") == 0) {
        if (!v || v->type != YAML_MAPPING_NODE)
            return cfail(c, v ? v->start_mark : (yaml_mark_t){0, 0, 0},
                         "json: expected a mapping of JSON pointers to values, like {/type: ack}, "
                         "got %s",
                         kind_of(v));
        for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
            yaml_node_t *val = yaml_document_get_node(c->doc, p->value);
            const char *ks, *vs;
            size_t kn, vn;
            if (scalar(c, k, "json", &ks, &kn) != 0)
                return HERD_E_INVAL;
            if (!val || val->type != YAML_SCALAR_NODE)
                return cfail(c, val ? val->start_mark : k->start_mark,
                             "json: %.40s: expected a value to compare with, got %s", ks,
                             kind_of(val));
            vs = (const char *)val->data.scalar.value;
            vn = val->data.scalar.length;
            int pi = ptr_add(c, ks, kn, k->start_mark);
            if (pi < 0 || rule_add(c, mt, k->start_mark, &r) != 0)
                return HERD_E_INVAL;
            r->kind = FR_JSON;
            r->ptr = (uint8_t)pi;
            if (tmpl_parse(c, &r->value, vs, vn, val->start_mark) != 0)
                return HERD_E_INVAL;
        }
        return 0;
    }
    if (strcmp(key, "regex") == 0) {
        if (mt->has_regex)
            return cfail(c, v->start_mark, "regex: one regex per step");
        if (rule_add(c, mt, v->start_mark, &r) != 0)
            return HERD_E_INVAL;
        r->kind = FR_REGEX;
        mt->has_regex = mt->n;
        return regex_compile(c, v, &r->re);
    }
    if (strcmp(key, "contains") == 0) {
        const char *s;
        size_t n;
        if (scalar(c, v, "contains", &s, &n) != 0 || rule_add(c, mt, v->start_mark, &r) != 0)
            return HERD_E_INVAL;
        r->kind = FR_CONTAINS;
        return tmpl_parse(c, &r->value, s, n, v->start_mark);
    }
    return 1;
}

static void match_free(struct flow_match *mt)
{
    for (size_t i = 0; i < mt->n; i++) {
        tmpl_free(&mt->r[i].value);
        if (mt->r[i].re) {
            regfree(mt->r[i].re);
            free(mt->r[i].re);
        }
    }
    mt->n = 0;
}

/* capture: {name: /pointer, other: $1} */
static int captures(struct cc *c, struct flow_step *st, yaml_node_t *v)
{
    if (!v || v->type != YAML_MAPPING_NODE)
        return cfail(c, v ? v->start_mark : (yaml_mark_t){0, 0, 0},
                     "capture: expected a mapping of variable names to a JSON pointer or $N "
                     "(a regex group), got %s",
                     kind_of(v));
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *val = yaml_document_get_node(c->doc, p->value);
        const char *ks, *vs;
        size_t kn, vn;
        if (scalar(c, k, "capture", &ks, &kn) != 0 || scalar(c, val, ks, &vs, &vn) != 0)
            return HERD_E_INVAL;
        if (!var_name_ok(ks, kn))
            return cfail(c, k->start_mark,
                         "capture: \"%.40s\": a variable name is letters, digits and _ (at most "
                         "31)",
                         ks);
        if (st->ncap == FLOW_MAX_CAPTURES)
            return cfail(c, k->start_mark, "capture: at most %d per step", FLOW_MAX_CAPTURES);
        static const char *const reserved[] = {"seq", "conn", "stamp", "uuid", "time", "time_ms"};
        for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
            if (strcmp(ks, reserved[i]) == 0)
                return cfail(c, k->start_mark, "capture: \"%s\" is a placeholder's name", ks);
        }
        struct flow_capture *cp = &st->cap[st->ncap];
        int vi = var_find(c->f, ks, kn);
        if (vi < 0) {
            if (c->f->nvars == FLOW_MAX_VARS)
                return cfail(c, k->start_mark, "capture: at most %d variables in a flow",
                             FLOW_MAX_VARS);
            vi = (int)c->f->nvars++;
            memcpy(c->f->var_name[vi], ks, kn);
            c->f->var_name[vi][kn] = '\0';
        }
        cp->var = (uint8_t)vi;
        if (vs[0] == '$') {
            if (!st->match.has_regex)
                return cfail(c, val->start_mark,
                             "capture: %s: $N takes a group of the step's regex, "
                             "and the step has none",
                             ks);
            if (vn != 2 || vs[1] < '0' || vs[1] > '9')
                return cfail(c, val->start_mark, "capture: %s: expected $0 to $9", ks);
            cp->kind = FC_GROUP;
            cp->ptr = (uint8_t)(vs[1] - '0');
            const struct flow_rule *r = &st->match.r[st->match.has_regex - 1];
            if (cp->ptr > r->re->re_nsub)
                return cfail(c, val->start_mark, "capture: %s: the regex has %zu groups", ks,
                             (size_t)r->re->re_nsub);
        } else {
            int pi = ptr_add(c, vs, vn, val->start_mark);
            if (pi < 0)
                return HERD_E_INVAL;
            cp->kind = FC_JSON;
            cp->ptr = (uint8_t)pi;
        }
        st->ncap++;
    }
    return 0;
}

/* ---- steps ---- */

struct opt {
    const char *key;
    yaml_node_t *knode, *v;
};

/* The options of an item: the op key's value when it is a mapping, and the item's other keys. */
static int gather(struct cc *c, yaml_node_t *item, yaml_node_t *opval, const char *opkey,
                  struct opt *o, size_t *n, size_t cap)
{
    *n = 0;
    yaml_node_t *maps[2] = {opval && opval->type == YAML_MAPPING_NODE ? opval : NULL, item};
    for (int m = 0; m < 2; m++) {
        if (!maps[m])
            continue;
        for (yaml_node_pair_t *p = maps[m]->data.mapping.pairs.start;
             p < maps[m]->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
            const char *ks;
            size_t kn;
            if (scalar(c, k, "key", &ks, &kn) != 0)
                return HERD_E_INVAL;
            if (m == 1 && strcmp(ks, opkey) == 0)
                continue;
            for (size_t i = 0; i < *n; i++) {
                if (strcmp(o[i].key, ks) == 0)
                    return cfail(c, k->start_mark, "duplicate key %.40s", ks);
            }
            if (*n == cap)
                return cfail(c, k->start_mark, "too many keys in one step");
            o[(*n)++] = (struct opt){ks, k, yaml_document_get_node(c->doc, p->value)};
        }
    }
    return 0;
}

static int bad_key(struct cc *c, const struct opt *o, const char *op, const char *allowed)
{
    return cfail(c, o->knode->start_mark, "unknown key %.40s in %s (expected %s)", o->key, op,
                 allowed);
}

static int opt_scalar(struct cc *c, const struct opt *o, const char **s)
{
    size_t n;
    return scalar(c, o->v, o->key, s, &n);
}

static int opt_duration(struct cc *c, const struct opt *o, uint64_t *ns)
{
    const char *s;
    if (opt_scalar(c, o, &s) != 0)
        return HERD_E_INVAL;
    if (parse_duration(s, ns) != 0)
        return cfail(c, o->v->start_mark, "%s: expected a duration like 5s or 250ms, got \"%.40s\"",
                     o->key, s);
    return 0;
}

static int opt_bool(struct cc *c, const struct opt *o, uint8_t *b)
{
    const char *s;
    if (opt_scalar(c, o, &s) != 0)
        return HERD_E_INVAL;
    if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "on") == 0)
        *b = 1;
    else if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0 || strcmp(s, "off") == 0)
        *b = 0;
    else
        return cfail(c, o->v->start_mark, "%s: expected true or false, got \"%.40s\"", o->key, s);
    return 0;
}

static struct flow_step *step_new(struct cc *c, yaml_mark_t m, enum flow_op op)
{
    struct flow *f = c->f;
    if (f->nsteps == FLOW_MAX_STEPS) {
        cfail(c, m, "more than %d steps in one flow", FLOW_MAX_STEPS);
        return NULL;
    }
    struct flow_step *st = &f->steps[f->nsteps++];
    memset(st, 0, sizeof *st);
    st->op = (uint8_t)op;
    st->line = (uint32_t)m.line + 1;
    st->col = (uint32_t)m.column + 1;
    st->hist = -1;
    return st;
}

static int steps_list(struct cc *c, yaml_node_t *list, int depth);

static const char *const step_keys[] = {"send",   "expect", "request", "sleep",
                                        "repeat", "on",     "then",    "close"};

static int step_send(struct cc *c, struct flow_step *st, yaml_node_t *opv, struct opt *o, size_t n)
{
    const char *s;
    size_t len;
    if (scalar(c, opv, "send", &s, &len) != 0)
        return HERD_E_INVAL;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(o[i].key, "binary") == 0) {
            if (opt_bool(c, &o[i], &st->binary) != 0)
                return HERD_E_INVAL;
        } else {
            return bad_key(c, &o[i], "send", "binary");
        }
    }
    return tmpl_parse(c, &st->tmpl, s, len, opv->start_mark);
}

static int step_expect(struct cc *c, struct flow_step *st, yaml_node_t *opv, struct opt *o,
                       size_t n)
{
    st->time_ns = DEFAULT_EXPECT_TIMEOUT_NS;
    if (opv && opv->type == YAML_SCALAR_NODE && !is_null(opv)) {
        /* expect: 'text' is expect: {contains: 'text'} */
        if (match_key(c, &st->match, "contains", opv) != 0)
            return HERD_E_INVAL;
    } else if (!opv || opv->type != YAML_MAPPING_NODE) {
        return cfail(c, opv ? opv->start_mark : (yaml_mark_t){0, 0, 0},
                     "expect: expected rules (json, regex, contains) and options, got %s",
                     kind_of(opv));
    }
    const struct opt *cap = NULL;
    for (size_t i = 0; i < n; i++) {
        int rc = match_key(c, &st->match, o[i].key, o[i].v);
        if (rc < 0)
            return rc;
        if (rc == 0)
            continue;
        if (strcmp(o[i].key, "timeout") == 0) {
            if (opt_duration(c, &o[i], &st->time_ns) != 0)
                return HERD_E_INVAL;
        } else if (strcmp(o[i].key, "capture") == 0) {
            cap = &o[i];
        } else if (strcmp(o[i].key, "on_miss") == 0) {
            const char *s;
            if (opt_scalar(c, &o[i], &s) != 0)
                return HERD_E_INVAL;
            if (strcmp(s, "fail") == 0)
                st->on_miss = FLOW_MISS_FAIL;
            else if (strcmp(s, "continue") == 0)
                st->on_miss = FLOW_MISS_CONTINUE;
            else
                return cfail(c, o[i].v->start_mark,
                             "on_miss: expected fail or continue, got "
                             "\"%.40s\"",
                             s);
        } else {
            return bad_key(c, &o[i], "expect", "json, regex, contains, timeout, capture, on_miss");
        }
    }
    if (cap && captures(c, st, cap->v) != 0)
        return HERD_E_INVAL;
    return 0;
}

static int step_request(struct cc *c, struct flow_step *st, yaml_node_t *opv, struct opt *o,
                        size_t n)
{
    if (!opv || opv->type != YAML_MAPPING_NODE)
        return cfail(c, opv ? opv->start_mark : (yaml_mark_t){0, 0, 0},
                     "request: expected a mapping with name, send and key, got %s", kind_of(opv));
    st->time_ns = DEFAULT_REQUEST_TIMEOUT_NS;
    st->arg = 1;
    st->key_kind = 0xff;
    const struct opt *send = NULL, *key = NULL, *name = NULL, *cap = NULL;
    uint64_t inflight = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = match_key(c, &st->match, o[i].key, o[i].v);
        if (rc < 0)
            return rc;
        if (rc == 0)
            continue;
        const char *s;
        if (strcmp(o[i].key, "send") == 0) {
            send = &o[i];
        } else if (strcmp(o[i].key, "key") == 0) {
            key = &o[i];
        } else if (strcmp(o[i].key, "name") == 0) {
            name = &o[i];
        } else if (strcmp(o[i].key, "capture") == 0) {
            cap = &o[i];
        } else if (strcmp(o[i].key, "binary") == 0) {
            if (opt_bool(c, &o[i], &st->binary) != 0)
                return HERD_E_INVAL;
        } else if (strcmp(o[i].key, "timeout") == 0) {
            if (opt_duration(c, &o[i], &st->time_ns) != 0)
                return HERD_E_INVAL;
        } else if (strcmp(o[i].key, "count") == 0) {
            if (opt_scalar(c, &o[i], &s) != 0)
                return HERD_E_INVAL;
            if (parse_count(s, 1, UINT64_MAX >> 8, 1, &st->arg) != 0)
                return cfail(c, o[i].v->start_mark,
                             "count: expected a whole number >= 1 or forever, got \"%.40s\"", s);
        } else if (strcmp(o[i].key, "in_flight") == 0) {
            if (opt_scalar(c, &o[i], &s) != 0)
                return HERD_E_INVAL;
            if (parse_count(s, 1, MAX_IN_FLIGHT, 0, &inflight) != 0)
                return cfail(c, o[i].v->start_mark,
                             "in_flight: expected a whole number from 1 to %d, got \"%.40s\"",
                             MAX_IN_FLIGHT, s);
        } else if (strcmp(o[i].key, "rate") == 0) {
            if (opt_scalar(c, &o[i], &s) != 0)
                return HERD_E_INVAL;
            if (parse_rate(s, &st->rate) != 0)
                return cfail(c, o[i].v->start_mark,
                             "rate: expected requests per second like 20 or 20/s, got \"%.40s\"",
                             s);
        } else {
            return bad_key(c, &o[i], "request",
                           "name, send, key, json, regex, contains, count, in_flight, rate, "
                           "timeout, capture, binary");
        }
    }
    if (!name)
        return cfail(c, opv->start_mark, "request: missing name (its histogram is steps.<name>)");
    if (!send)
        return cfail(c, opv->start_mark, "request: missing send (the request, with {{seq}})");
    if (!key)
        return cfail(c, opv->start_mark,
                     "request: missing key (a JSON pointer like /id, or $1 of its regex)");
    const char *s;
    size_t len;
    if (scalar(c, name->v, "name", &s, &len) != 0)
        return HERD_E_INVAL;
    if (len == 0 || len >= FLOW_NAME_MAX ||
        strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
                  "VWXYZ0123456789_-") != len)
        return cfail(c, name->v->start_mark,
                     "name: letters, digits, _ and - (at most %d), got \"%.40s\"",
                     FLOW_NAME_MAX - 1, s);
    memcpy(st->name, s, len + 1);
    size_t nreq = 0;
    for (size_t i = 0; i + 1 < c->f->nsteps; i++) {
        if (c->f->steps[i].op != FOP_REQUEST)
            continue;
        if (strcmp(c->f->steps[i].name, st->name) == 0)
            return cfail(c, name->v->start_mark, "name: another request step is named \"%s\"",
                         st->name);
        nreq++;
    }
    if (nreq == FLOW_MAX_REQUESTS)
        return cfail(c, opv->start_mark, "more than %d request steps in one flow",
                     FLOW_MAX_REQUESTS);
    if (scalar(c, send->v, "send", &s, &len) != 0 ||
        tmpl_parse(c, &st->tmpl, s, len, send->v->start_mark) != 0)
        return HERD_E_INVAL;
    int has_seq = 0;
    for (size_t i = 0; i < st->tmpl.nsegs; i++)
        has_seq |= st->tmpl.segs[i].kind == FSEG_SEQ;
    if (!has_seq)
        return cfail(c, send->v->start_mark,
                     "send: a request carries its key: put {{seq}} where the reply echoes it");
    if (scalar(c, key->v, "key", &s, &len) != 0)
        return HERD_E_INVAL;
    if (s[0] == '$') {
        if (!st->match.has_regex)
            return cfail(c, key->v->start_mark,
                         "key: $N takes a group of the step's regex, and the "
                         "step has none");
        if (len != 2 || s[1] < '1' || s[1] > '9' ||
            (size_t)(s[1] - '0') > st->match.r[st->match.has_regex - 1].re->re_nsub)
            return cfail(c, key->v->start_mark, "key: expected $1 to $9, a group of the regex");
        st->key_kind = FC_GROUP;
        st->key_ptr = (uint8_t)(s[1] - '0');
    } else {
        int pi = ptr_add(c, s, len, key->v->start_mark);
        if (pi < 0)
            return HERD_E_INVAL;
        st->key_kind = FC_JSON;
        st->key_ptr = (uint8_t)pi;
    }
    if (cap && captures(c, st, cap->v) != 0)
        return HERD_E_INVAL;
    st->in_flight = (uint32_t)(inflight ? inflight : st->rate > 0 ? DEFAULT_OPEN_WINDOW : 1);
    return 0;
}

static int step_sleep(struct cc *c, struct flow_step *st, yaml_node_t *opv, struct opt *o, size_t n)
{
    int have = 0;
    if (opv && opv->type == YAML_SCALAR_NODE) {
        struct opt t = {"sleep", NULL, opv};
        if (opt_duration(c, &t, &st->time_ns) != 0)
            return HERD_E_INVAL;
        have = 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(o[i].key, "time") == 0) {
            if (opt_duration(c, &o[i], &st->time_ns) != 0)
                return HERD_E_INVAL;
            have = 1;
        } else if (strcmp(o[i].key, "jitter") == 0) {
            if (opt_duration(c, &o[i], &st->jitter_ns) != 0)
                return HERD_E_INVAL;
        } else {
            return bad_key(c, &o[i], "sleep", "time, jitter");
        }
    }
    if (!have)
        return cfail(c, opv ? opv->start_mark : (yaml_mark_t){0, 0, 0},
                     "sleep: expected a duration like 100ms, or time and jitter");
    return 0;
}

static int step_on(struct cc *c, yaml_node_t *item, yaml_node_t *opv, struct opt *o, size_t n)
{
    struct flow *f = c->f;
    if (!opv || opv->type != YAML_MAPPING_NODE)
        return cfail(c, opv ? opv->start_mark : item->start_mark,
                     "on: expected match rules (json, regex, contains) and an optional reply, got "
                     "%s",
                     kind_of(opv));
    if (f->non == FLOW_MAX_ON)
        return cfail(c, item->start_mark, "more than %d on rules", FLOW_MAX_ON);
    struct flow_on *r = &f->on[f->non++];
    memset(r, 0, sizeof *r);
    r->line = (uint32_t)item->start_mark.line + 1;
    r->col = (uint32_t)item->start_mark.column + 1;
    const struct opt *reply = NULL;
    for (size_t i = 0; i < n; i++) {
        int rc = match_key(c, &r->match, o[i].key, o[i].v);
        if (rc < 0)
            return rc;
        if (rc == 0)
            continue;
        if (strcmp(o[i].key, "reply") == 0)
            reply = &o[i];
        else if (strcmp(o[i].key, "binary") == 0) {
            if (opt_bool(c, &o[i], &r->binary) != 0)
                return HERD_E_INVAL;
        } else
            return bad_key(c, &o[i], "on", "json, regex, contains, reply, binary");
    }
    if (r->match.n == 0)
        return cfail(c, opv->start_mark, "on: no rule (json, regex or contains) to match");
    if (reply) {
        const char *s;
        size_t len;
        if (scalar(c, reply->v, "reply", &s, &len) != 0)
            return HERD_E_INVAL;
        /* Standing rules may use every variable the flow captures (empty until it does). */
        c->any_var = 1;
        int rc = tmpl_parse(c, &r->reply, s, len, reply->v->start_mark);
        c->any_var = 0;
        if (rc != 0)
            return rc;
        r->has_reply = 1;
    }
    return 0;
}

/* One item of a steps list. on rules are kept aside: they hold for the whole connection, and
 * their templates are compiled after the steps (they may use any variable). */
static int step_item(struct cc *c, yaml_node_t *item, int depth, yaml_node_t **on_items,
                     size_t *non)
{
    if (!item || item->type != YAML_MAPPING_NODE) {
        /* `- close` */
        if (item && item->type == YAML_SCALAR_NODE &&
            strcmp((const char *)item->data.scalar.value, "close") == 0)
            return step_new(c, item->start_mark, FOP_CLOSE) ? 0 : HERD_E_INVAL;
        return cfail(c, item ? item->start_mark : (yaml_mark_t){0, 0, 0},
                     "a step: expected a mapping like {send: ...}, got %s", kind_of(item));
    }
    const char *opkey = NULL;
    yaml_node_t *opk = NULL, *opv = NULL;
    int op = -1;
    for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        if (!k || k->type != YAML_SCALAR_NODE)
            return cfail(c, k ? k->start_mark : item->start_mark, "a step: expected a key, got %s",
                         kind_of(k));
        const char *ks = (const char *)k->data.scalar.value;
        for (size_t i = 0; i < sizeof step_keys / sizeof step_keys[0]; i++) {
            if (strcmp(ks, step_keys[i]) != 0)
                continue;
            if (opkey)
                return cfail(c, k->start_mark, "two steps in one item (%s and %s): make two items",
                             opkey, ks);
            opkey = ks;
            opk = k;
            opv = yaml_document_get_node(c->doc, p->value);
            op = (int)i;
        }
    }
    if (!opkey) {
        yaml_node_t *k = yaml_document_get_node(c->doc, item->data.mapping.pairs.start->key);
        return cfail(c, k ? k->start_mark : item->start_mark,
                     "unknown step %.40s (expected send, expect, request, sleep, repeat, on, then "
                     "or close)",
                     k && k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "?");
    }
    struct opt o[24];
    size_t n;
    if (gather(c, item, opv, opkey, o, &n, sizeof o / sizeof o[0]) != 0)
        return HERD_E_INVAL;
    yaml_mark_t m = opk->start_mark;
    struct flow_step *st;
    switch (op) {
    case 0: st = step_new(c, m, FOP_SEND); return st ? step_send(c, st, opv, o, n) : HERD_E_INVAL;
    case 1:
        st = step_new(c, m, FOP_EXPECT);
        if (!st || step_expect(c, st, opv, o, n) != 0)
            return HERD_E_INVAL;
        for (size_t i = 0; i < st->ncap; i++)
            c->defined |= 1u << st->cap[i].var;
        return 0;
    case 2:
        st = step_new(c, m, FOP_REQUEST);
        if (!st || step_request(c, st, opv, o, n) != 0)
            return HERD_E_INVAL;
        for (size_t i = 0; i < st->ncap; i++)
            c->defined |= 1u << st->cap[i].var;
        return 0;
    case 3: st = step_new(c, m, FOP_SLEEP); return st ? step_sleep(c, st, opv, o, n) : HERD_E_INVAL;
    case 4: {
        const char *s;
        size_t len;
        uint64_t times;
        if (scalar(c, opv, "repeat", &s, &len) != 0)
            return HERD_E_INVAL;
        if (parse_count(s, 1, UINT32_MAX, 1, &times) != 0)
            return cfail(c, opv->start_mark,
                         "repeat: expected a whole number >= 1 or forever, got \"%.40s\"", s);
        yaml_node_t *body = NULL;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(o[i].key, "steps") == 0)
                body = o[i].v;
            else
                return bad_key(c, &o[i], "repeat", "steps");
        }
        if (!body)
            return cfail(c, m, "repeat: missing steps (the list to repeat)");
        if (depth + 1 > FLOW_MAX_DEPTH)
            return cfail(c, m, "repeat blocks nest at most %d deep", FLOW_MAX_DEPTH);
        st = step_new(c, m, FOP_REPEAT);
        if (!st)
            return HERD_E_INVAL;
        size_t head = c->f->nsteps - 1;
        st->arg = times;
        st->depth = (uint16_t)depth;
        if (depth + 1 > c->f->max_depth)
            c->f->max_depth = (uint16_t)(depth + 1);
        if (steps_list(c, body, depth + 1) != 0)
            return HERD_E_INVAL;
        if (c->f->nsteps == head + 1)
            return cfail(c, body->start_mark, "repeat: no steps to repeat");
        struct flow_step *end = step_new(c, m, FOP_END);
        if (!end)
            return HERD_E_INVAL;
        end->jump = (uint32_t)head;
        end->depth = (uint16_t)depth;
        c->f->steps[head].jump = (uint32_t)c->f->nsteps;
        return 0;
    }
    case 5:
        if (*non == FLOW_MAX_ON)
            return cfail(c, m, "more than %d on rules", FLOW_MAX_ON);
        on_items[(*non)++] = item;
        return 0;
    case 6: {
        const char *s;
        size_t len;
        if (n)
            return bad_key(c, &o[0], "then", "nothing");
        if (scalar(c, opv, "then", &s, &len) != 0)
            return HERD_E_INVAL;
        int role = -1;
        for (int r = ROLE_PING; r <= ROLE_IDLE; r++) {
            if (strcmp(s, client_role_name[r]) == 0)
                role = r;
        }
        if (role < 0)
            return cfail(c, opv->start_mark,
                         "then: expected a role (ping, echo, publish, subscribe or idle), got "
                         "\"%.40s\"",
                         s);
        if (depth > 0)
            return cfail(c, m, "then: the role carries on after the flow: not inside a repeat");
        st = step_new(c, m, FOP_THEN);
        if (!st)
            return HERD_E_INVAL;
        st->arg = (uint64_t)role;
        return 0;
    }
    default:
        if (n)
            return bad_key(c, &o[0], "close", "nothing");
        return step_new(c, m, FOP_CLOSE) ? 0 : HERD_E_INVAL;
    }
}

static int steps_list(struct cc *c, yaml_node_t *list, int depth)
{
    if (!list || list->type != YAML_SEQUENCE_NODE)
        return cfail(c, list ? list->start_mark : (yaml_mark_t){0, 0, 0},
                     "expected a list of steps, got %s", kind_of(list));
    yaml_node_t *on_items[FLOW_MAX_ON];
    size_t non = 0;
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top;
         it++) {
        yaml_node_t *item = yaml_document_get_node(c->doc, *it);
        size_t before = c->f->nsteps;
        if (step_item(c, item, depth, on_items, &non) != 0)
            return HERD_E_INVAL;
        /* then and close end the flow: nothing may follow */
        if (c->f->nsteps > before) {
            uint8_t op = c->f->steps[c->f->nsteps - 1].op;
            if ((op == FOP_THEN || op == FOP_CLOSE) && it + 1 < list->data.sequence.items.top) {
                yaml_node_t *next = yaml_document_get_node(c->doc, it[1]);
                yaml_node_t *nm =
                    next && next->type == YAML_MAPPING_NODE
                        ? yaml_document_get_node(c->doc, next->data.mapping.pairs.start->key)
                        : next;
                int on_only = nm && nm->type == YAML_SCALAR_NODE &&
                              strcmp((const char *)nm->data.scalar.value, "on") == 0;
                if (!on_only)
                    return cfail(c, next ? next->start_mark : item->start_mark,
                                 "a step after %s: %s ends the flow", flow_op_name[op],
                                 flow_op_name[op]);
            }
        }
    }
    for (size_t i = 0; i < non; i++) {
        yaml_node_t *item = on_items[i];
        yaml_node_t *opv = NULL;
        for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
            if (strcmp((const char *)k->data.scalar.value, "on") == 0)
                opv = yaml_document_get_node(c->doc, p->value);
        }
        struct opt o[24];
        size_t n;
        if (gather(c, item, opv, "on", o, &n, sizeof o / sizeof o[0]) != 0 ||
            step_on(c, item, opv, o, n) != 0)
            return HERD_E_INVAL;
    }
    return 0;
}

/* ---- entry points ---- */

static int compile_root(struct cc *c, yaml_node_t *root)
{
    if (!root || is_null(root))
        return cfail(c, root ? root->start_mark : (yaml_mark_t){0, 0, 0},
                     "an empty flow (expected a list of steps)");
    if (steps_list(c, root, 0) != 0)
        return HERD_E_INVAL;
    if (c->f->nsteps == 0 && c->f->non == 0)
        return cfail(c, root->start_mark, "an empty flow (expected a list of steps)");
    return 0;
}

int flow_compile_node(void *doc, void *node, const char *name, const struct flow_input *in,
                      struct flow **out, char *err, size_t errlen)
{
    struct flow *f = xcalloc(1, sizeof *f);
    f->name = xstrdup(name ? name : "flow");
    f->steps = xcalloc(FLOW_MAX_STEPS, sizeof *f->steps);
    struct cc c = {f->name, doc, f, in, err, errlen, 0, 0, 0};
    if (err && errlen)
        err[0] = '\0';
    *out = NULL;
    if (compile_root(&c, node) != 0) {
        flow_free(f);
        return HERD_E_INVAL;
    }
    *out = f;
    return 0;
}

int flow_compile_buffer(const char *data, size_t len, const char *name, const struct flow_input *in,
                        struct flow **out, char *err, size_t errlen)
{
    *out = NULL;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        die("out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    yaml_document_t doc;
    int rc;
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_mark_t m = parser.problem_mark;
        if (err && errlen)
            snprintf(err, errlen, "%s:%lu:%lu: YAML: %s", name, (unsigned long)m.line + 1,
                     (unsigned long)m.column + 1,
                     parser.problem ? parser.problem : "cannot be read");
        yaml_parser_delete(&parser);
        return HERD_E_INVAL;
    }
    rc = flow_compile_node(&doc, yaml_document_get_root_node(&doc), name, in, out, err, errlen);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

int flow_compile_file(const char *path, const struct flow_input *in, struct flow **out, char *err,
                      size_t errlen)
{
    *out = NULL;
    if (in && in->no_files) {
        snprintf(err, errlen, "%s: files are not read here", path);
        return HERD_E_INVAL;
    }
    char *buf = NULL;
    size_t len = 0;
    int rc = file_read_all(path, FLOW_MAX_BYTES, &buf, &len);
    if (rc != 0) {
        if (err && errlen)
            snprintf(err, errlen, "%s: %s", path,
                     rc == HERD_E_TOO_BIG ? "larger than 1 MiB: not a flow" : strerror(-rc));
        return HERD_E_INVAL;
    }
    rc = flow_compile_buffer(buf, len, path, in, out, err, errlen);
    free(buf);
    return rc;
}

void flow_free(struct flow *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->nsteps; i++) {
        tmpl_free(&f->steps[i].tmpl);
        match_free(&f->steps[i].match);
    }
    for (size_t i = 0; i < f->non; i++) {
        tmpl_free(&f->on[i].reply);
        match_free(&f->on[i].match);
    }
    free(f->steps);
    free(f->name);
    free(f);
}

/* ---- matching ---- */

int flow_key_parse(const struct jval *v, uint64_t *key)
{
    if (v->type != JV_NUMBER && v->type != JV_STRING)
        return -1;
    if (v->len == 0 || v->len > 19)
        return -1;
    uint64_t k = 0;
    for (size_t i = 0; i < v->len; i++) {
        if (v->p[i] < '0' || v->p[i] > '9')
            return -1;
        k = k * 10 + (uint64_t)(v->p[i] - '0');
    }
    *key = k;
    return 0;
}

/* A template's text: as written when it is all literal, else rendered into scratch. */
static const char *tmpl_text(const struct flow_tmpl *t, const struct flow_env *env, char *scratch,
                             size_t *n)
{
    if (t->nsegs == 0 || (t->nsegs == 1 && t->segs[0].kind == FSEG_LIT)) {
        *n = t->len;
        return t->text;
    }
    *n = flow_render(t, env, scratch);
    return scratch;
}

int flow_match_test(const struct flow *f, const struct flow_match *m, struct flow_msg *msg,
                    const struct flow_env *env, char *scratch)
{
    for (size_t i = 0; i < m->n; i++) {
        const struct flow_rule *r = &m->r[i];
        switch (r->kind) {
        case FR_JSON: {
            if (msg->json_state == 0)
                msg->json_state =
                    json_find(msg->p, msg->len, f->ptrs, f->nptrs, msg->v) == 0 ? 1 : -1;
            if (msg->json_state < 0)
                return 0;
            const struct jval *v = &msg->v[r->ptr];
            size_t n;
            const char *want = tmpl_text(&r->value, env, scratch, &n);
            if (v->type == JV_NONE || !jval_eq(v, want, n))
                return 0;
            break;
        }
        case FR_REGEX: {
            regmatch_t g[10];
            g[0].rm_so = 0;
            g[0].rm_eo = (regoff_t)msg->len;
            if (regexec(r->re, msg->p, 10, g, REG_STARTEND) != 0)
                return 0;
            memcpy(msg->groups, g, sizeof g);
            break;
        }
        case FR_CONTAINS: {
            size_t n;
            const char *want = tmpl_text(&r->value, env, scratch, &n);
            if (n && !memmem(msg->p, msg->len, want, n))
                return 0;
            break;
        }
        }
    }
    return 1;
}

/* ---- --check ---- */

static void print_tmpl(FILE *out, const struct flow_tmpl *t)
{
    fputc('"', out);
    for (size_t i = 0; i < t->len && i < 60; i++) {
        unsigned char ch = (unsigned char)t->text[i];
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            fprintf(out, "\\x%02x", ch);
        else
            fputc(ch, out);
    }
    fputs(t->len > 60 ? "\"..." : "\"", out);
}

static void print_match(FILE *out, const struct flow *f, const struct flow_match *m)
{
    for (size_t i = 0; i < m->n; i++) {
        const struct flow_rule *r = &m->r[i];
        fputs(i ? " and " : " ", out);
        switch (r->kind) {
        case FR_JSON:
            fprintf(out, "%s == ", f->ptr_text[r->ptr]);
            print_tmpl(out, &r->value);
            break;
        case FR_REGEX: fputs("regex", out); break;
        case FR_CONTAINS:
            fputs("contains ", out);
            print_tmpl(out, &r->value);
            break;
        }
    }
    if (m->n == 0)
        fputs(" any message", out);
}

static void print_dur(FILE *out, uint64_t ns)
{
    if (ns % 1000000000ull == 0)
        fprintf(out, "%llus", (unsigned long long)(ns / 1000000000ull));
    else if (ns % 1000000ull == 0)
        fprintf(out, "%llums", (unsigned long long)(ns / 1000000ull));
    else
        fprintf(out, "%lluus", (unsigned long long)(ns / 1000ull));
}

void flow_print(FILE *out, const struct flow *f, const char *indent)
{
    fprintf(out, "%sflow %s: %zu steps, %zu on rules, %zu variables, %zu JSON pointers\n", indent,
            f->name, f->nsteps, f->non, f->nvars, f->nptrs);
    for (size_t i = 0; i < f->nsteps; i++) {
        const struct flow_step *s = &f->steps[i];
        fprintf(out, "%s  %3zu  %-8s", indent, i, flow_op_name[s->op]);
        switch (s->op) {
        case FOP_SEND:
            fprintf(out, "%s ", s->binary ? "binary" : "text");
            print_tmpl(out, &s->tmpl);
            break;
        case FOP_EXPECT:
            print_match(out, f, &s->match);
            fputs("  timeout ", out);
            print_dur(out, s->time_ns);
            fprintf(out, "  on_miss %s", s->on_miss == FLOW_MISS_FAIL ? "fail" : "continue");
            break;
        case FOP_REQUEST:
            fprintf(out, "steps.%s ", s->name);
            print_tmpl(out, &s->tmpl);
            if (s->key_kind == FC_JSON)
                fprintf(out, "  key %s", f->ptr_text[s->key_ptr]);
            else
                fprintf(out, "  key $%u", s->key_ptr);
            if (s->match.n) {
                fputs("  reply", out);
                print_match(out, f, &s->match);
            }
            if (s->arg)
                fprintf(out, "  count %llu", (unsigned long long)s->arg);
            else
                fputs("  count forever", out);
            if (s->rate > 0)
                fprintf(out, "  open %.6g/s (at most %u out)", s->rate, s->in_flight);
            else
                fprintf(out, "  in_flight %u (or --rate)", s->in_flight);
            fputs("  timeout ", out);
            print_dur(out, s->time_ns);
            break;
        case FOP_SLEEP:
            print_dur(out, s->time_ns);
            if (s->jitter_ns) {
                fputs(" + up to ", out);
                print_dur(out, s->jitter_ns);
            }
            break;
        case FOP_REPEAT:
            if (s->arg)
                fprintf(out, "%llu times, to step %u", (unsigned long long)s->arg, s->jump);
            else
                fprintf(out, "forever, to step %u", s->jump);
            break;
        case FOP_END: fprintf(out, "back to step %u", s->jump); break;
        case FOP_THEN: fprintf(out, "role %s", client_role_name[s->arg]); break;
        case FOP_CLOSE: break;
        }
        for (size_t k = 0; k < s->ncap; k++)
            fprintf(out, "  %s=%s%s", f->var_name[s->cap[k].var],
                    s->cap[k].kind == FC_JSON ? f->ptr_text[s->cap[k].ptr] : "$",
                    s->cap[k].kind == FC_JSON ? ""
                                              : (const char[]){(char)('0' + s->cap[k].ptr), 0});
        fprintf(out, "  (line %u)\n", s->line);
    }
    for (size_t i = 0; i < f->non; i++) {
        const struct flow_on *r = &f->on[i];
        fprintf(out, "%s  on  ", indent);
        print_match(out, f, &r->match);
        if (r->has_reply) {
            fputs("  reply ", out);
            print_tmpl(out, &r->reply);
        } else {
            fputs("  count", out);
        }
        fprintf(out, "  (line %u)\n", r->line);
    }
}
