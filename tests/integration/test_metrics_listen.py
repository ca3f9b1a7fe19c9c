"""--metrics-listen: a real Prometheus (Debian's `prometheus`) scrapes herd every second during a
~5 s run; the values read back from Prometheus's HTTP query API are the report's. herd publishes
its figures once per tick, so every counter value Prometheus stored is the sum of the time series'
rows up to some second, exactly; the last one it stored is the report's total when the scrape
came after the end. Also: the endpoint itself (format 0.0.4, paths), a port in use is bad usage
(exit 2) before any connection opens, and bad ADDR:PORT values.

Prometheus runs on a free port with its storage in the test's tmp dir and is ended by PID.
Skipped without the prometheus binary, failed with HERD_REQUIRE_PEERS=1 (CI)."""
import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from conftest import _missing, free_port, scaled, usage_error
from test_merge import hdr_total


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode()


@pytest.fixture
def prometheus(procs, tmp_path):
    """Start a Prometheus that scrapes herd at 127.0.0.1:PORT every second; returns
    (metrics port for herd, query function)."""
    prom = shutil.which("prometheus")
    if not prom:
        _missing("prometheus is not installed (Debian package prometheus; "
                 "scripts/setup-deps.sh installs it)")
    mport, pport = free_port(), free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: herd\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{mport}']\n")
    log = tmp_path / "prometheus.log"
    with open(log, "wb") as out:
        procs.spawn([prom, f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                     f"--web.listen-address=127.0.0.1:{pport}", "--log.level=warn"],
                    stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{pport}"
    deadline = time.monotonic() + scaled(20)
    while True:
        try:
            if http_get(base + "/-/ready", timeout=1)[0] == 200:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail("prometheus not ready within 20 s:\n" + log.read_text()[-3000:])
        time.sleep(0.2)

    # Prometheus applies its targets some seconds after it is ready: wait for its first try
    # (herd does not listen yet, so it fails), so that the run is scraped from its start.
    deadline = time.monotonic() + scaled(20)
    while True:
        body = json.loads(http_get(base + "/api/v1/targets")[2])
        active = body["data"]["activeTargets"]
        if active and not active[0]["lastScrape"].startswith("0001-"):
            break
        if time.monotonic() > deadline:
            pytest.fail("prometheus did not try its target within 20 s:\n" + json.dumps(body))
        time.sleep(0.2)

    def query(expr):
        url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr,
                                                                   "time": f"{time.time():.3f}"})
        status, _, body = http_get(url)
        out = json.loads(body)
        assert status == 200 and out["status"] == "success", body
        return out["data"]["result"]

    return mport, query


def cumulative(rows, key):
    out, total = [0], 0
    for r in rows:
        total += key(r)
        out.append(total)
    return out


@pytest.mark.hard_timeout(90)
def test_prometheus_scrapes_herd(herd_serve, run_herd, prometheus):
    mport, query = prometheus
    srv = herd_serve()
    res = run_herd("-c", 4, "-d", "5s", "-t", 1, "--role", "echo", "--metrics-listen",
                   f"127.0.0.1:{mport}", srv.url("/echo"), timeout=30)
    assert res.code == 0, res.stderr
    rep = res.report
    rows = rep["timeseries"]
    assert rep["config"]["metrics_listen"] == f"127.0.0.1:{mport}"
    assert rep["counters"]["pings.received"] == 0  # rows' received are messages only then

    def samples(expr):
        (series,) = query(f"{expr}[2m]")
        return [float(v) for _, v in series["values"]]

    # A ~5 s run scraped every second: several samples of each series.
    received = samples("herd_messages_received_total")
    assert len(received) >= 3, received
    # Each stored value is the sum of the rows up to some second, exactly.
    sums = cumulative(rows, lambda r: r["received"])
    for v in received:
        assert int(v) in sums, (v, sums)
    assert received == sorted(received)
    assert received[-1] <= rep["counters"]["messages.received"]

    rtt_count = samples("herd_rtt_seconds_count")
    sums = cumulative(rows, lambda r: hdr_total(r["rtt_hdr"]) if "rtt_hdr" in r else 0)
    assert sums[-1] == rep["histograms"]["rtt"]["count"]
    for v in rtt_count:
        assert int(v) in sums, (v, sums)
    assert samples('herd_rtt_seconds_bucket{le="+Inf"}') == rtt_count

    opened = samples("herd_connections_opened_total")
    assert opened[-1] == rep["counters"]["connections.opened"] == 4
    assert max(samples("herd_connections_open")) == rep["counters"]["connections.peak"] == 4
    assert samples('herd_errors_total{class="refused"}')[-1] == 0

    # PromQL over herd's histogram: the p99 lies within the report's range of rtt, and the rate
    # of messages is positive.
    (p99,) = query("histogram_quantile(0.99, max_over_time(herd_rtt_seconds_bucket[2m]))")
    v = float(p99["value"][1])
    assert 0 < v <= 60
    h = rep["histograms"]["rtt"]
    assert h["min_us"] / 1e6 <= v
    (rate,) = query("max_over_time(rate(herd_messages_received_total[3s])[2m:1s])")
    assert float(rate["value"][1]) > 0


