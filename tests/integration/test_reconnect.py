"""Reconnect: a server that dies mid-run and comes back; every connection must return, counted
in connections.reconnects and timed in the reconnect histogram."""
import json
import time

from conftest import scaled


def test_reconnect_after_server_restart(herd_serve, herd_run_proc):
    srv = herd_serve("--die-after", "1500ms")
    n = 40
    proc, json_path = herd_run_proc("-c", n, "-d", "5s", "-t", "2", "--role", "ping",
                                    "--reconnect", "--backoff", "exp:50ms..400ms,jitter=full",
                                    srv.url("/echo"))
    # The server exits by itself after 1.5 s; bring it back on the same port.
    deadline = time.monotonic() + scaled(10)
    while srv.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.proc.poll() == 0, "herd serve --die-after did not exit"
    time.sleep(0.5)
    herd_serve(port=srv.port)
    proc.wait(timeout=scaled(30))
    assert proc.returncode == 0, (proc.logdir / "stderr").read_text()
    rep = json.loads(json_path.read_text())
    c, e = rep["counters"], rep["errors"]
    assert rep["complete"] is True
    assert c["connections.reconnects"] == n
    assert c["connections.opened"] == 2 * n
    assert rep["histograms"]["reconnect"]["count"] == n
    # At least the 0.5 s the server was down, at most the run.
    assert rep["histograms"]["reconnect"]["min_us"] >= 400_000
    # The drop was seen as EOF or reset; attempts while the server was down were refused.
    assert e["eof"] + e["reset"] >= n
    assert e["refused"] > 0
    # Every failed attempt is counted once, in one class; the drops of open connections are not
    # failed attempts.
    assert c["connections.failed"] == e["refused"] + e["timeout"] + e["other"]
    assert c["connections.attempted"] == c["connections.opened"] + c["connections.failed"]
    assert c["connections.open"] == n
    # Recovery: every one of the n dropped came back.
    rec = rep["recovery"]
    assert (rec["dropped"], rec["back"], rec["not_back"]) == (n, n, 0), rec
    assert rec["back_100_us"] == rep["histograms"]["reconnect"]["max_us"]


def test_no_reconnect_ends_run_incomplete(herd_serve, run_herd):
    srv = herd_serve("--die-after", "1s")
    t0 = time.monotonic()
    code, rep, err = run_herd("-c", 20, "-d", "20s", "-t", "1", srv.url("/echo"), timeout=20)
    # Every connection dropped for good: the run ends early, marked incomplete, report written;
    # every connection that opened ended in an error, which exits 4 (the run measured nothing).
    assert time.monotonic() - t0 < scaled(8)
    assert code == 4, err
    assert "every connection ended in an error" in err
    assert rep is not None
    assert rep["complete"] is False
    assert rep["counters"]["connections.opened"] == 20
    assert rep["counters"]["connections.closed"] == 20
    assert rep["errors"]["eof"] + rep["errors"]["reset"] == 20


def test_recovery_says_how_many_never_came_back(herd_serve, herd_run_proc):
    """The server comes back holding fewer connections than dropped: the report says how many
    dropped, how many came back and the times of those that did, never "all"."""
    srv = herd_serve("--die-after", "1s")
    n, room = 20, 14
    proc, json_path = herd_run_proc("-c", n, "-d", "4s", "-t", "1", "--role", "idle",
                                    "--reconnect", "--backoff", "fixed:200ms,jitter=none",
                                    "--max-retries", "6", srv.url("/echo"))
    deadline = time.monotonic() + scaled(10)
    while srv.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.proc.poll() == 0, "herd serve --die-after did not exit"
    herd_serve("--max-connections", room, port=srv.port)
    proc.wait(timeout=scaled(30))
    assert proc.returncode == 0, (proc.logdir / "stderr").read_text()
    rep = json.loads(json_path.read_text())
    rec = rep["recovery"]
    # The ones that found no room were answered 503 until they gave up.
    assert rep["errors"]["http_status"]["503"] > 0, rep["errors"]
    assert rec["dropped"] == n, rec
    assert rec["back"] == room == rep["counters"]["connections.reconnects"], rec
    assert rec["not_back"] == n - room, rec
    assert rec["connections"] == room
    assert 0 < rec["back_50_us"] <= rec["back_90_us"] <= rec["back_100_us"], rec
    assert rec["back_100_us"] == rep["histograms"]["reconnect"]["max_us"]
    # The busiest second of attempts is the time series' busiest row.
    busiest = max(rep["timeseries"], key=lambda r: r["attempted"])
    assert rec["busiest_second"]["attempted"] == busiest["attempted"]
    assert rec["busiest_second"]["t"] == busiest["t"]
