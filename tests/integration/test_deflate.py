"""permessage-deflate (RFC 7692) between herd run and servers nobody here wrote (node's `ws`,
Debian's python3-websockets), and herd's compressed messages checked by an independent inflater
(Python's zlib) under each negotiated rule."""
import base64
import hashlib
import socket
import time
import zlib

import pytest

from conftest import error_total, read_http_head, scaled

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def check_echo_run(rep, err, compressed_back=True):
    c = rep["counters"]
    assert error_total(rep) == 0, (rep["errors"], err)
    assert rep["histograms"]["rtt"]["count"] > 100
    assert c["messages.lost"] == 0
    assert c["deflate.sent.payload"] > 0 and c["deflate.sent.compressed"] > 0
    if compressed_back:
        assert c["deflate.received.compressed"] > 0
        assert c["deflate.received.payload"] == c["deflate.sent.payload"] or \
            c["deflate.received.payload"] > 0


@pytest.mark.parametrize("pmd,offer", [
    ('{"threshold":0}', "--compress"),
    ('{"threshold":0,"serverNoContextTakeover":true,"clientNoContextTakeover":true}',
     "--compress=server_no_context_takeover,client_no_context_takeover"),
    ('{"threshold":0,"serverMaxWindowBits":10,"clientMaxWindowBits":11}',
     "--compress=client_max_window_bits"),
], ids=["takeover", "no-takeover", "windows"])
def test_node_ws(peer, run_herd, pmd, offer):
    srv = peer("node_echo", env={"PMD": pmd})
    code, rep, err = run_herd("-c", 10, "-d", "2s", "--role", "echo", "-s", 200, offer,
                              srv.url("/"), timeout=30)
    assert code == 0, err
    check_echo_run(rep, err)
    # What was compressed both ways came back whole: every echo was timed.
    assert rep["counters"]["messages.received"] == rep["histograms"]["rtt"]["count"]


def test_python_websockets(peer, run_herd):
    srv = peer("python_echo")
    code, rep, err = run_herd("-c", 10, "-d", "2s", "--role", "echo", "-s", 200, "--compress",
                              srv.url("/"), timeout=30)
    assert code == 0, err
    check_echo_run(rep, err)


def test_declined_offer_runs_plain(peer, run_herd):
    srv = peer("node_echo", env={"PMD": "off"})
    code, rep, err = run_herd("-c", 5, "-d", "1s", "--role", "echo", "--compress", srv.url("/"),
                              timeout=30)
    assert code == 0, err
    c = rep["counters"]
    assert c["deflate.sent.compressed"] == 0 and c["deflate.received.compressed"] == 0
    assert rep["histograms"]["rtt"]["count"] > 100


def frames(buf):
    """Whole masked frames at the start of buf: ([(first byte, unmasked payload)], rest)."""
    out = []
    while len(buf) >= 2:
        n, off = buf[1] & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                break
            n, off = int.from_bytes(buf[2:4], "big"), 4
        elif n == 127:
            if len(buf) < 10:
                break
            n, off = int.from_bytes(buf[2:10], "big"), 10
        if len(buf) < off + 4 + n:
            break
        key = buf[off:off + 4]
        pl = bytes(b ^ key[i % 4] for i, b in enumerate(buf[off + 4:off + 4 + n]))
        out.append((buf[0], pl))
        buf = buf[off + 4 + n:]
    return out, buf


