/* usage.c - the help texts. Option names here are DESIGN.md's contract; keep them in step with
 * the tables in options.c. */
#include "cli/cli.h"

#include <string.h>

static const char usage_top[] =
    "herd - load generator for WebSocket and Server-Sent Events APIs\n"
    "\n"
    "usage: herd COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  run [OPTIONS] URL         load test one target (ws:// wss:// -> WebSocket,\n"
    "                            http:// https:// -> SSE)\n"
    "  run -f SCENARIO.yaml      several groups of connections from one file\n"
    "  serve [OPTIONS]           the built-in target: echo, pub/sub broadcast, SSE, fault knobs\n"
    "  demo                      serve on loopback, a short mixed run against it, reports\n"
    "  merge A.json B.json ...   merge the reports of shards into one (histograms merge exactly)\n"
    "  report RUN.json           render a saved report\n"
    "\n"
    "Run `herd COMMAND --help` for the options of a command.\n"
    "\n"
    "exit codes: 0 done and thresholds held, 1 a threshold failed, 2 bad usage or scenario,\n"
    "            3 the run could not happen (e.g. no connection ever opened)\n";

static const char usage_run[] =
    "usage: herd run [OPTIONS] URL\n"
    "       herd run -f SCENARIO.yaml [OPTIONS]\n"
    "\n"
    "Open many connections to URL, drive traffic through them and measure. ws:// and wss://\n"
    "are WebSocket, http:// and https:// are Server-Sent Events (role subscribe).\n"
    "\n"
    "load:\n"
    "  -c, --connections N       concurrent connections to hold (default 10; 10k, 1M allowed)\n"
    "  -d, --duration DUR        run time after the first connection opens (default 10s)\n"
    "  -t, --threads N           event-loop threads (default: number of CPUs)\n"
    "      --role ROLE           ping (default): WebSocket PINGs, time the PONGs\n"
    "                            echo: send data, time the echo\n"
    "                            publish: send stamped messages at --rate\n"
    "                            subscribe: receive, time the stamps one way\n"
    "                            idle: hold the connection only\n"
    "      --connect-rate R      new connections per second (default: as fast as possible)\n"
    "      --rate R              messages per second per connection (open model, timed from\n"
    "                            the intended send time)\n"
    "      --pipeline K          closed model: messages in flight per connection (default 1)\n"
    "      --shard I/N           take shard I of N of every count and rate (0 <= I < N)\n"
    "      --procs N             spread the run over N local processes, merged exactly\n"
    "                            (automatic when the descriptor limit is below -c)\n"
    "\n"
    "messages:\n"
    "  -s, --size BYTES          payload size (256, 4k, 1MiB)\n"
    "      --text, --binary      data frame type (default text)\n"
    "      --message STR         message template; {{stamp}}, {{seq}} and {{conn}} are filled in\n"
    "      --message-file F      the template from a file\n"
    "      --max-message BYTES   largest message accepted (default 64MiB)\n"
    "\n"
    "handshake:\n"
    "  -H, --header 'K: V'       extra request header (repeatable)\n"
    "      --subprotocol P       offer Sec-WebSocket-Protocol P\n"
    "      --origin O            send Origin: O\n"
    "      --compress            offer permessage-deflate\n"
    "      --timeout DUR         connect + handshake timeout (default 10s)\n"
    "      --idle-timeout DUR    fail a connection silent for this long (default: never)\n"
    "      --ping-interval DUR   keep-alive PINGs on idle or subscribing connections\n"
    "      --bind ADDRS          local source addresses, e.g. 127.0.0.2-127.0.0.40\n"
    "\n"
    "reconnects and slow readers:\n"
    "      --reconnect           open again after a drop\n"
    "      --backoff SPEC        none, fixed:1s or exp:100ms..30s, optionally\n"
    "                            ,jitter=full|equal|none\n"
    "      --max-retries N       reconnect attempts per connection (default: unlimited)\n"
    "      --read-rate BYTES/s   read at most this fast (64k/s); 0 stops reading\n"
    "\n"
    "TLS (wss://, https://):\n"
    "      --insecure            do not verify the server's certificate\n"
    "      --cacert F            CA certificates to verify with\n"
    "      --cert F --key F      client certificate and its key\n"
    "      --sni NAME            server name to send (default: the URL's host)\n"
    "      --tls-resume          resume TLS sessions on reconnect\n"
    "\n"
    "results:\n"
    "      --threshold EXPR      fail the run (exit 1) unless EXPR holds; repeatable, e.g.\n"
    "                            rtt.p99<20ms  errors==0  connections.failed<1%\n"
    "                            messages.received/s>1000  latency.p99.9<=5ms\n"
    "      --json F              JSON report (written atomically, also on Ctrl-C)\n"
    "      --csv F               time series, one row per second\n"
    "      --html F              HTML report\n"
    "      --hlog F              HdrHistogram interval log\n"
    "  -q, --quiet               no live progress line\n"
    "  -f, --file F              scenario file (YAML); its keys are these long options\n"
    "      --check               check the options (and -f file), print the groups, run nothing\n"
    "  -h, --help                this text\n"
    "\n"
    "Durations: 500ms, 30s, 2m, 1h, 1m30s (a bare number is seconds). Rates: 100, 100/s,\n"
    "6000/m, 5/ms. Counts: 10000, 10k, 1M. Sizes: 256, 4k, 1MiB (powers of 1024).\n"
    "Threshold metrics: connect tls handshake ready first_message rtt latency fanout reconnect,\n"
    "with .p50 .p90 .p99 .p99.9 .p999 .min .max .mean .count; times in us (default), ms or s.\n"
    "Counters: connections.* messages.* bytes.* pings.* errors errors.<class>; name/s is a\n"
    "rate, N% a ratio (connections.failed, errors, messages.lost, messages.duplicated).\n";

