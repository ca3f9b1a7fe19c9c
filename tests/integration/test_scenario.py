"""herd run -f: scenario files. Two groups against herd serve give a report with both groups and
totals that are the sums of the groups; a mistake in the file is one FILE:LINE:COLUMN line and
exit 2; every example parses (--check); shards of a scenario merge group by group (herd merge and
--procs); a single-URL report has no groups."""
import subprocess
from pathlib import Path

import pytest

from conftest import CHILD_ENV, REPO, scaled, usage_error

SUMMED = ("connections.attempted", "connections.opened", "messages.sent", "messages.received",
          "pings.sent", "pings.received", "bytes.sent", "bytes.received")


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def two_groups(srv, duration="2s", extra=""):
    return f"""\
duration: {duration}
thresholds: ["errors==0"]
{extra}groups:
  - name: pingers
    url: {srv.url("/echo")}
    connections: 6
    threads: 1
    thresholds: ["rtt.p99<5s", "rtt.count>0"]
  - name: echoers
    url: {srv.url("/echo")}
    role: echo
    connections: 4
    rate: 20/s
    size: 64
"""


def check_totals(report):
    groups = report["groups"]
    for key in SUMMED:
        assert report["counters"][key] == sum(g["counters"][key] for g in groups.values()), key
    for metric, h in report["histograms"].items():
        assert h["count"] == sum(g["histograms"].get(metric, {}).get("count", 0)
                                 for g in groups.values()), metric


def test_two_groups(herd_serve, run_herd, tmp_path):
    srv = herd_serve()
    path = write(tmp_path, "two.yaml", two_groups(srv))
    res = run_herd("-f", path)
    assert res.code == 0, res.stderr
    r = res.report
    assert r["complete"] is True
    assert set(r["groups"]) == {"pingers", "echoers"}
    p, e = r["groups"]["pingers"], r["groups"]["echoers"]
    assert p["role"] == "ping" and e["role"] == "echo"
    assert p["target"] == srv.url("/echo")
    assert p["counters"]["connections.opened"] == 6
    assert e["counters"]["connections.opened"] == 4
    assert p["counters"]["pings.received"] > 0 and p["counters"]["messages.sent"] == 0
    assert e["counters"]["messages.received"] > 0 and e["histograms"]["rtt"]["hdr"]
    assert p["config"]["connections"] == 6 and e["config"]["rate"] == 20
    assert r["counters"]["connections.opened"] == 10
    assert r["counters"]["connections.peak"] == 10
    check_totals(r)
    assert r["config"]["file"] == str(path) and r["config"]["groups"] == 2
    # every group shares the URL: it is the report's target
    assert r["target"] == srv.url("/echo")
    # thresholds: the run's on the totals, a group's on its figures, named with the group
    th = {(t.get("group"), t["expr"]): t for t in r["thresholds"]}
    assert set(th) == {(None, "errors==0"), ("pingers", "rtt.p99<5s"), ("pingers", "rtt.count>0")}
    assert all(t["ok"] for t in th.values())
    assert th[("pingers", "rtt.count>0")]["value"] == p["histograms"]["rtt"]["count"]
    # the run lasts the top-level duration
    assert 1.5 < r["duration_s"] < 4


def test_group_threshold_fails(herd_serve, run_herd, tmp_path):
    srv = herd_serve()
    text = two_groups(srv, duration="1s").replace('"rtt.count>0"', '"rtt.count>1000000000"')
    res = run_herd("-f", write(tmp_path, "t.yaml", text))
    assert res.code == 1, res.stderr
    failed = [t for t in res.report["thresholds"] if not t["ok"]]
    assert [(t.get("group"), t["expr"]) for t in failed] == [("pingers", "rtt.count>1000000000")]


def test_command_line_overrides_top_level(herd_serve, run_herd, tmp_path):
    srv = herd_serve()
    path = write(tmp_path, "o.yaml", two_groups(srv, duration="1m"))
    # -d on the command line wins over the file's duration: 1 s, not a minute
    res = run_herd("-f", path, "-d", "1s", "--threshold", "connections.opened==10", timeout=20)
    assert res.code == 0, res.stderr
    assert res.report["duration_s"] < 3
    assert res.report["groups"]["echoers"]["config"]["duration"] == 1
    exprs = [t["expr"] for t in res.report["thresholds"] if "group" not in t]
    assert exprs == ["errors==0", "connections.opened==10"]


