/* flow.h - conversations: a per-connection script of steps (send, expect, request, sleep, repeat,
 * then) and standing `on` rules, written in YAML (a scenario group's `flow:` list, or a file given
 * with --flow), compiled once at start into a compact program that client/flow.c runs on every
 * connection. This module is the compiler and the pure parts of running it: templates (render
 * into a caller's buffer), match rules (JSON pointers, POSIX regexes, substrings) and the
 * per-connection data of --data (csv.h). It never does I/O besides reading a flow file, never
 * logs, and allocates only while compiling.
 *
 * Every mistake in a flow is one line "FILE:LINE:COLUMN: message" (libyaml's marks), found
 * before any connection opens: an unknown step or key, a bad regex or JSON pointer, a variable
 * used before a step captures it, a {{data.COL}} the --data file has no column for. */
#ifndef HERD_FLOW_FLOW_H
#define HERD_FLOW_FLOW_H

#include <regex.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "flow/csv.h"
#include "proto/jsonptr.h"

#define FLOW_MAX_STEPS 256 /* compiled steps (a repeat takes two) */
#define FLOW_MAX_ON 16 /* standing rules */
#define FLOW_MAX_VARS 16 /* captured variables */
#define FLOW_VAR_MAX 256 /* bytes a variable holds (longer captures are cut) */
#define FLOW_MAX_PTRS 32 /* distinct JSON pointers of a flow */
#define FLOW_MAX_RULES 4 /* match rules of one json: mapping, plus regex and contains */
#define FLOW_MAX_CAPTURES 4 /* captures of one step */
#define FLOW_MAX_SEGS 32 /* placeholders and literal runs of one template */
#define FLOW_MAX_DEPTH 8 /* repeat blocks nested */
#define FLOW_MAX_BYTES (1u << 20) /* larger files are not flows */
#define FLOW_MAX_REQUESTS 16 /* request steps (each a histogram: STATS_MAX_STEPS) */
#define FLOW_NAME_MAX 48 /* a request step's name (steps.<name>) with its NUL */

/* ---- templates ---- */

enum flow_seg_kind {
    FSEG_LIT, /* text[off..off+len) */
    FSEG_SEQ, /* {{seq}}: the connection's message number (a request's key) */
    FSEG_CONN, /* {{conn}}: the connection's number */
    FSEG_STAMP, /* {{stamp}}: herd's stamp (subscribers time it) */
    FSEG_UUID, /* {{uuid}}: a random version 4 UUID */
    FSEG_RAND, /* {{rand A B}}: a whole number in [a, b] */
    FSEG_TIME_MS, /* {{time_ms}}: Unix time in milliseconds */
    FSEG_TIME, /* {{time}}: Unix time in seconds */
    FSEG_VAR, /* {{name}}: a captured variable (index) */
    FSEG_DATA, /* {{data.COL}}: the connection's --data row, column index */
};

struct flow_seg {
    uint8_t kind; /* enum flow_seg_kind */
    uint32_t off, len; /* FSEG_LIT: the bytes; FSEG_VAR / FSEG_DATA: off = index */
    uint64_t a, b; /* FSEG_RAND: the range */
};

struct flow_tmpl {
    char *text; /* the template as written (owned) */
    size_t len;
    struct flow_seg segs[FLOW_MAX_SEGS];
    uint8_t nsegs;
    uint8_t has_stamp;
    size_t max_len; /* the longest render (variables FLOW_VAR_MAX, data cells their longest) */
};

/* What a template is rendered with: one connection's state. */
struct flow_env {
    uint64_t seq, conn;
    const char *stamp; /* the formatted stamp, when the template has one */
    size_t stamp_len;
    const char *const *var; /* FLOW_MAX_VARS values */
    const uint16_t *var_len;
    const struct csv_table *data; /* NULL without --data */
    size_t row;
    uint64_t (*rand64)(void *ctx); /* random bits, for uuid and rand */
    void *rand_ctx;
    uint64_t real_ns; /* the time, for time and time_ms */
};

/* A template of the run's request (the URL's target, -H values, --origin): only {{data.COL}}
 * and {{conn}} are placeholders there. Returns 0, or HERD_E_INVAL with "{{...}}: why" in err;
 * free t with flow_tmpl_free either way. */
int flow_tmpl_compile_request(struct flow_tmpl *t, const char *text, size_t len,
                              const struct csv_table *data, char *err, size_t errlen);
void flow_tmpl_free(struct flow_tmpl *t);

/* Render t into out (at least t->max_len bytes). Returns the length. */
size_t flow_render(const struct flow_tmpl *t, const struct flow_env *env, char *out);

/* ---- match rules ---- */

enum flow_rule_kind { FR_JSON, FR_REGEX, FR_CONTAINS };
struct flow_rule {
    uint8_t kind; /* enum flow_rule_kind */
    uint8_t ptr; /* FR_JSON: index in flow.ptrs */
    struct flow_tmpl value; /* FR_JSON: the value (a template); FR_CONTAINS: the text */
    regex_t *re; /* FR_REGEX, compiled (owned) */
};

