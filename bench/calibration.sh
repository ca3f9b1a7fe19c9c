#!/usr/bin/env bash
# calibration.sh - how much latency herd (plus herd serve and the loopback) adds to a known delay.
#
# herd serve --delay D holds every reply exactly D (timer wheel, 100 us ticks); herd's rtt minus
# D is then the overhead of the whole path: herd's send, the kernel, the server's read, its
# timer, its write, herd's read and timing. Light load: 10 connections; heavy: 500 connections
# each with a PING in flight (500 x 1/D = 50 000 round trips per second at D = 10 ms, well below the saturation point). Server on CPU 0, herd on CPU 1.
#
# usage: bench/calibration.sh [DELAY_MS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
DELAY_MS=${1:-10}
SECS=${2:-10}
HERD=build/release/herd
make -s "$HERD" >/dev/null
ulimit -n 20000
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
OUT=$(mktemp -d)
taskset -c 0 "$HERD" serve --port "$PORT" --threads 1 --delay "${DELAY_MS}ms" -q &
SRV=$!
trap 'kill $SRV 2>/dev/null; wait $SRV 2>/dev/null; rm -rf "$OUT"' EXIT
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

printf '%-8s %12s %10s %10s %10s %14s %14s\n' load connections rtt/s p50_us p99_us \
    overhead_p50 overhead_p99
for load in light:10 heavy:500; do
    name=${load%%:*} conns=${load##*:}
    taskset -c 1 "$HERD" run "ws://127.0.0.1:$PORT/echo" -c "$conns" -d "${SECS}s" -t 1 \
        --role ping -q --json "$OUT/$name.json" >/dev/null
    /usr/bin/python3 - "$OUT/$name.json" "$name" "$conns" "$DELAY_MS" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
h = r["histograms"]["rtt"]
d = int(sys.argv[4]) * 1000
rate = h["count"] / r["duration_s"]
print(f"{sys.argv[2]:<8} {sys.argv[3]:>12} {rate:>10.0f} {h['p50_us']:>10} {h['p99_us']:>10} "
      f"{h['p50_us'] - d:>14} {h['p99_us'] - d:>14}")
PY
done
