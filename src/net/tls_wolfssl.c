/* tls_wolfssl.c - TLS for herd's connections with wolfSSL (`make TLS=wolfssl`), driven by the
 * event loop; the same face and behaviour as tls_openssl.c.
 *
 * The socket stays non-blocking: wolfSSL_connect/accept, wolfSSL_read and wolfSSL_write report
 * WANT_READ or WANT_WRITE, which become -EAGAIN. herd's own I/O callbacks do the socket calls
 * (send with MSG_NOSIGNAL, and the errno kept for classifying a failure). One WOLFSSL_CTX is
 * shared read-only by every connection. wolfSSL grows a connection's record buffers only while
 * a record needs them and shrinks them back to its small static ones after, so an idle
 * connection holds no record buffer.
 *
 * Debian's wolfSSL (5.5.x) is built with OPENSSL_EXTRA and HAVE_EXT_CACHE, which this file
 * needs: the verify parameters (host name, IP address), ALPN selection on the server, the
 * new-session callback and the verify result. */
#include "net/net.h"
#include "net/tls_internal.h"

#include "base/err.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#if !defined(OPENSSL_EXTRA) || !defined(HAVE_EXT_CACHE) || !defined(HAVE_ALPN) ||                  \
    !defined(HAVE_SNI) || !defined(WOLFSSL_TLS13) || !defined(HAVE_SESSION_TICKET)
#error "herd needs wolfSSL with OPENSSL_EXTRA, HAVE_EXT_CACHE, ALPN, SNI, TLS 1.3 and tickets"
#endif

struct net_tls_ctx {
    WOLFSSL_CTX *ctx;
};

/* The errno of the last failed socket call of this thread's callbacks (0 = EOF). */
static _Thread_local int io_errno;

static int io_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
    (void)ssl;
    ssize_t n = recv(*(int *)ctx, buf, (size_t)sz, 0);
    if (n > 0)
        return (int)n;
    io_errno = n == 0 ? 0 : errno;
    if (n == 0)
        return WOLFSSL_CBIO_ERR_CONN_CLOSE;
    switch (io_errno) {
    case EAGAIN: return WOLFSSL_CBIO_ERR_WANT_READ;
    case EINTR: return WOLFSSL_CBIO_ERR_ISR;
    case ECONNRESET: return WOLFSSL_CBIO_ERR_CONN_RST;
    default: return WOLFSSL_CBIO_ERR_GENERAL;
    }
}