struct flow_match {
    struct flow_rule r[FLOW_MAX_RULES + 2];
    uint8_t n; /* all must hold; none matches every message */
    uint8_t has_regex; /* the index in r of the regex + 1, 0 for none */
};

enum flow_cap_kind { FC_JSON, FC_GROUP };
struct flow_capture {
    uint8_t kind;
    uint8_t var; /* into variable var */
    uint8_t ptr; /* FC_JSON: index in flow.ptrs; FC_GROUP: the regex group */
};

/* One message being matched: the pointers of the flow found in it, looked up once when the
 * first JSON rule asks (json_find over every pointer of the flow in one pass). */
struct flow_msg {
    const char *p;
    size_t len;
    int json_state; /* 0 not looked at, 1 found, -1 not JSON */
    struct jval v[FLOW_MAX_PTRS];
    regmatch_t groups[10]; /* the last regex rule that held */
};

struct flow;

/* Whether m matches msg (rendering JSON values with env into scratch, FLOW_VAR_MAX * 4 bytes). */
int flow_match_test(const struct flow *f, const struct flow_match *m, struct flow_msg *msg,
                    const struct flow_env *env, char *scratch);

/* ---- steps ---- */

enum flow_op {
    FOP_SEND,
    FOP_EXPECT,
    FOP_REQUEST,
    FOP_SLEEP,
    FOP_REPEAT, /* a block's head: arg = times (0 = forever), jump = its FOP_END + 1 */
    FOP_END, /* a block's end: jump = its FOP_REPEAT */
    FOP_THEN, /* a built-in role carries on: arg = enum client_role */
    FOP_CLOSE,
};
extern const char *const flow_op_name[]; /* "send", ... */

enum flow_miss { FLOW_MISS_FAIL, FLOW_MISS_CONTINUE };

struct flow_step {
    uint8_t op; /* enum flow_op */
    uint8_t binary; /* send, request: a binary message */
    uint8_t on_miss; /* expect: enum flow_miss */
    uint8_t ncap;
    uint8_t key_kind; /* request: FC_JSON (ptr) or FC_GROUP (the match's regex group) */
    uint8_t key_ptr;
    uint16_t depth; /* repeat: its nesting level (a counter per level) */
    uint32_t line, col; /* where it was written (1-based) */
    uint32_t jump;
    uint64_t arg; /* repeat: times; then: role; request: count (0 = forever) */
    uint64_t time_ns; /* sleep: the time; expect, request: the timeout */
    uint64_t jitter_ns; /* sleep: up to this much more */
    double rate; /* request: per second (open model), 0 = the run's --rate or closed */
    uint32_t in_flight; /* request: closed model K; open model the most outstanding */
    int hist; /* request: the index of steps.<name> in each stats block (set by the engine) */
    char name[FLOW_NAME_MAX]; /* request */
    struct flow_tmpl tmpl; /* send, request */
    struct flow_match match; /* expect; request: the reply's extra rules */
    struct flow_capture cap[FLOW_MAX_CAPTURES];
};

/* A standing rule: a message that matches gets `reply` sent back (or is only counted). */
struct flow_on {
    struct flow_match match;
    struct flow_tmpl reply;
    uint8_t has_reply, binary;
    uint32_t line, col;
};

struct flow {
    char *name; /* the file name (or the scenario's) */
    struct flow_step *steps;
    size_t nsteps;
    struct flow_on on[FLOW_MAX_ON];
    size_t non;
    char var_name[FLOW_MAX_VARS][32];
    size_t nvars;
    struct jptr ptrs[FLOW_MAX_PTRS];
    char ptr_text[FLOW_MAX_PTRS][64]; /* as written, for --check */
    size_t nptrs;
    size_t max_render; /* the longest render of any template */
    uint16_t max_depth; /* repeat blocks nested */
};

/* What compiling takes besides the YAML. */
struct flow_input {
    const struct csv_table *data; /* --data's columns for {{data.COL}}, NULL without */
    int no_files; /* refuse files (fuzzing) */
};

/* Compile a flow from a file: a YAML list of steps. Returns 0 with *out (free it with flow_free),
 * or HERD_E_INVAL with one line "FILE:LINE:COLUMN: message" (or "FILE: why") in err. */
int flow_compile_file(const char *path, const struct flow_input *in, struct flow **out, char *err,
                      size_t errlen);
/* The same from memory; name labels the messages. */
int flow_compile_buffer(const char *data, size_t len, const char *name, const struct flow_input *in,
                        struct flow **out, char *err, size_t errlen);
/* The same from a node of a libyaml document (a scenario group's `flow:` list); doc is a
 * yaml_document_t *, node a yaml_node_t * (void here so that the face needs no yaml.h). */
int flow_compile_node(void *doc, void *node, const char *name, const struct flow_input *in,
                      struct flow **out, char *err, size_t errlen);

void flow_free(struct flow *f);

/* The compiled program, for `herd run --check`: one line per step and rule. */
void flow_print(FILE *out, const struct flow *f, const char *indent);

/* Parse a request key: a JSON number or string of decimal digits. Returns 0 with *key, or -1. */
int flow_key_parse(const struct jval *v, uint64_t *key);

#endif
