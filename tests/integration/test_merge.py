"""herd merge and herd run --procs: shards of one run merge exactly (counters add up, histograms
merge bucket by bucket), --procs spreads a run over local processes and merges the same way, and
bad input to merge is a usage error (exit 2) that names the file."""
import base64
import json
import struct
import subprocess
import zlib

from conftest import CHILD_ENV, scaled, usage_error


def hdr_total(text):
    """The total count of an HdrHistogram V2 compressed, base64 encoding (decoded here, not by
    herd)."""
    raw = base64.b64decode(text)
    cookie, length = struct.unpack(">II", raw[:8])
    assert cookie == 0x1c849314
    payload = zlib.decompress(raw[8:8 + length])
    cookie, plen = struct.unpack(">II", payload[:8])
    assert (cookie & 0xffffff0f) == 0x1c849303  # V2 encoding
    body = payload[40:40 + plen]
    total, i = 0, 0
    while i < len(body):
        v, shift = 0, 0
        while True:
            b = body[i]
            i += 1
            v |= (b & 0x7f) << shift
            shift += 7
            if not b & 0x80 or shift >= 63:
                break
        v = (v >> 1) ^ -(v & 1)  # zigzag
        if v > 0:
            total += v
    return total


def merge(herd_bin, *args):
    proc = subprocess.run([herd_bin, "merge", *[str(a) for a in args]], capture_output=True,
                          env=CHILD_ENV, timeout=scaled(30))
    return proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(
        errors="replace")


def test_merge_two_shards(herd_bin, herd_serve, run_herd, tmp_path):
    srv = herd_serve()
    shards = []
    for i in range(2):
        res = run_herd("--shard", f"{i}/2", "-c", 30, "-d", "2s", "-t", 2,
                       srv.url("/echo"), json_path=tmp_path / f"s{i}.json", timeout=30)
        code, rep, err = res
        assert code == 0, err
        assert rep["shards"] == 1
        shards.append(rep)
    assert [s["counters"]["connections.opened"] for s in shards] == [15, 15]

    out = tmp_path / "merged.json"
    code, stdout, err = merge(herd_bin, "--json", out, "--threshold", "rtt.count>0",
                              tmp_path / "s0.json", tmp_path / "s1.json")
    assert code == 0, err
    m = json.loads(out.read_text())
    assert m["report_version"] == 1
    assert m["shards"] == 2
    assert m["complete"] is True
    c = m["counters"]
    assert c["connections.opened"] == 30
    for name in c:
        if name not in ("connections.open", "connections.peak"):
            assert c[name] == sum(s["counters"][name] for s in shards), name
    assert c["connections.open"] == sum(s["counters"]["connections.open"] for s in shards)
    # The peak comes from the time series, whose rows merge by their second since the start
    # (the shards ran one after the other, so that aligns them as if they had run together):
    # 15 open in each shard's rows, 30 in the merged ones.
    assert c["connections.peak"] == 30
    for metric, h in m["histograms"].items():
        assert h["count"] == sum(s["histograms"].get(metric, {}).get("count", 0)
                                 for s in shards), metric
        assert hdr_total(h["hdr"]) == h["count"], metric
    assert m["histograms"]["rtt"]["count"] > 0
    assert m["duration_s"] == max(s["duration_s"] for s in shards)
    assert m["started_at"] == min(s["started_at"] for s in shards)
    assert "shard" not in m["config"]
    assert [t["ok"] for t in m["thresholds"]] == [True]
    assert len(m["timeseries"]) == max(len(s["timeseries"]) for s in shards)
    assert m["warnings"] == []  # shards of one run: nothing to say

    # A failing threshold on the merged figures is exit 1.
    code, _, err = merge(herd_bin, "--threshold", "connections.opened<30",
                         tmp_path / "s0.json", tmp_path / "s1.json")
    assert code == 1, err


