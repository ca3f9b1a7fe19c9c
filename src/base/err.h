/* err.h - herd's error codes.
 *
 * One convention everywhere: functions return an int >= 0 on success (a codec returns the number
 * of bytes consumed) and a negative value on failure. Syscall wrappers return -errno; herd's own
 * codes start at -1000 so that they never collide with -errno. herd_strerror() covers both. */
#ifndef HERD_BASE_ERR_H
#define HERD_BASE_ERR_H

enum herd_err {
    HERD_E_AGAIN = -1000, /* need more bytes (picohttpparser's -2) */
    HERD_E_PROTO = -1001, /* protocol violation: invalid frame, head or event stream */
    HERD_E_TOO_BIG = -1002, /* a size limit was passed */
    HERD_E_UTF8 = -1003, /* invalid UTF-8 in a text message or close reason */
    HERD_E_HANDSHAKE = -1004, /* bad upgrade reply (missing/wrong header, wrong accept key) */
    HERD_E_STATUS = -1005, /* unexpected HTTP status */
    HERD_E_CLOSED = -1006, /* peer closed (EOF) */
    HERD_E_TIMEOUT = -1007, /* a deadline passed */
    HERD_E_TLS = -1008, /* TLS failure */
    HERD_E_NOMEM = -1009, /* out of memory */
    HERD_E_INVAL = -1010, /* invalid argument */
    HERD_E_DNS = -1011, /* name resolution failed */
};

/* A static, human readable text for a negative error code (herd's own or -errno). */
const char *herd_strerror(int err);

#endif
