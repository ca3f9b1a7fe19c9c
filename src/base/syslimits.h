/* syslimits.h - the process's system limits that herd raises for itself (tcpkali's
 * syslimits.c): one descriptor per connection needs more than the usual soft limit of 1024. */
#ifndef HERD_BASE_SYSLIMITS_H
#define HERD_BASE_SYSLIMITS_H

/* Raise the soft RLIMIT_NOFILE to the hard limit. Returns the soft limit in force afterwards
 * (1024 when it cannot be read). Safe to call more than once. */
unsigned long syslimits_nofile_raise(void);

#endif
