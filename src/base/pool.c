#include "base/pool.h"

#include <stdlib.h>

#define HDR ((uint32_t)sizeof(struct chunk))
const uint32_t pool_class_cap[POOL_CLASSES] = {256 - HDR, 2048 - HDR, 16384 - HDR, 65536 - HDR};

#define POOL_KEEP 1024

void pool_init(struct pool *p)
{
    *p = (struct pool){0};
}

void pool_destroy(struct pool *p)
{
    for (int i = 0; i < POOL_CLASSES; i++) {
        struct chunk *c = p->free[i];
        while (c) {
            struct chunk *next = c->next;
            free(c);
            c = next;
        }
        p->free[i] = NULL;
        p->nfree[i] = 0;
    }
}

struct chunk *pool_get(struct pool *p, size_t size)
{
    uint32_t cls = 0;
    while (cls < POOL_CLASSES && pool_class_cap[cls] < size)
        cls++;
    struct chunk *c;
    if (cls < POOL_CLASSES && p->free[cls]) {
        c = p->free[cls];
        p->free[cls] = c->next;
        p->nfree[cls]--;
    } else {
        size_t cap = cls < POOL_CLASSES ? pool_class_cap[cls] : size;
        if (cap > UINT32_MAX)
            return NULL;
        c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->cap = (uint32_t)cap;
        c->cls = cls;
        if (cls == POOL_CLASSES)
            p->oversize++;
    }
    c->next = NULL;
    c->len = 0;
    c->off = 0;
    p->outstanding++;
    return c;
}

void pool_put(struct pool *p, struct chunk *c)
{
    if (!c)
        return;
    p->outstanding--;
    if (c->cls >= POOL_CLASSES || p->nfree[c->cls] >= POOL_KEEP) {
        free(c);
        return;
    }
    c->next = p->free[c->cls];
    p->free[c->cls] = c;
    p->nfree[c->cls]++;
}
