#!/usr/bin/env bash
# idle_rss.sh - herd's memory per idle connection: the RSS of `herd run --role idle` holding
# 10 000 connections, less the RSS of the same run holding 1, over the 9 999 extra connections.
#
#   bench/idle_rss.sh [REPEATS]        (default 3; env PORT, CONNS, WAIT, NO_BUILD=1)
#
# Each run: `herd run --role idle -c N -d 20s -t 1` against `herd serve` (started here), VmRSS of
# the herd process read from /proc/PID/status WAIT seconds (8) after the start, when every
# connection is open (checked: the process holds N sockets). The run then finishes its 20 s and
# its JSON report must show N opened and none failed. Socket buffers are kernel memory and not
# in RSS: this is herd's own memory (heap, stacks, histograms, pools), which is what the target
# of < 1 KiB per idle connection is about.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
HERD=$ROOT/build/release/herd
REPEATS=${1:-3}
PORT=${PORT:-18282}
CONNS=${CONNS:-10000}
WAIT=${WAIT:-8}
ulimit -n 20000

[ -n "${NO_BUILD:-}" ] || make -s -C "$ROOT"
TMP=$(mktemp -d /tmp/herd-bench-rss.XXXXXX)
SERVER_PID=
cleanup() {
    [ -z "$SERVER_PID" ] || kill "$SERVER_PID" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

# sizeof(struct conn), from the headers herd is built with.
cat >"$TMP/sz.c" <<'EOF'
#include "client/conn.h"
#include <stdio.h>
int main(void)
{
    printf("%zu\n", sizeof(struct conn));
    return 0;
}
EOF
# shellcheck disable=SC2046
cc -std=c11 -D_GNU_SOURCE -I"$ROOT/src" $(pkg-config --cflags openssl zlib yaml-0.1 jansson \
    2>/dev/null) "$TMP/sz.c" -o "$TMP/sz"
CONN_SIZE=$("$TMP/sz")

taskset -c 0 "$HERD" serve --port "$PORT" --threads 1 -q &
SERVER_PID=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.05
done

# rss_kib N: start an idle run of N connections, print its VmRSS (KiB) after WAIT seconds.
rss_kib() {
    local n=$1 json=$TMP/idle-$1.json
    taskset -c 1 "$HERD" run --role idle -c "$n" -d 20s -t 1 -q --json "$json" \
        "ws://127.0.0.1:$PORT/echo" >/dev/null &
    local pid=$!
    sleep "$WAIT"
    local socks rss
    socks=$(find "/proc/$pid/fd" -lname 'socket:*' | wc -l)
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
    wait "$pid"
    if [ "$socks" -lt "$n" ]; then
        echo "idle_rss: only $socks of $n sockets open after ${WAIT}s" >&2
        exit 1
    fi
    /usr/bin/python3 - "$json" "$n" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))["counters"]
n = int(sys.argv[2])
if c["connections.opened"] != n or c["connections.failed"] != 0:
    sys.exit(f"idle_rss: opened {c['connections.opened']} failed {c['connections.failed']}")
EOF
    echo "$rss"
}

echo "sizeof(struct conn) = $CONN_SIZE bytes"
per=()
for r in $(seq "$REPEATS"); do
    one=$(rss_kib 1)
    many=$(rss_kib "$CONNS")
    b=$(((many - one) * 1024 / (CONNS - 1)))
    per+=("$b")
    echo "round $r: VmRSS -c 1 = $one KiB, -c $CONNS = $many KiB -> $b bytes per idle connection"
    sleep 1
done
sorted=$(printf '%s\n' "${per[@]}" | sort -n)
echo "bytes per idle connection: median $(echo "$sorted" | sed -n "$(((REPEATS + 1) / 2))p")" \
    "[$(echo "$sorted" | head -1)..$(echo "$sorted" | tail -1)] over $REPEATS runs"
