/* compiler.h - compiler helpers shared by every module (header only, libc only). */
#ifndef HERD_BASE_COMPILER_H
#define HERD_BASE_COMPILER_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define PRINTF_LIKE(fmt, args) __attribute__((format(printf, fmt, args)))
#define NORETURN __attribute__((noreturn))
#define UNUSED __attribute__((unused))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Pointer to the struct that embeds `ptr` as its member `member`. */
#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Invariant checks stay on in release builds: a broken invariant in a load generator means
 * wrong numbers, which is worse than a crash. */
#define HERD_ASSERT(expr)                                                                          \
    do {                                                                                           \
        if (UNLIKELY(!(expr))) {                                                                   \
            fprintf(stderr, "herd: assertion failed at %s:%d: %s\n", __FILE__, __LINE__, #expr);   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
