/* tls_internal.h - what net/tls.c shares with the TLS backends behind net.h's TLS face:
 * net/tls_openssl.c (OpenSSL 3) and net/tls_wolfssl.c (wolfSSL), one of which is built
 * (`make TLS=openssl|wolfssl`). Only net/ includes it. */
#ifndef HERD_NET_TLS_INTERNAL_H
#define HERD_NET_TLS_INTERNAL_H

#include "net/net.h"

#include <stddef.h>

/* ALPN: the one protocol herd speaks over TLS, in wire format (length-prefixed). */
extern const unsigned char net_tls__alpn[9];

/* Record the last failure on this thread (net_tls_last_error / net_tls_last_fail). */
void net_tls__fail(enum net_tls_fail kind, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Whether name is an IPv4 or IPv6 literal: no SNI for those (RFC 6066 3), and the certificate
 * is checked for the address rather than a DNS name. */
int net_tls__is_ip(const char *name);

/* Whether file can be opened for reading; if not, err = "what: cannot open file: reason". */
int net_tls__readable(const char *file, char *err, size_t errlen, const char *what);

/* Whether a server's ALPN offer (wire format, inlen bytes) holds http/1.1; *sel points at
 * it (its length byte excluded) when it does. */
int net_tls__alpn_pick(const unsigned char *in, unsigned inlen, const unsigned char **sel);

#endif
