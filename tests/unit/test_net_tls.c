/* test_net_tls.c - the library-independent part of net/tls.c: ALPN selection from a client's
 * protocol list (wire format, attacker-controlled in herd serve), the IP-literal test that
 * decides SNI, and the thread's last failure. */
#include "base/compiler.h"
#include "net/tls_internal.h"
#include "tap.h"

#include <string.h>

static int pick(const char *wire, size_t n, const unsigned char **sel)
{
    return net_tls__alpn_pick((const unsigned char *)wire, (unsigned)n, sel);
}

static void test_alpn_pick(void)
{
    const unsigned char *sel = NULL;
    /* Alone, first, last, between others. */
    static const char only[] = "\x08http/1.1";
    CHECK(pick(only, sizeof only - 1, &sel));
    CHECK_EQ_MEM(sel, "http/1.1", 8);
    CHECK(sel == (const unsigned char *)only + 1);
    static const char last[] = "\x02h2\x08http/1.1";
    CHECK(pick(last, sizeof last - 1, &sel));
    CHECK(sel == (const unsigned char *)last + 4);
    static const char mid[] = "\x02h2\x08http/1.1\x06spdy/3";
    CHECK(pick(mid, sizeof mid - 1, &sel));
    CHECK(sel == (const unsigned char *)mid + 4);
    /* Not offered: other protocols, a prefix, a longer name, empty entries, nothing. */
    static const char *const no[] = {"\x02h2",        "\x08http/1.0", "\x07http/1.",
                                     "\x09http/1.11", "\x00\x00",     ""};
    static const size_t no_len[] = {3, 9, 8, 10, 2, 0};
    for (size_t i = 0; i < ARRAY_SIZE(no); i++) {
        sel = NULL;
        CHECK(!pick(no[i], no_len[i], &sel));
        CHECK(sel == NULL);
    }
    /* A length running past the end is refused, even when http/1.1 would follow it. */
    static const char past[] = "\x20h2";
    CHECK(!pick(past, sizeof past - 1, &sel));
    static const char cut[] = "\x08http/1.";
    CHECK(!pick(cut, sizeof cut - 1, &sel));
    static const char bad_then[] = "\x02h2\x09http/1.1";
    CHECK(!pick(bad_then, sizeof bad_then - 1, &sel));
}

static void test_is_ip(void)
{
    CHECK(net_tls__is_ip("127.0.0.1"));
    CHECK(net_tls__is_ip("::1"));
    CHECK(net_tls__is_ip("2001:db8::7"));
    CHECK(!net_tls__is_ip("localhost"));
    CHECK(!net_tls__is_ip("example.com"));
    CHECK(!net_tls__is_ip("127.0.0.1.example"));
    CHECK(!net_tls__is_ip("[::1]"));
    CHECK(!net_tls__is_ip(""));
}

static void test_last_error(void)
{
    net_tls__fail(NET_TLS_FAIL_ALERT, "TLS read: %s", "alert");
    CHECK_EQ_STR(net_tls_last_error(), "TLS read: alert");
    CHECK(net_tls_last_fail() == NET_TLS_FAIL_ALERT);
    net_tls__fail(NET_TLS_FAIL_VERIFY, "x");
    CHECK(net_tls_last_fail() == NET_TLS_FAIL_VERIFY);
    CHECK(strlen(net_tls_library()) > 8);
}

int main(void)
{
    test_alpn_pick();
    test_is_ip();
    test_last_error();
    return tap_done();
}
