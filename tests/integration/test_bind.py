"""--bind: source addresses taken round-robin by connection number (docs/usage.md).

A scripted WebSocket server on 127.0.0.1 records the source address of every connection it
accepts, completes the upgrade and holds the connection until herd closes it; with -c 8 over four
source addresses, each address must carry exactly two connections, whatever form names them
(range, CIDR, list)."""
import collections
import threading

import pytest

from conftest import drain_until_closed, read_http_head, usage_error, ws_accept_value


def _recording_ws_server(raw_server):
    peers = []
    lock = threading.Lock()

    def handler(conn, stop):
        with lock:
            peers.append(conn.getpeername()[0])
        head = read_http_head(conn, stop)
        if head is None:
            return
        accept = ws_accept_value(head.get("sec-websocket-key", ""))
        conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept +
                      "\r\n\r\n").encode())
        # Idle until herd's close frame arrives: answer it with close 1000, then hang up.
        buf = b""
        while not stop.is_set():
            try:
                chunk = conn.recv(4096)
            except OSError:
                chunk = None
            if chunk is None:
                continue
            if not chunk:
                return
            buf += chunk
            if buf and buf[0] & 0x0F == 0x8:
                conn.sendall(b"\x88\x02\x03\xe8")
                drain_until_closed(conn, stop)
                return

    srv = raw_server(handler)
    return srv, peers, lock


@pytest.mark.parametrize("spec, addrs", [
    ("127.0.0.2-127.0.0.5", ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]),
    # /30: 127.0.0.8..11, less the network and broadcast addresses: .9 and .10.
    ("127.0.0.8/30", ["127.0.0.9", "127.0.0.10"]),
    ("127.0.0.20,127.0.0.21,127.0.0.22,127.0.0.23",
     ["127.0.0.20", "127.0.0.21", "127.0.0.22", "127.0.0.23"]),
    ("127.0.0.30,127.0.0.31-127.0.0.33", ["127.0.0.30", "127.0.0.31", "127.0.0.32", "127.0.0.33"]),
])
@pytest.mark.parametrize("threads", [1, 2])
def test_bind_round_robin(raw_server, run_herd, spec, addrs, threads):
    srv, peers, lock = _recording_ws_server(raw_server)
    res = run_herd("--role", "idle", "-c", "8", "-d", "1s", "-t", threads, "--bind", spec,
                   srv.url("/"), timeout=30)
    assert res.code == 0, res.stderr
    c = res.report["counters"]
    assert c["connections.opened"] == 8 and c["connections.failed"] == 0, res.report["errors"]
    with lock:
        got = collections.Counter(peers)
    per = 8 // len(addrs)
    assert got == {a: per for a in addrs}, f"source addresses seen by the server: {dict(got)}"


def test_bind_cidr_skips_network_and_broadcast(raw_server, run_herd):
    # 127.0.0.40/29 is 127.0.0.40..47; herd uses .41..46, six addresses, so -c 12 is 2 each.
    srv, peers, lock = _recording_ws_server(raw_server)
    res = run_herd("--role", "idle", "-c", "12", "-d", "1s", "-t", "1", "--bind",
                   "127.0.0.40/29", srv.url("/"), timeout=30)
    assert res.code == 0, res.stderr
    with lock:
        got = collections.Counter(peers)
    assert got == {f"127.0.0.{i}": 2 for i in range(41, 47)}, dict(got)


@pytest.mark.parametrize("spec", ["127.0.0.5-127.0.0.2", "127.0.0.0/33", "not-an-address",
                                  "127.0.0.2,,127.0.0.3", ""])
def test_bind_bad_spec_is_usage_error(run_herd, free_port, spec):
    res = run_herd("--role", "idle", "-c", "1", "-d", "1s", "--bind", spec,
                   f"ws://127.0.0.1:{free_port()}/", timeout=15)
    assert res.code == 2, (res.code, res.stderr)
    usage_error(res.stderr, "--bind")
    assert res.report is None
