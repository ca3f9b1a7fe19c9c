#include "net/net.h"

#include "base/err.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int net_resolve(const char *host, uint16_t port, struct net_addr *out, size_t max, char *err,
                size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    char ps[8];
    snprintf(ps, sizeof ps, "%u", port);
    int rc = getaddrinfo(host, ps, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
        return HERD_E_DNS;
    }
    size_t n = 0;
    for (struct addrinfo *ai = res; ai && n < max; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof out[n].ss)
            continue;
        memcpy(&out[n].ss, ai->ai_addr, ai->ai_addrlen);
        out[n].len = ai->ai_addrlen;
        n++;
    }
    freeaddrinfo(res);
    if (n == 0) {
        snprintf(err, errlen, "cannot resolve %s: no address", host);
        return HERD_E_DNS;
    }
    return (int)n;
}

static int parse_one(const char *s, struct net_addr *a)
{
    memset(a, 0, sizeof *a);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&a->ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a->ss;
    if (inet_pton(AF_INET, s, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        a->len = sizeof *v4;
        return 0;
    }
    if (inet_pton(AF_INET6, s, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        a->len = sizeof *v6;
        return 0;
    }
    return -1;
}

int net_parse_addrs(const char *spec, struct net_addr *out, size_t max, const char **why)
{
    size_t n = 0;
    const char *p = spec;
    if (!*p) {
        *why = "empty address list";
        return HERD_E_INVAL;
    }
    while (*p) {
        size_t len = strcspn(p, ",");
        char item[128];
        if (len == 0 || len >= sizeof item) {
            *why = "empty or overlong item in address list";
            return HERD_E_INVAL;
        }
        memcpy(item, p, len);
        item[len] = 0;
        p += len + (p[len] == ',');
        char *dash = strchr(item, '-'), *slash = strchr(item, '/');
        struct net_addr a, b;
        if (dash || slash) {
            uint32_t lo, hi;
            if (slash) {
                *slash = 0;
                char *end;
                long bits = strtol(slash + 1, &end, 10);
                if (parse_one(item, &a) != 0 || a.ss.ss_family != AF_INET || *end || bits < 8 ||
                    bits > 32) {
                    *why = "expected an IPv4 CIDR like 127.0.1.0/24";
                    return HERD_E_INVAL;
                }
                uint32_t mask = bits == 32 ? 0xffffffffu : ~(0xffffffffu >> bits);
                lo = ntohl(((struct sockaddr_in *)&a.ss)->sin_addr.s_addr) & mask;
                hi = lo | ~mask;
                if (bits < 31) { /* skip network and broadcast addresses */
                    lo++;
                    hi--;
                }
            } else {
                *dash = 0;
                if (parse_one(item, &a) != 0 || parse_one(dash + 1, &b) != 0 ||
                    a.ss.ss_family != AF_INET || b.ss.ss_family != AF_INET) {
                    *why = "expected an IPv4 range like 127.0.0.2-127.0.0.40";
                    return HERD_E_INVAL;
                }
                lo = ntohl(((struct sockaddr_in *)&a.ss)->sin_addr.s_addr);
                hi = ntohl(((struct sockaddr_in *)&b.ss)->sin_addr.s_addr);
                if (hi < lo) {
                    *why = "range ends before it starts";
                    return HERD_E_INVAL;
                }
            }
            for (uint64_t v = lo; v <= hi; v++) {
                if (n >= max) {
                    *why = "too many source addresses";
                    return HERD_E_INVAL;
                }
                memset(&out[n], 0, sizeof out[n]);
                struct sockaddr_in *s4 = (struct sockaddr_in *)&out[n].ss;
                s4->sin_family = AF_INET;
                s4->sin_addr.s_addr = htonl((uint32_t)v);
                out[n].len = sizeof *s4;
                n++;
            }
        } else {
            if (n >= max) {
                *why = "too many source addresses";
                return HERD_E_INVAL;
            }
            if (parse_one(item, &out[n]) != 0) {
                *why = "expected an IP address";
                return HERD_E_INVAL;
            }
            n++;
        }
    }
    return (int)n;
}

void net_addr_format(const struct net_addr *a, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)&a->ss;
        inet_ntop(AF_INET, &s->sin_addr, ip, sizeof ip);
        port = ntohs(s->sin_port);
        snprintf(out, outlen, "%s:%u", ip, port);
    } else {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&a->ss;
        inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof ip);
        port = ntohs(s->sin6_port);
        snprintf(out, outlen, "[%s]:%u", ip, port);
    }
}

int net_connect_start(const struct net_addr *dst, const struct net_addr *src, int rcvbuf)
{
    int fd = socket(dst->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (src) {
        /* Defer the port choice to connect(): with a bound port the kernel could not reuse it
         * for other destinations, and the ~28k ports per address would run out sooner. */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (const struct sockaddr *)&src->ss, src->len) != 0) {
            int e = errno;
            close(fd);
            return -e;
        }
    }
    if (connect(fd, (const struct sockaddr *)&dst->ss, dst->len) != 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int net_connect_result(int fd)
{
    int e = 0;
    socklen_t len = sizeof e;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0)
        return -errno;
    return -e;
}

/* A TCP socket bound to addr:port (SO_REUSEADDR, SO_REUSEPORT when reuseport), not listening:
 * the fd or -errno. */
static int bound_socket(const char *addr, uint16_t port, int reuseport)
{
    struct net_addr a;
    if (parse_one(addr, &a) != 0)
        return -EINVAL;
    if (a.ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&a.ss)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)&a.ss)->sin6_port = htons(port);
    int fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&a.ss, a.len) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int net_listen(const char *addr, uint16_t port, int reuseport, int backlog)
{
    int fd = bound_socket(addr, port, reuseport);
    if (fd >= 0 && listen(fd, backlog) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int net_port_free(const char *addr, uint16_t port)
{
    /* A bind never completes a TCP handshake: unlike a listen-and-close probe, it cannot accept
     * a client's connection into a backlog and then reset it. */
    int fd = bound_socket(addr, port, 0);
    if (fd < 0)
        return fd;
    close(fd);
    return 0;
}

uint16_t net_local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

int net_accept(int lfd)
{
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

void net_close(int fd, int reset)
{
    if (fd < 0)
        return;
    if (reset) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(fd);
}
