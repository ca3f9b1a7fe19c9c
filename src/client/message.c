/* message.c - message templates: parsed once at start, rendered per message with a few
 * memcpy's and integer formats, no allocation. Placeholders: {{stamp}}, {{seq}}, {{conn}}. */
#include "client/role.h"

#include "base/err.h"
#include "base/log.h"

#include <stdio.h>
#include <string.h>

static int add_seg(struct template *t, enum seg_kind kind, size_t off, size_t len, char *err,
                   size_t errlen)
{
    if (t->nsegs == sizeof t->segs / sizeof t->segs[0]) {
        snprintf(err, errlen, "--message: too many placeholders (at most 32)");
        return HERD_E_INVAL;
    }
    t->segs[t->nsegs++] = (struct seg){kind, (uint32_t)off, (uint32_t)len};
    return 0;
}

int template__parse(struct template *t, const char *text, size_t len, size_t pad_to, char *err,
                    size_t errlen)
{
    memset(t, 0, sizeof *t);
    t->text = xmalloc(len + 1);
    memcpy(t->text, text, len);
    t->text[len] = 0;
    t->text_len = len;
    t->pad_to = pad_to;
    size_t lit = 0, i = 0;
    while (i + 1 < len) {
        if (text[i] != '{' || text[i + 1] != '{') {
            i++;
            continue;
        }
        const char *end = memmem(text + i + 2, len - i - 2, "}}", 2);
        if (!end) {
            i++;
            continue;
        }
        size_t nlen = (size_t)(end - (text + i + 2));
        const char *name = text + i + 2;
        enum seg_kind kind;
        if (nlen == 5 && memcmp(name, "stamp", 5) == 0)
            kind = SEG_STAMP;
        else if (nlen == 3 && memcmp(name, "seq", 3) == 0)
            kind = SEG_SEQ;
        else if (nlen == 4 && memcmp(name, "conn", 4) == 0)
            kind = SEG_CONN;
        else {
            snprintf(err, errlen,
                     "--message: unknown placeholder {{%.*s}} (expected {{stamp}}, {{seq}} or "
                     "{{conn}})",
                     (int)(nlen > 40 ? 40 : nlen), name);
            template__free(t);
            return HERD_E_INVAL;
        }
        if ((i > lit && add_seg(t, SEG_LIT, lit, i - lit, err, errlen) != 0) ||
            add_seg(t, kind, 0, 0, err, errlen) != 0) {
            template__free(t);
            return HERD_E_INVAL;
        }
        i += nlen + 4;
        lit = i;
    }
    if (len > lit && add_seg(t, SEG_LIT, lit, len - lit, err, errlen) != 0) {
        template__free(t);
        return HERD_E_INVAL;
    }
    return 0;
}

void template__free(struct template *t)
{
    free(t->text);
    t->text = NULL;
}

size_t template__max_len(const struct template *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->nsegs; i++)
        n += t->segs[i].kind == SEG_LIT ? t->segs[i].len : STAMP_MAX;
    return n > t->pad_to ? n : t->pad_to;
}

size_t template__render(const struct template *t, uint8_t *out, size_t cap, const struct stamp *s,
                        uint64_t conn_index)
{
    size_t n = 0;
    for (size_t i = 0; i < t->nsegs; i++) {
        const struct seg *g = &t->segs[i];
        switch (g->kind) {
        case SEG_LIT:
            memcpy(out + n, t->text + g->off, g->len);
            n += g->len;
            break;
        case SEG_STAMP: n += stamp_format((char *)out + n, s); break;
        case SEG_SEQ: n += stamp_put_u64((char *)out + n, s->seq); break;
        case SEG_CONN: n += stamp_put_u64((char *)out + n, conn_index); break;
        }
    }
    /* Generated messages are padded to --size; the filler is printable so text stays UTF-8. */
    if (n < t->pad_to && t->pad_to <= cap) {
        memset(out + n, '.', t->pad_to - n);
        n = t->pad_to;
    }
    return n;
}
