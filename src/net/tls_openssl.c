/* tls_openssl.c - TLS for herd's connections with OpenSSL 3 (`make TLS=openssl`), driven by the
 * event loop.
 *
 * The socket stays non-blocking: SSL_do_handshake, SSL_read and SSL_write report WANT_READ or
 * WANT_WRITE, which become -EAGAIN, and the connection waits for its next edge. One SSL_CTX is
 * shared read-only by every connection; SSL_MODE_RELEASE_BUFFERS gives the record buffers back
 * while a connection is idle, so an idle TLS connection stays small. */
#include "net/net.h"
#include "net/tls_internal.h"

#include "base/err.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

struct net_tls_ctx {
    SSL_CTX *ctx;
};

/* Record why the last operation failed, from OpenSSL's error queue and the verify result. */
static void note_error(SSL *ssl, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    /* Alerts received from the peer are reported as reasons SSL_AD_REASON_OFFSET + alert. */
    if (v != X509_V_OK)
        net_tls__fail(NET_TLS_FAIL_VERIFY, "%s: certificate verification failed: %s", what,
                      X509_verify_cert_error_string(v));
    else if (e)
        net_tls__fail(ERR_GET_REASON(e) >= SSL_AD_REASON_OFFSET ? NET_TLS_FAIL_ALERT
                                                                : NET_TLS_FAIL_PROTOCOL,
                      "%s: %s", what, ERR_reason_error_string(e));
    else
        net_tls__fail(NET_TLS_FAIL_PROTOCOL, "%s failed", what);
    ERR_clear_error();
}

/* What both sides share: TLS 1.2 at least; record buffers given back while idle; writes that
 * may take part of a buffer and be retried from another address (the write queue's chunks). */
