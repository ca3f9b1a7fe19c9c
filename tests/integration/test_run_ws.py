"""`herd run` against WebSocket servers: herd serve, independent peers, misbehaving servers,
bad usage, signals, and the JSON report (DESIGN.md: exit codes, counters, report version 1).

Every assertion is on an exit code or the JSON report, never on human output. Runs are short
(-d 1s..2s) and use one or two threads.
"""
import json
import os
import signal
import time

import pytest

from conftest import (drain_until_closed, error_count, error_total, load_report, read_http_head,
                      scaled, usage_error, ws_accept_value)

PERCENTILES = ("min_us", "p50_us", "p90_us", "p95_us", "p99_us", "p999_us", "max_us")


# ---------------------------------------------------------------------------------------------
# checks shared by the tests


def check_report(rep, complete=True):
    """The fixed shape of a version 1 report, and whether the run was complete: True for a run
    that lasted its -d, False for one that a signal, the loss of every connection or no
    connection ever opening ended early (DESIGN.md)."""
    assert rep is not None, "no JSON report was written"
    assert rep["tool"] == "herd"
    assert rep["report_version"] == 1
    assert rep["complete"] is complete
    for key in ("counters", "errors", "histograms", "config"):
        assert isinstance(rep[key], dict), key
    for key in ("timeseries", "thresholds"):
        assert isinstance(rep[key], list), key
    assert rep["duration_s"] >= 0
    return rep["counters"]


def check_hist(h, name):
    """A non-empty histogram whose figures are ordered and which carries its V2 encoding."""
    assert h["count"] > 0, name
    values = [h[k] for k in PERCENTILES]
    assert values == sorted(values), f"{name}: percentiles out of order: {h}"
    assert h["p50_us"] <= h["p99_us"] <= h["max_us"]
    assert h["min_us"] <= h["mean_us"] <= h["max_us"]
    assert isinstance(h["hdr"], str) and h["hdr"], f"{name}: no hdr encoding"


def no_errors(rep):
    assert error_total(rep) == 0, f"errors: {rep['errors']}"


def check_ping(rep, conns, pipeline=1):
    c = check_report(rep)
    assert c["connections.opened"] == conns
    assert c["pings.sent"] > 0 and c["pings.received"] > 0
    # At the end at most `pipeline` PINGs per connection can still be waiting for their PONG.
    assert 0 <= c["pings.sent"] - c["pings.received"] <= conns * pipeline
    rtt = rep["histograms"]["rtt"]
    assert rtt["count"] == c["pings.received"]
    check_hist(rtt, "rtt")
    no_errors(rep)


def check_echo(rep, conns, pipeline=1):
    c = check_report(rep)
    assert c["connections.opened"] == conns
    assert c["messages.sent"] > 0 and c["messages.received"] > 0
    assert 0 <= c["messages.sent"] - c["messages.received"] <= conns * pipeline
    assert c["bytes.sent"] > 0 and c["bytes.received"] > 0
    for k in ("messages.lost", "messages.duplicated", "messages.reordered"):
        assert c.get(k, 0) == 0, k
    rtt = rep["histograms"]["rtt"]
    check_hist(rtt, "rtt")
    assert rtt["count"] <= c["messages.received"]
    no_errors(rep)


# ---------------------------------------------------------------------------------------------
# herd serve /echo


def test_ping_herd_serve(herd_serve, run_herd):
    srv = herd_serve()
    code, rep, err = run_herd("-c", 4, "-d", "2s", "-t", 1, "--role", "ping", srv.url("/echo"))
    assert code == 0, err
    check_ping(rep, 4)
    assert rep["target"] == srv.url("/echo")


def test_ping_is_the_default_role(herd_serve, run_herd):
    srv = herd_serve()
    code, rep, err = run_herd("-c", 2, "-d", "1s", "-t", 1, srv.url("/echo"))
    assert code == 0, err
    check_ping(rep, 2)


@pytest.mark.parametrize("kind", [("--binary", "-s", "64"), ("--text", "-s", "2000")],
                         ids=["binary64", "text2000"])
def test_echo_herd_serve(herd_serve, run_herd, kind):
    srv = herd_serve()
    code, rep, err = run_herd("-c", 4, "-d", "2s", "-t", 2, "--role", "echo", *kind,
                              srv.url("/echo"))
    assert code == 0, err
    check_echo(rep, 4)


