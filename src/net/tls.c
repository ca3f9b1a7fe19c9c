/* tls.c - the part of TLS that does not depend on the library: the thread's last failure,
 * SNI's IP-literal test, file checks and ALPN selection, shared by the backend built
 * (net/tls_openssl.c or net/tls_wolfssl.c, `make TLS=...`). */
#include "net/tls_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const unsigned char net_tls__alpn[9] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

static _Thread_local char last_error[256];
static _Thread_local enum net_tls_fail last_fail;

enum net_tls_fail net_tls_last_fail(void)
{
    return last_fail;
}

const char *net_tls_last_error(void)
{
    return last_error[0] ? last_error : "TLS failure";
}

void net_tls__fail(enum net_tls_fail kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    last_fail = kind;
}

int net_tls__is_ip(const char *name)
{
    unsigned char tmp[16];
    return inet_pton(AF_INET, name, tmp) == 1 || inet_pton(AF_INET6, name, tmp) == 1;
}

int net_tls__readable(const char *file, char *err, size_t errlen, const char *what)
{
    FILE *f = fopen(file, "r");
    if (f) {
        fclose(f);
        return 1;
    }
    snprintf(err, errlen, "%s: cannot open %s: %s", what, file, strerror(errno));
    return 0;
}

int net_tls__alpn_pick(const unsigned char *in, unsigned inlen, const unsigned char **sel)
{
    for (unsigned i = 0; i < inlen;) {
        unsigned n = in[i];
        if (i + 1 + n > inlen)
            return 0;
        if (n == net_tls__alpn[0] && memcmp(in + i + 1, net_tls__alpn + 1, n) == 0) {
            *sel = in + i + 1;
            return 1;
        }
        i += 1 + n;
    }
    return 0;
}
