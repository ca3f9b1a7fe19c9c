"""herd's SSE client (http:// URLs) against scripted servers: framing (chunked, Content-Length,
until close), the WHATWG event-stream rules end to end, stamps timed one way, Last-Event-ID and
`retry` on reconnection, 204 ending reconnection, a wrong Content-Type, and --read-rate.

Each server is a raw socket script (conftest's raw_server), so every byte on the wire is the
test's choice."""
import socket
import threading
import time

from conftest import drain_until_closed, error_count, error_total, read_http_head, usage_error


def stamp(pub, seq, t_ns=None):
    return f"herd1:{pub}:{seq}:{t_ns if t_ns is not None else time.time_ns()}"


def chunked(data):
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


HEAD_CHUNKED = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
                b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n")


def send_split(conn, data, step):
    """Send data in pieces of `step` bytes, so that the client sees every kind of split."""
    for i in range(0, len(data), step):
        conn.sendall(data[i:i + step])
        time.sleep(0.0005)


def test_chunked_stream_every_rule(raw_server, run_herd):
    """One stream exercising the parsing rules; events are split over reads and chunks. Every
    event with a stamp is timed; comments, events without data and ignored fields are not
    messages."""
    n_events = 40

    def handler(conn, stop):
        if read_http_head(conn, stop) is None:
            return
        conn.sendall(HEAD_CHUNKED)
        body = b"\xef\xbb\xbf"  # a leading BOM
        body += b": a comment\n"
        body += b"event: tick\nid: 1\n\n"  # no data: not dispatched
        ends = [b"\n", b"\r\n", b"\r"]
        for i in range(n_events):
            nl = ends[i % 3]
            s = stamp(1, i + 1).encode()
            if i % 4 == 0:  # wrapped in JSON over two data lines
                ev = b'data: {"m":' + nl + b'data: "' + s + b'"}' + nl
            elif i % 4 == 1:  # no space after the colon, unknown field, field without colon
                ev = b"data:" + s + nl + b"foo: bar" + nl + b"data" + nl
            elif i % 4 == 2:  # an id with NUL is ignored
                ev = b"id: a\x00b" + nl + b"data: x " + s + b" y" + nl
            else:
                ev = b"retry: 5000" + nl + b"id: " + str(i).encode() + nl + b"data: " + s + nl
            body += ev + nl
        # Chunk boundaries and write boundaries at odd places.
        out = b"".join(chunked(body[i:i + 7]) for i in range(0, len(body), 7))
        send_split(conn, out, 13)
        drain_until_closed(conn, stop)

    srv = raw_server(handler)
    code, rep, err = run_herd("-c", 1, "-d", "1s", "-t", 1, srv.url("/events", "http"),
                              timeout=20)
    assert code == 0, err
    c, h = rep["counters"], rep["histograms"]
    assert rep["config"]["role"] == "subscribe"
    assert c["connections.opened"] == 1
    assert c["messages.received"] == n_events
    assert h["latency"]["count"] == n_events
    assert h["first_message"]["count"] == 1
    assert c["messages.lost"] == 0 and c["messages.duplicated"] == 0
    assert error_total(rep) == 0


def test_framing_content_length_and_close(raw_server, run_herd):
    """A body framed by Content-Length ends the stream at its end; one without framing ends
    when the server closes. Both count the events before the end and the end as eof."""
    events = b"".join(b"data: " + stamp(2, i + 1).encode() + b"\n\n" for i in range(10))

    def with_length(conn, stop):
        if read_http_head(conn, stop) is None:
            return
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(events) + events)
        drain_until_closed(conn, stop)

    def until_close(conn, stop):
        if read_http_head(conn, stop) is None:
            return
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Connection: close\r\n\r\n" + events + b"data: no blank line at the end")
        conn.shutdown(socket.SHUT_WR)
        drain_until_closed(conn, stop)

    for handler in (with_length, until_close):
        srv = raw_server(handler)
        # The stream of the one connection ends (eof): every connection ended in an error,
        # which this run means (--allow-empty).
        code, rep, err = run_herd("-c", 1, "-d", "1s", "-t", 1, "--allow-empty",
                                  srv.url("/e", "http"), timeout=20)
        assert code == 0, err
        assert [w for w in rep["warnings"]
                if w.startswith("every connection ended in an error: eof 1")], rep["warnings"]
        c = rep["counters"]
        assert c["messages.received"] == 10, handler.__name__
        assert rep["histograms"]["latency"]["count"] == 10
        assert error_count(rep, "eof") == 1, handler.__name__


