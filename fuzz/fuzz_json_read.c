/* fuzz_json_read.c - libFuzzer target for reading JSON reports back (`herd merge`, --procs).
 * Whatever the bytes, report_json_parse returns 0 or an error with a message naming the input;
 * what parses must merge with itself and come out doubled (counters, histogram counts). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/compiler.h"
#include "report/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct report_read a, b;
    char err[256] = "";
    int rc = report_json_parse((const char *)data, size, "fuzz.json", &a, err, sizeof err);
    if (rc != 0) {
        HERD_ASSERT(rc < 0 && strncmp(err, "fuzz.json: ", 11) == 0);
        report_read_free(&a);
        return 0;
    }
    HERD_ASSERT(report_json_parse((const char *)data, size, "fuzz.json", &b, err, sizeof err) == 0);
    uint64_t opened = a.total.ctr[CTR_CONNECTIONS_OPENED];
    int64_t rtt = a.total.hist[M_RTT]->total_count;
    report_read_merge(&a, &b);
    report_read_merge_done(&a);
    HERD_ASSERT(a.total.ctr[CTR_CONNECTIONS_OPENED] == 2 * opened);
    HERD_ASSERT(a.total.hist[M_RTT]->total_count == 2 * rtt);
    HERD_ASSERT(a.nrows == b.nrows);
    struct report view;
    report_read_view(&a, &view);
    struct threshold t;
    char why[128];
    if (threshold_parse("rtt.p99<20ms", &t, why, sizeof why) == 0)
        (void)report_thresholds_eval(&view, &t, 1);
    report_read_free(&a);
    report_read_free(&b);
    return 0;
}
