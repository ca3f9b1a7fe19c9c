"""herd serve http://H/sse/<topic> and POST http://H/publish/<topic>: the event stream (head,
chunked framing, ids, data lines), what reaches it (WebSocket publishers on /pubsub, POSTs,
--tick), WebSocket subscribers getting POSTs, Last-Event-ID replay from the history ring,
--slow-policy drop|close on a stream that stops reading, HTTP/1.0 streams, keep-alive and
pipelined POSTs, and serve --procs N. The clients are raw sockets and http.client (the chunked
framing and the event stream are checked strictly here), python3-websockets for WebSockets."""
import asyncio
import http.client
import os
import re
import signal
import socket
import threading
import time

import pytest

from conftest import _need_python_websockets, scaled


class Stream:
    """A raw event-stream client: GET /sse/<topic>, the head, then events, de-chunking strictly
    (every chunk size line, every CRLF checked) when the answer is chunked."""

    def __init__(self, port, topic, last_id=None, http10=False, rcvbuf=None, path=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", port))
        hdr = f"Last-Event-ID: {last_id}\r\n" if last_id is not None else ""
        req = (f"GET {path or '/sse/' + topic} HTTP/1.{0 if http10 else 1}\r\n"
               f"Host: 127.0.0.1\r\nAccept: text/event-stream\r\n{hdr}\r\n")
        self.sock.sendall(req.encode())
        self.raw = b""  # received, not yet de-chunked
        self.body = b""  # the event stream, not yet parsed into events
        self.eof = False  # the connection ended
        self.ended = False  # the last chunk came
        self.status = None
        self.headers = {}

    def close(self):
        self.sock.close()

    def _recv(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.raw += data
        return True

    def read_head(self, timeout=5):
        deadline = time.monotonic() + scaled(timeout)
        while b"\r\n\r\n" not in self.raw:
            if not self._recv(deadline):
                raise AssertionError(f"no response head (eof={self.eof}): {self.raw[:200]!r}")
        head, self.raw = self.raw.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.1 (\d{3}) ", lines[0])
        assert m, lines[0]
        self.status = int(m.group(1))
        for line in lines[1:]:
            k, v = line.split(":", 1)
            self.headers[k.strip().lower()] = v.strip()
        self.chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        self._dechunk()
        return self

    def _dechunk(self):
        if not self.chunked:
            self.body += self.raw
            self.raw = b""
            return
        while not self.ended:
            line_end = self.raw.find(b"\r\n")
            if line_end < 0:
                return
            size_txt = self.raw[:line_end]
            assert re.fullmatch(rb"[0-9a-f]+", size_txt), f"bad chunk size line {size_txt!r}"
            size = int(size_txt, 16)
            if size == 0:
                if len(self.raw) < line_end + 4:
                    return
                assert self.raw[line_end + 2:line_end + 4] == b"\r\n", "no CRLF after last chunk"
                self.raw = self.raw[line_end + 4:]
                self.ended = True
                return
            end = line_end + 2 + size
            if len(self.raw) < end + 2:
                return
            assert self.raw[end:end + 2] == b"\r\n", f"chunk not followed by CRLF: {self.raw[end:end + 2]!r}"
            chunk = self.raw[line_end + 2:end]
            # One event per chunk: each chunk ends with the blank line.
            assert chunk.endswith(b"\n\n"), chunk[-40:]
            self.body += chunk
            self.raw = self.raw[end + 2:]

    def _take_events(self):
        out = []
        while b"\n\n" in self.body:
            block, self.body = self.body.split(b"\n\n", 1)
            ev = {"data": None}
            for line in block.split(b"\n"):
                name, _, value = line.partition(b":")
                value = value[1:] if value.startswith(b" ") else value
                if name == b"id":
                    ev["id"] = int(value)
                elif name == b"data":
                    ev["data"] = value if ev["data"] is None else ev["data"] + b"\n" + value
                elif name == b"retry":
                    ev["retry"] = int(value)
                else:
                    raise AssertionError(f"unexpected line {line!r}")
            out.append(ev)
        return out

    def events(self, n, timeout=5):
        """At least n events (fewer only if the stream ends or the time is up)."""
        deadline = time.monotonic() + scaled(timeout)
        got = self._take_events()
        while len(got) < n and not self.eof and not self.ended:
            if not self._recv(deadline):
                break
            self._dechunk()
            got += self._take_events()
        return got

    def until_end(self, timeout=10):
        """Every event until the connection ends."""
        deadline = time.monotonic() + scaled(timeout)
        got = self._take_events()
        while not self.eof:
            if not self._recv(deadline):
                if time.monotonic() >= deadline:
                    raise AssertionError("the stream did not end")
                continue
            self._dechunk()
            got += self._take_events()
        return got

    def silent(self, wait=0.3):
        return self.events(1, timeout=wait / max(1.0, scaled(1))) == []


def open_stream(port, topic, **kw):
    return Stream(port, topic, **kw).read_head()


class Poster:
    """POSTs on one keep-alive connection (http.client)."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=scaled(10))

    def post(self, topic, body, chunked=False):
        if chunked:
            self.conn.request("POST", f"/publish/{topic}", body=iter([body[:3], body[3:]]),
                              encode_chunked=True)
        else:
            self.conn.request("POST", f"/publish/{topic}", body=body)
        r = self.conn.getresponse()
        data = r.read()
        assert r.status == 200, (r.status, data)
        assert r.getheader("Content-Length") == "0"
        assert data == b""
        assert not r.will_close
        return r

    def close(self):
        self.conn.close()


def ws_connect(url, **kw):
    import websockets
    kw.setdefault("ping_interval", None)
    kw.setdefault("max_size", None)
    return websockets.connect(url, **kw)


def test_stream_head_chunked_and_post(herd_serve):
    srv = herd_serve()
    st = open_stream(srv.port, "t1")
    assert st.status == 200
    assert st.headers["content-type"] == "text/event-stream"
    assert st.headers["cache-control"] == "no-cache"
    assert st.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in st.headers
    other = open_stream(srv.port, "t2")
    p = Poster(srv.port)
    p.post("t1", b"hello")
    p.post("t1", b"two\nlines\r\nand\rmore")  # every line break becomes a data line
    p.post("t1", "caf\u00e9".encode(), chunked=True)  # a chunked request body
    p.post("t1", b"")
    got = st.events(4)
    assert [e["id"] for e in got] == [1, 2, 3, 4]
    assert [e["data"] for e in got] == [b"hello", b"two\nlines\nand\nmore", "caf\u00e9".encode(), b""]
    assert other.silent(), "topic t2 got a message of t1"
    p.close()
    st.close()
    other.close()


def test_pipelined_posts_and_expect_continue(herd_serve):
    srv = herd_serve()
    st = open_stream(srv.port, "pipe")
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=scaled(5))
    reqs = b"".join(b"POST /publish/pipe HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(b), b) for b in (b"a1", b"b22", b"c333"))
    for i in range(0, len(reqs), 7):  # in pieces: heads and bodies split anywhere
        s.sendall(reqs[i:i + 7])
        time.sleep(0.005)
    want = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" * 3
    buf = b""
    while len(buf) < len(want):
        buf += s.recv(4096)
    assert buf == want
    # Expect: 100-continue is answered before the body is sent.
    s.sendall(b"POST /publish/pipe HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
              b"Content-Length: 4\r\nConnection: close\r\n\r\n")
    assert s.recv(4096) == b"HTTP/1.1 100 Continue\r\n\r\n"
    s.sendall(b"d4444")  # one byte more than the body: discarded, the connection closes
    buf = b""
    while True:
        data = s.recv(4096)
        if not data:
            break
        buf += data
    assert buf == b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    s.close()
    got = st.events(4)
    assert [(e["id"], e["data"]) for e in got] == [(1, b"a1"), (2, b"b22"), (3, b"c333"),
                                                   (4, b"d444")]
    st.close()


def test_http_errors(herd_serve):
    srv = herd_serve()
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=scaled(5))
    c.request("POST", "/sse/x", body=b"x")
    r = c.getresponse()
    assert r.status == 405 and r.getheader("Allow") == "GET"
    r.read()
    c.close()
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=scaled(5))
    c.request("GET", "/publish/x")
    r = c.getresponse()
    assert r.status == 405 and r.getheader("Allow") == "POST"
    r.read()
    c.close()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=scaled(5))
    s.sendall(b"POST /publish/x HTTP/1.1\r\nHost: x\r\n\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 411 ")
    s.close()


def test_ws_publish_reaches_streams_and_ws_not_sender(herd_serve):
    _need_python_websockets()
    srv = herd_serve("--threads", "2")
    streams = [open_stream(srv.port, "t1") for _ in range(4)]

    async def main():
        sub = await ws_connect(srv.url("/pubsub/t1"))
        pub = await ws_connect(srv.url("/pubsub/t1"))
        msgs = [f"m{i}" for i in range(100)] + ["multi\nline"]
        for m in msgs:
            await pub.send(m)
        got = [await asyncio.wait_for(sub.recv(), scaled(5)) for _ in msgs]
        assert got == msgs
        for st in streams:
            evs = st.events(len(msgs))
            assert [e["data"].decode() for e in evs] == msgs
            assert [e["id"] for e in evs] == list(range(1, len(msgs) + 1))
        try:
            await asyncio.wait_for(pub.recv(), 0.3)
            raise AssertionError("the publisher got its own message")
        except asyncio.TimeoutError:
            pass
        # POSTs reach WebSocket subscribers (the publisher too: it did not send them).
        p = Poster(srv.port)
        p.post("t1", b"posted")
        p.post("t1", b"\xff\xfebinary")  # not UTF-8: a binary message
        for ws in (sub, pub):
            assert await asyncio.wait_for(ws.recv(), scaled(5)) == "posted"
            assert await asyncio.wait_for(ws.recv(), scaled(5)) == b"\xff\xfebinary"
        for st in streams:
            assert [e["id"] for e in st.events(2)] == [len(msgs) + 1, len(msgs) + 2]
        p.close()
        await sub.close()
        await pub.close()

    asyncio.run(main())
    for st in streams:
        st.close()


def test_ids_in_order_with_publishers_on_two_threads(herd_serve):
    """Publishers on both threads at once: every stream sees ids 1..N in order."""
    _need_python_websockets()
    srv = herd_serve("--threads", "2")
    streams = [open_stream(srv.port, "mix") for _ in range(6)]
    n_per = 300

    async def main():
        # Each publisher also gets the others' messages: read them all (unbounded queue), or
        # the close handshake would wait behind them.
        pubs = [await ws_connect(srv.url("/pubsub/mix"), max_queue=None) for _ in range(4)]

        async def send(i, ws):
            for k in range(n_per):
                await ws.send(f"p{i}:{k}")
                if k % 50 == 0:
                    await asyncio.sleep(0)

        await asyncio.gather(*(send(i, ws) for i, ws in enumerate(pubs)))
        for ws in pubs:
            await ws.close()

    asyncio.run(main())
    total = 4 * n_per
    for st in streams:
        evs = st.events(total, timeout=10)
        assert [e["id"] for e in evs] == list(range(1, total + 1))
        # each publisher's messages in its order
        for i in range(4):
            mine = [int(e["data"].split(b":")[1]) for e in evs if e["data"].startswith(b"p%d:" % i)]
            assert mine == list(range(n_per))
        st.close()


def test_last_event_id_replay(herd_serve):
    srv = herd_serve("--threads", "2")
    p = Poster(srv.port)
    for i in range(1, 11):
        p.post("r", f"msg{i}".encode())
    st = open_stream(srv.port, "r", last_id=4)
    evs = st.events(6)
    assert [(e["id"], e["data"]) for e in evs] == [(i, f"msg{i}".encode()) for i in range(5, 11)]
    assert st.silent()
    p.post("r", b"live")  # then live, nothing twice
    assert [(e["id"], e["data"]) for e in st.events(1)] == [(11, b"live")]
    assert st.silent()
    # Without Last-Event-ID: live only. With an id beyond the topic's: live only.
    for kw in ({}, {"last_id": 999}):
        s2 = open_stream(srv.port, "r", **kw)
        assert s2.silent()
        s2.close()
    # An id that is not a number is no id.
    s3 = open_stream(srv.port, "r", last_id="abc")
    assert s3.silent()
    s3.close()
    st.close()
    p.close()


def test_history_ring_bound(herd_serve):
    srv = herd_serve("--history", "3", "--sse-retry", "2500ms")
    p = Poster(srv.port)
    for i in range(1, 11):
        p.post("h", f"{i}".encode())
    st = open_stream(srv.port, "h", last_id=0)
    evs = st.events(4)
    assert evs[0] == {"data": None, "retry": 2500}
    assert [e["id"] for e in evs[1:]] == [8, 9, 10]
    st.close()
    p.close()


def test_http10_stream(herd_serve):
    srv = herd_serve()
    st = open_stream(srv.port, "old", http10=True)
    assert st.status == 200
    assert "transfer-encoding" not in st.headers
    assert st.headers["connection"].lower() == "close"
    p = Poster(srv.port)
    p.post("old", b"x\ny")
    assert [(e["id"], e["data"]) for e in st.events(1)] == [(1, b"x\ny")]
    assert not st.raw and st.body == b""
    st.close()
    p.close()


STAMP = re.compile(rb"^herd1:0:(\d+):(\d+)$")


def test_tick_to_stream(herd_serve):
    srv = herd_serve("--tick", "100")
    st = open_stream(srv.port, "tick")
    evs = st.events(50, timeout=10)
    assert len(evs) >= 50
    ids = [e["id"] for e in evs]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    for e in evs:
        m = STAMP.match(e["data"])
        assert m, e
        assert int(m.group(1)) == e["id"]  # one publisher: its seq is the topic's
        assert abs(int(m.group(2)) - time.time_ns()) < scaled(5) * 1e9
    st.close()


def publish_big(port, topic, count=500, size=20000):
    """Publish count messages of size bytes from a thread (the caller reads meanwhile)."""
    def run():
        p = Poster(port)
        pad = b"y" * (size - 10)
        for i in range(count):
            p.post(topic, b"%09d:" % i + pad)
            if i % 10 == 9:
                time.sleep(0.01)  # paced, so that the reader keeps up (slow builds too)
        p.close()
    th = threading.Thread(target=run, daemon=True)
    th.start()
    return count, th


@pytest.mark.parametrize("threads", ["1", "2"])
def test_slow_policy_drop_on_stream(herd_serve, threads):
    srv = herd_serve("--slow-policy", "drop", "--queue-limit", "64k", "--threads", threads)
    reader = open_stream(srv.port, "big")
    stalled = open_stream(srv.port, "big", rcvbuf=4096)
    n, th = publish_big(srv.port, "big")
    got = reader.events(n, timeout=30)
    th.join(scaled(10))
    assert [int(e["data"][:9]) for e in got] == list(range(n))
    assert [e["id"] for e in got] == list(range(1, n + 1))
    # Now the stalled one reads: a prefix, then gaps; in order, no duplicates, still open.
    late = stalled.events(n, timeout=3)
    idx = [int(e["data"][:9]) for e in late]
    assert 0 < len(idx) < n
    assert idx == sorted(set(idx))
    assert [e["id"] - 1 for e in late] == idx
    assert not stalled.eof
    # It gets later messages that fit.
    Poster(srv.port).post("big", b"after")
    assert stalled.events(1)[0]["data"] == b"after"
    reader.close()
    stalled.close()


def test_slow_policy_close_on_stream(herd_serve):
    srv = herd_serve("--slow-policy", "close", "--queue-limit", "64k")
    reader = open_stream(srv.port, "big")
    stalled = open_stream(srv.port, "big", rcvbuf=4096)
    n, th = publish_big(srv.port, "big")
    got = reader.events(n, timeout=30)
    th.join(scaled(10))
    assert [int(e["data"][:9]) for e in got] == list(range(n))
    late = stalled.until_end(timeout=15)
    assert len(late) < n
    assert [int(e["data"][:9]) for e in late] == list(range(len(late)))
    assert stalled.eof
    assert not reader.eof
    reader.close()
    stalled.close()


def children_of(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(x) for x in f.read().split()]


def start_time(pid):
    """pid's start time (field 22 of /proc/PID/stat), or None when no such process exists: with
    the pid it tells one process from a later one that got the same pid."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (FileNotFoundError, ProcessLookupError):
        return None


def held_on_port(pid, port):
    """What process pid holds on 127.0.0.1:port, from the kernel's socket table: (how many
    listening sockets, the set of client ports of its ESTABLISHED connections). A connection
    whose client has closed (CLOSE_WAIT: waiting for the server to see the end) is not held."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if link.startswith("socket:["):
            inodes.add(int(link[8:-1]))
    listening, peers = 0, set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], int(fields[9])
            if inode not in inodes or int(local.split(":")[1], 16) != port:
                continue
            if state == "0A":  # LISTEN
                listening += 1
            elif state == "01":  # ESTABLISHED
                peers.add(int(remote.split(":")[1], 16))
    return listening, peers


@pytest.mark.hard_timeout(90)
def test_procs_share_the_port_and_stop_on_sigterm(herd_serve):
    srv = herd_serve("--procs", "2", "--threads", "1")
    # herd_serve returns as soon as the port accepts, i.e. once the first process listens; the
    # parent starts the second one after that. Wait until both listen.
    deadline = time.monotonic() + scaled(10)
    while True:
        kids = children_of(srv.proc.pid)
        if len(kids) == 2 and all(held_on_port(k, srv.port)[0] == 1 for k in kids):
            break
        assert time.monotonic() < deadline, f"not two processes listening: {kids}"
        time.sleep(0.05)
    born = {k: start_time(k) for k in kids}
    streams = [open_stream(srv.port, "p") for _ in range(100)]
    # Each stream has its response head, so its connection was accepted and is held by one of
    # the processes now. Which one: the process holding the server side of its client port.
    # (Counting all of a process's sockets instead would also count connections on their way
    # out, e.g. herd_serve's readiness probe: connected and closed at once, and still open in
    # the process that accepted it until that process sees the end.)
    ports = {st.sock.getsockname()[1]: st for st in streams}
    held = {k: held_on_port(k, srv.port)[1] & ports.keys() for k in kids}
    assert sorted(len(v) for v in held.values()) != [0, 100], "one process took every stream"
    assert held[kids[0]] | held[kids[1]] == ports.keys(), held
    assert not held[kids[0]] & held[kids[1]]
    # Topics are per process: a POST reaches the streams of the process that took it, and
    # only those.
    poster = Poster(srv.port)
    poster.post("p", b"one")
    took = [k for k in kids if poster.conn.sock.getsockname()[1] in held_on_port(k, srv.port)[1]]
    assert len(took) == 1, took
    for port in sorted(held[took[0]]):
        assert [(e["id"], e["data"]) for e in ports[port].events(1)] == [(1, b"one")]
    # Those events are in; the other process never had the message.
    for port in sorted(ports.keys() - held[took[0]]):
        assert ports[port].events(1, timeout=0.01) == []
    poster.close()
    os.kill(srv.proc.pid, signal.SIGTERM)
    assert srv.proc.wait(timeout=scaled(15)) == 0
    for st in streams:  # every stream ends with its last chunk
        st.until_end(timeout=5)
        assert st.ended
        st.close()
    # The parent waited for its processes: they are gone (their pids now free, or another's).
    for k in kids:
        assert start_time(k) != born[k], f"process {k} outlived herd serve"


def test_procs_port_in_use(herd_serve, herd_bin, procs):
    srv = herd_serve()
    import subprocess
    p = procs.spawn([herd_bin, "serve", "--port", srv.port, "--procs", "2"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert p.wait(timeout=scaled(10)) == 3


def test_procs_die_after(herd_serve, free_port, herd_bin, procs):
    import subprocess
    port = free_port()
    p = procs.spawn([herd_bin, "serve", "--port", port, "--procs", "2", "--threads", "1",
                     "--die-after", "1s"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert p.wait(timeout=scaled(10)) == 0