def test_echo_pipeline_herd_serve(herd_serve, run_herd):
    srv = herd_serve()
    code, rep, err = run_herd("-c", 3, "-d", "2s", "-t", 1, "--role", "echo", "--pipeline", 8,
                              srv.url("/echo"))
    assert code == 0, err
    check_echo(rep, 3, pipeline=8)


def test_idle_herd_serve(herd_serve, run_herd):
    srv = herd_serve()
    code, rep, err = run_herd("-c", 50, "-d", "2s", "-t", 2, "--role", "idle", srv.url("/echo"))
    assert code == 0, err
    c = check_report(rep)
    # The figures describe the run, taken before herd closes its own connections at the end.
    assert c["connections.opened"] == 50
    assert c["connections.open"] == 50
    assert c["connections.peak"] == 50
    assert c["messages.sent"] == 0 and c["messages.received"] == 0
    assert c.get("pings.sent", 0) == 0
    no_errors(rep)


@pytest.mark.slow
def test_ping_many_connections_pipelined(herd_serve, run_herd):
    srv = herd_serve()
    code, rep, err = run_herd("-c", 300, "-d", "3s", "-t", 2, "--role", "ping", "--pipeline", 4,
                              srv.url("/echo"), timeout=60)
    assert code == 0, err
    check_ping(rep, 300, pipeline=4)


# ---------------------------------------------------------------------------------------------
# independent peers


@pytest.mark.peer
@pytest.mark.parametrize("name", ["node_echo", "python_echo"])
def test_ping_peer(peer, run_herd, name):
    srv = peer(name)
    code, rep, err = run_herd("-c", 4, "-d", "2s", "-t", 1, "--role", "ping", srv.url("/echo"))
    assert code == 0, err
    check_ping(rep, 4)


@pytest.mark.peer
@pytest.mark.parametrize("name", ["node_echo", "python_echo"])
@pytest.mark.parametrize("kind", [("--binary", "-s", "128"), ("--text", "-s", "1000")],
                         ids=["binary128", "text1000"])
def test_echo_peer(peer, run_herd, name, kind):
    srv = peer(name)
    code, rep, err = run_herd("-c", 4, "-d", "2s", "-t", 1, "--role", "echo", *kind,
                              srv.url("/echo"))
    assert code == 0, err
    check_echo(rep, 4)


@pytest.mark.peer
def test_echo_websocketd(peer, run_herd):
    # websocketd writes each text message to the program's stdin as one line, and sends each
    # line the program prints as one text message, so `cat` echoes a message without newlines.
    srv = peer("websocketd_echo")
    code, rep, err = run_herd("-c", 3, "-d", "2s", "-t", 1, "--role", "echo", "--text",
                              "--message", "hello {{seq}} {{stamp}}", srv.url("/"))
    assert code == 0, err
    check_echo(rep, 3)


# ---------------------------------------------------------------------------------------------
# bad usage: exit 2 with one line naming the problem


@pytest.mark.parametrize("url", ["not-a-url", "ftp://127.0.0.1/x", "ws://127.0.0.1:99999/echo"])
def test_bad_url(run_herd, url):
    code, rep, err = run_herd("-c", 1, "-d", "1s", url)
    assert code == 2, err
    usage_error(err, url)
    assert rep is None


def test_bad_connection_count(run_herd, free_port):
    code, rep, err = run_herd("-c", "ten", "-d", "1s", f"ws://127.0.0.1:{free_port()}/echo")
    assert code == 2, err
    usage_error(err, "-c")
    assert rep is None


def test_unknown_option(run_herd, free_port):
    code, rep, err = run_herd("--no-such-option", "-d", "1s", f"ws://127.0.0.1:{free_port()}/")
    assert code == 2, err
    usage_error(err, "--no-such-option")
    assert rep is None


def test_missing_url(run_herd):
    code, rep, err = run_herd("-c", 1, "-d", "1s")
    assert code == 2, err
    usage_error(err, "URL")
    assert rep is None


def test_bad_threshold(run_herd, free_port):
    code, rep, err = run_herd("--threshold", "rtt.p99<<fast", "-d", "1s",
                              f"ws://127.0.0.1:{free_port()}/echo")
    assert code == 2, err
    usage_error(err, "--threshold")
    assert rep is None


# ---------------------------------------------------------------------------------------------
# targets that fail: error classes in the report