static int io_send(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
    (void)ssl;
    ssize_t n = send(*(int *)ctx, buf, (size_t)sz, MSG_NOSIGNAL);
    if (n >= 0)
        return (int)n;
    io_errno = errno;
    switch (io_errno) {
    case EAGAIN: return WOLFSSL_CBIO_ERR_WANT_WRITE;
    case EINTR: return WOLFSSL_CBIO_ERR_ISR;
    case ECONNRESET: return WOLFSSL_CBIO_ERR_CONN_RST;
    case EPIPE: return WOLFSSL_CBIO_ERR_CONN_CLOSE;
    default: return WOLFSSL_CBIO_ERR_GENERAL;
    }
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc;

static void lib_init(void)
{
    init_rc = wolfSSL_Init();
}

/* wolfSSL's text for an error code, never NULL. */
static const char *reason(int e)
{
    static _Thread_local char buf[WOLFSSL_MAX_ERROR_SZ];
    wolfSSL_ERR_error_string_n((unsigned long)e, buf, sizeof buf);
    /* "error:-313:wolfSSL library:..." style prefixes say little: keep the text. */
    const char *p = strrchr(buf, ':');
    return p && p[1] ? p + 1 : buf;
}

/* Errors that mean the peer's certificate failed verification. */
static int is_verify_error(int e)
{
    switch (e) {
    case ASN_NO_SIGNER_E:
    case ASN_SELF_SIGNED_E:
    case ASN_AFTER_DATE_E:
    case ASN_BEFORE_DATE_E:
    case ASN_SIG_CONFIRM_E:
    case ASN_SIG_OID_E:
    case ASN_PATHLEN_INV_E:
    case ASN_PATHLEN_SIZE_E:
    case DOMAIN_NAME_MISMATCH:
    case IPADDR_MISMATCH:
    case VERIFY_CERT_ERROR: return 1;
    default: return 0;
    }
}

/* Record why the last operation on ssl failed (e from wolfSSL_get_error). */
static void note_error(WOLFSSL *ssl, int e, const char *what)
{
    long v = wolfSSL_get_verify_result(ssl);
    if (is_verify_error(e) || v != X509_V_OK) {
        net_tls__fail(NET_TLS_FAIL_VERIFY, "%s: certificate verification failed: %s", what,
                      is_verify_error(e) ? reason(e) : wolfSSL_X509_verify_cert_error_string(v));
        return;
    }
    if (e == FATAL_ERROR) {
        WOLFSSL_ALERT_HISTORY h;
        if (wolfSSL_get_alert_history(ssl, &h) == WOLFSSL_SUCCESS && h.last_rx.code > 0)
            net_tls__fail(NET_TLS_FAIL_ALERT, "%s: received fatal alert %s", what,
                          wolfSSL_alert_desc_string_long(h.last_rx.code));
        else
            net_tls__fail(NET_TLS_FAIL_ALERT, "%s: %s", what, reason(e));
        return;
    }
    net_tls__fail(NET_TLS_FAIL_PROTOCOL, "%s: %s", what, reason(e));
}

/* What both sides share: TLS 1.2 at least (1.3 preferred); herd's socket callbacks; writes
 * that may take part of a buffer (one record per call) and be retried from another address. */
static WOLFSSL_CTX *ctx_new(WOLFSSL_METHOD *method, char *err, size_t errlen)
{
    pthread_once(&init_once, lib_init);
    WOLFSSL_CTX *ctx = init_rc == WOLFSSL_SUCCESS && method ? wolfSSL_CTX_new(method) : NULL;
    if (!ctx) {
        snprintf(err, errlen, "TLS: cannot create a context");
        return NULL;
    }
    if (wolfSSL_CTX_SetMinVersion(ctx, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS) {
        snprintf(err, errlen, "TLS: cannot require TLS 1.2");
        wolfSSL_CTX_free(ctx);
        return NULL;
    }
    /* Key exchange groups in OpenSSL's default order: X25519 first, so that a TLS 1.3
     * ClientHello's one key share is X25519 (wolfSSL's own default is P-256, whose generic
     * multiplication in Debian's build costs several times more). */
    static int groups[] = {WOLFSSL_ECC_X25519, WOLFSSL_ECC_SECP256R1, WOLFSSL_ECC_X448,
                           WOLFSSL_ECC_SECP521R1, WOLFSSL_ECC_SECP384R1};
    if (wolfSSL_CTX_set_groups(ctx, groups, (int)(sizeof groups / sizeof groups[0])) !=
        WOLFSSL_SUCCESS) {
        snprintf(err, errlen, "TLS: cannot set the key exchange groups");
        wolfSSL_CTX_free(ctx);
        return NULL;
    }
    /* A flight of handshake messages in one send, not one each: the peer wakes up once for
     * it instead of once per message (strace: 12 reads that found nothing per handshake). */
    wolfSSL_CTX_set_group_messages(ctx);
    wolfSSL_CTX_SetIORecv(ctx, io_recv);
    wolfSSL_CTX_SetIOSend(ctx, io_send);
    wolfSSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
    /* Debian's build turns auto-retry on (OPENSSL_COMPATIBLE_DEFAULTS): a read that finds the
     * socket empty is tried 10 more times before WANT_READ comes back, 11 recv calls for
     * nothing per wait (strace), when the event loop will call again on the next edge. */
    wolfSSL_CTX_clear_mode(ctx, SSL_MODE_AUTO_RETRY);
    return ctx;
}

/* Load a certificate chain and its key into ctx; on failure a message naming the options. */
static int load_pair(WOLFSSL_CTX *ctx, const char *cert, const char *key, const char *copt,
                     const char *kopt, char *err, size_t errlen)
{
    if (!net_tls__readable(cert, err, errlen, copt))
        return 0;
    int rc = wolfSSL_CTX_use_certificate_chain_file(ctx, cert);
    if (rc != WOLFSSL_SUCCESS) {
        snprintf(err, errlen, "%s: cannot load %s: %s", copt, cert, reason(rc));
        return 0;
    }
    if (!net_tls__readable(key, err, errlen, kopt))
        return 0;
    rc = wolfSSL_CTX_use_PrivateKey_file(ctx, key, WOLFSSL_FILETYPE_PEM);
    if (rc == WOLFSSL_SUCCESS)
        rc = wolfSSL_CTX_check_private_key(ctx);
    if (rc != WOLFSSL_SUCCESS) {
        snprintf(err, errlen, "%s: cannot load %s or it does not match %s: %s", kopt, key, copt,
                 reason(rc));
        return 0;
    }
    return 1;
}

static struct net_tls_ctx *wrap(WOLFSSL_CTX *ctx, char *err, size_t errlen)
{
    struct net_tls_ctx *t = calloc(1, sizeof *t);
    if (!t) {
        wolfSSL_CTX_free(ctx);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->ctx = ctx;
    return t;
}

struct net_tls_ctx *net_tls_client_ctx(const struct net_tls_opts *o, char *err, size_t errlen)
{
    WOLFSSL_CTX *ctx = ctx_new(wolfSSLv23_client_method(), err, errlen);
    if (!ctx)
        return NULL;
    /* No session cache unless --tls-resume asks (net_tls_client_enable_resume): wolfSSL's is
     * one global table behind a lock, and every new session would be stored in it. */
    wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_OFF);
    if (wolfSSL_CTX_set_alpn_protos(ctx, net_tls__alpn, sizeof net_tls__alpn) != 0) {
        snprintf(err, errlen, "TLS: cannot set ALPN");
        goto fail;
    }
    if (o->insecure) {
        wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, NULL);
    } else {
        wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER, NULL);
        int rc;
        if (o->cacert) {
            if (!net_tls__readable(o->cacert, err, errlen, "--cacert"))
                goto fail;
            rc = wolfSSL_CTX_load_verify_locations(ctx, o->cacert, NULL);
        } else {
            rc = wolfSSL_CTX_load_system_CA_certs(ctx);
        }
        if (rc != WOLFSSL_SUCCESS) {
            snprintf(err, errlen, "--cacert: cannot load %s: %s",
                     o->cacert ? o->cacert : "the system's CA certificates", reason(rc));
            goto fail;
        }
    }
    if (o->cert &&
        !load_pair(ctx, o->cert, o->key ? o->key : o->cert, "--cert", "--key", err, errlen))
        goto fail;
    return wrap(ctx, err, errlen);
fail:
    wolfSSL_CTX_free(ctx);
    return NULL;
}

