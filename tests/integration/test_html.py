"""The HTML report (--html, herd report) loaded in a real browser, and herd report's other jobs.

A headless Chromium (Debian package `chromium`) opens each page through the DevTools protocol
(python3-websockets) and the test asserts what a reader depends on: the page logs no console
error and throws nothing, it makes no network request at all (the file itself is the only
load), every chart is there and has drawn lines of non-zero length, a phone-wide viewport does
not scroll sideways, and the page prints. `herd report` prints a saved report again, compares
two (exit 1 beyond --max-regression) and refuses a file that is not a herd report, of another
version or cut short, naming the file and the field.
"""
import asyncio
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import _end_process, scaled

CHROMIUM = shutil.which("chromium")


def herd(herd_bin, *args, timeout=30, cwd=None):
    p = subprocess.run([herd_bin, *map(str, args)], capture_output=True, text=True,
                       timeout=scaled(timeout), cwd=cwd)
    return p.returncode, p.stdout, p.stderr


# ---------------------------------------------------------------------------------------------
# A minimal DevTools client: one browser, one page per URL, the events collected.

CHECK_JS = r"""
(() => {
  const charts = [...document.querySelectorAll('figure.chart')].map(f => ({
    id: f.dataset.chart,
    nodata: !!f.querySelector('.nodata'),
    svg: !!f.querySelector('svg'),
    width: f.querySelector('svg') ? f.querySelector('svg').getBoundingClientRect().width : 0,
    paths: [...f.querySelectorAll('path.line')].map(p => p.getTotalLength()),
    hover: f.querySelectorAll('.hov rect title').length,
  }));
  return JSON.stringify({
    title: document.title,
    charts,
    scripts: document.querySelectorAll('script').length,
    sections: [...document.querySelectorAll('section[id]')].map(s => s.id),
    text: document.body.innerText,
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
  });
})()
"""


class Browser:
    def __init__(self, proc, ws_url):
        self.proc, self.ws_url = proc, ws_url

    async def _load(self, url, phone, pdf):
        import websockets
        async with websockets.connect(self.ws_url, max_size=64 << 20) as ws:
            ids = iter(range(1, 1 << 30))
            events = []
            pending = {}

            async def reader():
                async for raw in ws:
                    msg = json.loads(raw)
                    if "id" in msg and msg["id"] in pending:
                        pending.pop(msg["id"]).set_result(msg)
                    elif "method" in msg:
                        events.append(msg)

            task = asyncio.ensure_future(reader())

            async def call(method, params=None, session=None):
                i = next(ids)
                fut = asyncio.get_event_loop().create_future()
                pending[i] = fut
                msg = {"id": i, "method": method, "params": params or {}}
                if session:
                    msg["sessionId"] = session
                await ws.send(json.dumps(msg))
                res = await asyncio.wait_for(fut, scaled(15))
                if "error" in res:
                    raise RuntimeError(f"{method}: {res['error']}")
                return res.get("result", {})

            target = (await call("Target.createTarget", {"url": "about:blank"}))["targetId"]
            sess = (await call("Target.attachToTarget",
                               {"targetId": target, "flatten": True}))["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                await call(f"{domain}.enable", session=sess)
            if phone:
                await call("Emulation.setDeviceMetricsOverride",
                           {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True},
                           session=sess)
            events.clear()
            await call("Page.navigate", {"url": url}, session=sess)
            deadline = time.monotonic() + scaled(15)
            while not any(e["method"] == "Page.loadEventFired" and e.get("sessionId") == sess
                          for e in events):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{url} did not load")
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.1)  # late console messages
            res = await call("Runtime.evaluate", {"expression": CHECK_JS, "returnByValue": True},
                             session=sess)
            page = json.loads(res["result"]["value"])
            if pdf:
                printed = await call("Page.printToPDF", {}, session=sess)
                page["pdf_bytes"] = len(printed.get("data", ""))
            await call("Target.closeTarget", {"targetId": target})
            task.cancel()
            page["events"] = [e for e in events if e.get("sessionId") == sess]
            return page

    def load(self, path, phone=False, pdf=False):
        """Open the file; returns what CHECK_JS found, plus the errors and requests seen (and
        the size of the page printed to PDF when pdf)."""
        url = Path(path).resolve().as_uri()
        page = asyncio.new_event_loop().run_until_complete(self._load(url, phone, pdf))
        errors, requests = [], []
        for e in page.pop("events"):
            m, p = e["method"], e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
                errors.append(f"console.{p['type']}: {p.get('args')}")
            elif m == "Runtime.exceptionThrown":
                errors.append(f"exception: {p.get('exceptionDetails')}")
            elif m == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
                errors.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
            elif m == "Network.requestWillBeSent":
                requests.append(p["request"]["url"])
        page["errors"], page["requests"] = errors, requests
        page["url"] = url
        return page


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM:
        if os.environ.get("HERD_REQUIRE_PEERS") == "1":
            pytest.fail("chromium is not installed (HERD_REQUIRE_PEERS=1)")
        pytest.skip("chromium is not installed (Debian package chromium; make test-deps)")
    profile = tempfile.mkdtemp(prefix="herd-chromium-")
    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-extensions", "--disable-background-networking", "--disable-sync",
         "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    ws_url, lines, deadline = None, [], time.monotonic() + scaled(20)
    try:
        while time.monotonic() < deadline:
            line = proc.stderr.readline().decode(errors="replace")
            if not line:
                break
            lines.append(line)
            m = re.search(r"DevTools listening on (ws://\S+)", line)
            if m:
                ws_url = m.group(1)
                break
        if not ws_url:
            pytest.fail("chromium did not start its DevTools endpoint:\n" + "".join(lines[-20:]))
        # keep draining stderr so that chromium never blocks on a full pipe
        import threading
        threading.Thread(target=lambda: proc.stderr.read(), daemon=True).start()
        yield Browser(proc, ws_url)
    finally:
        _end_process(proc, grace=2)
        shutil.rmtree(profile, ignore_errors=True)