static SSL_CTX *ctx_new(const SSL_METHOD *method, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(method);
    if (!ctx) {
        snprintf(err, errlen, "TLS: cannot create a context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return ctx;
}

struct net_tls_ctx *net_tls_client_ctx(const struct net_tls_opts *o, char *err, size_t errlen)
{
    SSL_CTX *ctx = ctx_new(TLS_client_method(), err, errlen);
    if (!ctx)
        return NULL;
    SSL_CTX_set_alpn_protos(ctx, net_tls__alpn, sizeof net_tls__alpn);
    /* Read ahead: one read takes what the socket holds (the server's whole flight) instead of
     * two per record (header, then body): 5 reads per connection instead of 20 (strace, 1 000
     * handshakes). Bytes read ahead stay in OpenSSL's buffer, which the stream drains anyway:
     * with TLS it reads on to EAGAIN, i.e. to WANT_READ, which OpenSSL reports only when no
     * whole record is buffered. (Not on herd serve's side: there a plain-HTTP client on the
     * TLS port is closed after the first record header, with the rest unread: a reset.) */
    SSL_CTX_set_read_ahead(ctx, 1);
    if (o->insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        int ok = o->cacert ? SSL_CTX_load_verify_locations(ctx, o->cacert, NULL)
                           : SSL_CTX_set_default_verify_paths(ctx);
        if (ok != 1) {
            snprintf(err, errlen, "--cacert: cannot load %s: %s",
                     o->cacert ? o->cacert : "the system's CA certificates",
                     ERR_reason_error_string(ERR_peek_last_error()));
            ERR_clear_error();
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    if (o->cert) {
        if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1) {
            snprintf(err, errlen, "--cert: cannot load %s: %s", o->cert,
                     ERR_reason_error_string(ERR_peek_last_error()));
            ERR_clear_error();
            SSL_CTX_free(ctx);
            return NULL;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, o->key ? o->key : o->cert, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            snprintf(err, errlen, "--key: cannot load %s or it does not match --cert: %s",
                     o->key ? o->key : o->cert, ERR_reason_error_string(ERR_peek_last_error()));
            ERR_clear_error();
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    struct net_tls_ctx *t = calloc(1, sizeof *t);
    if (!t) {
        SSL_CTX_free(ctx);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->ctx = ctx;
    return t;
}

/* ALPN on the server: http/1.1 when the client offers it; otherwise no ALPN at all, rather than
 * a fatal no_application_protocol alert (a client without ALPN, or with other protocols only,
 * still gets its upgrade answered or refused over HTTP/1.1). */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    if (!net_tls__alpn_pick(in, inlen, out))
        return SSL_TLSEXT_ERR_NOACK;
    *outlen = net_tls__alpn[0];
    return SSL_TLSEXT_ERR_OK;
}

/* The reason of the last error on OpenSSL's queue, never NULL. */
static const char *queue_reason(void)
{
    const char *r = ERR_reason_error_string(ERR_peek_last_error());
    return r ? r : "unknown error";
}

struct net_tls_ctx *net_tls_server_ctx(const char *cert_file, const char *key_file, char *err,
                                       size_t errlen)
{
    ERR_clear_error();
    SSL_CTX *ctx = ctx_new(TLS_server_method(), err, errlen);
    if (!ctx)
        return NULL;
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* One TLS 1.3 ticket per connection, not OpenSSL's two: enough to resume the next
     * connection (herd --tls-resume keeps the newest only), and each ticket costs both sides a
     * session to build and encrypt or parse. */
    SSL_CTX_set_num_tickets(ctx, 1);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    /* A file that cannot be opened gets the system's reason ("system lib" says little). */
    const char *what = "--tls-cert", *file = cert_file;
    if (!net_tls__readable(file, err, errlen, what))
        goto fail;
    if (SSL_CTX_use_certificate_chain_file(ctx, file) != 1) {
        snprintf(err, errlen, "%s: cannot load %s: %s", what, file, queue_reason());
        goto fail;
    }
    what = "--tls-key";
    file = key_file;
    if (!net_tls__readable(file, err, errlen, what))
        goto fail;
    if (SSL_CTX_use_PrivateKey_file(ctx, file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "%s: cannot load %s or it does not match --tls-cert: %s", what, file,
                 queue_reason());
        goto fail;
    }
    struct net_tls_ctx *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    t->ctx = ctx;
    return t;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

const char *net_tls_library(void)
{
    static char name[64];
    snprintf(name, sizeof name, "OpenSSL %s", OpenSSL_version(OPENSSL_VERSION_STRING));
    return name;
}

void net_tls_ctx_free(struct net_tls_ctx *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    free(t);
}

/* A new session from the server (after the handshake in TLS 1.3, where tickets come as
 * post-handshake messages read by SSL_read): it replaces what the connection's slot held. The
 * reference OpenSSL hands over is kept (return 1). */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    SSL_SESSION **slot = SSL_get_app_data(ssl);
    if (!slot)
        return 0;
    if (*slot)
        SSL_SESSION_free(*slot);
    *slot = sess;
    return 1;
}

void net_tls_client_enable_resume(struct net_tls_ctx *t)
{
    /* Sessions live in the callers' slots, not in OpenSSL's internal (locked) cache. */
    SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(t->ctx, on_new_session);
}

void net_tls_session_clear(struct net_tls_session **slot)
{
    if (*slot)
        SSL_SESSION_free((SSL_SESSION *)*slot);
    *slot = NULL;
}

int net_tls_resumed(const struct net_stream *s)
{
    return s->tls && SSL_session_reused((SSL *)s->tls);
}

int net_tls_start(struct net_stream *s, struct net_tls_ctx *t, const char *name,
                  struct net_tls_session **slot)
{
    SSL *ssl = SSL_new(t->ctx);
    if (!ssl)
        return HERD_E_NOMEM;
    SSL_set_fd(ssl, s->fd);
    SSL_set_connect_state(ssl);
    if (slot) {
        SSL_set_app_data(ssl, slot);
        if (*slot)
            SSL_set_session(ssl, (SSL_SESSION *)*slot);
    }
    if (name && *name) {
        /* SNI only for names: RFC 6066 3 forbids IP literals in server_name. */
        int is_ip = net_tls__is_ip(name);
        if (!is_ip)
            SSL_set_tlsext_host_name(ssl, name);
        X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
        if (is_ip)
            X509_VERIFY_PARAM_set1_ip_asc(vp, name);
        else
            X509_VERIFY_PARAM_set1_host(vp, name, 0);
    }
    s->tls = (struct net_tls *)ssl;
    return 0;
}

int net_tls_accept(struct net_stream *s, struct net_tls_ctx *t)
{
    SSL *ssl = SSL_new(t->ctx);
    if (!ssl)
        return HERD_E_NOMEM;
    if (SSL_set_fd(ssl, s->fd) != 1) {
        SSL_free(ssl);
        ERR_clear_error();
        return HERD_E_NOMEM;
    }
    SSL_set_accept_state(ssl);
    s->tls = (struct net_tls *)ssl;
    return 0;
}

int net_tls_handshake(struct net_stream *s)
{
    SSL *ssl = (SSL *)s->tls;
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl);
    if (rc == 1)
        return 0;
    int e = SSL_get_error(ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return -EAGAIN;
    if (e == SSL_ERROR_SYSCALL && errno && ERR_peek_error() == 0) {
        int err = errno;
        net_tls__fail(NET_TLS_FAIL_PROTOCOL, "TLS handshake: %s", strerror(err));
        return err == ECONNRESET ? -ECONNRESET : HERD_E_TLS;
    }
    note_error(ssl, "TLS handshake");
    return HERD_E_TLS;
}

void net_tls_free(struct net_stream *s)
{
    if (s->tls) {
        SSL_free((SSL *)s->tls);
        s->tls = NULL;
    }
}

ssize_t net_tls_read(struct net_stream *s, void *buf, size_t len)
{
    SSL *ssl = (SSL *)s->tls;
    ERR_clear_error();
    int n = SSL_read(ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (n > 0)
        return n;
    switch (SSL_get_error(ssl, n)) {
    case SSL_ERROR_WANT_READ:
        /* The read that found the socket empty has allocated a fresh record buffer (17 KiB)
         * that RELEASE_BUFFERS keeps until the next record: give it back now, or every idle
         * TLS connection holds one. Nothing is buffered, so nothing is lost. */
        if (!SSL_has_pending(ssl))
            SSL_free_buffers(ssl);
        return -EAGAIN;
    case SSL_ERROR_WANT_WRITE: return -EAGAIN;
    case SSL_ERROR_ZERO_RETURN: return 0; /* close_notify */
    case SSL_ERROR_SYSCALL:
        /* EOF without close_notify: the peer closed TCP. */
        return errno ? -errno : 0;
    default: note_error(ssl, "TLS read"); return HERD_E_TLS;
    }
}

ssize_t net_tls_write(struct net_stream *s, const void *buf, size_t len)
{
    SSL *ssl = (SSL *)s->tls;
    ERR_clear_error();
    int n = SSL_write(ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (n > 0)
        return n;
    switch (SSL_get_error(ssl, n)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: return -EAGAIN;
    case SSL_ERROR_SYSCALL: return errno ? -errno : -EPIPE;
    default: note_error(ssl, "TLS write"); return HERD_E_TLS;
    }
}