def test_endpoint(herd_serve, herd_run_proc):
    """The exposition itself, fetched during a run: format 0.0.4, counters and histograms."""
    srv = herd_serve()
    mport = free_port()
    proc, json_path = herd_run_proc("-c", 2, "-d", "3s", "-t", 1, "--role", "echo",
                                    "--metrics-listen", f"127.0.0.1:{mport}", srv.url("/echo"))
    deadline = time.monotonic() + scaled(10)
    body = None
    while time.monotonic() < deadline:
        try:
            status, ctype, body = http_get(f"http://127.0.0.1:{mport}/metrics", timeout=2)
            if "herd_rtt_seconds_count" in body and "herd_rtt_seconds_count 0\n" not in body:
                break
        except OSError:
            pass
        time.sleep(0.2)
    assert body, "no answer on /metrics"
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    assert "# TYPE herd_messages_received_total counter\n" in body
    assert "# TYPE herd_rtt_seconds histogram\n" in body
    assert "# TYPE herd_connections_open gauge\n" in body
    lines = [ln for ln in body.splitlines() if ln.startswith("herd_rtt_seconds_bucket")]
    counts = [float(ln.rsplit(" ", 1)[1]) for ln in lines]
    assert counts == sorted(counts) and lines[-1].startswith('herd_rtt_seconds_bucket{le="+Inf"}')
    promtool_check(body)
    with pytest.raises(urllib.error.HTTPError) as e:
        http_get(f"http://127.0.0.1:{mport}/nothing")
    assert e.value.code == 404
    assert proc.wait(timeout=scaled(20)) == 0


def promtool_check(body):
    """Prometheus's own linter (promtool, in the prometheus package) accepts the text."""
    promtool = shutil.which("promtool")
    if not promtool:
        _missing("promtool is not installed (Debian package prometheus)")
    res = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                         text=True, timeout=scaled(30))
    assert res.returncode == 0, res.stdout + res.stderr


def fetch_until(url, want, timeout=10):
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        try:
            body = http_get(url, timeout=2)[2]
            if want(body):
                return body
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url}: no answer with the figures within {timeout} s")


def test_endpoint_scenario_groups(herd_bin, herd_serve, procs, tmp_path):
    """A scenario: every group's figures as herd_group_* with a group label, beside the run's
    totals, and each group's counters add up to the total."""
    srv = herd_serve()
    mport = free_port()
    scen = tmp_path / "s.yaml"
    scen.write_text(f"duration: 3s\nmetrics_listen: '127.0.0.1:{mport}'\ngroups:\n"
                    f"  - name: echoers\n    url: {srv.url('/echo')}\n    role: echo\n"
                    f"    connections: 2\n"
                    f"  - name: pingers\n    url: {srv.url('/echo')}\n    connections: 3\n")
    proc = procs.spawn([herd_bin, "run", "-q", "-f", scen, "--json", tmp_path / "r.json"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    body = fetch_until(f"http://127.0.0.1:{mport}/metrics",
                       lambda b: 'herd_group_connections_open{group="pingers"} 3' in b)
    assert proc.wait(timeout=scaled(20)) == 0, proc.stderr.read()
    promtool_check(body)

    def value(line_start):
        (line,) = [ln for ln in body.splitlines() if ln.startswith(line_start + " ")]
        return float(line.rsplit(" ", 1)[1])

    assert value('herd_group_connections_opened_total{group="echoers"}') == 2
    assert value('herd_group_connections_opened_total{group="pingers"}') == 3
    for name in ("herd_messages_sent_total", "herd_pings_sent_total", "herd_rtt_seconds_count"):
        group = name.replace("herd_", "herd_group_", 1)
        assert value(name) == value(group + '{group="echoers"}') + \
            value(group + '{group="pingers"}'), name
    assert value('herd_group_pings_sent_total{group="pingers"}') > 0
    assert value('herd_group_messages_sent_total{group="echoers"}') > 0


def test_port_in_use(run_herd):
    """The port is held by a socket that is also the run's target: exit 2 naming the option,
    and no connection ever reached it."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    lsock.setblocking(False)
    port = lsock.getsockname()[1]
    try:
        res = run_herd("-c", 2, "-d", "1s", "--metrics-listen", f"127.0.0.1:{port}",
                       f"ws://127.0.0.1:{port}/echo", json=False)
        assert res.code == 2
        usage_error(res.stderr, "--metrics-listen")
        time.sleep(0.2)
        with pytest.raises(BlockingIOError):
            lsock.accept()
    finally:
        lsock.close()


def test_bad_values(run_herd):
    for bad in ("9464", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "::1:9464",
                "127.0.0.1:http", "a b:1"):
        res = run_herd("--metrics-listen", bad, "ws://127.0.0.1:1/", json=False)
        assert res.code == 2, bad
        usage_error(res.stderr, "--metrics-listen")
    res = run_herd("--procs", 2, "-c", 2, "--metrics-listen", f"127.0.0.1:{free_port()}",
                   "ws://127.0.0.1:1/", json=False)
    assert res.code == 2
    usage_error(res.stderr, "--metrics-listen")
