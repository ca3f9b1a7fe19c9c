"""--watch-pid: the target's side of a run. A `herd serve` under load is watched: its CPU, RSS,
descriptors and threads appear each second in the time series (JSON and CSV) and in its summary
in "targets", and thresholds on them set the exit code. A watched process that exits mid-run:
its series stops, the report says when, the run goes on. A pid that is not there is bad usage
(exit 2) before any connection opens. Under --procs one child watches, so the target counts
once."""
import csv
import json
import os
import socket
import subprocess
import time

import pytest

from conftest import free_port, scaled, usage_error


def approx(v):
    return pytest.approx(v, rel=1e-6, abs=1e-6)


def test_watch_serve(herd_serve, run_herd):
    srv = herd_serve()
    pid = srv.proc.pid
    res = run_herd("-c", 4, "-d", "3s", "-t", 1, "--role", "echo", "--watch-pid", pid,
                   "--csv", "r.csv", "--threshold", "target.cpu.max<10000%",
                   "--threshold", "target.rss.max<1k", "--threshold", "target.fds.max>=5",
                   srv.url("/echo"))
    assert res.code == 1, res.stderr  # target.rss.max<1k fails, and only it
    rep = res.report
    assert [t["ok"] for t in rep["thresholds"]] == [True, False, True]
    assert rep["complete"] is True
    assert rep["config"]["watch_pid"] == str(pid)
    (t,) = rep["targets"]
    assert t["pid"] == pid and t["name"] == "herd"
    assert t["exited_at_s"] is None
    assert t["samples"] >= 3
    # An echo server under a flood of messages works: it uses CPU, and holds the 4
    # connections and its listening socket open.
    assert t["cpu_max_pct"] > 0
    assert t["cpu_mean_pct"] == approx(t["cpu_user_mean_pct"] + t["cpu_system_mean_pct"])
    assert t["rss_max_bytes"] > 1 << 20
    assert t["fds_max"] >= 5
    assert t["threads_max"] >= 1
    # What the kernel says now (the process still runs) is of the same order.
    with open(f"/proc/{pid}/status") as f:
        threads = int(next(ln for ln in f if ln.startswith("Threads:")).split()[1])
    assert t["threads_max"] == threads
    rows = [r for r in rep["timeseries"] if "target_processes" in r]
    assert len(rows) == t["samples"]
    assert max(r["target_rss_bytes"] for r in rows) == t["rss_max_bytes"]
    assert max(r["target_fds"] for r in rows) == t["fds_max"]
    assert max(r["target_cpu_pct"] for r in rows) == approx(t["cpu_max_pct"])
    # The threshold's value is the largest second's.
    assert rep["thresholds"][1]["value"] == t["rss_max_bytes"]
    with open(res.dir / "r.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(rep["timeseries"])
    got = [int(r["target_rss_bytes"]) for r in table if r["target_processes"]]
    assert got == [r["target_rss_bytes"] for r in rows]


def test_watched_process_exits(herd_serve, run_herd, procs):
    """A watched process that exits at about 1.5 s (scaled: it must outlive herd's start and
    first sample): gone from the series from then on, its exit time in the report, and the run
    goes on to its end."""
    srv = herd_serve()
    life = scaled(1.5)
    short = procs.spawn(["sleep", f"{life:g}"])
    res = run_herd("-c", 2, "-d", f"{life + 2.5:g}s", "-t", 1, "--role", "echo", "--watch-pid",
                   short.pid, srv.url("/echo"))
    assert res.code == 0, res.stderr
    rep = res.report
    assert rep["complete"] is True
    assert rep["duration_s"] >= life + 2.4
    (t,) = rep["targets"]
    assert t["pid"] == short.pid and t["name"] == "sleep"
    assert t["exited_at_s"] is not None and 1.0 <= t["exited_at_s"] <= life + scaled(2)
    rows = rep["timeseries"]
    with_target = [r["t"] for r in rows if "target_processes" in r]
    assert with_target and max(with_target) < t["exited_at_s"]
    assert any(r["t"] > t["exited_at_s"] for r in rows), "the series went on after the exit"
    assert "--watch-pid" in res.stderr and str(short.pid) in res.stderr


def test_watch_missing_pid(run_herd):
    """No such process: exit 2 naming --watch-pid, before any connection opens (the target
    port is a socket the test holds: nothing may arrive on it)."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    lsock.setblocking(False)
    port = lsock.getsockname()[1]
    try:
        res = run_herd("-c", 1, "-d", "1s", "--watch-pid", gone.pid, f"ws://127.0.0.1:{port}/",
                       json=False)
        assert res.code == 2
        usage_error(res.stderr, "--watch-pid")
        time.sleep(0.2)
        try:
            lsock.accept()
            raise AssertionError("herd connected before refusing --watch-pid")
        except BlockingIOError:
            pass
    finally:
        lsock.close()
    for bad in ("0", "-3", "x", "99999999999"):
        res = run_herd("-c", 1, "--watch-pid", bad, "ws://127.0.0.1:1/", json=False)
        assert res.code == 2, bad
        usage_error(res.stderr, "--watch-pid")


def test_watch_procs_once(herd_serve, run_herd):
    """--procs 2: the first child alone watches, so the target appears once and each second's
    figures are its own, not twice them."""
    srv = herd_serve()
    res = run_herd("--procs", 2, "-c", 4, "-d", "2s", "-t", 1, "--role", "echo",
                   "--watch-pid", srv.proc.pid, srv.url("/echo"), timeout=40)
    assert res.code == 0, res.stderr
    (t,) = res.report["targets"]
    assert t["pid"] == srv.proc.pid
    rows = [r for r in res.report["timeseries"] if "target_processes" in r]
    assert rows and all(r["target_processes"] == 1 for r in rows)
    assert os.path.exists(f"/proc/{srv.proc.pid}")


def test_merge_shards_one_watching(herd_bin, herd_serve, run_herd, tmp_path):
    """Shards of one run of which one watched the target (and served its own metrics) are still
    shards of one run: herd merge takes them without --force and keeps the one target."""
    srv = herd_serve()
    extra = [["--watch-pid", srv.proc.pid, "--metrics-listen", f"127.0.0.1:{free_port()}"], []]
    for i in range(2):
        res = run_herd("--shard", f"{i}/2", "-c", 4, "-d", "2s", "-t", 1, "--role", "echo",
                       *extra[i], srv.url("/echo"), json_path=tmp_path / f"s{i}.json")
        assert res.code == 0, res.stderr
    out = tmp_path / "m.json"
    proc = subprocess.run([herd_bin, "merge", "--json", out, tmp_path / "s0.json",
                           tmp_path / "s1.json"], capture_output=True, text=True,
                          timeout=scaled(30))
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(out.read_text())
    assert [t["pid"] for t in rep["targets"]] == [srv.proc.pid]
    assert not any(w.startswith("merge:") for w in rep["warnings"])
