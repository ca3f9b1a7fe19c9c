#include "server/server.h"

#include <string.h>

void server_params_defaults(struct server_params *p)
{
    memset(p, 0, sizeof *p);
    p->bind = "127.0.0.1";
    p->port = 8080;
    p->slow_policy = SLOW_BUFFER;
    p->queue_limit = 1u << 20;
    p->history = 1024;
    p->procs = 1;
}