def test_publishers_and_subscribers_ids_unique(herd_serve, run_herd, tmp_path):
    """Two publisher groups on one topic: their stamp publisher ids must not collide (each group
    starts its connection numbers after the previous groups'), or the subscribers would count
    duplicates and reorders."""
    srv = herd_serve()
    url = srv.url("/pubsub/scn")
    text = f"""\
duration: 2s
groups:
  - name: subs
    url: {url}
    role: subscribe
    connections: 3
  - name: pub-a
    url: {url}
    role: publish
    connections: 2
    rate: 20/s
  - name: pub-b
    url: {url}
    role: publish
    connections: 2
    rate: 20/s
"""
    res = run_herd("-f", write(tmp_path, "ps.yaml", text))
    assert res.code == 0, res.stderr
    subs = res.report["groups"]["subs"]["counters"]
    assert subs["messages.received"] > 0
    # Colliding publisher ids would show as all three.
    assert subs["messages.duplicated"] == 0 and subs["messages.reordered"] == 0, subs
    assert subs["messages.lost"] == 0, subs
    check_totals(res.report)


# (file text, LINE:COLUMN of the mistake, the key the message must name or None)
ERRORS = [
    ("groups:\n  - name: a\n    url: ws://127.0.0.1:1/\n    rate: fast\n", "4:11", "rate"),
    ("conections: 5\ngroups: [{name: a, url: \"ws://127.0.0.1:1/\"}]\n", "1:1", "conections"),
    ("groups:\n  - name: a\n    role: echo\n", "2:5", "url"),  # missing
    ("groups:\n  - name: a\n    url: ws://h/\n  - name: a\n    url: ws://h/\n", "4:11",
     "name"),  # the same group name twice
    ("groups: []\n", "1:9", "groups"),  # none
    ("groups:\n  - name: a\n   url: x\n", "3:4", None),  # not YAML
    ("groups:\n  - name: a\n    url: ws://h/\n    connections: {n: 1}\n", "4:18",
     "connections"),
]


@pytest.mark.parametrize("text,where,key", ERRORS)
def test_file_errors(run_herd, tmp_path, text, where, key):
    """One line FILE:LINE:COLUMN: ..., pointing at the mistake and naming its key (DESIGN.md);
    the rest of the line is wording."""
    path = write(tmp_path, "bad.yaml", text)
    res = run_herd("-f", path, json=False)
    assert res.code == 2, res.stderr
    line = usage_error(res.stderr, key) if key else usage_error(res.stderr, f"{path}:{where}")
    assert line.startswith(f"{path}:{where}: "), line


def test_file_errors_other(run_herd, tmp_path):
    path = tmp_path / "missing.yaml"
    res = run_herd("-f", path, json=False)
    assert res.code == 2, res.stderr
    usage_error(res.stderr, path)
    ok = write(tmp_path, "ok.yaml", "groups: [{name: a, url: \"ws://127.0.0.1:1/\"}]\n")
    res = run_herd("-f", ok, "ws://127.0.0.1:1/", json=False)
    assert res.code == 2, res.stderr
    usage_error(res.stderr, "-f")


