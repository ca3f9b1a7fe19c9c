/* test_flow_flow.c - the flow compiler: steps, placeholders, errors at FILE:LINE:COLUMN; template
 * rendering; message matching with JSON pointers, regexes and substrings; request keys. */
#include "tap.h"

#include "flow/flow.h"

static struct flow *compile(const char *y, const struct csv_table *data, char *err, size_t n)
{
    struct flow *f = NULL;
    struct flow_input in = {data, 1};
    err[0] = '\0';
    int rc = flow_compile_buffer(y, strlen(y), "f.yaml", &in, &f, err, n);
    if (rc != 0)
        return NULL;
    return f;
}

static void expect_error(const char *y, const char *want)
{
    char err[512];
    struct flow *f = compile(y, NULL, err, sizeof err);
    CHECK(f == NULL);
    int ok = strncmp(err, want, strlen(want)) == 0;
    tap_result(ok, __FILE__, __LINE__, want);
    if (!ok)
        printf("#   got \"%s\"\n", err);
    flow_free(f);
}

static uint64_t fixed_rand(void *ctx)
{
    uint64_t *x = ctx;
    return (*x += 0x9e3779b97f4a7c15ull);
}

static void test_compile(void)
{
    char err[512];
    struct flow *f = compile("- send: '{\"type\":\"connection_init\"}'\n"
                             "- expect:\n"
                             "    json: {/type: connection_ack}\n"
                             "    timeout: 2s\n"
                             "- repeat: 2\n"
                             "  steps:\n"
                             "    - request:\n"
                             "        name: add\n"
                             "        send: '{\"id\":{{seq}}}'\n"
                             "        key: /id\n"
                             "        count: 3\n"
                             "        in_flight: 2\n"
                             "    - sleep: {time: 10ms, jitter: 5ms}\n"
                             "- on: {regex: '^2$', reply: '3'}\n"
                             "- then: subscribe\n",
                             NULL, err, sizeof err);
    CHECK(f != NULL);
    if (!f) {
        printf("#   %s\n", err);
        return;
    }
    CHECK_EQ_U64(f->nsteps, 7); /* send expect repeat request sleep end then */
    CHECK_EQ_I64(f->steps[0].op, FOP_SEND);
    CHECK_EQ_I64(f->steps[1].op, FOP_EXPECT);
    CHECK_EQ_U64(f->steps[1].time_ns, 2000000000ull);
    CHECK_EQ_I64(f->steps[2].op, FOP_REPEAT);
    CHECK_EQ_U64(f->steps[2].arg, 2);
    CHECK_EQ_U64(f->steps[2].jump, 6);
    CHECK_EQ_I64(f->steps[3].op, FOP_REQUEST);
    CHECK_EQ_STR(f->steps[3].name, "add");
    CHECK_EQ_U64(f->steps[3].arg, 3);
    CHECK_EQ_U64(f->steps[3].in_flight, 2);
    CHECK_EQ_I64(f->steps[4].op, FOP_SLEEP);
    CHECK_EQ_U64(f->steps[4].jitter_ns, 5000000ull);
    CHECK_EQ_I64(f->steps[5].op, FOP_END);
    CHECK_EQ_U64(f->steps[5].jump, 2);
    CHECK_EQ_I64(f->steps[6].op, FOP_THEN);
    CHECK_EQ_U64(f->steps[1].line, 2);
    CHECK_EQ_U64(f->non, 1);
    CHECK_EQ_U64(f->nptrs, 2);
    flow_free(f);
}

static void test_errors(void)
{
    expect_error("- bogus: 1\n", "f.yaml:1:3: unknown step bogus");
    expect_error("- send: 'a'\n  wat: 1\n", "f.yaml:2:3: unknown key wat in send");
    expect_error("- send: 'a {{x}}'\n", "f.yaml:1:9: {{x}}: undefined variable");
    expect_error("- send: 'a {{x}}'\n- expect: {regex: '(a)', capture: {x: $1}}\n",
                 "f.yaml:1:9: {{x}}: undefined variable");
    expect_error("- expect: {regex: '('}\n", "f.yaml:1:19: bad regex");
    expect_error("- expect: {json: {'a': 1}}\n", "f.yaml:1:19: bad JSON pointer");
    expect_error("- expect: {json: {'/a~2': 1}}\n", "f.yaml:1:19: bad JSON pointer");
    expect_error("- send: '{{data.token}}'\n", "f.yaml:1:9: {{data.token}}: no --data file");
    expect_error("- request: {name: a, send: 'x', key: /id}\n", "f.yaml:1:28: send: a request");
    expect_error("- request: {send: '{{seq}}', key: /id}\n", "f.yaml:1:12: request: missing name");
    expect_error("- expect: {capture: {v: $1}, contains: a}\n", "f.yaml:1:25: capture: v: $N");
    expect_error("- sleep: fast\n", "f.yaml:1:10: sleep: expected a duration");
    expect_error("- repeat: 0\n  steps: [{send: a}]\n", "f.yaml:1:11: repeat: expected");
    expect_error("- then: dance\n", "f.yaml:1:9: then: expected a role");
    expect_error("- then: idle\n- send: a\n", "f.yaml:2:3: a step after then");
    expect_error("- {send: a, expect: b}\n", "f.yaml:1:13: two steps in one item");
    expect_error("", "f.yaml:1:1: an empty flow");
    expect_error("- send: [a\n", "f.yaml:");
    expect_error("- expect: {contains: a, on_miss: maybe}\n", "f.yaml:1:34: on_miss:");
    expect_error("- send: '{{rand 9 1}}'\n", "f.yaml:1:9: {{rand 9 1}}");
    /* data columns */
    struct csv_table t;
    char err[256];
    CHECK_EQ_I64(csv_parse("user,token\nu1,t1\n", 17, "d.csv", &t, err, sizeof err), 0);
    struct flow *f = compile("- send: '{{data.token}}'\n", &t, err, sizeof err);
    CHECK(f != NULL);
    flow_free(f);
    f = compile("- send: '{{data.nope}}'\n", &t, err, sizeof err);
    CHECK(f == NULL);
    CHECK(strstr(err, "f.yaml:1:9: {{data.nope}}: the --data file has no column \"nope\"") != NULL);
    csv_free(&t);
}

