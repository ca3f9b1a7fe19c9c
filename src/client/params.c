#include "client/client.h"

#include "base/clock.h"

#include <string.h>

const char *const client_role_name[] = {
    [ROLE_PING] = "ping",           [ROLE_ECHO] = "echo", [ROLE_PUBLISH] = "publish",
    [ROLE_SUBSCRIBE] = "subscribe", [ROLE_IDLE] = "idle",
};

void client_params_defaults(struct client_params *p)
{
    memset(p, 0, sizeof *p);
    p->role = ROLE_PING;
    p->connections = 10;
    p->duration_ns = 10 * NS_PER_S;
    p->pipeline = 1;
    p->timeout_ns = 10 * NS_PER_S;
    p->max_message = 64u << 20;
    p->shard_count = 1;
    p->read_rate = -1;
}
