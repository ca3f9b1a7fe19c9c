/* metrics_http.c - a deliberately small HTTP/1.1 responder for Prometheus scrapes: one thread,
 * one request per connection (Connection: close), a 2 s deadline per request, GET or HEAD of
 * /metrics (200, text/plain; version=0.0.4) and / (a line that points there); 404 for other
 * paths, 405 for other methods. Scrapers (Prometheus, curl) send small requests and expect no
 * keep-alive; nothing here needs more. */
#include "cmd/metrics_http.h"

#include "base/log.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define REQ_MAX 8192

struct metrics_http {
    int lfd, stopfd;
    pthread_t thread;
    pthread_mutex_t mu;
    char *text; /* the latest exposition, owned */
    size_t len;
};

/* Split "ADDR:PORT" ("[v6]:PORT", ":PORT") into host (NULL = every address) and port. */
static int split_listen(const char *spec, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *colon = strrchr(spec, ':');
    if (!colon)
        return -1;
    const char *h = spec;
    size_t n = (size_t)(colon - spec);
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
        h++;
        n -= 2;
    }
    if (n >= hostlen || strlen(colon + 1) >= portlen)
        return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    snprintf(port, portlen, "%s", colon + 1);
    return 0;
}

static void send_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

static void respond(int fd, const char *status, const char *type, const char *body, size_t len,
                    int head)
{
    char hdr[256];
    int n = snprintf(hdr, sizeof hdr,
                     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, type, len);
    send_all(fd, hdr, (size_t)n);
    if (!head)
        send_all(fd, body, len);
}

/* One connection: read the request head (up to REQ_MAX bytes, 2 s), answer, close. */
static void serve_one(struct metrics_http *m, int fd)
{
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    char req[REQ_MAX + 1];
    size_t got = 0;
    while (got < REQ_MAX) {
        ssize_t n = recv(fd, req + got, REQ_MAX - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
            break;
    }
    req[got] = '\0';
    if (!got)
        return;
    static const char text_type[] = "text/plain; version=0.0.4; charset=utf-8";
    int head = strncmp(req, "HEAD ", 5) == 0;
    if (strncmp(req, "GET ", 4) != 0 && !head) {
        static const char msg[] = "only GET and HEAD\n";
        respond(fd, "405 Method Not Allowed", "text/plain", msg, sizeof msg - 1, 0);
        return;
    }
    const char *path = req + (head ? 5 : 4);
    size_t plen = strcspn(path, " ?\r\n");
    if (plen == 8 && memcmp(path, "/metrics", 8) == 0) {
        /* A copy taken under the lock and sent outside it: a slow scraper must never hold up
         * the reporter's next publish. */
        pthread_mutex_lock(&m->mu);
        size_t len = m->len;
        char *copy = len ? malloc(len) : NULL;
        if (copy)
            memcpy(copy, m->text, len);
        pthread_mutex_unlock(&m->mu);
        if (len && !copy) {
            static const char msg[] = "out of memory\n";
            respond(fd, "503 Service Unavailable", "text/plain", msg, sizeof msg - 1, head);
            return;
        }
        respond(fd, "200 OK", text_type, copy ? copy : "", copy ? len : 0, head);
        free(copy);
    } else if (plen == 1 && path[0] == '/') {
        static const char msg[] = "herd: Prometheus metrics at /metrics\n";
        respond(fd, "200 OK", "text/plain", msg, sizeof msg - 1, head);
    } else {
        static const char msg[] = "not found: herd serves /metrics\n";
        respond(fd, "404 Not Found", "text/plain", msg, sizeof msg - 1, head);
    }
}

static void *metrics_thread(void *arg)
{
    struct metrics_http *m = arg;
    for (;;) {
        struct pollfd p[2] = {{m->lfd, POLLIN, 0}, {m->stopfd, POLLIN, 0}};
        int n = poll(p, 2, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || p[1].revents)
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        int fd = accept4(m->lfd, NULL, NULL, SOCK_CLOEXEC); /* a blocking socket, timed out */
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                poll(NULL, 0, 100); /* the pending connection stays: do not spin on it */
            continue;
        }
        serve_one(m, fd);
        close(fd);
    }
    return NULL;
}

struct metrics_http *metrics_http_start(const char *spec, char *err, size_t errlen)
{
    char host[256], port[16];
    if (split_listen(spec, host, sizeof host, port, sizeof port) != 0) {
        snprintf(err, errlen, "--metrics-listen: expected ADDR:PORT, got \"%.64s\"", spec);
        return NULL;
    }
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "--metrics-listen: %.300s: %s", spec, gai_strerror(gai));
        return NULL;
    }
    int fd = -1, e = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        /* Non-blocking: a connection reset between poll and accept must not leave accept
         * waiting for the next one (and the thread deaf to its stop). */
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0) {
            e = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errlen, "--metrics-listen: %.300s: %s", spec, strerror(e));
        return NULL;
    }
    struct metrics_http *m = xcalloc(1, sizeof *m);
    m->lfd = fd;
    m->stopfd = eventfd(0, EFD_CLOEXEC);
    pthread_mutex_init(&m->mu, NULL);
    if (m->stopfd < 0 || pthread_create(&m->thread, NULL, metrics_thread, m) != 0) {
        snprintf(err, errlen, "--metrics-listen: cannot start its thread: %s", strerror(errno));
        if (m->stopfd >= 0)
            close(m->stopfd);
        close(fd);
        pthread_mutex_destroy(&m->mu);
        free(m);
        return NULL;
    }
    return m;
}

void metrics_http_publish(struct metrics_http *m, char *text, size_t len)
{
    pthread_mutex_lock(&m->mu);
    char *old = m->text;
    m->text = text;
    m->len = len;
    pthread_mutex_unlock(&m->mu);
    free(old);
}

void metrics_http_stop(struct metrics_http *m)
{
    if (!m)
        return;
    uint64_t one = 1;
    if (write(m->stopfd, &one, sizeof one) != (ssize_t)sizeof one)
        log_warn("--metrics-listen: cannot stop its thread cleanly");
    pthread_join(m->thread, NULL);
    close(m->stopfd);
    close(m->lfd);
    pthread_mutex_destroy(&m->mu);
    free(m->text);
    free(m);
}
