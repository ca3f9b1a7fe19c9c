/* url.h - the target URLs herd accepts: ws:// wss:// (WebSocket) and http:// https:// (SSE).
 * Pure: parses into the caller's struct, no allocation. */
#ifndef HERD_PROTO_URL_H
#define HERD_PROTO_URL_H

#include <stddef.h>
#include <stdint.h>

#define URL_HOST_MAX 256
#define URL_TARGET_MAX 2048

struct url {
    uint8_t tls; /* wss:// or https:// */
    uint8_t sse; /* http:// or https:// */
    uint16_t port; /* explicit, or 80/443 */
    char scheme[8]; /* "ws", "wss", "http", "https" */
    char host[URL_HOST_MAX]; /* without brackets for IPv6 literals */
    char target[URL_TARGET_MAX]; /* path and query, "/" when empty */
    char authority[URL_HOST_MAX + 8]; /* for the Host header: host[:port], brackets kept */
};

/* Parse s. Returns 0, or HERD_E_INVAL with *why set to a static reason ("unsupported scheme",
 * "missing host", "bad port", "too long", "userinfo not supported", "fragment not allowed"). */
int url_parse(const char *s, struct url *u, const char **why);

#endif
