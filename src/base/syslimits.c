/* syslimits.c - raising the process's own limits (syslimits.h). */
#include "base/syslimits.h"

#include <sys/resource.h>

unsigned long syslimits_nofile_raise(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        /* A failure leaves the soft limit as it was; the second getrlimit says which. */
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
            return 1024;
    }
    return (unsigned long)rl.rlim_cur;
}
