/* utf8.c - incremental UTF-8 validation as a small deterministic automaton.
 *
 * Each byte maps to one of 12 classes; the state and the class pick the next state. The states
 * remember only what the next continuation byte may be, which is all RFC 3629 section 4 needs:
 * the second byte after E0, ED, F0 and F4 has a narrower range (no overlongs, no surrogates,
 * nothing above U+10FFFF), every other continuation is 80..BF. The state is a small integer, so
 * it fits the 32-bit slot of struct ws_msg and survives fragment and read boundaries. */
#include "proto/utf8.h"

#include <string.h>

/* Byte classes. */
enum {
    C_ASCII, /* 00..7F */
    C_CONT1, /* 80..8F */
    C_CONT2, /* 90..9F */
    C_CONT3, /* A0..BF */
    C_BAD, /* C0 C1 (always overlong), F5..FF (above U+10FFFF) */
    C_LEAD2, /* C2..DF */
    C_E0, /* E0: second byte A0..BF, else overlong */
    C_LEAD3, /* E1..EC EE EF */
    C_ED, /* ED: second byte 80..9F, else a surrogate D800..DFFF */
    C_F0, /* F0: second byte 90..BF, else overlong */
    C_LEAD4, /* F1..F3 */
    C_F4, /* F4: second byte 80..8F, else above U+10FFFF */
};

/* States; ACCEPT and REJECT are fixed by utf8.h. */
enum {
    S_ACC = UTF8_ACCEPT,
    S_REJ = UTF8_REJECT,
    S_N1, /* one more continuation byte, any */
    S_N2, /* two more, any */
    S_N3, /* three more, any */
    S_E0, /* after E0 */
    S_ED, /* after ED */
    S_F0, /* after F0 */
    S_F4, /* after F4 */
    S_COUNT,
};

static const uint8_t byte_class[256] = {
    /* 00..7F */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 80..8F, 90..9F */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    /* A0..BF */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    /* C0..DF */
    4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
    /* E0..EF, F0..FF */
    6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 7, 9, 10, 10, 10, 11, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4};

/* next_state[state][class]; classes 12..15 are padding and never used. */
static const uint8_t next_state[S_COUNT][16] = {
    /*        ASC    C1     C2     C3     BAD    L2     E0     L3     ED     F0     L4     F4 */
    [S_ACC] = {S_ACC, S_REJ, S_REJ, S_REJ, S_REJ, S_N1, S_E0, S_N2, S_ED, S_F0, S_N3, S_F4},
    [S_REJ] = {S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ},
    [S_N1] = {S_REJ, S_ACC, S_ACC, S_ACC, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ},
    [S_N2] = {S_REJ, S_N1, S_N1, S_N1, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ},
    [S_N3] = {S_REJ, S_N2, S_N2, S_N2, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ},
    [S_E0] = {S_REJ, S_REJ, S_REJ, S_N1, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ},
    [S_ED] = {S_REJ, S_N1, S_N1, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ},
    [S_F0] = {S_REJ, S_REJ, S_N2, S_N2, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ},
    [S_F4] = {S_REJ, S_N2, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ},
};

#define HIGH_BITS 0x8080808080808080ull

uint32_t utf8_feed(uint32_t state, const uint8_t *p, size_t n)
{
    /* A state we never hand out can only come from a corrupted caller: fail closed rather
     * than index past the table. */
    if (state >= S_COUNT)
        return UTF8_REJECT;
    if (n == 0) /* p may be NULL, and NULL + 0 is undefined in C */
        return state;

    const uint8_t *end = p + n;
    while (p < end) {
        if (state == S_ACC && *p < 0x80) {
            /* Between characters and at an ASCII byte: skip ASCII a word at a time. memcpy
             * keeps the load legal at any alignment and compiles to one unaligned move on
             * x86-64 and arm64. Text that is not ASCII never enters this loop, so it pays
             * nothing for it. */
            p++;
            while (end - p >= 8) {
                uint64_t w;
                memcpy(&w, p, 8);
                if (w & HIGH_BITS)
                    break;
                p += 8;
            }
            while (p < end && *p < 0x80)
                p++;
            continue;
        }
        state = next_state[state][byte_class[*p++]];
        if (state == S_REJ)
            return UTF8_REJECT;
    }
    return state;
}

int utf8_valid(const uint8_t *p, size_t n)
{
    return utf8_feed(UTF8_ACCEPT, p, n) == UTF8_ACCEPT;
}