/* ALPN on the server: http/1.1 when the client offers it; otherwise no ALPN at all rather
 * than a fatal no_application_protocol alert (as tls_openssl.c). */
static int alpn_select(WOLFSSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    if (!net_tls__alpn_pick(in, inlen, out))
        return SSL_TLSEXT_ERR_NOACK;
    *outlen = net_tls__alpn[0];
    return SSL_TLSEXT_ERR_OK;
}

struct net_tls_ctx *net_tls_server_ctx(const char *cert_file, const char *key_file, char *err,
                                       size_t errlen)
{
    WOLFSSL_CTX *ctx = ctx_new(wolfSSLv23_server_method(), err, errlen);
    if (!ctx)
        return NULL;
    wolfSSL_CTX_set_options(ctx, WOLFSSL_OP_CIPHER_SERVER_PREFERENCE);
    wolfSSL_CTX_set_num_tickets(ctx, 1); /* one TLS 1.3 ticket per connection, as OpenSSL's */
    wolfSSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    if (!load_pair(ctx, cert_file, key_file, "--tls-cert", "--tls-key", err, errlen)) {
        wolfSSL_CTX_free(ctx);
        return NULL;
    }
    return wrap(ctx, err, errlen);
}

const char *net_tls_library(void)
{
    static char name[64];
    snprintf(name, sizeof name, "wolfSSL %s", wolfSSL_lib_version());
    return name;
}

void net_tls_ctx_free(struct net_tls_ctx *t)
{
    if (!t)
        return;
    wolfSSL_CTX_free(t->ctx);
    free(t);
}

/* A new session from the server (TLS 1.3: a ticket read after the handshake): it replaces what
 * the connection's slot held. wolfSSL hands over a reference, kept by returning 1. */
static int on_new_session(WOLFSSL *ssl, WOLFSSL_SESSION *sess)
{
    WOLFSSL_SESSION **slot = wolfSSL_get_app_data(ssl);
    if (!slot)
        return 0;
    if (*slot == sess)
        return 0; /* the same object again (a second ticket): the slot has its reference */
    if (*slot)
        wolfSSL_SESSION_free(*slot);
    *slot = sess;
    return 1;
}

void net_tls_client_enable_resume(struct net_tls_ctx *t)
{
    /* Sessions live in the callers' slots, not in wolfSSL's global (locked) cache. */
    wolfSSL_CTX_set_session_cache_mode(t->ctx,
                                       WOLFSSL_SESS_CACHE_CLIENT | WOLFSSL_SESS_CACHE_NO_INTERNAL);
    wolfSSL_CTX_sess_set_new_cb(t->ctx, on_new_session);
}

void net_tls_session_clear(struct net_tls_session **slot)
{
    if (*slot)
        wolfSSL_SESSION_free((WOLFSSL_SESSION *)*slot);
    *slot = NULL;
}

int net_tls_resumed(const struct net_stream *s)
{
    return s->tls && wolfSSL_session_reused((WOLFSSL *)s->tls);
}

