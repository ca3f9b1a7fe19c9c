/* csv.h - per-connection data (--data FILE.csv): a header row naming the columns, then one row
 * per connection (connection k takes row k modulo the rows, or a random row). RFC 4180: fields
 * separated by commas, rows by CRLF or LF, a field in double quotes may hold commas, line breaks
 * and "" for a quote. Pure: csv_parse reads memory, never logs, and allocates the table once. */
#ifndef HERD_FLOW_CSV_H
#define HERD_FLOW_CSV_H

#include <stddef.h>
#include <stdint.h>

#define CSV_MAX_COLS 64
#define CSV_MAX_ROWS (1u << 20)
#define CSV_MAX_BYTES (64u << 20)
#define CSV_MAX_CELL 4096 /* bytes of one field */

struct csv_table {
    size_t ncols, nrows; /* nrows excludes the header */
    char *names[CSV_MAX_COLS]; /* column names (pointers into `text`) */
    /* cell (r, c): text + off[r * ncols + c], length len[...] (unescaped, NUL-terminated) */
    uint32_t *off;
    uint16_t *len;
    uint16_t col_max[CSV_MAX_COLS]; /* the longest cell of each column */
    char *text; /* every cell, unescaped, each followed by a NUL */
    int random; /* rows are taken at random rather than by connection number */
};

/* Parse data[0..len) into *out. Returns 0, or HERD_E_INVAL with one line "NAME:LINE:COLUMN:
 * message" in err (an empty file, no rows, a row with another number of fields than the header, a
 * quote that does not close, an empty or duplicate column name, too many columns, rows or bytes).
 * Free *out with csv_free, whatever the result. */
int csv_parse(const char *data, size_t len, const char *name, struct csv_table *out, char *err,
              size_t errlen);

/* Read and parse the file at path ("PATH: reason" when it cannot be read). */
int csv_load(const char *path, struct csv_table *out, char *err, size_t errlen);

void csv_free(struct csv_table *t);

/* The column named name[0..n), or -1. */
int csv_column(const struct csv_table *t, const char *name, size_t n);

/* Cell (row, col): its text (NUL-terminated) and length. */
static inline const char *csv_cell(const struct csv_table *t, size_t row, size_t col, size_t *len)
{
    size_t i = row * t->ncols + col;
    *len = t->len[i];
    return t->text + t->off[i];
}

/* The row of connection number conn: conn modulo the rows, or with `random` a row picked by a
 * hash of conn (spread evenly, the same on every reconnect and run). */
static inline size_t csv_row_of(const struct csv_table *t, uint64_t conn)
{
    if (!t->random)
        return (size_t)(conn % t->nrows);
    uint64_t z = conn + 0x9e3779b97f4a7c15ull; /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (size_t)((z ^ (z >> 31)) % t->nrows);
}

#endif
