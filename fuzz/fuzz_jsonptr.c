/* fuzz_jsonptr.c - libFuzzer target for JSON Pointers found in one pass (proto/jsonptr.h).
 * The input's first line is a pointer (used when it compiles), the rest a JSON text.
 * Invariants: only the documented results; every value found lies within the text; a value
 * found, taken alone, is valid JSON of the same type; a string copies whole and compares equal
 * to its copy; the pointers found at once are found the same one at a time. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/compiler.h"
#include "base/err.h"
#include "proto/jsonptr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fixed[] = {"", "/a", "/0", "/a/b", "/a/0", "/", "/~0/~1", "/a/0/b/1"};
#define NFIXED (sizeof fixed / sizeof fixed[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    const char *nl = memchr(in, '\n', size);
    size_t plen = nl ? (size_t)(nl - in) : 0;
    const char *json = nl ? nl + 1 : in;
    size_t jlen = size - (size_t)(json - in);

    struct jptr ptrs[NFIXED + 1];
    size_t n = 0;
    const char *why;
    for (size_t i = 0; i < NFIXED; i++)
        HERD_ASSERT(jptr_compile(fixed[i], strlen(fixed[i]), &ptrs[n++], &why) == 0);
    if (nl && jptr_compile(in, plen, &ptrs[n], &why) == 0)
        n++;

    struct jval v[NFIXED + 1];
    int rc = json_find(json, jlen, ptrs, n, v);
    HERD_ASSERT(rc == 0 || rc == HERD_E_PROTO);
    if (rc != 0) {
        for (size_t i = 0; i < n; i++)
            HERD_ASSERT(v[i].type == JV_NONE);
        return 0;
    }
    HERD_ASSERT(v[0].type != JV_NONE); /* "" is the document */
    static char copy[1 << 16];
    for (size_t i = 0; i < n; i++) {
        if (v[i].type == JV_NONE)
            continue;
        HERD_ASSERT(v[i].p >= json && v[i].p + v[i].len <= json + jlen);
        /* Alone, it is a valid value of the same type. */
        const char *at = v[i].type == JV_STRING ? v[i].p - 1 : v[i].p;
        size_t alen = v[i].type == JV_STRING ? v[i].len + 2 : v[i].len;
        struct jval w;
        HERD_ASSERT(json_find(at, alen, &ptrs[0], 1, &w) == 0 && w.type == v[i].type);
        if (v[i].type == JV_STRING && v[i].len <= sizeof copy / 2) {
            long k = jval_copy(&v[i], copy, sizeof copy);
            HERD_ASSERT(k >= 0 && (size_t)k <= v[i].len);
            HERD_ASSERT(jval_eq(&v[i], copy, (size_t)k));
        }
        /* One at a time finds the same. */
        HERD_ASSERT(json_find(json, jlen, &ptrs[i], 1, &w) == 0);
        HERD_ASSERT(w.type == v[i].type && w.p == v[i].p && w.len == v[i].len);
    }
    return 0;
}
