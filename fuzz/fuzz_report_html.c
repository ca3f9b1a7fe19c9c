/* fuzz_report_html.c - libFuzzer target for the HTML writers and --max-regression. The input is
 * a JSON report (as `herd report RUN.json --html F` reads one) or, after a first line starting
 * with "#regression ", a --max-regression value followed by a report.
 *
 * Invariants: a report that parses renders; the page is one document (it ends with </html>)
 * that holds no <script and no text of the report unescaped (a "<" from the report never opens
 * a tag); it compares with itself without a regression under any limit that parses; a
 * --max-regression value parses or fails with a one-line reason. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/compiler.h"
#include "report/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MARK "#regression "

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct report_regression lim[REPORT_MAX_REGRESSIONS];
    size_t nlim = 0;
    if (size > strlen(MARK) && memcmp(text, MARK, strlen(MARK)) == 0) {
        const char *nl = memchr(text, '\n', size);
        size_t vlen = (nl ? (size_t)(nl - text) : size) - strlen(MARK);
        char *value = malloc(vlen + 1);
        memcpy(value, text + strlen(MARK), vlen);
        value[vlen] = '\0';
        char why[300] = "";
        int rc =
            report_regression_parse(value, lim, &nlim, REPORT_MAX_REGRESSIONS, why, sizeof why);
        HERD_ASSERT(rc == 0 || (rc < 0 && why[0] && !strchr(why, '\n')));
        for (size_t i = 0; rc == 0 && i < nlim; i++)
            HERD_ASSERT(isfinite(lim[i].pct) && lim[i].pct >= 0);
        if (rc != 0)
            nlim = 0;
        free(value);
        if (!nl)
            return 0;
        size -= (size_t)(nl + 1 - text);
        text = nl + 1;
    }
    struct report_read r;
    char err[300] = "";
    if (report_json_parse(text, size, "fuzz.json", &r, err, sizeof err) != 0) {
        report_read_free(&r);
        return 0;
    }
    struct report *view = calloc(1, sizeof *view);
    report_read_view(&r, view);
    char *html = NULL;
    size_t len = 0;
    HERD_ASSERT(report_html_render(view, &html, &len) == 0);
    HERD_ASSERT(len == strlen(html));
    HERD_ASSERT(len > 8 && strcmp(html + len - 8, "</html>\n") == 0);
    HERD_ASSERT(!strstr(html, "<script") && !strstr(html, "<SCRIPT"));
    free(html);
    struct report_compare c;
    if (report_compare_build(view, view, "a.json", "b.json", lim, nlim, &c, err, sizeof err) == 0) {
        HERD_ASSERT(c.nregressed == 0);
        report_compare_free(&c);
    }
    free(view);
    report_read_free(&r);
    return 0;
}