def test_run_procs(herd_serve, run_herd):
    srv = herd_serve()
    code, rep, err = run_herd("--procs", 2, "-c", 40, "-d", "2s", "-t", 1,
                              "--threshold", "rtt.p99<10s", srv.url("/echo"), timeout=40)
    assert code == 0, err
    assert rep["report_version"] == 1
    assert rep["shards"] == 2
    assert rep["complete"] is True
    c = rep["counters"]
    assert c["connections.attempted"] == 40
    assert c["connections.opened"] == 40
    assert c["connections.failed"] == 0
    assert c["connections.peak"] == 40
    assert rep["config"]["procs"] == 2
    assert rep["histograms"]["rtt"]["count"] > 0
    assert hdr_total(rep["histograms"]["rtt"]["hdr"]) == rep["histograms"]["rtt"]["count"]
    assert [t["ok"] for t in rep["thresholds"]] == [True]
    assert rep["warnings"] == []  # its children are shards of one run


def test_run_procs_no_server(run_herd):
    from conftest import free_port
    code, rep, err = run_herd("--procs", 2, "-c", 4, "--timeout", "1s",
                              f"ws://127.0.0.1:{free_port()}/", timeout=30)
    assert code == 3, err
    assert rep["complete"] is False
    assert rep["counters"]["connections.opened"] == 0
    assert rep["shards"] == 2


def test_merge_bad_input(herd_bin, tmp_path):
    good = {"report_version": 1, "counters": {"connections.opened": 1}}
    (tmp_path / "good.json").write_text(json.dumps(good))
    (tmp_path / "junk.json").write_text("this is not json")
    (tmp_path / "other.json").write_text(json.dumps({"tool": "herd", "counters": {}}))
    (tmp_path / "hdr.json").write_text(json.dumps(
        dict(good, histograms={"rtt": {"count": 1, "hdr": "bm90IGhkcg=="}})))
    # not JSON, not a herd report, an hdr that does not decode, no file: one line naming it
    for name in ("junk.json", "other.json", "hdr.json", "missing.json"):
        path = tmp_path / name
        out = tmp_path / f"merged-{name}"
        code, _, err = merge(herd_bin, "--json", out, tmp_path / "good.json", path)
        assert code == 2, (name, err)
        usage_error(err, path)
        assert not out.exists()
    code, _, err = merge(herd_bin)
    assert code == 2, err
    code, _, err = merge(herd_bin, "--nope", tmp_path / "good.json")
    assert code == 2, err
    usage_error(err, "--nope")
    code, out, err = merge(herd_bin, tmp_path / "good.json")
    assert code == 0, err


def test_run_procs_automatic(herd_bin, herd_serve, tmp_path):
    """A descriptor limit below what -c needs: herd picks --procs itself and says so."""
    import resource

    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (100, 100))

    srv = herd_serve()
    out = tmp_path / "auto.json"
    proc = subprocess.run([herd_bin, "run", "-q", "--json", str(out), "-c", "80", "-d", "1s",
                           "-t", "1", srv.url("/echo")], capture_output=True, env=CHILD_ENV,
                          preexec_fn=low_limit, timeout=scaled(40))
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, err
    rep = json.loads(out.read_text())
    assert rep["shards"] == 3
    assert rep["config"]["procs"] == 3
    assert rep["counters"]["connections.opened"] == 80


# ---- only shards of one run merge (issue 11, item 7) ----

def shard_runs(run_herd, srv, tmp_path, specs, prefix="s"):
    """One short ping run per (shard, extra args) in specs, each with its own report; returns
    the report paths."""
    paths = []
    for k, (shard, extra) in enumerate(specs):
        path = tmp_path / f"{prefix}{k}.json"
        args = ["--shard", shard] if shard else []
        code, rep, err = run_herd(*args, "-c", 4, "-d", "1s", "-t", 1, *extra, srv.url("/echo"),
                                  json_path=path)
        assert code == 0, err
        paths.append(path)
    return paths


