/* json_blocks.c - JSON reports inside a log stream (`herd run --json -`, read back by
 * `herd merge`). A shard in a pod has no file to hand back, only its output, which `kubectl logs`
 * returns mixed with everything else the pod printed, and possibly several pods' logs one after
 * another. So the report goes out as one delimited block:
 *
 *   ---- herd report begin run=RUN shard=I/N ----
 *   {"tool":"herd",...}                              (the JSON report on one line)
 *   ---- herd report end run=RUN shard=I/N bytes=LEN ----
 *
 * A marker is found anywhere in its line and the JSON from its opening {"tool":"herd", so that
 * prefixes added by log collectors (kubectl logs --prefix or --timestamps) do no harm. The end
 * marker repeats the begin's labels and gives the JSON's length, so that a cut or a mix-up shows
 * as such rather than as a JSON syntax error somewhere. */
#include "report/report.h"

#include "base/err.h"

#include <stdarg.h>
#include <string.h>

#define BEGIN_MARK REPORT_BLOCK_MARK "begin "
#define END_MARK REPORT_BLOCK_MARK "end "
#define TAIL_MARK " ----"

#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
static int
fail(char *err, size_t errlen, const char *name, unsigned line, const char *fmt, ...)
{
    if (err && errlen) {
        int n = snprintf(err, errlen, "%s:%u: ", name, line);
        if (n >= 0 && (size_t)n < errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return HERD_E_PROTO;
}

/* The first occurrence of the NUL-terminated needle in [s, s+len), or NULL. */
static const char *find(const char *s, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n <= len && i <= len - n; i++) {
        if (s[i] == needle[0] && memcmp(s + i, needle, n) == 0)
            return s + i;
    }
    return NULL;
}

/* The labels of a marker: what stands between `mark` and " ----" on the line [p, end), copied
 * into out (cut to fit, control bytes as '?'). Returns 0, or -1 when the marker is not closed. */
static int labels_get(const char *p, const char *end, const char *mark, char *out, size_t outlen)
{
    const char *from = p + strlen(mark);
    const char *tail = find(from, (size_t)(end - from), TAIL_MARK);
    if (!tail)
        return -1;
    size_t n = (size_t)(tail - from);
    n = n < outlen - 1 ? n : outlen - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)from[i] < 0x20 || from[i] == 0x7f ? '?' : from[i];
    out[n] = '\0';
    return 0;
}

/* The end labels without their trailing " bytes=LEN" into labels, LEN into *bytes. Returns 0,
 * or -1 when there is no such field. */
static int end_split(char *labels, size_t *bytes)
{
    char *b = strstr(labels, " bytes=");
    if (!b)
        return -1;
    const char *d = b + 7;
    size_t v = 0;
    if (*d < '0' || *d > '9')
        return -1;
    for (; *d >= '0' && *d <= '9'; d++) {
        if (v > (SIZE_MAX - 9) / 10)
            return -1;
        v = v * 10 + (size_t)(*d - '0');
    }
    if (*d)
        return -1;
    *b = '\0';
    *bytes = v;
    return 0;
}

int report_blocks_scan(const char *text, size_t len, const char *name, report_block_fn *fn,
                       void *ctx, char *err, size_t errlen)
{
    struct report_block b;
    memset(&b, 0, sizeof b);
    int in = 0, found = 0;
    unsigned line = 0;
    const char *p = text, *stop = text + len;
    while (p < stop) {
        const char *eol = memchr(p, '\n', (size_t)(stop - p));
        const char *next = eol ? eol + 1 : stop;
        const char *end = eol ? eol : stop;
        if (end > p && end[-1] == '\r')
            end--;
        line++;
        const char *begin_at = find(p, (size_t)(end - p), BEGIN_MARK);
        const char *end_at = begin_at ? NULL : find(p, (size_t)(end - p), END_MARK);
        if (begin_at) {
            if (in)
                return fail(err, errlen, name, b.line,
                            "the report %s begun here has no end marker before the next begin "
                            "at line %u (a truncated log?)",
                            b.labels, line);
            memset(&b, 0, sizeof b);
            b.line = line;
            if (labels_get(begin_at, end, BEGIN_MARK, b.labels, sizeof b.labels) != 0)
                return fail(err, errlen, name, line,
                            "a report begin marker without its closing \"----\"");
            in = 1;
        } else if (end_at) {
            char labels[sizeof b.labels];
            size_t bytes = 0;
            if (!in)
                return fail(err, errlen, name, line,
                            "a report end marker without a begin marker before it");
            if (labels_get(end_at, end, END_MARK, labels, sizeof labels) != 0 ||
                end_split(labels, &bytes) != 0)
                return fail(err, errlen, name, line,
                            "a report end marker without \"bytes=LEN ----\"");
            if (strcmp(labels, b.labels) != 0)
                return fail(err, errlen, name, line,
                            "this end marker (%s) does not close the report begun at line %u "
                            "(%s)",
                            labels, b.line, b.labels);
            if (!b.json)
                return fail(err, errlen, name, b.line, "the report %s begun here is empty",
                            b.labels);
            if (bytes != b.len)
                return fail(err, errlen, name, b.json_line,
                            "the report %s has %zu bytes here, its end marker says %zu (a cut "
                            "or altered line)",
                            b.labels, b.len, bytes);
            int rc = fn(ctx, &b);
            if (rc != 0)
                return rc;
            found++;
            in = 0;
        } else if (in) {
            /* The report's line; any other line in the block is another writer's (stderr
             * interleaved by the log collector) and is passed over. */
            const char *json = find(p, (size_t)(end - p), REPORT_BLOCK_JSON_START);
            if (json && b.json)
                return fail(err, errlen, name, line,
                            "a second report in the block begun at line %u (a missing end "
                            "marker?)",
                            b.line);
            if (json) {
                b.json = json;
                b.len = (size_t)(end - json);
                b.json_line = line;
            }
        }
        p = next;
    }
    if (in)
        return fail(err, errlen, name, b.line,
                    "the report %s begun here has no end marker (a truncated log?)", b.labels);
    return found;
}
