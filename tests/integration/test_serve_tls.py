"""herd serve --tls-cert/--tls-key: the built-in target over wss://, driven by herd's own TLS
client and by an independent one (Python's ssl module + Debian's python3-websockets), with
certificates made at test time by the openssl command (test_tls.py's `certs`)."""
import subprocess

import pytest

from conftest import (CHILD_ENV, SYSTEM_PYTHON, _need_python_websockets, error_total, scaled,
                      usage_error)
from test_tls import certs  # noqa: F401  (the module-scoped fixture: CA, good.pem/good.key)


def tls_args(certs, name="good"):  # noqa: F811
    return ["--tls-cert", certs / f"{name}.pem", "--tls-key", certs / f"{name}.key"]


@pytest.fixture
def tls_serve(herd_serve, certs):  # noqa: F811
    def start(*args):
        return herd_serve(*tls_args(certs), *args)

    return start


def test_wss_ping(tls_serve, certs, run_herd):  # noqa: F811
    srv = tls_serve()
    code, rep, err = run_herd("-c", 8, "-d", "2s", "-t", 2, "--cacert", certs / "ca.pem",
                              srv.url("/echo", "wss"), timeout=30)
    assert code == 0, err
    assert rep["complete"] is True
    c, h = rep["counters"], rep["histograms"]
    assert c["connections.opened"] == 8
    assert h["tls"]["count"] == 8
    assert c["pings.received"] > 100
    assert h["rtt"]["count"] == c["pings.received"]
    assert rep["errors"]["tls"] == 0
    assert error_total(rep) == 0


@pytest.mark.parametrize("size", [
    "1k",
    "100k",
    "1M",
])
def test_wss_echo(tls_serve, certs, run_herd, size):  # noqa: F811
    srv = tls_serve("--threads", 2)
    code, rep, err = run_herd("-c", 8, "-d", "2s", "-t", 2, "--role", "echo", "-s", size,
                              "--cacert", certs / "ca.pem", srv.url("/echo", "wss"), timeout=30)
    assert code == 0, err
    c, h = rep["counters"], rep["histograms"]
    assert c["connections.opened"] == 8
    assert h["tls"]["count"] == 8
    assert c["messages.received"] > 20
    assert h["rtt"]["count"] == c["messages.received"]
    assert c["messages.lost"] == 0
    assert rep["errors"]["tls"] == 0
    assert error_total(rep) == 0


def test_plain_client_on_tls_port_fails(tls_serve, certs, run_herd):  # noqa: F811
    srv = tls_serve()
    code, rep, err = run_herd("-c", 3, "-d", "1s", "-t", 1, "--timeout", "3s",
                              srv.url("/echo"), timeout=30)
    assert code == 3, err
    assert rep["complete"] is False
    c = rep["counters"]
    assert (c["connections.attempted"], c["connections.opened"]) == (3, 0), c
    # The server reads a TLS record header, finds "GET /" and closes with the rest of the
    # request unread: a reset, once per connection.
    assert {k: v for k, v in rep["errors"].items() if v} == {"reset": 3}, rep["errors"]
    # The server shrugs it off: wss:// still works.
    code, rep, err = run_herd("-c", 2, "-d", "1s", "-t", 1, "--cacert", certs / "ca.pem",
                              srv.url("/echo", "wss"), timeout=30)
    assert code == 0, err
    assert rep["counters"]["connections.opened"] == 2


def serve_exit(herd_bin, *args):
    proc = subprocess.run([herd_bin, "serve", "--port", "0", "--threads", "1", *map(str, args)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          env=CHILD_ENV, timeout=scaled(20))
    return proc.returncode, proc.stderr


@pytest.mark.parametrize("which,option", [("cert", "--tls-cert"), ("key", "--tls-key"),
                                           ("mismatch", "--tls-key")])
def test_bad_tls_files_fail_at_start(herd_bin, certs, tmp_path, which, option):  # noqa: F811
    """A certificate or key that cannot be loaded, or a key that is not the certificate's, is
    bad usage (DESIGN.md: exit 2, one line naming the option), found before listening."""
    cert, key = certs / "good.pem", certs / "good.key"
    if which == "cert":
        cert = tmp_path / "nope.pem"
    elif which == "key":
        key = tmp_path / "nope.key"
    else:
        key = certs / "other.key"
    code, err = serve_exit(herd_bin, "--tls-cert", cert, "--tls-key", key)
    usage_error(err, option)
    assert code == 2, err


# An independent client: every size around the record limit, text and binary, many messages in
# flight, a ping, then a flood it does not read for a while, so that herd serve's output backs
# up (its TLS writes get EAGAIN and are retried from its queue) and its reading pauses.
PY_CLIENT = r'''
import asyncio, ssl, sys, websockets

async def main(port, cafile, version):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ctx.maximum_version = getattr(ssl.TLSVersion, version)
    async with websockets.connect(f"wss://localhost:{port}/echo", ssl=ctx, max_size=None,
                                  max_queue=1, ping_interval=None) as ws:
        for n in (0, 1, 125, 126, 16383, 16384, 16385, 100000, 1 << 20, 3 << 20):
            data = bytes((i * 7) & 0xff for i in range(n))
            await ws.send(data)
            assert await ws.recv() == data, n
            text = "\u00e9" * (n // 4)
            await ws.send(text)
            assert await ws.recv() == text, n
        msgs = [bytes([i]) * (1000 + i * 397) for i in range(200)]
        for m in msgs:
            await ws.send(m)
        for m in msgs:
            assert await ws.recv() == m
        await asyncio.wait_for(await ws.ping(b"herd"), 10)
        flood = [bytes([i]) * (1 << 20) for i in range(24)]

        async def sender():
            for m in flood:
                await ws.send(m)

        task = asyncio.create_task(sender())
        await asyncio.sleep(1.0)
        for m in flood:
            assert await ws.recv() == m
        await task
        print("ok", ws.transport.get_extra_info("ssl_object").version())

asyncio.run(asyncio.wait_for(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]), 90))
'''


@pytest.mark.peer
@pytest.mark.hard_timeout(120)
@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_python_client_echo(tls_serve, certs, version):  # noqa: F811
    _need_python_websockets()
    srv = tls_serve()
    proc = subprocess.run([SYSTEM_PYTHON, "-c", PY_CLIENT, str(srv.port), str(certs / "ca.pem"),
                           version], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=scaled(100))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["ok", version.replace("_", ".")], proc.stdout


def test_wss_resume(tls_serve, certs, run_herd):  # noqa: F811
    """--tls-resume: once the server has handed out a session, later connections offer it and
    resume; without the option none does."""
    srv = tls_serve()
    # 50 ms apart: the first connection's tickets are in before the next one starts (a slow
    # build, e.g. ASan, may let a second one start without a ticket too).
    args = ["-c", 20, "--connect-rate", 20, "-d", "2s", "-t", 1, "--role", "idle",
            "--cacert", certs / "ca.pem", srv.url("/echo", "wss")]
    code, rep, err = run_herd("--tls-resume", *args, timeout=30)
    assert code == 0, err
    c, h = rep["counters"], rep["histograms"]
    assert c["connections.opened"] == 20
    assert h["tls"]["count"] == 20
    assert 18 <= c["tls.resumed"] <= 19
    code, rep, err = run_herd(*args, timeout=30)
    assert code == 0, err
    assert rep["counters"]["tls.resumed"] == 0
