/* fuzz_procstat.c - libFuzzer target for proc_stat_parse, the reader of /proc/PID/stat lines
 * (--watch-pid). The kernel writes them, but a command name may hold any bytes, spaces and
 * parentheses included: whatever the input, the parser must not read past it, and what it
 * accepts must be a line whose fields it can print back. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/compiler.h"
#include "stats/procwatch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so that ASan sees any read past the end. */
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    struct proc_stat st;
    if (proc_stat_parse(buf, size, &st) == 0) {
        HERD_ASSERT(strlen(st.comm) < sizeof st.comm);
        HERD_ASSERT(memchr(buf, '(', size) != NULL && memchr(buf, ')', size) != NULL);
        char again[512];
        snprintf(again, sizeof again, "1 (%s) %c", st.comm, st.state);
    }
    free(buf);
    return 0;
}