def test_connection_refused(run_herd, free_port):
    port = free_port()  # nothing listens there
    code, rep, err = run_herd("-c", 2, "-d", "2s", "-t", 1, "--timeout", "2s",
                              f"ws://127.0.0.1:{port}/echo", timeout=20)
    assert code == 3, err  # no connection ever opened
    c = check_report(rep, complete=False)  # the report is written all the same
    # Without --reconnect each connection tries once.
    assert (c["connections.attempted"], c["connections.failed"]) == (2, 2), c
    assert c["connections.opened"] == 0
    assert error_count(rep, "refused") == 2, rep["errors"]
    assert error_total(rep) == 2, rep["errors"]


def test_http_404(herd_serve, run_herd):
    srv = herd_serve()
    code, rep, err = run_herd("-c", 2, "-d", "2s", "-t", 1, srv.url("/nope"), timeout=20)
    assert code == 3, err
    c = check_report(rep, complete=False)
    assert rep["errors"]["http_status"] == {"404": 2}, rep["errors"]
    assert error_total(rep) == 2, rep["errors"]
    assert (c["connections.attempted"], c["connections.failed"]) == (2, 2), c
    assert c["connections.opened"] == 0


def test_upgrade_never_answered(raw_server, run_herd):
    srv = raw_server(drain_until_closed)  # accepts, reads, never says a word
    t0 = time.monotonic()
    code, rep, err = run_herd("-c", 2, "-d", "2s", "-t", 1, "--timeout", "1s", srv.url("/echo"),
                              timeout=20)
    elapsed = time.monotonic() - t0
    assert code == 3, err
    c = check_report(rep, complete=False)
    assert error_count(rep, "timeout") == 2, rep["errors"]
    assert error_total(rep) == 2, rep["errors"]
    assert (c["connections.attempted"], c["connections.opened"]) == (2, 0), c
    assert srv.connections == 2
    # The 1 s handshake timeout ends the run; it does not hang on the silent server.
    assert elapsed < scaled(10), f"run took {elapsed:.1f}s"


def _upgrade_then(payload, accept=None):
    """A handler that answers the upgrade with 101 (correct Sec-WebSocket-Accept unless given)
    and then sends payload raw."""

    def handler(conn, stop):
        head = read_http_head(conn, stop)
        if head is None:
            return
        value = accept or ws_accept_value(head.get("sec-websocket-key", ""))
        conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Accept: {value}\r\n\r\n").encode())
        if payload:
            conn.sendall(payload)
        drain_until_closed(conn, stop)

    return handler


def test_invalid_frame_after_handshake(raw_server, run_herd):
    # FIN + reserved opcode 3, length 0: RFC 6455 5.2 says fail the connection.
    srv = raw_server(_upgrade_then(b"\x83\x00"))
    code, rep, err = run_herd("-c", 2, "-d", "2s", "-t", 1, "--role", "ping", srv.url("/echo"),
                              timeout=20)
    # Both connections opened, then both ended in the protocol error, which ends the run early
    # (incomplete): the run measured nothing (4), and says which class ended them.
    assert code == 4, err
    c = check_report(rep, complete=False)
    assert c["connections.opened"] == 2, c
    assert error_count(rep, "protocol") == 2, rep["errors"]
    assert error_total(rep) == 2, rep["errors"]
    assert [w for w in rep["warnings"]
            if w.startswith("every connection ended in an error: protocol")], rep["warnings"]


def _upgrade_then_stop_reading(conn, stop):
    """Answer the upgrade, then never read again: herd's writes back up in the kernel and then in
    herd's own queue."""
    head = read_http_head(conn, stop)
    if head is None:
        return
    value = ws_accept_value(head.get("sec-websocket-key", ""))
    conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Accept: {value}\r\n\r\n").encode())
    stop.wait(30)


def test_server_stops_reading(raw_server, run_herd):
    # An open-model run of 64 KiB messages into a server that never reads: the run must still end
    # on time (-d plus the close grace), write its report and not count a sent message as received.
    srv = raw_server(_upgrade_then_stop_reading)
    # Nothing comes back from such a server: no rtt, which the run means (--allow-empty), and
    # which herd still says.
    code, rep, err = run_herd("-c", 2, "-d", "2s", "-t", 1, "--role", "echo", "--binary",
                              "-s", "64k", "--rate", "200", "--allow-empty", srv.url("/echo"),
                              timeout=20)
    assert code == 0, err
    check_report(rep)
    assert [w for w in rep["warnings"] if w.startswith("echo: rtt: no sample")], rep["warnings"]
    c = rep["counters"]
    assert c["connections.opened"] == 2
    assert c["messages.received"] == 0
    assert c["messages.sent"] > 0
    # Backpressure: once the kernel's buffers were full herd queued one message per connection
    # and sent no more (the open model would have sent 2 x 200/s x 2 s = 800).
    assert c["messages.sent"] < 600, c
    assert rep["duration_s"] < 3.0