@pytest.mark.parametrize("answer,fresh", [
    ("permessage-deflate; client_no_context_takeover", True),
    ("permessage-deflate", False),
    ("permessage-deflate; client_max_window_bits=9", False),
], ids=["no-takeover", "takeover", "window-9"])
def test_independent_inflater(raw_server, run_herd, answer, fresh):
    """A server that accepts herd's offer with `answer` and inflates every message herd sends
    with Python's zlib, under the agreed rules: each data frame has RSV1, each inflates (with a
    fresh window per message when herd agreed not to take context over) to a stamped message."""
    seen = {"ok": 0, "bad": [], "offer": None}

    def handler(conn, stop):
        head = read_http_head(conn, stop)
        if head is None:
            return
        seen["offer"] = head.get("sec-websocket-extensions")
        key = head.get("sec-websocket-key", "")
        acc = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Accept: {acc}\r\n"
                      f"Sec-WebSocket-Extensions: {answer}\r\n\r\n").encode())
        wbits = 9 if "bits=9" in answer else 15
        d = zlib.decompressobj(-wbits)
        buf = b""
        while not stop.is_set():
            try:
                data = conn.recv(65536)
            except socket.timeout:
                continue
            if not data:
                return
            got, buf = frames(buf + data)
            for b0, pl in got:
                op = b0 & 0x0F
                if op in (0x8, 0x9, 0xA):
                    if op == 0x8:
                        return
                    continue
                if not b0 & 0x40 or not b0 & 0x80:
                    seen["bad"].append(("no RSV1 or not FIN", b0))
                    continue
                if fresh:
                    d = zlib.decompressobj(-wbits)
                try:
                    text = d.decompress(pl + b"\x00\x00\xff\xff").decode()
                except (zlib.error, UnicodeDecodeError) as e:
                    seen["bad"].append(repr(e))
                    continue
                if text.startswith("herd1:"):
                    seen["ok"] += 1
                else:
                    seen["bad"].append(text[:80])

    srv = raw_server(handler)
    offer = "--compress=client_max_window_bits" if "bits" in answer else (
        "--compress=client_no_context_takeover" if fresh else "--compress")
    code, rep, err = run_herd("-c", 2, "-d", "2s", "--role", "publish", "--rate", 200, "-s", 300,
                              offer, srv.url("/"), timeout=30)
    assert code == 0, err
    assert seen["offer"] and seen["offer"].startswith("permessage-deflate"), seen["offer"]
    assert seen["bad"] == []
    sent = rep["counters"]["messages.sent"]
    assert sent > 300 and seen["ok"] >= sent - 2, (seen["ok"], sent)
    # 300-byte stamped messages padded with '.' compress well.
    c = rep["counters"]
    assert c["deflate.sent.compressed"] * 3 < c["deflate.sent.payload"]


def test_bomb_closes_1009(raw_server, run_herd):
    """A small compressed frame that inflates past --max-message: close 1009, errors.protocol."""
    closes = []
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = comp.compress(b"\0" * (8 << 20)) + comp.flush(zlib.Z_SYNC_FLUSH)
    assert bomb.endswith(b"\x00\x00\xff\xff")
    bomb = bomb[:-4]
    assert len(bomb) < 16384

    def handler(conn, stop):
        head = read_http_head(conn, stop)
        if head is None:
            return
        key = head.get("sec-websocket-key", "")
        acc = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Accept: {acc}\r\n"
                      "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n").encode())
        n = len(bomb)
        head = bytes([0xC2, 126]) + n.to_bytes(2, "big") if n < 65536 else None
        conn.sendall(head + bomb)
        buf = b""
        t_end = time.monotonic() + 5
        while time.monotonic() < t_end and not stop.is_set():
            try:
                data = conn.recv(65536)
            except socket.timeout:
                continue
            if not data:
                break
            got, buf = frames(buf + data)
            closes.extend(pl for b0, pl in got if b0 & 0x0F == 0x8)

    srv = raw_server(handler)
    code, rep, err = run_herd("-c", 1, "-d", "2s", "--role", "idle", "--compress",
                              "--max-message", "1MiB", srv.url("/"), timeout=30)
    assert closes and closes[0][:2] == (1009).to_bytes(2, "big"), closes
    assert rep["counters"]["deflate.received.payload"] <= (1 << 20) + (16 << 10)
    assert rep["errors"]["protocol"] == 1


# ---- herd serve --compress against clients nobody here wrote, and against herd run ----

def node_client(mode, url, n=50):
    from conftest import PEERS, _need_node
    import json
    import subprocess
    interp = _need_node()
    r = subprocess.run([*interp, str(PEERS / "ws_client_check.js"), url, mode, str(n)],
                       capture_output=True, text=True, timeout=scaled(30), cwd=PEERS)
    assert r.stdout.strip(), r.stderr
    return r.returncode, json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode,path", [("echo", "/echo"), ("pubsub", "/pubsub/t")])
