"""Local limits: -c above what one process's descriptor limit allows is either spread over
processes (automatic --procs) or refused with a clear message, never a crash.

herd raises its soft descriptor limit to the hard one itself, so the child here gets a low
*hard* limit (setrlimit in the child, before exec). herd serve keeps the suite's limit."""
import json
import resource
import signal
import subprocess

import pytest

from conftest import CHILD_ENV, error_total, scaled, usage_error


def _limit(n):
    def set_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    return set_limit


def _run_limited(herd_bin, limit, args, timeout=60):
    proc = subprocess.run([herd_bin, "run", "-q", *map(str, args)], capture_output=True,
                          env=CHILD_ENV, preexec_fn=_limit(limit), timeout=scaled(timeout),
                          stdin=subprocess.DEVNULL)
    err = proc.stderr.decode(errors="replace")
    # Never a crash: a signal shows as a negative status; sanitizer builds exit 86.
    assert proc.returncode >= 0, f"herd died of signal {-proc.returncode}: {err[-3000:]}"
    assert proc.returncode not in (86, 128 + signal.SIGSEGV, 128 + signal.SIGABRT), err[-3000:]
    return proc.returncode, err


@pytest.mark.hard_timeout(90)
def test_connections_above_descriptor_limit_spread_over_processes(herd_bin, herd_serve,
                                                                   tmp_path):
    srv = herd_serve()
    out = tmp_path / "r.json"
    code, err = _run_limited(herd_bin, 256, ["--json", out, "--role", "idle", "-c", "1000",
                                             "-d", "2s", "-t", "1", srv.url("/echo")])
    assert code == 0, err
    rep = json.loads(out.read_text())
    assert rep["complete"] is True
    # 256 descriptors less herd's reserve of 64 hold 192 connections: 1000 need 6 processes.
    assert rep["shards"] == 6
    assert rep["config"]["procs"] == 6
    c = rep["counters"]
    assert c["connections.opened"] == 1000 and c["connections.failed"] == 0, rep["errors"]
    assert c["connections.peak"] == 1000
    assert error_total(rep) == 0, rep["errors"]


@pytest.mark.hard_timeout(60)
def test_connections_above_descriptor_limit_with_one_process_is_refused(herd_bin, herd_serve,
                                                                        tmp_path):
    srv = herd_serve()
    out = tmp_path / "r.json"
    code, err = _run_limited(herd_bin, 256, ["--json", out, "--procs", "1", "--role", "idle",
                                             "-c", "1000", "-d", "2s", "-t", "1",
                                             srv.url("/echo")])
    # --procs 1 forbids spreading: a usage error naming -c and the limit, before any connect.
    assert code == 2, err
    usage_error(err, "-c")
    assert not out.exists()


@pytest.mark.hard_timeout(90)
def test_shard_above_descriptor_limit_spreads_its_share(herd_bin, herd_serve, tmp_path):
    # --shard 1/2 of -c 1000 is 500 connections; one process of 256 holds 192, so the shard
    # itself is spread over 3 processes and its report holds its 500.
    srv = herd_serve()
    out = tmp_path / "r.json"
    code, err = _run_limited(herd_bin, 256, ["--json", out, "--shard", "1/2", "--role", "idle",
                                             "-c", "1000", "-d", "2s", "-t", "1",
                                             srv.url("/echo")])
    assert code == 0, err
    rep = json.loads(out.read_text())
    assert rep["shards"] == 3
    assert rep["config"]["procs"] == 3
    assert rep["counters"]["connections.failed"] == 0, rep["errors"]
    # Child k of shard i/n is shard i + k*n of n*N: together exactly shard i's connections.
    assert rep["counters"]["connections.opened"] == 500, rep["counters"]


@pytest.mark.hard_timeout(90)
def test_stages_above_descriptor_limit_spread_over_processes(herd_bin, herd_serve, tmp_path):
    srv = herd_serve()
    out = tmp_path / "r.json"
    code, err = _run_limited(herd_bin, 200, ["--json", out, "--role", "idle", "--stages",
                                             "1s:400,1s:400", "-t", "1", srv.url("/echo")])
    assert code == 0, err
    rep = json.loads(out.read_text())
    # 200 descriptors less the reserve of 64 hold 136 connections: a peak of 400 needs 3.
    assert rep["shards"] == 3, rep["shards"]
    assert rep["counters"]["connections.peak"] == 400, rep["counters"]
    assert rep["counters"]["connections.failed"] == 0, rep["errors"]
