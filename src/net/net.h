/* net.h - sockets for herd: resolve (setup only), non-blocking connect with an optional source
 * address, listen/accept for herd serve, and one read/write face for plain and TLS streams.
 *
 * Errors are -errno for socket calls, herd's codes (HERD_E_TLS, HERD_E_DNS) otherwise. Nothing
 * here logs: callers classify and count. */
#ifndef HERD_NET_NET_H
#define HERD_NET_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

struct net_addr {
    struct sockaddr_storage ss;
    socklen_t len;
};

/* Resolve host:port (numeric or by name; setup only, it blocks). Fills up to max addresses and
 * returns how many, or HERD_E_DNS with a one-line message in err. */
int net_resolve(const char *host, uint16_t port, struct net_addr *out, size_t max, char *err,
                size_t errlen);

/* Parse a source-address list: "127.0.0.2", "127.0.0.2-127.0.0.40", "127.0.1.0/24", "::1", or a
 * comma separated mix. Fills up to max and returns the count, or HERD_E_INVAL with *why. */
int net_parse_addrs(const char *spec, struct net_addr *out, size_t max, const char **why);

/* Format an address as "ip:port" for messages. */
void net_addr_format(const struct net_addr *a, char *out, size_t outlen);

/* Start a non-blocking TCP connect to dst, from src when not NULL (port 0: the kernel picks the
 * port at connect time, IP_BIND_ADDRESS_NO_PORT, so source ports are shared across targets).
 * The socket gets TCP_NODELAY and CLOEXEC. Returns the fd (connect in progress or done; wait
 * for writability and call net_connect_result), or -errno. */
/* rcvbuf > 0 sets SO_RCVBUF (before connect, so the window scale fits it); 0 = the kernel's. */
int net_connect_start(const struct net_addr *dst, const struct net_addr *src, int rcvbuf);

/* The outcome of a connect: 0 established, or -errno (SO_ERROR). */
int net_connect_result(int fd);

/* A listening socket on addr:port (SO_REUSEADDR, SO_REUSEPORT when reuseport). Returns the fd
 * or -errno. */
int net_listen(const char *addr, uint16_t port, int reuseport, int backlog);

/* Whether a listener could take addr:port without SO_REUSEPORT: binds a socket (SO_REUSEADDR,
 * so TIME_WAIT leftovers do not count) without listening, and closes it. Returns 0, or -errno
 * (-EADDRINUSE while a socket of any process listens there). Nothing can connect meanwhile. */
int net_port_free(const char *addr, uint16_t port);

/* The local port of a bound socket, 0 on error. */
uint16_t net_local_port(int fd);

/* accept4 non-blocking + CLOEXEC + TCP_NODELAY; returns fd or -errno (-EAGAIN when none). */
int net_accept(int lfd);

/* A byte stream: a plain socket, or TLS over it (tls != NULL). */
struct net_tls;
struct net_stream {
    int fd;
    struct net_tls *tls;
};

/* Read into buf: returns > 0 bytes, 0 at EOF, -EAGAIN when nothing is there, other -errno. */
static inline ssize_t net_stream_read(struct net_stream *s, void *buf, size_t len);
/* Write: returns bytes written (maybe short), -EAGAIN, or -errno. MSG_NOSIGNAL: no SIGPIPE.
 * With TLS a write returns after at most one record, and one that returned -EAGAIN must be
 * retried with the same bytes (they may move) and at least as many of them: OpenSSL may have
 * encrypted part of them already. */
static inline ssize_t net_stream_write(struct net_stream *s, const void *buf, size_t len);
static inline ssize_t net_stream_writev(struct net_stream *s, const struct iovec *iov, int n);

/* Close the fd (SO_LINGER 0 first when `reset`, to send RST and skip TIME_WAIT). */
void net_close(int fd, int reset);

/* ---- TLS (OpenSSL 3 or wolfSSL, chosen at build time: only net/tls_openssl.c or
 * net/tls_wolfssl.c sees the library) ---- */

struct net_tls_ctx;

struct net_tls_opts {
    int insecure; /* skip certificate verification */
    const char *cacert; /* CA bundle file, NULL = the system's default paths */
    const char *cert; /* client certificate chain file, NULL = none */
    const char *key; /* its private key */
};

/* A client context shared read-only by every connection of a run: verification on unless
 * insecure, ALPN http/1.1, TLS 1.2 at least. NULL with a one-line message in err on failure. */
