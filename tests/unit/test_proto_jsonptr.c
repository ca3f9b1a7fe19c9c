/* test_proto_jsonptr.c - JSON Pointers found in one pass: RFC 6901's section 5 examples, several
 * pointers at once, keys with escapes, text comparison (5 and "5"), copies that undo escapes,
 * invalid documents, the nesting limit, and input at the end of a page so over-reads fault. */
#include "base/err.h"
#include "proto/jsonptr.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The text at the end of a page followed by a PROT_NONE page. */
static char *guarded(const char *s, size_t n, void **base, size_t *size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), pages = n / page + 1;
    *size = (pages + 1) * page;
    char *b = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (b == MAP_FAILED || mprotect(b + pages * page, page, PROT_NONE) != 0)
        abort();
    *base = b;
    char *p = b + pages * page - n;
    memcpy(p, s, n);
    return p;
}

/* The value at pointer ptr in json, copied as text into out; its type, or -1 for bad JSON. */
static int get(const char *json, const char *ptr, char *out, size_t cap)
{
    struct jptr j;
    const char *why;
    if (jptr_compile(ptr, strlen(ptr), &j, &why) != 0)
        return -2;
    void *base;
    size_t size;
    char *g = guarded(json, strlen(json), &base, &size);
    struct jval v;
    int rc = json_find(g, strlen(json), &j, 1, &v);
    out[0] = 0;
    if (rc == 0 && v.type != JV_NONE) {
        long n = jval_copy(&v, out, cap - 1);
        out[n < 0 ? 0 : n] = 0;
    }
    munmap(base, size);
    return rc < 0 ? -1 : v.type;
}

static void test_rfc6901(void)
{
    const char *doc = "{\"foo\": [\"bar\", \"baz\"], \"\": 0, \"a/b\": 1, \"c%d\": 2, \"e^f\": 3,"
                      " \"g|h\": 4, \"i\\\\j\": 5, \"k\\\"l\": 6, \" \": 7, \"m~n\": 8}";
    char out[256];
    CHECK_EQ_I64(get(doc, "", out, sizeof out), JV_OBJECT);
    CHECK(out[0] == '{' && out[strlen(out) - 1] == '}');
    CHECK_EQ_I64(get(doc, "/foo", out, sizeof out), JV_ARRAY);
    CHECK_EQ_STR(out, "[\"bar\", \"baz\"]");
    CHECK_EQ_I64(get(doc, "/foo/0", out, sizeof out), JV_STRING);
    CHECK_EQ_STR(out, "bar");
    CHECK_EQ_I64(get(doc, "/foo/1", out, sizeof out), JV_STRING);
    CHECK_EQ_STR(out, "baz");
    static const char *const ptrs[] = {"/",     "/a~1b", "/c%d", "/e^f", "/g|h",
                                       "/i\\j", "/k\"l", "/ ",   "/m~0n"};
    for (int i = 0; i < 9; i++) {
        CHECK_EQ_I64(get(doc, ptrs[i], out, sizeof out), JV_NUMBER);
        char want[2] = {(char)('0' + (i == 0 ? 0 : i)), 0};
        CHECK_EQ_STR(out, want);
    }
    /* Not there: a missing key, an index past the end, "-", a leading zero, a token into a
     * scalar. */
    static const char *const none[] = {"/bar",    "/foo/2",   "/foo/-", "/foo/00",
                                       "/foo/01", "/foo/0/x", "/a~1b/0"};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
        CHECK_EQ_I64(get(doc, none[i], out, sizeof out), JV_NONE);
}

static void test_compile(void)
{
    struct jptr j;
    const char *why = NULL;
    CHECK_EQ_I64(jptr_compile("x", 1, &j, &why), HERD_E_INVAL);
    CHECK(why != NULL);
    CHECK_EQ_I64(jptr_compile("/a~2", 4, &j, &why), HERD_E_INVAL);
    CHECK_EQ_I64(jptr_compile("/a~", 3, &j, &why), HERD_E_INVAL);
    char deep[64] = "";
    for (int i = 0; i < 17; i++)
        strcat(deep, "/a");
    CHECK_EQ_I64(jptr_compile(deep, strlen(deep), &j, &why), HERD_E_INVAL);
    CHECK_EQ_I64(jptr_compile("/a/~1~0/", 8, &j, &why), 0);
    CHECK_EQ_U64(j.ntok, 3);
    CHECK(j.len[1] == 2 && memcmp(j.text + j.off[1], "/~", 2) == 0);
    CHECK_EQ_U64(j.len[2], 0);
}