def assert_page_sound(page, want_charts):
    assert page["errors"] == [], page["errors"]
    # the only load is the page itself: no script, style sheet, font or image from anywhere
    assert page["requests"] == [page["url"]], page["requests"]
    assert page["scripts"] == 0
    ids = [c["id"] for c in page["charts"]]
    for want in want_charts:
        assert any(re.fullmatch(want, i) for i in ids), (want, ids)
    for c in page["charts"]:
        assert c["svg"] and not c["nodata"], c
        assert c["width"] > 0, c
        assert c["paths"] and all(length > 0 for length in c["paths"]), c
        assert c["hover"] > 0, c
    if "pdf_bytes" in page:
        assert page["pdf_bytes"] > 1000


@pytest.mark.hard_timeout(60)
def test_run_report_in_a_browser(herd_bin, herd_serve, run_herd, browser, tmp_path):
    srv = herd_serve()
    html = tmp_path / "run.html"
    res = run_herd("-c", 4, "-d", "2s", "--role", "echo", "--threshold", "rtt.p99<10s",
                   "--watch-pid", srv.proc.pid, "--html", html, srv.url("/echo"))
    assert res.code == 0, res.stderr
    env = res.report["environment"]
    assert env["cpus"] >= 1 and env["host"] and env["kernel"] and env["nofile"] > 0
    assert env["command_line"].startswith("herd run ") and "--html" in env["command_line"]
    page = browser.load(html, pdf=True)  # and it prints
    assert_page_sound(page, ["connections", "attempts", "messages", "ts-rtt", "pct-rtt",
                             "pct-connect", "pct-ready", "target-cpu", "target-rss",
                             "target-fds"])
    for section in ("thresholds", "summary", "timeseries", "distributions", "errors", "config",
                    "environment", "targets"):
        assert section in page["sections"], page["sections"]
    assert "rtt.p99<10s" in page["text"] and "99.999%" in page["text"]
    assert env["command_line"] in page["text"]
    # on a phone: nothing wider than the screen (wide tables scroll inside their box)
    phone = browser.load(html, phone=True)
    assert phone["errors"] == [], phone["errors"]
    assert phone["scrollWidth"] <= phone["clientWidth"] + 1, phone

    # herd report RUN.json --html: the same page again from the JSON, the summary again
    again = tmp_path / "again.html"
    code, out, err = herd(herd_bin, "report", res.json_path, "--html", again)
    assert code == 0, err
    assert "rtt" in out and "connections" in out
    page2 = browser.load(again)
    assert_page_sound(page2, ["connections", "ts-rtt", "pct-rtt"])
    assert sorted(c["id"] for c in page2["charts"]) == sorted(c["id"] for c in page["charts"])

    # herd merge --html: the same writer, the same charts
    merged = tmp_path / "merged.html"
    code, out, err = herd(herd_bin, "merge", res.json_path, "--html", merged)
    assert code == 0, err
    assert sorted(re.findall(r'data-chart="([^"]+)"', merged.read_text())) == \
        sorted(c["id"] for c in page["charts"])

    # herd report BASE NEW --html: both runs in each chart
    cmp_html = tmp_path / "cmp.html"
    code, out, err = herd(herd_bin, "report", res.json_path, res.json_path, "--html", cmp_html,
                          "--max-regression", "0%")
    assert code == 0, err + out
    page3 = browser.load(cmp_html)
    assert_page_sound(page3, ["pct-rtt", "connections", "received"])
    assert all(len(c["paths"]) == 2 for c in page3["charts"] if c["id"].startswith("pct-"))