def test_reconnect_sends_last_event_id_after_retry(raw_server, run_herd):
    """The stream sets retry: 300 and id 7, then ends: herd comes back after about 300 ms (not
    the backoff's 2 s) and says Last-Event-ID: 7."""
    seen = []
    lock = threading.Lock()

    def handler(conn, stop):
        head = read_http_head(conn, stop)
        if head is None:
            return
        with lock:
            seen.append((time.monotonic(), head.get("last-event-id"), head.get("accept")))
            first = len(seen) == 1
        conn.sendall(HEAD_CHUNKED)
        if first:
            conn.sendall(chunked(b"retry: 300\nid: 7\ndata: " + stamp(3, 1).encode() + b"\n\n"))
            conn.sendall(b"0\r\n\r\n")  # the end of the stream
        drain_until_closed(conn, stop)

    srv = raw_server(handler)
    code, rep, err = run_herd("-c", 1, "-d", "2s", "-t", 1, "--reconnect", "--backoff",
                              "fixed:2s,jitter=none", srv.url("/e", "http"), timeout=20)
    assert code == 0, err
    # The second stream stays open to the end of the run: two requests in all.
    assert len(seen) == 2, seen
    assert seen[0][1] is None
    assert seen[0][2] == "text/event-stream"
    assert seen[1][1] == "7"
    gap = seen[1][0] - seen[0][0]
    assert 0.25 <= gap < 1.5, gap
    c = rep["counters"]
    assert c["connections.reconnects"] == 1
    assert rep["histograms"]["reconnect"]["count"] == 1


def test_204_stops_reconnecting(raw_server, run_herd):
    attempts = []

    def handler(conn, stop):
        if read_http_head(conn, stop) is None:
            return
        attempts.append(1)
        conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
        drain_until_closed(conn, stop)

    srv = raw_server(handler)
    code, rep, err = run_herd("-c", 2, "-d", "1s", "-t", 1, "--reconnect", "--backoff",
                              "fixed:50ms", srv.url("/e", "http"), timeout=20)
    assert code == 3, err  # nothing ever opened
    assert len(attempts) == 2
    assert rep["complete"] is False
    assert rep["errors"]["http_status"] == {"204": 2}
    assert error_total(rep) == 2, rep["errors"]
    assert rep["counters"]["connections.reconnects"] == 0


def test_wrong_content_type_is_an_error(raw_server, run_herd):
    def handler(conn, stop):
        if read_http_head(conn, stop) is None:
            return
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi")
        drain_until_closed(conn, stop)

    srv = raw_server(handler)
    code, rep, err = run_herd("-c", 1, "-d", "1s", "-t", 1, srv.url("/e", "http"), timeout=20)
    assert code == 3, err
    assert rep["complete"] is False
    assert error_count(rep, "handshake") == 1
    assert error_total(rep) == 1, rep["errors"]
    assert rep["counters"]["connections.failed"] == 1


def test_role_must_fit_sse(run_herd, free_port):
    code, rep, err = run_herd("--role", "echo", f"http://127.0.0.1:{free_port()}/e", json=False)
    assert code == 2, err
    usage_error(err, "--role")


def test_read_rate_limits_the_reader(raw_server, run_herd):
    """--read-rate 2000 B/s: over about 2 s the client reads about 4 KB of a stream the server
    would send far faster (the rest waits in the socket buffers)."""
    def handler(conn, stop):
        if read_http_head(conn, stop) is None:
            return
        conn.sendall(HEAD_CHUNKED)
        conn.settimeout(0.05)
        ev = chunked(b"data: " + b"x" * 990 + b"\n\n")
        end = time.monotonic() + 4
        while not stop.is_set() and time.monotonic() < end:
            try:
                conn.sendall(ev)
            except socket.timeout:
                time.sleep(0.01)
            except OSError:
                return
        drain_until_closed(conn, stop)

    srv = raw_server(handler)
    # Events without a stamp: no latency, which this run means (--allow-empty).
    code, rep, err = run_herd("-c", 1, "-d", "2s", "-t", 1, "--read-rate", "2000",
                              "--allow-empty", srv.url("/e", "http"), timeout=20)
    assert code == 0, err
    got = rep["counters"]["bytes.received"]
    assert 2500 <= got <= 7000, got
