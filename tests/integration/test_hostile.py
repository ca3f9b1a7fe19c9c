"""Hostile peers: servers and clients written for these tests to misbehave on purpose, and the
bounds herd keeps against them (docs/reliability.md lists the guarantees these tests check).

Each peer is a raw socket script (conftest's raw_server) or a raw client socket, so every byte on
the wire is the test's choice."""
import socket
import time

from conftest import (CHILD_ENV, HERD_BUILD, drain_until_closed, error_count, error_total,
                      herd_stamp, read_http_head, scaled, ws_accept_head, ws_frame)


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


# ---- flooding and misbehaving servers against herd run ----

frame = ws_frame
stamp = herd_stamp


RSS_MULT = 6 if HERD_BUILD == "asan" else 1  # ASan's shadow memory and quarantine


def run_measured(herd_bin, tmp_path, args, timeout=40, term_after=None):
    """Run `herd run --json R -q *args`; returns (code, report, stderr, seconds, peak RSS in MiB).
    With term_after, SIGTERM is sent that many seconds after the start."""
    import json
    import os
    import signal
    import subprocess
    rep_path = tmp_path / f"m{time.monotonic_ns()}.json"
    argv = [herd_bin, "run", "--json", str(rep_path), "-q", *[str(a) for a in args]]
    err_path = tmp_path / f"m{time.monotonic_ns()}.err"
    with open(err_path, "wb") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=CHILD_ENV)
        deadline = t0 + scaled(timeout)
        termed = False
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            now = time.monotonic()
            if term_after is not None and not termed and now - t0 >= term_after:
                os.kill(proc.pid, signal.SIGTERM)
                termed = True
            if now > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                raise AssertionError(f"`{' '.join(argv)}` did not end within {scaled(timeout)} s")
            time.sleep(0.02)
        elapsed = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = err_path.read_text(errors="replace")
    assert "ERROR: AddressSanitizer" not in stderr and "runtime error:" not in stderr, stderr
    report = None
    if rep_path.exists():
        report = json.loads(rep_path.read_text())
    return proc.returncode, report, stderr, elapsed, ru.ru_maxrss / 1024


def test_ping_flood_never_reading(raw_server, herd_bin, tmp_path):
    """A server that floods PINGs and never reads: herd's PONGs queue up to a bound and reading
    pauses; memory stays flat, -d is kept, the report is written."""
    pings = frame(0x9, b"12345678") * 4096

    def handler(conn, stop):
        head = read_http_head(conn, stop)
        if head is None:
            return
        conn.sendall(ws_accept_head(head))
        conn.settimeout(0.5)
        while not stop.is_set():
            try:
                conn.sendall(pings)
            except socket.timeout:
                continue
            except OSError:
                return

    srv = raw_server(handler)
    code, rep, err, secs, rss = run_measured(herd_bin, tmp_path,
                                             ["-c", 1, "-d", "4s", "--role", "idle", srv.url("/")])
    assert code == 0, err
    assert rep is not None and rep["complete"] is True
    assert rep["counters"]["connections.opened"] == 1
    assert secs < 4 + 2 + scaled(3), f"the run took {secs:.1f} s"
    assert rss < 64 * RSS_MULT, f"peak RSS {rss:.0f} MiB"


def test_ping_flood_sigint_is_prompt(raw_server, herd_bin, tmp_path):
    pings = frame(0x9, b"12345678") * 4096

    def handler(conn, stop):
        head = read_http_head(conn, stop)
        if head is None:
            return
        conn.sendall(ws_accept_head(head))
        conn.settimeout(0.5)
        while not stop.is_set():
            try:
                conn.sendall(pings)
            except socket.timeout:
                continue
            except OSError:
                return

    srv = raw_server(handler)
    code, rep, err, secs, rss = run_measured(
        herd_bin, tmp_path, ["-c", 1, "-d", "60s", "--role", "idle", srv.url("/")], term_after=2)
    assert rep is not None and rep["complete"] is False, err
    assert secs < 2 + 2 + scaled(3), f"the run took {secs:.1f} s after SIGTERM at 2 s"
    assert rss < 64 * RSS_MULT, f"peak RSS {rss:.0f} MiB"


def sse_flood_handler(chunk):
    def handler(conn, stop):
        if read_http_head(conn, stop) is None:
            return
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
        conn.settimeout(0.5)
        while not stop.is_set():
            try:
                conn.sendall(chunk)
            except socket.timeout:
                continue
            except OSError:
                return
    return handler


