/* metrics_http.h - the HTTP side of --metrics-listen: a listening socket and one small thread
 * that answers GET /metrics with the latest text the reporter published. The reporter renders
 * the text once per tick (report_prom_render) and hands it over under a mutex that only these
 * two threads take: the workers and their hot path never see it. */
#ifndef HERD_CMD_METRICS_HTTP_H
#define HERD_CMD_METRICS_HTTP_H

#include <stddef.h>

struct metrics_http;

/* Listen on ADDR:PORT (as --metrics-listen checked it: "127.0.0.1:9464", ":9464", "[::1]:9464",
 * "localhost:9464") and start the thread. Returns NULL with one line in err ("--metrics-listen:
 * 127.0.0.1:9464: Address already in use") when it cannot. */
struct metrics_http *metrics_http_start(const char *spec, char *err, size_t errlen);

/* Replace the text served with text[0..len) (malloc'ed; taken over and freed later). */
void metrics_http_publish(struct metrics_http *m, char *text, size_t len);

/* Stop the thread, close the socket, free everything. NULL is fine. */
void metrics_http_stop(struct metrics_http *m);

#endif
