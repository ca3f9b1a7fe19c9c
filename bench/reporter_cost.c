/* reporter_cost.c - what --metrics-listen and the rows' per-second histograms cost herd's
 * reporter thread once a second: the Prometheus text of every timed histogram, and one
 * second's histogram encoded for its row (HdrHistogram V2, deflate, base64). Each histogram
 * holds 100 000 samples spread over 20 us..50 ms; the median of REPS timings is printed.
 *
 *   make && gcc -O2 -Isrc bench/reporter_cost.c build/release/libherd.a \
 *       $(pkg-config --libs openssl zlib yaml-0.1 jansson) -lpthread -lm -o
 * build/bench/reporter_cost build/bench/reporter_cost [REPS]
 */
#include "report/report.h"
#include "stats/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return v[n / 2];
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 200;
    if (reps < 1)
        reps = 1;
    struct stats s;
    stats_init(&s);
    unsigned seed = 1;
    for (int m = 0; m < M_COUNT; m++)
        for (int i = 0; i < 100000; i++) {
            seed = seed * 1103515245u + 12345u;
            hist_record(s.hist[m], 20 + (int64_t)(seed >> 8) % 50000);
        }
    double *t = calloc((size_t)reps, sizeof *t);
    if (!t)
        return 1;
    struct report_live l = {.tool_version = "bench", .total = &s, .elapsed_s = 1};
    size_t bytes = 0;
    for (int r = 0; r < reps; r++) {
        char *text = NULL;
        double a = now_ms();
        long n = report_prom_render(&l, &text);
        t[r] = now_ms() - a;
        bytes = n > 0 ? (size_t)n : 0;
        free(text);
    }
    printf("Prometheus text of %d histograms: %.2f ms (%zu bytes)\n", M_COUNT, median(t, reps),
           bytes);
    for (int r = 0; r < reps; r++) {
        char *text = NULL;
        double a = now_ms();
        long n = hist_v2_encode(s.hist[0], &text);
        t[r] = now_ms() - a;
        bytes = n > 0 ? (size_t)n : 0;
        free(text);
    }
    printf("one histogram into its row (V2, deflate, base64): %.2f ms (%zu bytes)\n",
           median(t, reps), bytes);
    free(t);
    stats_free(&s);
    return 0;
}
