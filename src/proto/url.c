#include "proto/url.h"

#include "base/err.h"

#include <stdio.h>
#include <string.h>

static int fail(const char **why, const char *msg)
{
    *why = msg;
    return HERD_E_INVAL;
}

int url_parse(const char *s, struct url *u, const char **why)
{
    static const struct {
        const char *prefix;
        const char *scheme;
        uint8_t tls, sse;
        uint16_t port;
    } schemes[] = {
        {"ws://", "ws", 0, 0, 80},
        {"wss://", "wss", 1, 0, 443},
        {"http://", "http", 0, 1, 80},
        {"https://", "https", 1, 1, 443},
    };
    memset(u, 0, sizeof *u);
    const char *p = NULL;
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t n = strlen(schemes[i].prefix);
        if (strncasecmp(s, schemes[i].prefix, n) == 0) {
            p = s + n;
            strcpy(u->scheme, schemes[i].scheme);
            u->tls = schemes[i].tls;
            u->sse = schemes[i].sse;
            u->port = schemes[i].port;
            break;
        }
    }
    if (!p)
        return fail(why, "unsupported scheme (expected ws://, wss://, http:// or https://)");

    size_t auth_len = strcspn(p, "/?#");
    const char *rest = p + auth_len;
    if (memchr(p, '@', auth_len))
        return fail(why, "userinfo (user@host) is not supported");
    if (auth_len == 0)
        return fail(why, "missing host");
    if (auth_len >= sizeof u->authority)
        return fail(why, "host too long");

    const char *host = p, *host_end, *port_s = NULL;
    if (*p == '[') {
        const char *close = memchr(p, ']', auth_len);
        if (!close)
            return fail(why, "unterminated [IPv6] host");
        host = p + 1;
        host_end = close;
        if (close + 1 < p + auth_len) {
            if (close[1] != ':')
                return fail(why, "junk after ]");
            port_s = close + 2;
        }
    } else {
        const char *colon = memchr(p, ':', auth_len);
        host_end = colon ? colon : p + auth_len;
        if (colon)
            port_s = colon + 1;
    }
    if (host_end == host)
        return fail(why, "missing host");
    if ((size_t)(host_end - host) >= sizeof u->host)
        return fail(why, "host too long");
    memcpy(u->host, host, (size_t)(host_end - host));

    if (port_s) {
        const char *end = p + auth_len;
        unsigned long port = 0;
        if (port_s == end)
            return fail(why, "empty port");
        for (const char *c = port_s; c < end; c++) {
            if (*c < '0' || *c > '9')
                return fail(why, "bad port");
            port = port * 10 + (unsigned long)(*c - '0');
            if (port > 65535)
                return fail(why, "port out of range");
        }
        if (port == 0)
            return fail(why, "port out of range");
        u->port = (uint16_t)port;
    }
    memcpy(u->authority, p, auth_len);

    if (strchr(rest, '#'))
        return fail(why, "a fragment (#...) is not allowed in a WebSocket URL");
    for (const char *c = rest; *c; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c == 0x7f)
            return fail(why, "whitespace or control character in path");
    size_t tlen = strlen(rest);
    if (tlen + 2 > sizeof u->target)
        return fail(why, "path too long");
    if (tlen == 0 || rest[0] == '?')
        u->target[0] = '/';
    memcpy(u->target + (rest[0] == '/' ? 0 : (tlen == 0 || rest[0] == '?')), rest, tlen);
    return 0;
}
