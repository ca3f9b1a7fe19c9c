#!/usr/bin/env bash
# tls_cpu.sh - CPU per TLS handshake of herd's client and of herd serve, for one or more herd
# builds (e.g. OpenSSL and wolfSSL) measured back to back, repeated, medians: the figure that
# stays meaningful on a machine shared with other work, where the highest rate held
# (bench/connrate.py) moves with the neighbours' load.
#
#   bench/tls_cpu.sh [REPEATS] HERD...     (default 5; env CONNS (1500), RATE (300),
#                                            EXTRA="--tls-resume" for resumed handshakes,
#                                            SERVE=HERD: one server build for every client)
#
# Each round, for each HERD in turn: `taskset -c 0 HERD serve -t 1 -q --tls-cert/--tls-key`
# (ECDSA P-256, made here; SERVE overrides the binary), then
#   taskset -c 1 HERD run --role idle -c CONNS --connect-rate RATE -d (CONNS/RATE+2)s -t 1 -q \
#       --json F --cacert cert.pem [EXTRA] wss://localhost:P/echo
# client CPU = utime+stime (wait4, via /usr/bin/time) over the connections opened; server CPU
# = its utime+stime from /proc around the run, over the same. Both include the TCP set-up,
# the upgrade, the idle time and the close: about 80 us for a plain ws:// connection on each
# side (docs/benchmarks.md), the rest is TLS. RATE stays well under either side's capacity.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REPEATS=${1:-5}
shift || true
[ $# -gt 0 ] || set -- "$ROOT/build/release/herd"
CONNS=${CONNS:-1500}
RATE=${RATE:-300}
EXTRA=${EXTRA:-}
ulimit -n 20000
TMP=$(mktemp -d /tmp/herd-bench-tlscpu.XXXXXX)
SP=
cleanup() {
    [ -z "$SP" ] || kill "$SP" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)

# one HERD: prints "client_us server_us opened resumed"
one() {
    local herd=$1 srv=${SERVE:-$1} port
    port=$(free_port)
    taskset -c 0 "$srv" serve --port "$port" -t 1 -q --tls-cert "$TMP/cert.pem" \
        --tls-key "$TMP/key.pem" &
    SP=$!
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
    local s0 s1
    s0=$(cpu_ticks "$SP")
    # shellcheck disable=SC2086
    /usr/bin/time -f "%U %S" -o "$TMP/time" taskset -c 1 "$herd" run --role idle -c "$CONNS" \
        --connect-rate "$RATE" -d "$((CONNS / RATE + 2))s" -t 1 -q --json "$TMP/r.json" \
        --cacert "$TMP/cert.pem" $EXTRA "wss://localhost:$port/echo" >/dev/null 2>&1 || true
    s1=$(cpu_ticks "$SP")
    kill "$SP"
    wait "$SP" 2>/dev/null || true
    SP=
    /usr/bin/python3 - "$TMP/r.json" "$TMP/time" "$s0" "$s1" "$TICK" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["counters"]
u, s = map(float, open(sys.argv[2]).read().split()[-2:])
o = max(r["connections.opened"], 1)
srv = (float(sys.argv[4]) - float(sys.argv[3])) / float(sys.argv[5])
print(f"{(u + s) * 1e6 / o:.0f} {srv * 1e6 / o:.0f} {r['connections.opened']} {r.get('tls.resumed', 0)}")
EOF
}

echo "tls_cpu: $CONNS connections at $RATE/s per run${EXTRA:+, $EXTRA}${SERVE:+, server $SERVE}; $REPEATS rounds"
declare -A cli srv
for r in $(seq "$REPEATS"); do
    for h in "$@"; do
        read -r c s o res < <(one "$h")
        echo "round $r $h: client $c us, server $s us per connection (opened $o, resumed $res)"
        cli[$h]="${cli[$h]:-} $c"
        srv[$h]="${srv[$h]:-} $s"
    done
done
med() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)] " [" a[1] ".." a[NR] "]"}'; }
for h in "$@"; do
    echo "$h: client $(echo "${cli[$h]}" | med) us, server $(echo "${srv[$h]}" | med) us per connection (median [range] of $REPEATS)"
done