@pytest.mark.hard_timeout(60)
def test_scenario_and_procs_report_in_a_browser(herd_bin, herd_serve, run_herd, browser,
                                                tmp_path):
    """A scenario (groups) through --procs 2: the parent writes the HTML of the merged data."""
    srv = herd_serve()
    scen = tmp_path / "s.yaml"
    scen.write_text(f"duration: 2s\ngroups:\n"
                    f"  - name: subs\n    url: {srv.url('/pubsub/t')}\n    role: subscribe\n"
                    f"    connections: 4\n"
                    f"  - name: sse\n    url: {srv.url('/sse/t', 'http')}\n    role: subscribe\n"
                    f"    connections: 2\n"
                    f"  - name: pubs\n    url: {srv.url('/pubsub/t')}\n    role: publish\n"
                    f"    connections: 2\n    rate: 20/s\n")
    html = tmp_path / "s.html"
    res = run_herd("-f", scen, "--procs", 2, "--html", html)
    assert res.code == 0, res.stderr
    page = browser.load(html)
    assert_page_sound(page, ["connections", "messages", "ts-latency", "pct-latency",
                             "pct-fanout"])
    for group in ("subs", "sse", "pubs"):
        assert f"group {group}" in page["text"]
    assert "fan-out" in page["text"]
    # the merged report's command line is the parent's, not a child's
    assert "--shard" not in res.report["environment"]["command_line"]
    # distribution charts hold the whole run's curve and each group's
    lat = next(c for c in page["charts"] if c["id"] == "pct-latency")
    assert len(lat["paths"]) >= 3, lat
    # compared with itself, group by group: no regression, a group's figure can be chosen
    code, out, err = herd(herd_bin, "report", res.json_path, res.json_path, "--max-regression",
                          "0%,pubs:messages.sent/s=0%,subs:latency.p99=0%")
    assert code == 0, out + err
    assert "subs:latency.p99" in out and "sse:connections.opened" in out
    code, out, err = herd(herd_bin, "report", res.json_path, res.json_path, "--max-regression",
                          "nogroup:latency=1%")
    assert code == 2 and "nogroup:latency" in err, err


@pytest.mark.hard_timeout(90)
def test_demo_html_in_a_browser(herd_bin, procs, browser, tmp_path):
    with open(tmp_path / "out", "wb") as out, open(tmp_path / "err", "wb") as errf:
        proc = procs.spawn([herd_bin, "demo", "--out", tmp_path / "d", "-d", "1s", "-c", "10"],
                           stdout=out, stderr=errf, cwd=tmp_path)
    code = proc.wait(timeout=scaled(60))
    err = (tmp_path / "err").read_text(errors="replace")
    assert code == 0, err
    lines = (tmp_path / "out").read_text().strip().splitlines()
    assert lines[-1].endswith(str(tmp_path / "d" / "demo.html")), lines[-3:]
    bc = json.loads((tmp_path / "d" / "demo-broadcast.json").read_text())
    assert set(bc["groups"]) == {"ws-subscribers", "sse-subscribers", "publishers"}
    for g in ("ws-subscribers", "sse-subscribers"):
        assert bc["groups"][g]["counters"]["messages.received"] > 0, g
    page = browser.load(tmp_path / "d" / "demo.html")
    assert_page_sound(page, [r"run0-pct-rtt", r"run1-pct-rtt", r"run2-pct-latency",
                             r"run2-connections"])
    assert len({c["id"] for c in page["charts"]}) == len(page["charts"])  # ids unique


# ---------------------------------------------------------------------------------------------
# herd report without a browser


