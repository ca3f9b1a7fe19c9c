/* sbuf.h - a growing NUL-terminated text buffer (sbuf.c), shared by the writers of src/report
 * that build a file in memory (html.c, compare.c, svg.c, hlog.c, prom.c). */
#ifndef HERD_REPORT_SBUF_H
#define HERD_REPORT_SBUF_H

#include <stddef.h>

#include "base/compiler.h"

/* A growing NUL-terminated string; oom is set (and later writes dropped) when malloc fails. */
struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
};

void sb_put(struct sbuf *b, const char *s);
void sb_printf(struct sbuf *b, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* s with & < > " ' escaped for HTML text and attribute values (NULL writes nothing). */
void sb_esc(struct sbuf *b, const char *s);
void sb_free(struct sbuf *b);

#endif