def test_merge_refuses_what_is_not_shards_of_one_run(herd_bin, herd_serve, run_herd, tmp_path):
    srv = herd_serve()
    whole = shard_runs(run_herd, srv, tmp_path, [(None, []), (None, [])], "w")
    cases = {
        "two whole runs": (whole, "not a shard"),
        "different shard counts": (shard_runs(run_herd, srv, tmp_path,
                                              [("0/2", []), ("1/3", [])], "n"),
                                   "different shard counts"),
        "a shard twice": (shard_runs(run_herd, srv, tmp_path, [("1/2", []), ("1/2", [])], "d"),
                          "both hold shard 1 of 2"),
        "other settings": (shard_runs(run_herd, srv, tmp_path,
                                      [("0/2", []), ("1/2", ["--pipeline", "2"])], "c"),
                           "pipeline"),
    }
    # Runs that did not overlap in time: shard 1's start moved a day later.
    late = shard_runs(run_herd, srv, tmp_path, [("0/2", []), ("1/2", [])], "t")
    rep = json.loads(late[1].read_text())
    rep["started_at"] = rep["started_at"].replace(rep["started_at"][:10], "2001-01-02")
    rep0 = json.loads(late[0].read_text())
    rep0["started_at"] = rep0["started_at"].replace(rep0["started_at"][:10], "2001-01-01")
    late[0].write_text(json.dumps(rep0))
    late[1].write_text(json.dumps(rep))
    cases["starts a day apart"] = (late, "did not overlap")

    for what, (paths, why) in cases.items():
        out = tmp_path / "m.json"
        code, stdout, err = merge(herd_bin, "--json", out, *paths)
        assert code == 2, (what, err)
        assert why in err and str(paths[1]) in err, (what, err)
        assert "--force" in err, err
        assert not out.exists(), what
        # --force merges anyway, and the merged report says what it is made of.
        code, stdout, err = merge(herd_bin, "--force", "--json", out, *paths)
        assert code == 0, (what, err)
        m = json.loads(out.read_text())
        assert m["shards"] == 2
        assert [w for w in m["warnings"] if w.startswith("merge: ") and why in w], \
            (what, m["warnings"])
        assert "shard" not in m["config"]
        out.unlink()


def test_merge_of_shards_started_together_says_nothing(herd_bin, herd_serve, herd_run_proc,
                                                       tmp_path):
    """--shard I/N processes started together merge without a warning; a partial set merges
    with one (shards missing), keeps the shards it holds in its config, and merges with the
    rest later without one."""
    srv = herd_serve()
    runs = []
    for i in range(3):
        proc, path = herd_run_proc("--shard", f"{i}/3", "-c", 6, "-d", "1s", "-t", 1,
                                   srv.url("/echo"))
        runs.append((proc, path))
    paths = []
    for proc, path in runs:
        proc.wait(timeout=scaled(30))
        assert proc.returncode == 0, (proc.logdir / "stderr").read_text()
        paths.append(path)
    out = tmp_path / "all.json"
    code, _, err = merge(herd_bin, "--json", out, *paths)
    assert code == 0, err
    m = json.loads(out.read_text())
    assert m["warnings"] == [] and "warning" not in err, err
    assert "shard" not in m["config"]
    assert m["counters"]["connections.opened"] == 6

    part = tmp_path / "part.json"
    code, _, err = merge(herd_bin, "--json", part, paths[0], paths[2])
    assert code == 0, err
    p = json.loads(part.read_text())
    assert p["warnings"] == ["merge: 1 of the 3 shards are missing"], p["warnings"]
    assert p["config"]["shard"] == "0+2/3"
    code, _, err = merge(herd_bin, "--json", out, part, paths[1])
    assert code == 0, err
    m2 = json.loads(out.read_text())
    assert m2["warnings"] == [], m2["warnings"]
    assert m2["counters"] == m["counters"]
    assert "shard" not in m2["config"]
