/* test_base_base64.c - the one base64 of herd: RFC 4648 vectors, every byte value, and the
 * strict decoder's refusals. */
#include "base/base64.h"
#include "base/compiler.h"
#include "tap.h"

static void test_base64(void)
{
    /* RFC 4648 section 10 vectors. */
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                        "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    char text[64];
    uint8_t bin[64];
    for (size_t i = 0; i < ARRAY_SIZE(plain); i++) {
        size_t n = strlen(plain[i]);
        CHECK_EQ_I64(base64_encoded_len(n), strlen(coded[i]));
        base64_encode((const uint8_t *)plain[i], n, text);
        CHECK_EQ_STR(text, coded[i]);
        CHECK_EQ_I64(base64_decode(coded[i], strlen(coded[i]), bin), n);
        CHECK_EQ_MEM(bin, plain[i], n);
    }
    /* Unpadded text is accepted too. */
    CHECK_EQ_I64(base64_decode("Zm9vYg", 6, bin), 4);
    CHECK_EQ_I64(base64_decode("Zm9vYmE", 7, bin), 5);
    /* All 256 byte values through the whole alphabet. */
    uint8_t all[256], back[260];
    char all_text[400];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    base64_encode(all, sizeof all, all_text);
    CHECK_EQ_I64(base64_decode(all_text, strlen(all_text), back), 256);
    CHECK_EQ_MEM(back, all, 256);
    /* Refused: wrong alphabet, bad padding, a lone character, non-zero leftover bits. */
    static const char *const bad[] = {
        "Zg=",  "Z",    "Zm9vY", "Zh==", "Zm9=", "Zg==Zg==", "Z===",  "====", "Zm9v\n",
        "Zm-v", "Zm_v", "Zm9 ",  "=Zm9", "Zg=a", "Zm9vYg=",  "Zm\0v", "=",    "=="};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        size_t n = i == 15 ? 4 : strlen(bad[i]);
        long r = base64_decode(bad[i], n, bin);
        CHECK(r == -1);
        if (r != -1)
            printf("#   accepted \"%s\"\n", bad[i]);
    }
}

/* A WebSocket key is the base64 of 16 bytes: 24 characters ending in "==". */
static void test_key_length(void)
{
    uint8_t k[16] = {0};
    char text[32];
    CHECK_EQ_U64(base64_encode(k, 16, text), 24);
    CHECK_EQ_STR(text, "AAAAAAAAAAAAAAAAAAAAAA==");
    uint8_t back[32];
    CHECK_EQ_I64(base64_decode(text, 24, back), 16);
}

int main(void)
{
    test_base64();
    test_key_length();
    return tap_done();
}
