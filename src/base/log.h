/* log.h - leveled logging to stderr. Worker threads never log per message or per connection:
 * runtime failures are counted in stats, not logged. */
#ifndef HERD_BASE_LOG_H
#define HERD_BASE_LOG_H

#include "base/compiler.h"

enum log_level { LOG_QUIET = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* The process-wide level, set once by main before threads start. */
extern enum log_level log_level;

void log_warn(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_info(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_debug(const char *fmt, ...) PRINTF_LIKE(1, 2);

/* Print "herd: <message>" and exit(3). For failures at setup (out of memory). */
NORETURN void die(const char *fmt, ...) PRINTF_LIKE(1, 2);

/* malloc/calloc/realloc that die on failure: for setup paths only, never per message. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

#endif
