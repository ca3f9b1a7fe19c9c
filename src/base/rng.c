#include "base/rng.h"

#include "base/log.h"

#include <errno.h>
#include <sys/random.h>

static void fill(void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            die("getrandom failed: %s", strerror(errno));
        }
        p += got;
        n -= (size_t)got;
    }
}

void rng__refill(struct rng *r)
{
    fill(r->pool, sizeof r->pool);
    r->pos = 0;
}

void rng_init(struct rng *r)
{
    do
        fill(r->s, sizeof r->s);
    while ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0);
    rng__refill(r);
}