struct net_tls_ctx *net_tls_client_ctx(const struct net_tls_opts *o, char *err, size_t errlen);
void net_tls_ctx_free(struct net_tls_ctx *ctx);

/* A server context for herd serve, shared read-only by every accepted connection of every
 * thread: the certificate chain in cert_file (PEM, leaf first) and its private key in key_file,
 * TLS 1.2 at least, ALPN http/1.1 chosen when the client offers it, no renegotiation. NULL with
 * a one-line message naming --tls-cert or --tls-key in err when a file cannot be loaded or the
 * key does not match. Free with net_tls_ctx_free. */
struct net_tls_ctx *net_tls_server_ctx(const char *cert_file, const char *key_file, char *err,
                                       size_t errlen);

/* Session resumption (--tls-resume): a slot holds the newest session a server handed out (a TLS
 * 1.3 ticket or a TLS 1.2 session), and connections started with the slot offer it. One slot per
 * worker thread: it is only touched by the thread whose connections use it, so no lock. */
struct net_tls_session;

/* Make ctx keep client sessions in the slots of the connections started with one. Call once,
 * before any connection starts. */
void net_tls_client_enable_resume(struct net_tls_ctx *ctx);

/* Free what a slot holds (safe when empty) and empty it. */
void net_tls_session_clear(struct net_tls_session **slot);

/* Attach TLS to a connected socket: client mode, SNI and hostname verification for `name`. With
 * a slot (NULL = none), offer the session it holds and put new sessions into it; the slot must
 * outlive the connection. Returns 0 or HERD_E_NOMEM. */
int net_tls_start(struct net_stream *s, struct net_tls_ctx *ctx, const char *name,
                  struct net_tls_session **slot);

/* After the handshake: whether the session was resumed. */
int net_tls_resumed(const struct net_stream *s);

/* Attach TLS to an accepted socket: server mode; drive it with net_tls_handshake, then read and
 * write through net_stream_*. Returns 0 or HERD_E_NOMEM. */
int net_tls_accept(struct net_stream *s, struct net_tls_ctx *ctx);

/* Drive the handshake, on either side: 0 when done, -EAGAIN while it waits for the socket,
 * HERD_E_TLS when it failed (net_tls_last_error says why, for diagnostics). */
int net_tls_handshake(struct net_stream *s);

/* Free the TLS state of s (safe when none). */
void net_tls_free(struct net_stream *s);

/* The TLS library this build uses and its version, e.g. "OpenSSL 3.0.19" (herd --version). */
const char *net_tls_library(void);

/* A static one-line reason for the last TLS failure on this thread. */
const char *net_tls_last_error(void);

/* What kind of failure that was. */
enum net_tls_fail {
    NET_TLS_FAIL_PROTOCOL, /* no common version or cipher, a malformed record, EOF, ... */
    NET_TLS_FAIL_VERIFY, /* the peer's certificate failed verification */
    NET_TLS_FAIL_ALERT, /* the peer sent a fatal alert */
};
enum net_tls_fail net_tls_last_fail(void);

ssize_t net_tls_read(struct net_stream *s, void *buf, size_t len);
ssize_t net_tls_write(struct net_stream *s, const void *buf, size_t len);

/* ---- inline plain paths ---- */
#include <errno.h>
#include <unistd.h>

static inline ssize_t net_stream_read(struct net_stream *s, void *buf, size_t len)
{
    if (s->tls)
        return net_tls_read(s, buf, len);
    ssize_t n = read(s->fd, buf, len);
    return n >= 0 ? n : -errno;
}

static inline ssize_t net_stream_write(struct net_stream *s, const void *buf, size_t len)
{
    if (s->tls)
        return net_tls_write(s, buf, len);
    ssize_t n = send(s->fd, buf, len, MSG_NOSIGNAL);
    return n >= 0 ? n : -errno;
}

/* Gathered write; with TLS, the first buffer only (a record is built per call anyway). */
static inline ssize_t net_stream_writev(struct net_stream *s, const struct iovec *iov, int n)
{
    if (s->tls)
        return net_tls_write(s, iov[0].iov_base, iov[0].iov_len);
    struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
    ssize_t w = sendmsg(s->fd, &m, MSG_NOSIGNAL);
    return w >= 0 ? w : -errno;
}

#endif