def test_serve_node_client(herd_serve, mode, path):
    """npm ws with permessage-deflate on (every message compressed, 100 KB ones and random
    binary among them) through herd serve --compress: negotiated, everything back equal."""
    srv = herd_serve("--compress")
    code, out = node_client(mode, srv.url(path))
    assert code == 0, out
    assert out["extensions"] == "permessage-deflate", out
    assert out["ok"] == out["sent"] == 50 and out["bad"] == []


def test_serve_python_client(herd_serve):
    """python3-websockets (deflate on by default) through herd serve --compress."""
    from conftest import _need_python_websockets, SYSTEM_PYTHON
    import subprocess
    _need_python_websockets()
    srv = herd_serve("--compress")
    script = f"""
import asyncio, websockets
async def main():
    async with websockets.connect({srv.url('/echo')!r}, max_size=None) as ws:
        ext = [type(e).__name__ for e in ws.extensions]
        msgs = ["caf\\u00e9 " * 3000, b"\\x00\\x01" * 20000, "x", ""]
        for m in msgs:
            await ws.send(m)
            got = await ws.recv()
            assert got == m, (len(got), len(m))
        print("ok", ext)
asyncio.run(main())
"""
    r = subprocess.run([SYSTEM_PYTHON, "-c", script], capture_output=True, text=True,
                       timeout=scaled(30))
    assert r.returncode == 0, r.stderr
    assert "PerMessageDeflate" in r.stdout, r.stdout


def test_serve_herd_echo(herd_serve, run_herd):
    srv = herd_serve("--compress")
    for offer in ("--compress", "--compress=client_no_context_takeover,server_max_window_bits=10"):
        code, rep, err = run_herd("-c", 10, "-d", "2s", "--role", "echo", "-s", 300, offer,
                                  srv.url("/echo"), timeout=30)
        assert code == 0, err
        check_echo_run(rep, err)
        c = rep["counters"]
        assert c["deflate.received.payload"] == c["deflate.sent.payload"]
        assert c["deflate.received.compressed"] * 3 < c["deflate.received.payload"]


def test_serve_broadcast_mixed(herd_serve, run_herd, herd_run_proc):
    """One topic, subscribers that compress and subscribers that do not, publishers that compress:
    every subscriber gets every message, timed, with no loss; the compressed ones compressed."""
    import time
    from test_serve_counts import counts
    srv = herd_serve("--compress")
    # The subscribers outlast the publisher by seconds: they open, the server says all eight
    # are in (its counts, on SIGUSR1), then the publisher runs 1 s. (They ran 4 s from a fixed
    # 3 s wait under ASan, and stopped before the last messages came.)
    subs = [herd_run_proc("-c", 4, "-d", f"{scaled(6)}s", "--role", "subscribe", *extra,
                          srv.url("/pubsub/m"))
            for extra in (["--compress"], [])]
    deadline = time.monotonic() + scaled(10)
    while counts(srv)["opened"] < 8:
        assert time.monotonic() < deadline, "the subscribers did not all open"
        time.sleep(0.1)
    code, pub, err = run_herd("-c", 2, "-d", "1s", "--role", "publish", "--rate", 100, "-s", 200,
                              "--compress", srv.url("/pubsub/m"), timeout=30)
    assert code == 0, err
    sent = pub["counters"]["messages.sent"]
    assert sent > 100
    from conftest import load_report
    for i, (proc, path) in enumerate(subs):
        assert proc.wait(timeout=scaled(30)) == 0
        rep = load_report(path)
        c = rep["counters"]
        assert c["messages.received"] == 4 * sent, (i, c["messages.received"], sent)
        assert c["messages.lost"] == 0
        assert rep["histograms"]["latency"]["count"] == 4 * sent
        if i == 0:
            assert c["deflate.received.compressed"] > 0
        else:
            assert c["deflate.received.compressed"] == 0