static void test_many_and_values(void)
{
    const char *doc = "{\"type\":\"auth_ok\",\"id\":5,\"data\":{\"sid\":\"s\\u00e9\\ud83d\\ude00\","
                      "\"list\":[true,false,null,-1.5e3,{\"k\":\"v\"}]},\"id\":6,\"s\":\"5\"}";
    static const char *const p[] = {
        "/type",        "/id",          "/data/sid",      "/data/list/0", "/data/list/1",
        "/data/list/2", "/data/list/3", "/data/list/4/k", "/s",           "/x"};
    struct jptr j[10];
    const char *why;
    for (int i = 0; i < 10; i++)
        CHECK_EQ_I64(jptr_compile(p[i], strlen(p[i]), &j[i], &why), 0);
    struct jval v[10];
    CHECK_EQ_I64(json_find(doc, strlen(doc), j, 10, v), 0);
    CHECK(v[0].type == JV_STRING && jval_eq(&v[0], "auth_ok", 7));
    CHECK(!jval_eq(&v[0], "auth_o", 6) && !jval_eq(&v[0], "auth_okk", 8));
    /* The first of a repeated key; a number matches its text, as the string "5" does. */
    CHECK(v[1].type == JV_NUMBER && jval_eq(&v[1], "5", 1));
    CHECK(v[8].type == JV_STRING && jval_eq(&v[8], "5", 1));
    CHECK(jval_eq(&v[2], "s\xc3\xa9\xf0\x9f\x98\x80", 7));
    char out[32];
    CHECK_EQ_I64(jval_copy(&v[2], out, sizeof out), 7);
    CHECK_EQ_I64(jval_copy(&v[2], out, 6), -1);
    CHECK(v[3].type == JV_TRUE && v[4].type == JV_FALSE && v[5].type == JV_NULL);
    CHECK(v[6].type == JV_NUMBER && jval_eq(&v[6], "-1.5e3", 6));
    CHECK(v[7].type == JV_STRING && jval_eq(&v[7], "v", 1));
    CHECK_EQ_I64(v[9].type, JV_NONE);
    CHECK(!jval_eq(&v[9], "", 0));
    /* Keys with escapes match their unescaped pointer token. */
    const char *doc2 = "{\"a\\u002fb\":1,\"\\\"q\\\"\":2}";
    struct jptr k[2];
    jptr_compile("/a~1b", 5, &k[0], &why);
    jptr_compile("/\"q\"", 4, &k[1], &why);
    CHECK_EQ_I64(json_find(doc2, strlen(doc2), k, 2, v), 0);
    CHECK(jval_eq(&v[0], "1", 1) && jval_eq(&v[1], "2", 1));
}

static void test_invalid(void)
{
    static const char *const bad[] = {
        "",          "{",     "{\"a\"}", "{\"a\":}", "{\"a\":1,}",
        "[1,]",      "[1 2]", "{1:2}",   "\"abc",    "\"a\\x\"",
        "\"\\u12\"", "01",    "1.",      "-",        "1e",
        "tru",       "nul",   "{} {}",   "\"a\tb\"", "[\"\\ud800\" x]",
        "{\"a\":1]", "[}",
    };
    char out[16];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int t = get(bad[i], "", out, sizeof out);
        CHECK_EQ_I64(t, -1);
        if (t != -1)
            printf("#   accepted: %s\n", bad[i]);
    }
    /* Whitespace around the value is fine; so are scalars at the top. */
    CHECK_EQ_I64(get(" \n 42 \t", "", out, sizeof out), JV_NUMBER);
    CHECK_EQ_STR(out, "42");
    CHECK_EQ_I64(get("\"x\"", "", out, sizeof out), JV_STRING);
    /* Nesting: 64 levels are read, 65 refused. */
    char deep[200] = "", deeper[200] = "";
    for (int i = 0; i < 64; i++)
        strcat(deep, "[");
    for (int i = 0; i < 64; i++)
        strcat(deep, "]");
    for (int i = 0; i < 65; i++)
        strcat(deeper, "[");
    for (int i = 0; i < 65; i++)
        strcat(deeper, "]");
    CHECK_EQ_I64(get(deep, "", out, sizeof out), JV_ARRAY);
    CHECK_EQ_I64(get(deeper, "", out, sizeof out), -1);
}

int main(void)
{
    test_rfc6901();
    test_compile();
    test_many_and_values();
    test_invalid();
    return tap_done();
}