@pytest.mark.hard_timeout(60)
def test_compare_and_max_regression(herd_bin, herd_serve, run_herd, tmp_path):
    fast = herd_serve()
    slow = herd_serve("--delay", "50ms")
    base = run_herd("-c", 2, "-d", "1s", "--role", "echo", fast.url("/echo"))
    new = run_herd("-c", 2, "-d", "1s", "--role", "echo", slow.url("/echo"))
    assert base.code == 0 and new.code == 0, base.stderr + new.stderr
    b, n = base.json_path, new.json_path
    # side by side, no limit: exit 0 whatever the deltas
    code, out, err = herd(herd_bin, "report", b, n)
    assert code == 0, err
    assert "rtt.p99" in out and "BASE" in out and "NEW" in out and "%" in out
    # rtt got 50 ms slower: beyond any sane limit, on the default set and on one figure (the
    # median and p90: a busy machine's tail of the fast run may reach the slow one's)
    for limit in ("10%", "rtt.p90=50%", "rtt=100%", "connections.failed=0%,rtt.p50=200%"):
        code, out, err = herd(herd_bin, "report", b, n, "--max-regression", limit)
        assert code == 1, (limit, out, err)
        assert "REGRESSION" in out
    # the other way round rtt got faster; a run against itself never regresses
    code, out, err = herd(herd_bin, "report", n, b, "--max-regression", "rtt.p50=10%,rtt.p90=10%")
    assert code == 0, out + err
    code, out, err = herd(herd_bin, "report", b, b, "--max-regression", "0%")
    assert code == 0, out + err
    # a figure's own limit wins over its histogram's, which wins over the bare one, in any order
    huge = "100000000%"
    for order in ([huge, f"rtt={huge}", "rtt.p50=1%"], ["rtt.p50=1%", huge]):
        args = [a for limit in order for a in ("--max-regression", limit)]
        code, out, err = herd(herd_bin, "report", b, n, *args)
        assert code == 1, (order, out + err)
        flagged = [ln.split()[0] for ln in out.splitlines() if "REGRESSION" in ln]
        assert flagged == ["rtt.p50"], (order, out)
    code, out, err = herd(herd_bin, "report", b, n, "--max-regression", "rtt=1%",
                          "--max-regression", "rtt.p50=1000000%")
    flagged = [ln.split()[0] for ln in out.splitlines() if "REGRESSION" in ln]
    assert code == 1 and "rtt.p50" not in flagged and "rtt.p90" in flagged, out
    # bad usage: exit 2, one line naming what is wrong
    for args, want in ((["--max-regression", "10"], "--max-regression"),
                       (["--max-regression", "nope=5%"], "nope"),
                       (["--max-regression", "latency.p99=5%"], "latency.p99"),
                       (["--csv", tmp_path / "x.csv"], "--csv"),
                       ([tmp_path / "third.json"], "third")):
        code, out, err = herd(herd_bin, "report", b, n, *args)
        assert code == 2, (args, err)
        assert want in err and len(err.strip().splitlines()) == 1, (args, err)


def test_report_refuses_what_is_not_a_report(herd_bin, herd_serve, run_herd, tmp_path):
    srv = herd_serve()
    res = run_herd("-c", 1, "-d", "1s", srv.url("/echo"))
    assert res.code == 0, res.stderr
    text = res.json_path.read_text()
    rep = json.loads(text)
    cases = {
        "other.json": (json.dumps({"tool": "k6", "metrics": {}}), "not a herd report"),
        "nover.json": (json.dumps({"counters": {}}), "report_version"),
        "v9.json": (json.dumps(dict(rep, report_version=9)), "report_version 9"),
        "cut.json": (text[:len(text) * 2 // 3], "truncated"),
        "badfield.json": (json.dumps(dict(rep, duration_s="long")), "duration_s"),
        "empty.json": ("", "empty"),
    }
    for name, (content, want) in cases.items():
        path = tmp_path / name
        path.write_text(content)
        for extra in ([], [res.json_path]):  # alone, and as BASE of a comparison
            code, out, err = herd(herd_bin, "report", path, *extra)
            assert code == 2, (name, err)
            line = err.strip()
            assert len(line.splitlines()) == 1 and str(path) in line and want in line, (name, err)
    # a cut report names the field it ends in
    code, _, err = herd(herd_bin, "report", tmp_path / "cut.json")
    assert re.search(r"ends inside [a-z_]+", err), err
    # the saved report's summary again, and its thresholds judged again
    code, out, err = herd(herd_bin, "report", res.json_path)
    assert code == 0 and "connections" in out, err
    failing = tmp_path / "failing.json"
    failing.write_text(json.dumps(dict(rep, thresholds=[{"expr": "rtt.p50<0", "ok": False}])))
    code, out, err = herd(herd_bin, "report", failing)
    assert code == 1 and "rtt.p50<0" in out, out + err
