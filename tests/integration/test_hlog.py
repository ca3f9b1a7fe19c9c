"""--hlog: the HdrHistogram interval log (V1.3, HdrHistogram's HistogramLogWriter format), read
back by hdr-histogram-js's HistogramLogReader (tests/interop/hlog_read.js), an implementation herd
did not write. The intervals of each tag add up to the JSON report's histogram exactly (count,
min, max, percentiles), each interval's p50 and p99 are its time-series row's, and `--procs` and
`herd merge` write the log from the merged per-second histograms.

Needs node and `npm ci` in tests/interop: skipped without them, failed with HERD_REQUIRE_PEERS=1
(CI), like every peer in conftest.py."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import CHILD_ENV, _missing, scaled, usage_error

ROOT = Path(__file__).resolve().parents[2]
INTEROP = ROOT / "tests" / "interop"


@pytest.fixture(scope="module")
def hlog_reader():
    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        _missing("node is not installed (needed to run hdr-histogram-js)")
    if not (INTEROP / "node_modules" / "hdr-histogram-js").is_dir():
        _missing("hdr-histogram-js missing: run scripts/setup-deps.sh (npm ci in tests/interop)")

    def read(path):
        res = subprocess.run([node, str(INTEROP / "hlog_read.js"), str(path)],
                             capture_output=True, text=True, timeout=scaled(60))
        assert res.returncode == 0, res.stderr
        out = json.loads(res.stdout)
        assert "error" not in out, out["error"]
        return out

    return read


def check_log_matches(log, rep, text):
    """Every histogram of the JSON report with samples is a tag of the log whose intervals add
    up to it exactly; every interval of the log is one row of the time series with the same
    p50 and p99; no tag the report lacks."""
    hists = {k: v for k, v in rep["histograms"].items() if v["count"] > 0}
    assert hists, "the run recorded nothing"
    assert set(log["tags"]) == set(hists)
    for name, h in hists.items():
        total = log["tags"][name]["total"]
        assert total["totalCount"] == h["count"], name
        assert total["min"] == h["min_us"], name
        assert total["max"] == h["max_us"], name
        for p, key in (("p50", "p50_us"), ("p90", "p90_us"), ("p95", "p95_us"),
                       ("p99", "p99_us"), ("p999", "p999_us")):
            assert total[p] == h[key], f"{name} {p}: log {total[p]}, report {h[key]}"
    # Intervals: one per row with samples, at the row's time, with the row's percentiles.
    rows = rep["timeseries"]
    for name in hists:
        expect = []
        prev = 0.0
        for row in rows:
            if f"{name}_hdr" in row:
                expect.append((round(prev, 3), round(row["t"] - prev, 3),
                               row[f"{name}_p50_us"], row[f"{name}_p99_us"]))
            prev = row["t"]
        got = [(round(i["start"], 3), round(i["end"] - i["start"], 3), i["p50"], i["p99"])
               for i in log["tags"][name]["intervals"]]
        assert len(got) == len(expect), name
        for g, e in zip(got, expect):
            assert g[0] == pytest.approx(e[0], abs=0.0011)
            assert g[1] == pytest.approx(e[1], abs=0.0021)
            assert g[2:] == e[2:], f"{name}: interval {g} against row {e}"
    # The header of the V1.3 format.
    lines = text.splitlines()
    assert lines[0] == "#[Histogram log format version 1.3]"
    assert lines[1].startswith("#[StartTime: ")
    assert any(ln.startswith("#[BaseTime: ") for ln in lines)
    assert '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"' \
        in lines
    assert log["startTimeSec"] > 1.5e9  # seconds since the epoch


def test_hlog_single_run(herd_serve, run_herd, hlog_reader):
    srv = herd_serve()
    res = run_herd("-c", 8, "-d", "3s", "-t", 2, "--role", "echo", "--hlog", "r.hlog",
                   srv.url("/echo"))
    assert res.code == 0, res.stderr
    path = res.dir / "r.hlog"
    check_log_matches(hlog_reader(path), res.report, path.read_text())
    # Each row's histogram is in the JSON too, and agrees with its own count.
    rows = [r for r in res.report["timeseries"] if "rtt_hdr" in r]
    assert len(rows) >= 3


def test_hlog_procs(herd_serve, run_herd, hlog_reader):
    """--procs: the parent writes the log from the children's merged per-second histograms."""
    srv = herd_serve()
    res = run_herd("--procs", 2, "-c", 8, "-d", "3s", "-t", 1, "--role", "echo",
                   "--hlog", "r.hlog", srv.url("/echo"), timeout=40)
    assert res.code == 0, res.stderr
    assert res.report["shards"] == 2
    path = res.dir / "r.hlog"
    check_log_matches(hlog_reader(path), res.report, path.read_text())


def test_hlog_merge(herd_bin, herd_serve, run_herd, hlog_reader, tmp_path):
    """herd merge A.json B.json --hlog F: rows aligned by index, each second's histograms added
    bucket by bucket."""
    srv = herd_serve()
    for i in range(2):
        res = run_herd("--shard", f"{i}/2", "-c", 8, "-d", "2s", "-t", 1, "--role", "echo",
                       srv.url("/echo"), json_path=tmp_path / f"s{i}.json")
        assert res.code == 0, res.stderr
    out, log = tmp_path / "m.json", tmp_path / "m.hlog"
    proc = subprocess.run([herd_bin, "merge", "--json", out, "--hlog", log,
                           tmp_path / "s0.json", tmp_path / "s1.json"], capture_output=True,
                          text=True, env=CHILD_ENV, timeout=scaled(30))
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(out.read_text())
    check_log_matches(hlog_reader(log), rep, log.read_text())
    # The merged rows' counts are the shards' added.
    shards = [json.loads((tmp_path / f"s{i}.json").read_text()) for i in range(2)]
    assert rep["histograms"]["rtt"]["count"] == sum(s["histograms"]["rtt"]["count"]
                                                     for s in shards)


def test_merge_bad_row_histogram(herd_bin, herd_serve, run_herd, tmp_path):
    """A report whose row histogram is not V2 text: exit 2, naming the file and the field."""
    srv = herd_serve()
    res = run_herd("-c", 2, "-d", "1s", "-t", 1, "--role", "echo", srv.url("/echo"),
                   json_path=tmp_path / "a.json")
    assert res.code == 0, res.stderr
    rep = json.loads((tmp_path / "a.json").read_text())
    k = next(i for i, r in enumerate(rep["timeseries"]) if "rtt_hdr" in r)
    rep["timeseries"][k]["rtt_hdr"] = "HISTFAAAAnotbase64!"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(rep))
    proc = subprocess.run([herd_bin, "merge", "--hlog", tmp_path / "m.hlog", bad],
                          capture_output=True, text=True, env=CHILD_ENV, timeout=scaled(30))
    assert proc.returncode == 2
    line = usage_error(proc.stderr, str(bad))
    assert f"timeseries[{k}].rtt_hdr" in line
    assert not (tmp_path / "m.hlog").exists()