static const char usage_serve[] =
    "usage: herd serve [OPTIONS]\n"
    "\n"
    "The built-in target:\n"
    "  ws://HOST/echo              echo every data message, pong every ping\n"
    "  ws://HOST/pubsub/TOPIC      broadcast every message to every other connection on TOPIC\n"
    "  http://HOST/sse/TOPIC       the topic as an event stream (honours Last-Event-ID)\n"
    "  POST http://HOST/publish/TOPIC  publish the body to TOPIC (answer 200, keep-alive)\n"
    "A message published on TOPIC (WebSocket, POST or --tick) goes to every WebSocket and\n"
    "event stream on TOPIC but its sender.\n"
    "\n"
    "options:\n"
    "      --bind ADDR           address to listen on (default 127.0.0.1)\n"
    "      --port N              port (default 8080; 0 = any free port)\n"
    "  -t, --threads N           event-loop threads (default: number of CPUs)\n"
    "      --procs N             N processes sharing the port (SO_REUSEPORT), --threads each;\n"
    "                            topics are per process\n"
    "      --tls-cert F          serve TLS (wss://, https://) with this certificate ...\n"
    "      --tls-key F           ... and this key\n"
    "      --max-connections N   refuse connections beyond N (default: unlimited)\n"
    "      --history N           messages per topic kept for Last-Event-ID (default 1024)\n"
    "      --sse-retry DUR       start every event stream with retry: DUR\n"
    "  -q, --quiet               print nothing but errors\n"
    "  -h, --help                this text\n"
    "\n"
    "faults to rehearse:\n"
    "      --delay DUR           hold each reply this long\n"
    "      --stall DUR           freeze for DUR ...\n"
    "      --stall-every DUR     ... every DUR (shows coordinated omission)\n"
    "      --tick R              publish stamped messages to topic \"tick\" at R per second\n"
    "      --slow-policy P       what a slow subscriber gets: buffer (default), drop or close\n"
    "      --queue-limit BYTES   per-subscriber queue before the policy applies (default 1MiB)\n"
    "      --sndbuf BYTES        SO_SNDBUF of accepted sockets (default: the kernel's autotuning;\n"
    "                            e.g. --sndbuf 32k --queue-limit 64k for prompt slow policies)\n"
    "      --reject P            answer a fraction P of upgrades with 503 (0.1 or 10%)\n"
    "      --die-after DUR       exit abruptly after DUR\n";

static const char usage_demo[] =
    "usage: herd demo [OPTIONS]\n"
    "\n"
    "Start `herd serve` on loopback, run a short ping load and a short echo load against it,\n"
    "print the summaries and write a JSON report of each. Nothing to set up.\n"
    "\n"
    "options:\n"
    "      --out DIR             where the reports go (default herd-demo)\n"
    "  -d DUR                    length of each phase (default 3s)\n"
    "  -c N                      connections (default 100)\n"
    "  -h, --help                this text\n";

static const char usage_merge[] =
    "usage: herd merge [OPTIONS] A.json B.json ...\n"
    "\n"
    "Merge the JSON reports of the shards of one run (herd run --shard I/N, or --procs) into\n"
    "one and print its summary. Counters and errors add up and histograms merge bucket by\n"
    "bucket, so percentiles are exact; per-second percentiles of the time series become the\n"
    "largest of the shards' (an upper bound). The reports' thresholds are evaluated again on\n"
    "the merged figures, with any given here.\n"
    "\n"
    "options:\n"
    "      --json F              write the merged report (default: print the summary only)\n"
    "      --csv F               write the merged time series as CSV\n"
    "      --threshold EXPR      check EXPR on the merged figures (exit 1 if it fails)\n"
    "  -h, --help                this text\n"
    "\n"
    "exit codes: 0 merged and thresholds held, 1 a threshold failed, 2 bad usage or a file\n"
    "            that is not a herd report\n";

static const char usage_report[] =
    "usage: herd report RUN.json [--html F] [--csv F]\n"
    "\n"
    "Print the summary of a saved JSON report, and render it to other formats.\n"
    "\n"
    "options:\n"
    "      --html F              write an HTML report\n"
    "      --csv F               write the time series as CSV\n"
    "  -h, --help                this text\n";

void cli_usage(FILE *out, const char *cmd)
{
    static const struct {
        const char *cmd;
        const char *text;
    } texts[] = {
        {"run", usage_run},     {"serve", usage_serve},   {"demo", usage_demo},
        {"merge", usage_merge}, {"report", usage_report},
    };
    for (size_t i = 0; cmd && i < sizeof texts / sizeof texts[0]; i++) {
        if (strcmp(cmd, texts[i].cmd) == 0) {
            fputs(texts[i].text, out);
            return;
        }
    }
    fputs(usage_top, out);
}
