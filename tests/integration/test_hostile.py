"""Hostile peers: servers and clients written for these tests to misbehave on purpose, and the
bounds herd keeps against them (docs/reliability.md lists the guarantees these tests check).

Each peer is a raw socket script (conftest's raw_server) or a raw client socket, so every byte on
the wire is the test's choice."""
import socket
import time

from conftest import drain_until_closed, error_count, read_http_head, scaled


def read_until_closed(s, limit=1 << 20):
    """Everything the peer sends until it closes its side (or `limit` bytes)."""
    buf = b""
    while len(buf) < limit:
        data = s.recv(65536)
        if not data:
            break
        buf += data
    return buf


def post(port, head_lines, body=b""):
    """Send a POST /publish/t with the given header lines and body on a fresh connection; return
    every byte of the answer up to the server's close."""
    s = socket.create_connection(("127.0.0.1", port), timeout=scaled(5))
    s.sendall(b"POST /publish/t HTTP/1.1\r\nHost: x\r\n" + b"".join(h + b"\r\n" for h in head_lines)
              + b"\r\n" + body)
    try:
        return read_until_closed(s)
    finally:
        s.close()


# ---- herd serve: request framing (RFC 9112 6.3) ----

def test_serve_refuses_both_framings(herd_serve):
    """Content-Length with chunked coding is the request smuggling shape: 400, then close (no
    second request is read from what follows)."""
    srv = herd_serve()
    for heads in ([b"Content-Length: 5", b"Transfer-Encoding: chunked"],
                  [b"Transfer-Encoding: chunked", b"Content-Length: 5"]):
        got = post(srv.port, heads, b"0\r\n\r\nPOST /publish/t HTTP/1.1\r\nHost: x\r\n"
                                    b"Content-Length: 1\r\n\r\nx")
        assert got.startswith(b"HTTP/1.1 400 "), got[:200]
        assert b"Connection: close\r\n" in got
        assert got.count(b"HTTP/1.1 ") == 1, "a smuggled second request was answered"


def test_serve_refuses_differing_lengths(herd_serve):
    srv = herd_serve()
    for heads in ([b"Content-Length: 5", b"Content-Length: 6"], [b"Content-Length: 5, 6"],
                  [b"Content-Length: 5,"], [b"Content-Length: +5"], [b"Content-Length:"]):
        got = post(srv.port, heads, b"hello!")
        assert got.startswith(b"HTTP/1.1 400 "), (heads, got[:200])
        assert got.count(b"HTTP/1.1 ") == 1


def test_serve_accepts_a_repeated_equal_length(herd_serve):
    """The same length twice is one length (RFC 9110 8.6): answered 200, kept alive."""
    srv = herd_serve()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=scaled(5))
    s.sendall(b"POST /publish/t HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
              b"Content-Length: 5\r\n\r\nhello")
    assert s.recv(4096) == b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    s.close()


def test_serve_refuses_unknown_coding(herd_serve):
    srv = herd_serve()
    got = post(srv.port, [b"Transfer-Encoding: gzip, chunked"], b"0\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 400 "), got[:200]


# ---- herd run against a server that answers the upgrade in HTTP/1.0 ----

def test_client_refuses_http10_upgrade(raw_server, run_herd):
    def handler(conn, stop):
        head = read_http_head(conn, stop)
        if head is None:
            return
        import base64
        import hashlib
        key = head.get("sec-websocket-key", "")
        acc = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        conn.sendall(("HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Accept: {acc}\r\n\r\n").encode())
        drain_until_closed(conn, stop)

    srv = raw_server(handler)
    t0 = time.monotonic()
    code, rep, err = run_herd("-c", 1, "-d", "2s", "-t", 1, srv.url("/"), timeout=20)
    assert code == 3, err
    assert rep["counters"]["connections.opened"] == 0
    assert error_count(rep, "handshake") >= 1
    assert time.monotonic() - t0 < scaled(15)