def test_wrong_accept_key(raw_server, run_herd):
    wrong = ws_accept_value("not the key herd sent")
    srv = raw_server(_upgrade_then(b"", accept=wrong))
    code, rep, err = run_herd("-c", 2, "-d", "2s", "-t", 1, srv.url("/echo"), timeout=20)
    assert code == 3, err
    c = check_report(rep, complete=False)
    assert error_count(rep, "handshake") == 2, rep["errors"]
    assert error_total(rep) == 2, rep["errors"]
    assert (c["connections.attempted"], c["connections.opened"]) == (2, 0), c


# ---------------------------------------------------------------------------------------------
# thresholds set the exit code


def test_thresholds(herd_serve, run_herd):
    srv = herd_serve()
    code, rep, err = run_herd("-c", 2, "-d", "1s", "-t", 1, "--threshold", "errors==0",
                              srv.url("/echo"))
    assert code == 0, err
    check_report(rep)
    assert [(t["expr"], t["ok"]) for t in rep["thresholds"]] == [("errors==0", True)]

    # No loopback round trip takes under a microsecond.
    code, rep, err = run_herd("-c", 2, "-d", "1s", "-t", 1, "--threshold", "errors==0",
                              "--threshold", "rtt.p99<1us", srv.url("/echo"))
    assert code == 1, err
    check_report(rep)
    assert [(t["expr"], t["ok"]) for t in rep["thresholds"]] == [("errors==0", True),
                                                                 ("rtt.p99<1us", False)]
    # Each result carries the figure it was judged on.
    assert rep["thresholds"][0]["value"] == 0
    assert rep["thresholds"][1]["value_us"] == rep["histograms"]["rtt"]["p99_us"] >= 1


# ---------------------------------------------------------------------------------------------
# signals and the report file


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_gracefully(herd_serve, herd_run_proc, sig):
    srv = herd_serve()
    proc, json_path = herd_run_proc("-c", 4, "-d", "30s", "-t", 1, "--role", "ping",
                                    srv.url("/echo"))
    time.sleep(scaled(1.5))
    assert proc.poll() is None, "herd run ended before the signal"
    proc.send_signal(sig)  # to this PID only
    try:
        code = proc.wait(timeout=scaled(5))
    except Exception:
        pytest.fail("herd run did not stop within 5 s of the signal")
    err = (proc.logdir / "stderr").read_text(errors="replace")
    assert code >= 0, f"killed by signal {-code}: it did not handle it\n{err}"
    assert code == 0, err  # connections opened, no threshold: stopped early is not a failure
    rep = load_report(json_path)
    c = check_report(rep, complete=False)
    assert c["connections.opened"] > 0
    assert c["pings.sent"] > 0 and c["pings.received"] > 0
    assert rep["duration_s"] < 30
    # Written atomically: the report and nothing else (no temp file) in its directory.
    assert sorted(os.listdir(json_path.parent)) == ["r.json"]


def test_json_replaced_atomically(herd_serve, run_herd, tmp_path):
    srv = herd_serve()
    outdir = tmp_path / "out"
    outdir.mkdir()
    path = outdir / "report.json"
    path.write_text("old contents, not JSON\n")
    old_inode = path.stat().st_ino
    code, rep, err = run_herd("-c", 2, "-d", "1s", "-t", 1, srv.url("/echo"), json_path=path)
    assert code == 0, err
    check_report(rep)
    # temp file + rename: a new inode took the name, and no temp file is left beside it.
    assert path.stat().st_ino != old_inode
    assert sorted(os.listdir(outdir)) == ["report.json"]
    with open(path) as f:
        assert json.load(f) == rep


@pytest.mark.hard_timeout(120)
def test_demo(herd_bin, procs, tmp_path):
    path = tmp_path / "demo.json"
    with open(tmp_path / "out", "wb") as out, open(tmp_path / "err", "wb") as errf:
        proc = procs.spawn([herd_bin, "demo", "--json", path], stdout=out, stderr=errf,
                           cwd=tmp_path)
    try:
        code = proc.wait(timeout=scaled(90))
    except Exception:
        pytest.fail("herd demo did not finish within 90 s")
    err = (tmp_path / "err").read_text(errors="replace")
    assert code == 0, err
    rep = load_report(path)
    c = check_report(rep)
    assert c["connections.opened"] > 0
    assert any(h["count"] > 0 for h in rep["histograms"].values())
