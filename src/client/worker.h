/* worker.h - the top of the client (worker.c): runs and their worker threads. Internal to
 * src/client; the face for everyone else is client/client.h. Declared here for the unit tests,
 * which drive one worker's loop on their own thread with scripted peers. */
#ifndef HERD_CLIENT_WORKER_H
#define HERD_CLIENT_WORKER_H

#include "client/role.h"

/* Everything client_run_start does but starting the threads: resolve, TLS context, templates,
 * the seams, and every worker with its loop, connections and request. NULL with one line in err
 * when it cannot. */
struct client_run *run__prepare(const struct client_params *p, char *err, size_t errlen);

/* What a worker's thread does before its loop: callbacks, then start its connections (all, or
 * paced, or by the stages). The caller then runs loop_run_once(w->loop, ...). */
void worker__begin(struct worker *w);

#endif
