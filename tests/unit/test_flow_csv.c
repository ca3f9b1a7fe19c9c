/* test_flow_csv.c - the --data reader: RFC 4180 quoting, CRLF, blank lines, and every malformed
 * shape refused with NAME:LINE:COLUMN; every split of a valid file parses the same prefix rows. */
#include "tap.h"

#include "flow/csv.h"

static void check_err(const char *data, const char *want)
{
    struct csv_table t;
    char err[256] = "";
    int rc = csv_parse(data, strlen(data), "d.csv", &t, err, sizeof err);
    CHECK(rc < 0);
    int ok = strncmp(err, want, strlen(want)) == 0;
    tap_result(ok, __FILE__, __LINE__, want);
    if (!ok)
        printf("#   got \"%s\"\n", err);
    csv_free(&t);
}

static void test_ok(void)
{
    struct csv_table t;
    char err[256];
    const char *d = "user,token,note\r\n"
                    "ann,abc,\"a, \"\"quoted\"\"\nline\"\r\n"
                    "\n"
                    "bob,,x\n";
    CHECK_EQ_I64(csv_parse(d, strlen(d), "d.csv", &t, err, sizeof err), 0);
    CHECK_EQ_U64(t.ncols, 3);
    CHECK_EQ_U64(t.nrows, 2);
    CHECK_EQ_STR(t.names[0], "user");
    CHECK_EQ_STR(t.names[2], "note");
    size_t n;
    CHECK_EQ_STR(csv_cell(&t, 0, 0, &n), "ann");
    CHECK_EQ_STR(csv_cell(&t, 0, 2, &n), "a, \"quoted\"\nline");
    CHECK_EQ_U64(n, 16);
    CHECK_EQ_STR(csv_cell(&t, 1, 1, &n), "");
    CHECK_EQ_U64(n, 0);
    CHECK_EQ_STR(csv_cell(&t, 1, 2, &n), "x");
    CHECK_EQ_I64(csv_column(&t, "token", 5), 1);
    CHECK_EQ_I64(csv_column(&t, "tok", 3), -1);
    CHECK_EQ_U64(t.col_max[2], 16);
    csv_free(&t);
    /* no final newline */
    CHECK_EQ_I64(csv_parse("a\n1", 3, "d.csv", &t, err, sizeof err), 0);
    CHECK_EQ_U64(t.nrows, 1);
    csv_free(&t);
}

static void test_errors(void)
{
    check_err("", "d.csv:1:1: empty");
    check_err("a,b\n", "d.csv:2:1: no rows");
    check_err("a,b\n1,2,3\n", "d.csv:2:5: more fields");
    check_err("a,b\n1\n", "d.csv:2:1: 1 fields, the header has 2");
    check_err("a,b\n\"1,2\n", "d.csv:2:1: a quoted field does not end");
    check_err("a,,b\n1,2,3\n", "d.csv:1:3: an empty column name");
    check_err("a,a\n1,2\n", "d.csv:1:1: the column \"a\" is named twice");
    check_err("a\nx\"y\n", "d.csv:2:2: a quote inside");
    check_err("a\n\"x\"y\n", "d.csv:2:4: text after a quoted field");
}

/* Every prefix of a valid file either parses or fails with one line, never crashes. */
static void test_prefixes(void)
{
    const char *d = "k,v\n\"a\"\"b\",1\r\nc,\"2\n3\"\n";
    size_t len = strlen(d), bad = 0;
    for (size_t i = 0; i <= len; i++) {
        struct csv_table t;
        char err[256] = "";
        int rc = csv_parse(d, i, "d.csv", &t, err, sizeof err);
        CHECK_QUIET(rc == 0 || (rc < 0 && strncmp(err, "d.csv:", 6) == 0), bad);
        csv_free(&t);
    }
    CHECK_EQ_U64(bad, 0);
}

int main(void)
{
    test_ok();
    test_errors();
    test_prefixes();
    return tap_done();
}