@pytest.mark.parametrize("example", sorted((REPO / "examples").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_examples_check(run_herd, example):
    res = run_herd("-f", example, "--check", json=False)
    assert res.code == 0, res.stderr
    assert res.stderr == ""
    assert f"{example}:" in res.stdout and "groups" in res.stdout


def test_single_url_report_has_no_groups(herd_serve, run_herd):
    srv = herd_serve()
    res = run_herd("-c", "2", "-d", "1s", srv.url("/echo"))
    assert res.code == 0, res.stderr
    assert "groups" not in res.report
    assert all("group" not in t for t in res.report["thresholds"])


def herd_merge(herd_bin, *args):
    return subprocess.run([herd_bin, "merge", *[str(a) for a in args]], capture_output=True,
                          text=True, env=CHILD_ENV, timeout=scaled(30))


def test_merge_shards_of_a_scenario(herd_serve, run_herd, herd_bin, tmp_path):
    srv = herd_serve()
    path = write(tmp_path, "m.yaml", two_groups(srv, duration="1s"))
    shards = []
    for i in range(2):
        res = run_herd("-f", path, "--shard", f"{i}/2", json_path=tmp_path / f"s{i}.json")
        assert res.code == 0, res.stderr
        shards.append(res.report)
    # each shard took its share of every group
    assert [s["groups"]["pingers"]["counters"]["connections.opened"] for s in shards] == [3, 3]
    assert [s["groups"]["echoers"]["counters"]["connections.opened"] for s in shards] == [2, 2]
    out = tmp_path / "merged.json"
    proc = herd_merge(herd_bin, "--json", out, tmp_path / "s0.json", tmp_path / "s1.json")
    assert proc.returncode == 0, proc.stderr
    import json
    m = json.loads(out.read_text())
    assert m["shards"] == 2
    for name in ("pingers", "echoers"):
        for key in SUMMED:
            assert m["groups"][name]["counters"][key] == sum(
                s["groups"][name]["counters"][key] for s in shards), (name, key)
        for metric, h in m["groups"][name]["histograms"].items():
            assert h["count"] == sum(s["groups"][name]["histograms"][metric]["count"]
                                     for s in shards)
    check_totals(m)
    # the groups' thresholds are checked again on the merged groups
    th = {(t.get("group"), t["expr"]): t["ok"] for t in m["thresholds"]}
    assert th == {(None, "errors==0"): True, ("pingers", "rtt.p99<5s"): True,
                  ("pingers", "rtt.count>0"): True}, m["thresholds"]


def test_procs_scenario(herd_serve, run_herd, tmp_path):
    srv = herd_serve()
    path = write(tmp_path, "p.yaml", two_groups(srv, duration="1s"))
    res = run_herd("-f", path, "--procs", "2", timeout=40)
    assert res.code == 0, res.stderr
    r = res.report
    assert r["shards"] == 2 and r["config"]["procs"] == 2
    assert r["groups"]["pingers"]["counters"]["connections.opened"] == 6
    assert r["groups"]["echoers"]["counters"]["connections.opened"] == 4
    check_totals(r)
    assert {(t.get("group"), t["expr"]) for t in r["thresholds"]} == {
        (None, "errors==0"), ("pingers", "rtt.p99<5s"), ("pingers", "rtt.count>0")}


@pytest.mark.hard_timeout(30)
@pytest.mark.parametrize("shape", ["nested", "open", "wide"])
def test_file_too_deep_or_too_large(run_herd, tmp_path, shape):
    """A file of brackets just under the 4 MiB a scenario may have: refused at once (the parser
    is quadratic in the depth: 100 000 levels took 23 s of CPU, 2 million would take hours) with
    one FILE:LINE:COLUMN line and exit 2."""
    size = (4 << 20) - 64
    if shape == "nested":  # groups: [[[...]]], level 33 is the `[` at column 40
        half = (size - 8) // 2
        text, where = "groups: " + "[" * half + "]" * half + "\n", "1:40"
    elif shape == "open":  # never closed
        text, where = "groups: " + "[" * (size - 8) + "\n", "1:40"
    else:  # groups: [[],[],...]: 1.4 million lists, each one level deep; node 100 001 is
        # the list at column 10 + 3 * 99 997 (the mapping, its key and `groups` are 3)
        n = (size - 12) // 3
        text, where = "groups: [" + "[]," * n + "[]]\n", f"1:{10 + 3 * 99997}"
    path = write(tmp_path, f"{shape}.yaml", text)
    assert path.stat().st_size < 4 << 20
    res = run_herd("--check", "-f", path, json=False, timeout=20)
    assert res.code == 2, res.stderr
    assert res.stderr.startswith(f"{path}:{where}: "), res.stderr
    assert len(res.stderr.splitlines()) == 1, res.stderr