def test_sse_flood_keeps_the_duration(raw_server, herd_bin, tmp_path):
    """Events back to back as fast as the server can write: the run ends on time, its time
    series has a row every second, and connections.peak stays within -c."""
    srv = raw_server(sse_flood_handler(b"data: x\n\n" * 8192))
    # Events without a stamp: no latency to measure, which this run means (--allow-empty).
    code, rep, err, secs, rss = run_measured(
        herd_bin, tmp_path, ["-c", 2, "-t", 1, "-d", "3s", "--allow-empty", srv.url("/s", "http")])
    assert code == 0, err
    assert secs < 3 + 2 + scaled(3), f"the run took {secs:.1f} s"
    ts = [r["t"] for r in rep["timeseries"]]
    gaps = [b - a for a, b in zip(ts, ts[1:])]
    assert max(gaps) < 1.5, f"time series rows at {ts}"
    assert rep["counters"]["connections.peak"] <= 2
    assert rep["counters"]["messages.received"] > 1000


def test_sse_flood_sigterm_is_prompt(raw_server, herd_bin, tmp_path):
    srv = raw_server(sse_flood_handler(b"data: x\n\n" * 8192))
    code, rep, err, secs, rss = run_measured(
        herd_bin, tmp_path, ["-c", 2, "-d", "60s", srv.url("/s", "http")], term_after=2)
    assert rep is not None and rep["complete"] is False, err
    assert secs < 2 + 2 + scaled(3), f"the run took {secs:.1f} s after SIGTERM at 2 s"


def test_sse_line_that_never_ends(raw_server, herd_bin, tmp_path):
    """A data line that never ends: past --max-message it is a protocol error, and herd holds
    none of it meanwhile."""
    srv = raw_server(sse_flood_handler(b"data: " + b"y" * 65536 * 4))
    code, rep, err, secs, rss = run_measured(
        herd_bin, tmp_path, ["-c", 2, "-d", "3s", "--max-message", "1MiB",
                             srv.url("/s", "http")])
    assert rep["counters"]["messages.received"] == 0
    assert error_count(rep, "protocol") >= 2
    # An idle run of two connections takes about 20 MiB; the line used to grow to 128 MiB a
    # connection.
    assert rss < 64 * RSS_MULT, f"peak RSS {rss:.0f} MiB"


def test_sse_event_over_max_message(raw_server, herd_bin, tmp_path):
    """An event larger than --max-message (in many data lines) is not a message received but a
    protocol error, as over WebSocket; smaller events before it still count."""
    big = b"".join(b"data: " + b"z" * 1000 + b"\n" for _ in range(3000)) + b"\n"

    def handler(conn, stop):
        if read_http_head(conn, stop) is None:
            return
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
        conn.sendall(b"data: " + stamp(1, 1) + b"\n\n")
        conn.sendall(big)
        drain_until_closed(conn, stop)

    srv = raw_server(handler)
    code, rep, err, secs, rss = run_measured(
        herd_bin, tmp_path, ["-c", 1, "-d", "2s", "--max-message", "1MiB",
                             srv.url("/s", "http")])
    assert rep["counters"]["messages.received"] == 1
    assert rep["histograms"]["latency"]["count"] == 1
    assert error_count(rep, "protocol") == 1


def test_frames_one_byte_per_segment(raw_server, run_herd):
    """A server that writes its 101 head and then every frame one byte per TCP segment: read
    like any other stream, PINGs answered, stamped messages counted and timed."""
    got_pongs = []

    def handler(conn, stop):
        head = read_http_head(conn, stop)
        if head is None:
            return
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.sendall(ws_accept_head(head))
        out = b""
        for i in range(5):
            out += frame(0x1, b'{"m":"' + stamp(9, i + 1) + b'"}')
            out += frame(0x9, b"ab")
        for b in out:
            if stop.is_set():
                return
            conn.sendall(bytes([b]))
            time.sleep(0.0005)
        conn.settimeout(0.2)
        buf = b""
        t_end = time.monotonic() + 5
        while time.monotonic() < t_end and not stop.is_set():
            try:
                data = conn.recv(4096)
            except socket.timeout:
                continue
            if not data:
                break
            buf += data
        got_pongs.append(buf)

    srv = raw_server(handler)
    code, rep, err = run_herd("-c", 1, "-d", "3s", "--role", "subscribe", srv.url("/"),
                              timeout=30)
    assert code == 0, err
    c = rep["counters"]
    assert c["messages.received"] == 5
    assert rep["histograms"]["latency"]["count"] == 5
    assert error_total(rep) == 0
    assert [op for op, _ in client_frames(got_pongs[0])][:5] == [0xA] * 5


def client_frames(buf):
    """(opcode, unmasked payload) of each whole masked frame in buf."""
    out = []
    while len(buf) >= 6:
        n = buf[1] & 0x7F
        off = 2
        if n == 126:
            n, off = int.from_bytes(buf[2:4], "big"), 4
        elif n == 127:
            n, off = int.from_bytes(buf[2:10], "big"), 10
        if len(buf) < off + 4 + n:
            break
        key = buf[off:off + 4]
        pl = bytes(b ^ key[i % 4] for i, b in enumerate(buf[off + 4:off + 4 + n]))
        out.append((buf[0] & 0x0F, pl))
        buf = buf[off + 4 + n:]
    return out
