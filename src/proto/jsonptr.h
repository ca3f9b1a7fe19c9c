/* jsonptr.h - JSON Pointers (RFC 6901) looked up in a JSON text (RFC 8259) in one pass, without
 * building a tree or allocating: for conversations that match messages by a field's value and
 * take a request's key from its reply. Pure: no I/O, no allocation, no logging.
 *
 * A pointer is compiled once (jptr_compile); json_find walks a message once for any number of
 * pointers and returns where each value lies in the text. A string value is returned as it is in
 * the text (between its quotes, escapes not undone): jval_eq and jval_copy undo them when they
 * compare or copy, so nothing is decoded unless it is looked at. */
#ifndef HERD_PROTO_JSONPTR_H
#define HERD_PROTO_JSONPTR_H

#include <stddef.h>
#include <stdint.h>

#define JPTR_MAX_DEPTH 16 /* reference tokens in a pointer */
#define JPTR_MAX_TEXT 256 /* bytes of all its tokens, unescaped */
#define JSON_MAX_NESTING 64 /* a deeper document is refused */

/* A compiled pointer: its reference tokens, unescaped (~1 -> /, ~0 -> ~). */
struct jptr {
    uint8_t ntok;
    uint16_t off[JPTR_MAX_DEPTH], len[JPTR_MAX_DEPTH];
    char text[JPTR_MAX_TEXT];
};

/* Compile the pointer p[0..n) ("" is the whole document, "/a/0/b~1c" three tokens). Returns 0,
 * or HERD_E_INVAL with *why (not starting with '/', a '~' not followed by 0 or 1, too deep or too
 * long). */
int jptr_compile(const char *p, size_t n, struct jptr *out, const char **why);

enum jval_type {
    JV_NONE = 0, /* not found */
    JV_STRING,
    JV_NUMBER,
    JV_TRUE,
    JV_FALSE,
    JV_NULL,
    JV_OBJECT,
    JV_ARRAY,
};

/* A value found: for a string, p[0..len) is what lies between its quotes (escapes as written);
 * for anything else the value's whole text. */
struct jval {
    const char *p;
    size_t len;
    uint8_t type; /* enum jval_type */
};

/* Walk json[0..len) once and fill out[i] with the value ptrs[i] points at (type JV_NONE when
 * there is none; an array token must be a decimal index, "-" never matches). Returns 0, or
 * HERD_E_PROTO when the text is not one valid JSON value (surrounding whitespace allowed;
 * nesting deeper than JSON_MAX_NESTING refused). */
int json_find(const char *json, size_t len, const struct jptr *ptrs, size_t n, struct jval *out);

/* Whether a value, as text, is s[0..n): a string's unescaped characters, a number's or a
 * literal's text as written. So the key 5 matches both 5 and "5". Objects and arrays compare
 * their text as written. */
int jval_eq(const struct jval *v, const char *s, size_t n);

/* The value as text (unescaped for a string) into out[0..cap). Returns its length, or -1 when it
 * does not fit. */
long jval_copy(const struct jval *v, char *out, size_t cap);

#endif