static void test_render(void)
{
    char err[256];
    struct csv_table t;
    CHECK_EQ_I64(csv_parse("user,token\nann,\"t,1\"\nbob,t2\n", 27, "d.csv", &t, err, sizeof err),
                 0);
    struct flow *f = compile(
        "- expect: {regex: 'x(.*)', capture: {v: $1}}\n"
        "- send: 's={{seq}} c={{conn}} v={{v}} d={{data.token}} r={{rand 5 5}} u={{uuid}}'\n",
        &t, err, sizeof err);
    CHECK(f != NULL);
    if (!f) {
        printf("#   %s\n", err);
        csv_free(&t);
        return;
    }
    const char *vars[FLOW_MAX_VARS] = {"hi"};
    uint16_t lens[FLOW_MAX_VARS] = {2};
    uint64_t seed = 1;
    struct flow_env e = {.seq = 7,
                         .conn = 3,
                         .var = vars,
                         .var_len = lens,
                         .data = &t,
                         .row = 0,
                         .rand64 = fixed_rand,
                         .rand_ctx = &seed};
    char out[1024];
    CHECK(f->max_render < sizeof out);
    size_t n = flow_render(&f->steps[1].tmpl, &e, out);
    out[n] = '\0';
    CHECK(strncmp(out, "s=7 c=3 v=hi d=t,1 r=5 u=", 25) == 0);
    CHECK_EQ_U64(n, 25 + 36);
    CHECK(out[25 + 14] == '4'); /* version 4 */
    flow_free(f);
    csv_free(&t);
}

static void test_match(void)
{
    char err[256];
    struct flow *f = compile("- expect:\n"
                             "    json: {/type: next, /id: '{{seq}}'}\n"
                             "    contains: '\"data\"'\n"
                             "- expect: {regex: '^42\\[\"(\\w+)\"'}\n",
                             NULL, err, sizeof err);
    CHECK(f != NULL);
    if (!f) {
        printf("#   %s\n", err);
        return;
    }
    uint64_t seed = 1;
    struct flow_env e = {.seq = 5, .rand64 = fixed_rand, .rand_ctx = &seed};
    char scratch[2048];
    const char *yes = "{\"id\":\"5\",\"type\":\"next\",\"payload\":{\"data\":1}}";
    const char *no_id = "{\"id\":\"6\",\"type\":\"next\",\"payload\":{\"data\":1}}";
    const char *not_json = "42[\"chat\",1]";
    struct flow_msg m = {.p = yes, .len = strlen(yes)};
    CHECK(flow_match_test(f, &f->steps[0].match, &m, &e, scratch));
    CHECK_EQ_I64(m.json_state, 1);
    m = (struct flow_msg){.p = no_id, .len = strlen(no_id)};
    CHECK(!flow_match_test(f, &f->steps[0].match, &m, &e, scratch));
    m = (struct flow_msg){.p = not_json, .len = strlen(not_json)};
    CHECK(!flow_match_test(f, &f->steps[0].match, &m, &e, scratch));
    CHECK_EQ_I64(m.json_state, -1);
    m = (struct flow_msg){.p = not_json, .len = strlen(not_json)};
    CHECK(flow_match_test(f, &f->steps[1].match, &m, &e, scratch));
    CHECK_EQ_I64(m.groups[1].rm_so, 4);
    CHECK_EQ_I64(m.groups[1].rm_eo, 8);
    CHECK_EQ_I64(m.json_state, 0); /* a regex never parses JSON */
    flow_free(f);
}

static void test_key(void)
{
    uint64_t k = 0;
    struct jval v = {"123", 3, JV_NUMBER};
    CHECK_EQ_I64(flow_key_parse(&v, &k), 0);
    CHECK_EQ_U64(k, 123);
    v = (struct jval){"42", 2, JV_STRING};
    CHECK_EQ_I64(flow_key_parse(&v, &k), 0);
    CHECK_EQ_U64(k, 42);
    v = (struct jval){"4a", 2, JV_STRING};
    CHECK_EQ_I64(flow_key_parse(&v, &k), -1);
    v = (struct jval){"1.5", 3, JV_NUMBER};
    CHECK_EQ_I64(flow_key_parse(&v, &k), -1);
    v = (struct jval){"true", 4, JV_TRUE};
    CHECK_EQ_I64(flow_key_parse(&v, &k), -1);
}

int main(void)
{
    test_compile();
    test_errors();
    test_render();
    test_match();
    test_key();
    return tap_done();
}
