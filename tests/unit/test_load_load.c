/* load: durations, backoff (kinds, caps, jitter bounds), stages (parse and interpolation). */
#include "base/err.h"
#include "load/load.h"
#include "tap.h"

#include <string.h>

static uint64_t dur(const char *s)
{
    uint64_t ns = 0;
    const char *why;
    return load_parse_duration(s, strlen(s), &ns, &why) == 0 ? ns : UINT64_MAX;
}

int main(void)
{
    CHECK_EQ_U64(dur("30s"), 30000000000ull);
    CHECK_EQ_U64(dur("500ms"), 500000000ull);
    CHECK_EQ_U64(dur("2m"), 120000000000ull);
    CHECK_EQ_U64(dur("1.5"), 1500000000ull);
    CHECK_EQ_U64(dur("250us"), 250000ull);
    CHECK_EQ_U64(dur("1h"), 3600000000000ull);
    CHECK_EQ_U64(dur("fast"), UINT64_MAX);
    CHECK_EQ_U64(dur("10parsecs"), UINT64_MAX);
    CHECK_EQ_U64(dur(""), UINT64_MAX);
    CHECK_EQ_U64(dur("-1s"), UINT64_MAX);

    struct backoff b;
    const char *why;
    CHECK_EQ_I64(backoff_parse("none", &b, &why), 0);
    CHECK_EQ_U64(backoff_delay(&b, 5, 0.5), 0);
    CHECK_EQ_I64(backoff_parse("fixed:1s", &b, &why), 0);
    CHECK_EQ_U64(backoff_delay(&b, 0, 0.3), 1000000000ull);
    CHECK_EQ_U64(backoff_delay(&b, 9, 0.3), 1000000000ull);
    CHECK_EQ_I64(backoff_parse("exp:100ms..10s,jitter=none", &b, &why), 0);
    CHECK_EQ_U64(backoff_delay(&b, 0, 0.9), 100000000ull);
    CHECK_EQ_U64(backoff_delay(&b, 3, 0.9), 800000000ull);
    CHECK_EQ_U64(backoff_delay(&b, 20, 0.9), 10000000000ull);
    CHECK_EQ_U64(backoff_delay(&b, 1000, 0.9), 10000000000ull);
    CHECK_EQ_I64(backoff_parse("exp:100ms..10s", &b, &why), 0);
    CHECK_EQ_I64(b.jitter, JITTER_FULL);
    CHECK_EQ_U64(backoff_delay(&b, 2, 0.5), 200000000ull);
    CHECK_EQ_I64(backoff_parse("exp:1s..8s,jitter=equal", &b, &why), 0);
    CHECK_EQ_U64(backoff_delay(&b, 0, 0.0), 500000000ull);
    CHECK_EQ_U64(backoff_delay(&b, 0, 0.999999), 999999500ull);
    CHECK_EQ_I64(backoff_parse("exp:10s..1s", &b, &why), HERD_E_INVAL);
    CHECK_EQ_I64(backoff_parse("exp:1s", &b, &why), HERD_E_INVAL);
    CHECK_EQ_I64(backoff_parse("fixed:1s,jitter=lots", &b, &why), HERD_E_INVAL);
    CHECK_EQ_I64(backoff_parse("linear:1s", &b, &why), HERD_E_INVAL);

    struct stage st[8];
    CHECK_EQ_I64(stages_parse("30s:1000,1m:1000,10s:0", st, 8, &why), 3);
    CHECK_EQ_U64(stages_duration(st, 3), 100000000000ull);
    CHECK_EQ_U64(stages_target(st, 3, 0, 0), 0);
    CHECK_EQ_U64(stages_target(st, 3, 0, 15000000000ull), 500);
    CHECK_EQ_U64(stages_target(st, 3, 0, 30000000000ull), 1000);
    CHECK_EQ_U64(stages_target(st, 3, 0, 60000000000ull), 1000);
    CHECK_EQ_U64(stages_target(st, 3, 0, 95000000000ull), 500);
    CHECK_EQ_U64(stages_target(st, 3, 0, 200000000000ull), 0);
    /* One duration syntax everywhere: compound forms work in stages and backoff too. */
    CHECK_EQ_I64(stages_parse("1m30s:10,500ms:0", st, 8, &why), 2);
    CHECK_EQ_U64(st[0].dur_ns, 90000000000ull);
    CHECK_EQ_I64(backoff_parse("exp:1m30s..2m,jitter=none", &b, &why), 0);
    CHECK_EQ_U64(backoff_delay(&b, 0, 0.5), 90000000000ull);
    CHECK_EQ_U64(dur("1m30"), UINT64_MAX);
    CHECK_EQ_I64(stages_parse("30s", st, 8, &why), HERD_E_INVAL);
    CHECK_EQ_I64(stages_parse("30s:x", st, 8, &why), HERD_E_INVAL);
    CHECK_EQ_I64(stages_parse("", st, 8, &why), HERD_E_INVAL);
    CHECK_EQ_I64(stages_parse("1s:1,1s:2,1s:3", st, 2, &why), HERD_E_INVAL);

    CHECK_EQ_U64(shard_share(10, 0, 3), 4);
    CHECK_EQ_U64(shard_share(10, 1, 3), 3);
    CHECK_EQ_U64(shard_share(10, 2, 3), 3);
    CHECK_EQ_U64(shard_share(2, 2, 3), 0);
    CHECK_EQ_U64(shard_share(7, 0, 1), 7);
    return tap_done();
}
