/* wolfssl_speed.c - wolfCrypt's speed for what a full TLS 1.3 handshake with an ECDSA P-256
 * certificate and X25519 costs, as `openssl speed ecdhx25519 ecdsap256` gives it for OpenSSL
 * (Debian ships no wolfSSL benchmark tool): ECDSA P-256 signs and verifies of a SHA-256 hash,
 * and X25519 operations (one key generation + one shared secret, counted as two operations,
 * which is what `openssl speed ecdhx25519` times: keygen is one scalar multiplication too).
 *
 * usage: wolfssl_speed [SECONDS]     (default 3 per test)
 * prints: ecdsap256_sign=OPS/s ecdsap256_verify=OPS/s x25519=OPS/s
 *
 * Built by bench/connrate.py: cc -O2 bench/wolfssl_speed.c -lwolfssl. */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/curve25519.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/random.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "wolfssl_speed: %s failed: %d\n", what, rc);
    exit(1);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 3.0;
    WC_RNG rng;
    int rc = wc_InitRng(&rng);
    if (rc)
        die("wc_InitRng", rc);

    ecc_key key;
    wc_ecc_init(&key);
    if ((rc = wc_ecc_make_key_ex(&rng, 32, &key, ECC_SECP256R1)) != 0)
        die("wc_ecc_make_key_ex", rc);
    unsigned char hash[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                              17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
    unsigned char sig[ECC_MAX_SIG_SIZE];
    word32 siglen = 0;

    long n = 0;
    double t0 = now(), t;
    do {
        siglen = sizeof sig;
        if ((rc = wc_ecc_sign_hash(hash, sizeof hash, sig, &siglen, &rng, &key)) != 0)
            die("wc_ecc_sign_hash", rc);
        n++;
    } while ((t = now() - t0) < secs);
    double sign = (double)n / t;

    n = 0;
    t0 = now();
    do {
        int ok = 0;
        if ((rc = wc_ecc_verify_hash(sig, siglen, hash, sizeof hash, &ok, &key)) != 0 || !ok)
            die("wc_ecc_verify_hash", rc ? rc : -1);
        n++;
    } while ((t = now() - t0) < secs);
    double verify = (double)n / t;

    curve25519_key peer;
    wc_curve25519_init(&peer);
    if ((rc = wc_curve25519_make_key(&rng, 32, &peer)) != 0)
        die("wc_curve25519_make_key", rc);
    n = 0;
    t0 = now();
    do {
        curve25519_key k;
        unsigned char out[32];
        word32 outlen = sizeof out;
        wc_curve25519_init(&k);
        if ((rc = wc_curve25519_make_key(&rng, 32, &k)) != 0)
            die("wc_curve25519_make_key", rc);
        if ((rc = wc_curve25519_shared_secret(&k, &peer, out, &outlen)) != 0)
            die("wc_curve25519_shared_secret", rc);
        wc_curve25519_free(&k);
        n += 2;
    } while ((t = now() - t0) < secs);
    double x25519 = (double)n / t;

    printf("ecdsap256_sign=%.0f ecdsap256_verify=%.0f x25519=%.0f\n", sign, verify, x25519);
    wc_curve25519_free(&peer);
    wc_ecc_free(&key);
    wc_FreeRng(&rng);
    return 0;
}