int net_tls_start(struct net_stream *s, struct net_tls_ctx *t, const char *name,
                  struct net_tls_session **slot)
{
    WOLFSSL *ssl = wolfSSL_new(t->ctx);
    if (!ssl)
        return HERD_E_NOMEM;
    if (wolfSSL_set_fd(ssl, s->fd) != WOLFSSL_SUCCESS)
        goto fail;
    wolfSSL_set_connect_state(ssl);
    if (slot) {
        wolfSSL_set_app_data(ssl, slot);
        if (*slot)
            wolfSSL_set_session(ssl, (WOLFSSL_SESSION *)*slot); /* an expired one is refused */
    }
    if (name && *name) {
        WOLFSSL_X509_VERIFY_PARAM *vp = wolfSSL_get0_param(ssl);
        if (net_tls__is_ip(name)) {
            if (wolfSSL_X509_VERIFY_PARAM_set1_ip_asc(vp, name) != WOLFSSL_SUCCESS)
                goto fail;
        } else if (wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, name, (unsigned short)strlen(name)) !=
                       WOLFSSL_SUCCESS ||
                   wolfSSL_X509_VERIFY_PARAM_set1_host(vp, name, (unsigned)strlen(name)) !=
                       WOLFSSL_SUCCESS) {
            goto fail;
        }
    }
    s->tls = (struct net_tls *)ssl;
    return 0;
fail:
    wolfSSL_free(ssl);
    return HERD_E_NOMEM;
}

int net_tls_accept(struct net_stream *s, struct net_tls_ctx *t)
{
    WOLFSSL *ssl = wolfSSL_new(t->ctx);
    if (!ssl)
        return HERD_E_NOMEM;
    if (wolfSSL_set_fd(ssl, s->fd) != WOLFSSL_SUCCESS) {
        wolfSSL_free(ssl);
        return HERD_E_NOMEM;
    }
    wolfSSL_set_accept_state(ssl);
    s->tls = (struct net_tls *)ssl;
    return 0;
}

int net_tls_handshake(struct net_stream *s)
{
    WOLFSSL *ssl = (WOLFSSL *)s->tls;
    int rc = wolfSSL_negotiate(ssl);
    if (rc == WOLFSSL_SUCCESS)
        return 0;
    int e = wolfSSL_get_error(ssl, rc);
    if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE)
        return -EAGAIN;
    if (e == SOCKET_ERROR_E || e == SOCKET_PEER_CLOSED_E) {
        int err = e == SOCKET_PEER_CLOSED_E ? 0 : io_errno;
        net_tls__fail(NET_TLS_FAIL_PROTOCOL, "TLS handshake: %s",
                      err ? strerror(err) : "connection closed by the peer");
        return err == ECONNRESET ? -ECONNRESET : HERD_E_TLS;
    }
    note_error(ssl, e, "TLS handshake");
    return HERD_E_TLS;
}

void net_tls_free(struct net_stream *s)
{
    if (s->tls) {
        wolfSSL_free((WOLFSSL *)s->tls);
        s->tls = NULL;
    }
}

ssize_t net_tls_read(struct net_stream *s, void *buf, size_t len)
{
    WOLFSSL *ssl = (WOLFSSL *)s->tls;
    int n = wolfSSL_read(ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (n > 0)
        return n;
    int e = wolfSSL_get_error(ssl, n);
    switch (e) {
    case WOLFSSL_ERROR_WANT_READ:
    case WOLFSSL_ERROR_WANT_WRITE: return -EAGAIN;
    case WOLFSSL_ERROR_ZERO_RETURN: return 0; /* close_notify */
    case SOCKET_PEER_CLOSED_E: return 0; /* EOF without close_notify: the peer closed TCP */
    case SOCKET_ERROR_E: return io_errno ? -io_errno : 0;
    default: note_error(ssl, e, "TLS read"); return HERD_E_TLS;
    }
}

ssize_t net_tls_write(struct net_stream *s, const void *buf, size_t len)
{
    WOLFSSL *ssl = (WOLFSSL *)s->tls;
    int n = wolfSSL_write(ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (n > 0)
        return n;
    int e = wolfSSL_get_error(ssl, n);
    switch (e) {
    case WOLFSSL_ERROR_WANT_READ:
    case WOLFSSL_ERROR_WANT_WRITE: return -EAGAIN;
    case SOCKET_PEER_CLOSED_E: return -EPIPE;
    case SOCKET_ERROR_E: return io_errno ? -io_errno : -EPIPE;
    default: note_error(ssl, e, "TLS write"); return HERD_E_TLS;
    }
}
