#include "base/err.h"

#include <string.h>

const char *herd_strerror(int err)
{
    switch (err) {
    case HERD_E_AGAIN: return "incomplete input";
    case HERD_E_PROTO: return "protocol violation";
    case HERD_E_TOO_BIG: return "size limit exceeded";
    case HERD_E_UTF8: return "invalid UTF-8";
    case HERD_E_HANDSHAKE: return "bad handshake reply";
    case HERD_E_STATUS: return "unexpected HTTP status";
    case HERD_E_CLOSED: return "connection closed by peer";
    case HERD_E_TIMEOUT: return "timed out";
    case HERD_E_TLS: return "TLS failure";
    case HERD_E_NOMEM: return "out of memory";
    case HERD_E_INVAL: return "invalid argument";
    case HERD_E_DNS: return "name resolution failed";
    default: break;
    }
    if (err < 0 && err > -4096)
        return strerror(-err);
    return "unknown error";
}
