#!/usr/bin/env bash
# tls_idle_rss.sh - herd's memory per idle connection over TLS (wss://), next to plain ws://:
# the VmRSS of `herd run --role idle` holding N connections, less that of the same run holding
# 1, over the N - 1 extra connections; the server's (herd serve) VmRSS growth per connection too.
#
#   bench/tls_idle_rss.sh [REPEATS]    (default 3; env CONNS (5000), RATE (1000), NO_BUILD=1,
#                                       EXTRA="--tls-resume" to add options to the TLS runs,
#                                       HERD=build/release-wolfssl/herd for another build:
#                                       both the client and the servers)
#
# Servers: `taskset -c 0 herd serve -t 1` twice, one plain, one with --tls-cert/--tls-key (an
# ECDSA P-256 certificate made here). Each run:
#   taskset -c 1 herd run --role idle -c N --connect-rate RATE -d D -t 1 -q --json F URL
# (TLS runs add --cacert cert.pem), with VmRSS read from /proc/PID/status once the process holds
# N sockets and its report later showing N opened and none failed. The connect rate keeps the
# TLS handshakes inside the server's capacity (about 1 500 full handshakes/s on one core here).
# Socket buffers are kernel memory and not in RSS; OpenSSL's SSL objects, their record buffers
# and the BIOs are heap, so they are in it.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
HERD=${HERD:-$ROOT/build/release/herd}
REPEATS=${1:-3}
CONNS=${CONNS:-5000}
RATE=${RATE:-1000}
EXTRA=${EXTRA:-}
ulimit -n 20000

[ -n "${NO_BUILD:-}" ] || make -s -C "$ROOT" all
TMP=$(mktemp -d /tmp/herd-bench-tlsrss.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "tls_idle_rss: nothing listens on $1" >&2
    exit 1
}
# Fresh servers every round: a server's heap keeps what earlier connections freed, which would
# hide its growth per connection.
start_servers() {
    PPORT=$(free_port)
    TPORT=$(free_port)
    taskset -c 0 "$HERD" serve --port "$PPORT" -t 1 -q &
    PSRV=$!
    PIDS+=("$PSRV")
    taskset -c 0 "$HERD" serve --port "$TPORT" -t 1 -q --tls-cert "$TMP/cert.pem" \
        --tls-key "$TMP/key.pem" &
    TSRV=$!
    PIDS+=("$TSRV")
    wait_port "$PPORT"
    wait_port "$TPORT"
}
stop_servers() {
    kill "$PSRV" "$TSRV"
    wait "$PSRV" "$TSRV" 2>/dev/null || true
}

rss_of() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
socks_of() { find "/proc/$1/fd" -lname 'socket:*' 2>/dev/null | wc -l; }

# run KIND N: prints "client_rss_kib server_rss_delta_kib"
run() {
    local kind=$1 n=$2 json=$TMP/$1-$2.json url srv opts=()
    if [ "$kind" = tls ]; then
        url="wss://localhost:$TPORT/echo"
        srv=$TSRV
        opts=(--cacert "$TMP/cert.pem")
        # shellcheck disable=SC2206
        [ -z "$EXTRA" ] || opts+=($EXTRA)
    else
        url="ws://127.0.0.1:$PPORT/echo"
        srv=$PSRV
    fi
    local ramp=$(((n + RATE - 1) / RATE))
    local s0
    s0=$(rss_of "$srv")
    taskset -c 1 "$HERD" run --role idle -c "$n" --connect-rate "$RATE" -d "$((ramp + 10))s" \
        -t 1 -q --json "$json" "${opts[@]}" "$url" >/dev/null &
    local pid=$! socks=0 waited=0
    # Wait until it holds n sockets (at most ramp + 8 s), then 1 s more to settle.
    while [ "$waited" -lt $(((ramp + 8) * 10)) ]; do
        socks=$(socks_of "$pid")
        [ "$socks" -ge "$n" ] && break
        sleep 0.1
        waited=$((waited + 1))
    done
    sleep 1
    local rss s1
    rss=$(rss_of "$pid")
    s1=$(rss_of "$srv")
    wait "$pid"
    if [ "$socks" -lt "$n" ]; then
        echo "tls_idle_rss: only $socks of $n sockets open" >&2
        exit 1
    fi
    /usr/bin/python3 - "$json" "$n" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))["counters"]
n = int(sys.argv[2])
if c["connections.opened"] != n or c["connections.failed"] != 0:
    sys.exit(f"tls_idle_rss: opened {c['connections.opened']} failed {c['connections.failed']}")
EOF
    # Let the server drop them before the next run.
    for _ in $(seq 100); do [ "$(socks_of "$srv")" -lt 8 ] && break; sleep 0.1; done
    echo "$rss $((s1 - s0))"
}

echo "herd $(git -C "$ROOT" rev-parse --short HEAD) ($HERD); N = $CONNS idle connections at $RATE/s${EXTRA:+; TLS runs with $EXTRA}"
declare -A per
for r in $(seq "$REPEATS"); do
    start_servers
    for kind in plain tls; do
        read -r one _ < <(run "$kind" 1)
        read -r many sdelta < <(run "$kind" "$CONNS")
        b=$(((many - one) * 1024 / (CONNS - 1)))
        sb=$((sdelta * 1024 / CONNS))
        per[$kind]="${per[$kind]:-} $b"
        per[${kind}_srv]="${per[${kind}_srv]:-} $sb"
        echo "round $r $kind: herd VmRSS -c 1 = $one KiB, -c $CONNS = $many KiB -> $b bytes per" \
            "idle connection; herd serve grew $sdelta KiB -> $sb bytes per connection"
    done
    stop_servers
done
med() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)] " [" a[1] ".." a[NR] "]"}'; }
for kind in plain tls; do
    echo "$kind: herd $(echo "${per[$kind]}" | med) bytes per idle connection;" \
        "herd serve $(echo "${per[${kind}_srv]}" | med) bytes per connection (median [range] of $REPEATS)"
done
