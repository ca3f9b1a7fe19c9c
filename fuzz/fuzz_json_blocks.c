/* fuzz_json_blocks.c - libFuzzer target for finding report blocks (`herd run --json -`) in a log
 * stream (`herd merge -`). Whatever the bytes: a count >= 0 or an error naming the input and a
 * line, one line long; every block found lies inside the input, its JSON starts as herd's does
 * and has the length its end marker gave. A block written by report_json_block_write is found
 * again among the input's lines. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/compiler.h"
#include "report/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct span {
    const char *text;
    size_t len;
    int n;
};

static int check_block(void *ctx, const struct report_block *b)
{
    struct span *s = ctx;
    HERD_ASSERT(b->json >= s->text && b->json + b->len <= s->text + s->len);
    HERD_ASSERT(b->len >= strlen(REPORT_BLOCK_JSON_START));
    HERD_ASSERT(memcmp(b->json, REPORT_BLOCK_JSON_START, strlen(REPORT_BLOCK_JSON_START)) == 0);
    HERD_ASSERT(memchr(b->json, '\n', b->len) == NULL);
    HERD_ASSERT(b->line >= 1 && b->json_line > b->line);
    s->n++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[300] = "";
    struct span s = {(const char *)data, size, 0};
    int rc = report_blocks_scan(s.text, size, "log", check_block, &s, err, sizeof err);
    if (rc < 0) {
        HERD_ASSERT(strncmp(err, "log:", 4) == 0 && !strchr(err, '\n'));
        return 0;
    }
    HERD_ASSERT(rc == s.n);
    return 0;
}
