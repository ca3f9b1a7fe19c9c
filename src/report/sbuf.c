/* sbuf.c - a growing NUL-terminated text buffer for the report writers that build a whole file
 * in memory before writing it atomically: the HTML report, the interval log, the Prometheus
 * exposition. */
#include "report/sbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int sb_reserve(struct sbuf *b, size_t more)
{
    if (b->oom)
        return -1;
    if (b->len + more + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void sb_put(struct sbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (sb_reserve(b, n) != 0)
        return;
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[512];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        sb_put(b, small);
        return;
    }
    if (sb_reserve(b, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sb_esc(struct sbuf *b, const char *s)
{
    if (!s)
        return;
    for (; *s; s++) {
        switch (*s) {
        case '&': sb_put(b, "&amp;"); break;
        case '<': sb_put(b, "&lt;"); break;
        case '>': sb_put(b, "&gt;"); break;
        case '"': sb_put(b, "&quot;"); break;
        case '\'': sb_put(b, "&#39;"); break;
        default:
            if (sb_reserve(b, 1) == 0) {
                /* Control bytes would make the file invalid: show them as '?'. */
                b->p[b->len++] = (unsigned char)*s < 0x20 && *s != '\n' && *s != '\t' ? '?' : *s;
                b->p[b->len] = '\0';
            }
        }
    }
}

void sb_free(struct sbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}
