/* csv.c - the --data reader (csv.h). Two passes over the bytes: the first counts rows and checks
 * the shape, the second copies every cell, unescaped, into one allocation. */
#include "flow/csv.h"

#include "base/err.h"
#include "base/file.h"
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rd {
    const char *p;
    size_t len, i;
    size_t line, col_at; /* 1-based line, and the offset where it starts */
};

static int csv_fail(char *err, size_t errlen, const char *name, const struct rd *r, size_t at,
                    const char *fmt, ...) PRINTF_LIKE(6, 7);
static int csv_fail(char *err, size_t errlen, const char *name, const struct rd *r, size_t at,
                    const char *fmt, ...)
{
    if (err && errlen) {
        int n = snprintf(err, errlen, "%s:%zu:%zu: ", name, r->line, at - r->col_at + 1);
        if (n >= 0 && (size_t)n < errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return HERD_E_INVAL;
}

/* Read one field at r->i: its unescaped bytes go to out (when not NULL, at most CSV_MAX_CELL).
 * Returns the field's length, or -1 with err filled; *end is ',' '\n' or 0 (end of data). */
static long field(struct rd *r, char *out, int *end, const char *name, char *err, size_t errlen)
{
    size_t n = 0, start = r->i;
    const struct rd at0 = *r; /* where the field starts, for messages */
    if (r->i < r->len && r->p[r->i] == '"') {
        r->i++;
        for (;;) {
            if (r->i >= r->len)
                return csv_fail(err, errlen, name, &at0, start, "a quoted field does not end"), -1;
            char ch = r->p[r->i++];
            if (ch == '"') {
                if (r->i < r->len && r->p[r->i] == '"') {
                    r->i++;
                } else {
                    break;
                }
            } else if (ch == '\n') {
                r->line++;
                r->col_at = r->i;
            }
            if (n == CSV_MAX_CELL)
                return csv_fail(err, errlen, name, &at0, start, "a field longer than %u bytes",
                                CSV_MAX_CELL),
                       -1;
            if (out)
                out[n] = ch;
            n++;
        }
        if (r->i < r->len && r->p[r->i] == '\r')
            r->i++;
        if (r->i < r->len && r->p[r->i] != ',' && r->p[r->i] != '\n')
            return csv_fail(err, errlen, name, r, r->i, "text after a quoted field"), -1;
    } else {
        while (r->i < r->len && r->p[r->i] != ',' && r->p[r->i] != '\n') {
            char ch = r->p[r->i];
            if (ch == '"')
                return csv_fail(err, errlen, name, r, r->i,
                                "a quote inside an unquoted field (quote the whole field)"),
                       -1;
            r->i++;
            if (ch == '\r' && (r->i == r->len || r->p[r->i] == '\n'))
                continue; /* CRLF */
            if (ch == '\0')
                return csv_fail(err, errlen, name, r, r->i - 1, "a NUL byte"), -1;
            if (n == CSV_MAX_CELL)
                return csv_fail(err, errlen, name, r, start, "a field longer than %u bytes",
                                CSV_MAX_CELL),
                       -1;
            if (out)
                out[n] = ch;
            n++;
        }
    }
    if (r->i >= r->len) {
        *end = 0;
    } else {
        *end = r->p[r->i++];
        if (*end == '\n') {
            r->line++;
            r->col_at = r->i;
        }
    }
    return (long)n;
}

/* One pass over every row: counts (out NULL) or copies. */
static int walk(const char *data, size_t len, const char *name, struct csv_table *t, int copy,
                char *err, size_t errlen)
{
    struct rd r = {data, len, 0, 1, 0};
    size_t row = 0, used = 0; /* row 0 is the header */
    while (r.i < r.len) {
        /* A blank line (the file's last newline, or an empty line) is no row. */
        if (data[r.i] == '\n' || (data[r.i] == '\r' && r.i + 1 < len && data[r.i + 1] == '\n')) {
            r.i += data[r.i] == '\r' ? 2 : 1;
            r.line++;
            r.col_at = r.i;
            continue;
        }
        size_t col = 0, row_line = r.line, row_at = r.i;
        int end;
        do {
            size_t at = r.i;
            if (col == CSV_MAX_COLS)
                return csv_fail(err, errlen, name, &r, at, "more than %d columns", CSV_MAX_COLS);
            char *dst = copy ? t->text + used : NULL;
            long n = field(&r, dst, &end, name, err, errlen);
            if (n < 0)
                return HERD_E_INVAL;
            if (row > 0 && col >= t->ncols) {
                struct rd w = {data, len, at, row_line, row_at};
                return csv_fail(err, errlen, name, &w, at, "more fields than the %zu columns",
                                t->ncols);
            }
            if (copy) {
                t->text[used + (size_t)n] = '\0';
                if (row == 0) {
                    t->names[col] = t->text + used;
                } else {
                    size_t k = (row - 1) * t->ncols + col;
                    t->off[k] = (uint32_t)used;
                    t->len[k] = (uint16_t)n;
                    if (n > t->col_max[col])
                        t->col_max[col] = (uint16_t)n;
                }
            } else if (row == 0 && n == 0) {
                struct rd w = {data, len, at, row_line, row_at};
                return csv_fail(err, errlen, name, &w, at, "an empty column name");
            }
            used += (size_t)n + 1;
            col++;
        } while (end == ',');
        if (row == 0) {
            t->ncols = col;
        } else if (col != t->ncols) {
            struct rd w = {data, len, row_at, row_line, row_at};
            return csv_fail(err, errlen, name, &w, row_at, "%zu fields, the header has %zu", col,
                            t->ncols);
        }
        if (row == CSV_MAX_ROWS)
            return csv_fail(err, errlen, name, &r, r.i, "more than %u rows", CSV_MAX_ROWS);
        row++;
    }
    if (row == 0) {
        struct rd w = {data, len, 0, 1, 0};
        return csv_fail(err, errlen, name, &w, 0, "empty: expected a header row and rows");
    }
    if (row == 1)
        return csv_fail(err, errlen, name, &r, r.i, "no rows after the header");
    t->nrows = row - 1;
    if (!copy) {
        t->text = xmalloc(used ? used : 1);
        t->off = xcalloc(t->nrows * t->ncols, sizeof *t->off);
        t->len = xcalloc(t->nrows * t->ncols, sizeof *t->len);
    }
    return 0;
}

int csv_parse(const char *data, size_t len, const char *name, struct csv_table *out, char *err,
              size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (len > CSV_MAX_BYTES) {
        if (err && errlen)
            snprintf(err, errlen, "%s: larger than %u MiB", name, CSV_MAX_BYTES >> 20);
        return HERD_E_INVAL;
    }
    int rc = walk(data, len, name, out, 0, err, errlen);
    if (rc != 0)
        return rc;
    rc = walk(data, len, name, out, 1, err, errlen);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < out->ncols; i++) {
        for (size_t k = 0; k < i; k++) {
            if (strcmp(out->names[i], out->names[k]) == 0) {
                if (err && errlen)
                    snprintf(err, errlen, "%s:1:1: the column \"%.40s\" is named twice", name,
                             out->names[i]);
                return HERD_E_INVAL;
            }
        }
    }
    return 0;
}

int csv_load(const char *path, struct csv_table *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    char *buf = NULL;
    size_t len = 0;
    int rc = file_read_all(path, CSV_MAX_BYTES, &buf, &len);
    if (rc != 0) {
        if (err && errlen)
            snprintf(err, errlen, "%s: %s", path,
                     rc == HERD_E_TOO_BIG ? "larger than 64 MiB" : strerror(-rc));
        return HERD_E_INVAL;
    }
    rc = csv_parse(buf, len, path, out, err, errlen);
    free(buf);
    return rc;
}

void csv_free(struct csv_table *t)
{
    free(t->text);
    free(t->off);
    free(t->len);
    memset(t, 0, sizeof *t);
}

int csv_column(const struct csv_table *t, const char *name, size_t n)
{
    for (size_t i = 0; t && i < t->ncols; i++) {
        if (strlen(t->names[i]) == n && memcmp(t->names[i], name, n) == 0)
            return (int)i;
    }
    return -1;
}
