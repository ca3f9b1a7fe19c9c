/* echo.c - ws://H/echo: every data frame goes back as it came, re-framed in place (wsconn.c), so
 * an echo costs no copy. A fragmented message is echoed fragment by fragment with the same
 * FIN/opcode sequence, which is valid and needs no buffering. */
#include "server/srv_app.h"

static int srv_echo_message(struct srv_conn *c, const struct ws_frame *f, uint8_t *pl, int complete,
                            uint64_t due)
{
    (void)complete;
    return srv_ws__reply(c, f, f->opcode, pl, due);
}

static const struct srv_app_hooks srv_echo_hooks = {.message = srv_echo_message};

const struct srv_session_ops srv_echo__ws = SRV_WS_SESSION(&srv_echo_hooks);
