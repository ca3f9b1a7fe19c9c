/* fuzz_csv.c - libFuzzer target for --data files. Whatever the bytes, csv_parse returns 0 with a
 * table whose every cell lies inside its text and is no longer than its column's longest, or one
 * line "fuzz.csv:LINE:COLUMN: ..." (or "fuzz.csv: ..."), and csv_free releases everything. */
#include <stdint.h>
#include <string.h>

#include "base/compiler.h"
#include "flow/csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct csv_table t;
    char err[256] = "";
    int rc = csv_parse((const char *)data, size, "fuzz.csv", &t, err, sizeof err);
    if (rc != 0) {
        HERD_ASSERT(strncmp(err, "fuzz.csv:", 9) == 0);
    } else {
        HERD_ASSERT(t.ncols >= 1 && t.ncols <= CSV_MAX_COLS && t.nrows >= 1);
        for (size_t r = 0; r < t.nrows; r++) {
            for (size_t c = 0; c < t.ncols; c++) {
                size_t n;
                const char *cell = csv_cell(&t, r, c, &n);
                HERD_ASSERT(n <= t.col_max[c] && cell[n] == '\0');
            }
        }
        for (size_t c = 0; c < t.ncols; c++)
            HERD_ASSERT(csv_column(&t, t.names[c], strlen(t.names[c])) == (int)c);
    }
    csv_free(&t);
    return 0;
}
