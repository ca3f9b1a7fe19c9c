"""herd on Kubernetes, without a cluster: --start-at, --json - and merging log streams, the
manifests checked against the Kubernetes API schema, `make image`, and scripts/kube-run.sh run
against a stand-in kubectl (tests/kube/fake-kubectl) that starts the Job's pods as local
processes with exactly the command lines the manifest gives them (plus a --bind range of their
own, for a pod's own address), so that the script's whole path - apply, wait, kubectl logs,
herd merge, the exit code, the deletion - runs here.

The schema check needs node and `npm ci` in tests/kube (kubernetes-models); the simulation needs
python3-yaml. Both skip without them and fail with HERD_REQUIRE_PEERS=1 (CI).
"""

import json
import os
import re
import shutil
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import CHILD_ENV, _missing, load_report, scaled

ROOT = Path(__file__).resolve().parents[2]
KUBE = ROOT / "tests" / "kube"
KUBE_RUN = ROOT / "scripts" / "kube-run.sh"
INTEROP = ROOT / "tests" / "interop"


def _need_yaml():
    try:
        import yaml  # noqa: F401
    except ImportError:
        _missing("python3-yaml is not installed (scripts/setup-deps.sh installs it)")
    import yaml
    return yaml


def _need_validator():
    node = shutil.which("node")
    if not node:
        _missing("node is not installed (scripts/setup-deps.sh installs it)")
    if not (KUBE / "node_modules" / "kubernetes-models").is_dir():
        _missing("kubernetes-models missing: run scripts/setup-deps.sh (npm ci in tests/kube)")
    return [node, str(KUBE / "validate.mjs")]


def validate(objs):
    res = subprocess.run(_need_validator(), input=json.dumps(objs), capture_output=True,
                         text=True, timeout=120)
    return res.returncode, res.stdout.splitlines()


def render(*args, env=None):
    res = subprocess.run([str(KUBE_RUN), *map(str, args)], capture_output=True, text=True,
                         timeout=30, env=env or dict(CHILD_ENV, HERD_RUN_ID="4242"))
    assert res.returncode == 0, res.stderr
    return res.stdout


def blocks(text):
    """The JSON reports in a log stream, parsed, in order."""
    return [json.loads(line[line.index('{"tool":"herd"'):]) for line in text.splitlines()
            if '{"tool":"herd"' in line]


def write_scenario(path, port, connections=40, duration="2s", extra=""):
    path.write_text(f"""duration: {duration}
thresholds: ["connections.failed==0"]
{extra}groups:
  - name: pingers
    url: ws://127.0.0.1:{port}/echo
    connections: {connections}
    threads: 1
""")
    return path


# ---- --start-at ----

def test_start_at_waits_and_is_reported(run_herd, herd_serve):
    srv = herd_serve()
    at = f"{time.time() + scaled(1.5):.6f}"
    code, rep, err = run_herd(srv.url("/echo"), "-c", 2, "-d", "1s", "--start-at", at)
    assert code == 0, err
    st = rep["start"]
    assert st["planned_unix_ns"] == int(Decimal(at) * 10**9)
    late_us = (st["actual_unix_ns"] - st["planned_unix_ns"]) / 1e3
    assert 0 <= late_us < scaled(0.05) * 1e6, st  # woke at the instant, not before
    assert st["late_us"] == pytest.approx(late_us, abs=0.01)
    assert st["skew_us"] == 0 and st["shards"] == 1
    for key in ("planned", "actual"):  # RFC 3339 UTC to the microsecond, as the ns say
        ns = st[key + "_unix_ns"]
        want = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9))
        assert st[key] == f"{want}.{ns % 10**9 // 1000:06d}Z", st
    # the schedule ran after the instant: nothing opened before it
    assert rep["counters"]["connections.opened"] == 2


@pytest.mark.parametrize("value, want", [
    ("2020-01-01T00:00:00Z", r'--start-at: "2020-01-01T00:00:00Z" is [0-9.]+ s in the past'),
    ("12:00", r"--start-at: expected a UTC time like 2026-12-02T15:10:00Z, Unix seconds, or "
              r'\+DURATION, got "12:00"'),
    ("2030-01-01T00:00:00+02:00", "--start-at: expected a UTC time .ending in Z or .00:00., "
                                  "not another offset"),
])
def test_start_at_bad(herd_bin, value, want):
    res = subprocess.run([herd_bin, "run", "ws://127.0.0.1:1/echo", "--start-at", value],
                         capture_output=True, text=True, timeout=30, env=CHILD_ENV)
    assert res.returncode == 2
    assert re.fullmatch("herd: " + want + r".*\n", res.stderr), res.stderr


def test_start_at_in_a_scenario_file(herd_bin, tmp_path):
    scen = write_scenario(tmp_path / "s.yaml", 1, extra="start_at: 1000\n")
    res = subprocess.run([herd_bin, "run", "-f", scen, "--check"], capture_output=True,
                         text=True, timeout=30, env=CHILD_ENV)
    assert res.returncode == 2
    assert "start_at" in res.stderr and "in the past" in res.stderr, res.stderr
    assert res.stderr.count("\n") == 1


def test_procs_children_share_the_instant(run_herd, herd_serve):
    srv = herd_serve()
    code, rep, err = run_herd(srv.url("/echo"), "-c", 4, "-d", "1s", "--procs", 2,
                              "--start-at", "+1s")
    assert code == 0, err
    st = rep["start"]
    assert st["shards"] == 2
    assert 0 <= st["skew_us"] < scaled(0.01) * 1e6, st


# ---- --json - and merging log streams ----

def test_json_stdout_block_and_merge_from_stdin(herd_bin, herd_serve, tmp_path):
    srv = herd_serve()
    env = dict(CHILD_ENV, HERD_RUN_ID="99")
    logs = []
    for i in range(2):
        res = subprocess.run([herd_bin, "run", srv.url("/echo"), "-c", "2", "-d", "1s",
                              "--shard", f"{i}/2", "--json", "-"], capture_output=True,
                             text=True, timeout=scaled(30), env=env)
        assert res.returncode == 0, res.stderr
        lines = res.stdout.splitlines()
        begin = lines.index(f"---- herd report begin run=99 shard={i}/2 ----")
        assert lines[begin + 1].startswith('{"tool":"herd",')
        assert lines[begin + 2] == (f"---- herd report end run=99 shard={i}/2 "
                                    f"bytes={len(lines[begin + 1].encode())} ----")
        logs.append(f"pod {i} says hello\n" + res.stdout + res.stderr)
    stream = "".join(logs)
    out = tmp_path / "merged.json"
    res = subprocess.run([herd_bin, "merge", "-", "--json", out], input=stream,
                         capture_output=True, text=True, timeout=30, env=CHILD_ENV)
    assert res.returncode == 0, res.stderr
    merged, parts = load_report(out), blocks(stream)
    assert merged["shards"] == 2 and "shard" not in merged["config"]
    for k, v in merged["counters"].items():
        assert v == sum(p["counters"][k] for p in parts) or k in ("connections.peak",), k

    # a log cut short, and one whose report line was cut: one line naming where
    cut = stream[:stream.rindex("---- herd report end")]
    res = subprocess.run([herd_bin, "merge", "-"], input=cut, capture_output=True, text=True,
                         timeout=30, env=CHILD_ENV)
    assert res.returncode == 2
    assert re.fullmatch(r"herd: -:\d+: the report run=99 shard=1/2 begun here has no end marker "
                        r"\(a truncated log\?\)\n", res.stderr), res.stderr
    damaged = stream.replace('"tool":"herd","version"', '"tool":"herd","versio"', 1)
    (tmp_path / "pods.log").write_text(damaged)
    res = subprocess.run([herd_bin, "merge", tmp_path / "pods.log"], capture_output=True,
                         text=True, timeout=30, env=CHILD_ENV)
    assert res.returncode == 2
    assert re.fullmatch(r"herd: \S+pods\.log:\d+: the report run=99 shard=0/2 has \d+ bytes "
                        r"here, its end marker says \d+ \(a cut or altered line\)\n",
                        res.stderr), res.stderr


# ---- the manifests ----

def rendered_objects(shards=10):
    yaml = _need_yaml()
    text = render("-f", ROOT / "examples" / "connection-storm.yaml", "-n", shards, "--render",
                  "--image", "registry.example/herd:1")
    text += "---\n" + render("--render-target", "--image", "registry.example/herd:1")
    return text, [d for d in yaml.safe_load_all(text) if d]


def test_manifests_match_the_kubernetes_schema():
    text, objs = rendered_objects()
    assert "${" not in text  # every placeholder filled in
    code, lines = validate(objs)
    assert code == 0, "\n".join(lines)
    assert lines == ["ok ConfigMap herd-4242", "ok Job herd-4242", "ok Deployment herd-target",
                     "ok Service herd-target"]
    # and the check is not blind: a misspelt field and a bad enum value are caught
    job = next(o for o in objs if o["kind"] == "Job")
    bad = json.loads(json.dumps(job))
    bad["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["readOnli"] = True
    bad["spec"]["completionMode"] = "indexed"
    code, lines = validate([bad])
    assert code == 1
    assert "completionMode must be equal to one of the allowed values" in lines[0]
    assert "spec.template.spec.containers[0].volumeMounts[0].readOnli: unknown field" in lines[0]


def test_job_manifest_shape():
    _, objs = rendered_objects(shards=10)
    cm = next(o for o in objs if o["kind"] == "ConfigMap")
    job = next(o for o in objs if o["kind"] == "Job")
    assert cm["data"]["scenario.yaml"] == (ROOT / "examples" / "connection-storm.yaml").read_text()
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["parallelism"] == spec["completions"] == 10
    pod = spec["template"]["spec"]
    (c,) = pod["containers"]
    args = c["args"]
    assert args[:3] == ["run", "--shard", "$(JOB_COMPLETION_INDEX)/10"]
    assert args[3] == "--start-at" and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", args[4])
    assert args[5:] == ["-f", "/scenario/scenario.yaml", "--json", "-"]
    env = {e["name"]: e for e in c["env"]}
    assert "job-completion-index" in env["JOB_COMPLETION_INDEX"]["valueFrom"]["fieldRef"][
        "fieldPath"]
    assert env["HERD_RUN_ID"]["value"] == "4242"
    assert c["resources"]["requests"] == c["resources"]["limits"]
    assert {"name": "net.ipv4.ip_local_port_range", "value": "1024 65535"} in \
        pod["securityContext"]["sysctls"]
    term = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == {"herd.run/id": "4242"}
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_kube_run_usage_errors(tmp_path):
    for args, want in [([], "-f: a scenario file is needed"),
                       (["-f", tmp_path / "none.yaml"], "-f: cannot read"),
                       (["-f", KUBE_RUN, "-n", "0"], "-n: expected a whole number"),
                       (["-f", KUBE_RUN, "--lead", "soon"], "--lead: expected a duration"),
                       (["-f", KUBE_RUN, "--port-range", "2000 1000"], "--port-range:"),
                       (["--bogus"], "unknown option --bogus")]:
        res = subprocess.run([str(KUBE_RUN), *map(str, args)], capture_output=True, text=True,
                             timeout=30, env=CHILD_ENV)
        assert res.returncode == 2, (args, res.stderr)
        assert res.stderr.startswith("kube-run.sh: " + want), res.stderr


# ---- make image ----

def test_make_image(tmp_path):
    make = shutil.which("make")
    if not make:
        pytest.skip("make is not installed")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "podman").write_text('#!/bin/sh\necho "podman $*" > "$FAKE_ENGINE_LOG"\n')
    (fake / "podman").chmod(0o755)
    log = tmp_path / "engine.log"
    env = dict(CHILD_ENV, PATH=f"{fake}:/usr/bin:/bin", FAKE_ENGINE_LOG=str(log))
    env.pop("CONTAINER_ENGINE", None)
    res = subprocess.run([make, "-s", "-C", ROOT, "image", "IMAGE=registry.example/herd:1"],
                         capture_output=True, text=True, timeout=60, env=env)
    assert res.returncode == 0, res.stderr
    assert re.fullmatch(r"podman build -f Containerfile -t registry\.example/herd:1 "
                        r"--build-arg HERD_VERSION=\S+ \.\n", log.read_text())
    # none installed: a message naming what to install, and a failure (only where make's own
    # directory holds no engine: this must never build an image for real)
    bindir = os.path.dirname(make)
    if any(os.path.exists(os.path.join(bindir, e)) for e in ("podman", "docker")):
        return
    empty = tmp_path / "empty"
    empty.mkdir()
    env = dict(CHILD_ENV, PATH=f"{empty}:{bindir}")
    env.pop("CONTAINER_ENGINE", None)
    res = subprocess.run([make, "-s", "-C", ROOT, "image"], capture_output=True, text=True,
                         timeout=60, env=env)
    assert res.returncode != 0
    assert "make image: needs podman or docker; install one (apt-get install podman" in res.stderr


def test_containerfile_shape():
    text = (ROOT / "Containerfile").read_text()
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    assert froms == ["docker.io/library/debian:12", "docker.io/library/debian:12-slim"]
    runtime = text[text.rindex("FROM "):]
    for lib in ("libssl3", "zlib1g", "libyaml-0-2", "libjansson4"):
        assert lib in runtime
    assert "-dev" not in runtime
    assert re.search(r"^USER 10001:10001$", runtime, re.M)
    assert 'ENTRYPOINT ["/usr/local/bin/herd"]' in runtime


# ---- the simulation: kube-run.sh with pods as local processes ----

def hdr_counts(texts):
    """Bucket counts of HdrHistogram V2 texts, decoded by tests/interop/hdr_decode.js."""
    node = shutil.which("node")
    if not node or not (INTEROP / "node_modules" / "hdr-histogram-js").is_dir():
        _missing("hdr-histogram-js missing: run scripts/setup-deps.sh (npm ci in tests/interop)")
    res = subprocess.run([node, str(INTEROP / "hdr_decode.js")], input="\n".join(texts) + "\n",
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return [dict((v, c) for v, c in json.loads(line)["counts"]) for line in res.stdout.splitlines()]


def kube_run(herd_bin, tmp_path, *args, shards, env_extra=None):
    _need_yaml()
    state = tmp_path / "kube"
    state.mkdir()
    env = dict(CHILD_ENV, FAKE_KUBE_DIR=str(state), FAKE_KUBE_BIND="1", HERD=str(herd_bin),
               KUBECTL=str(KUBE / "fake-kubectl"), **(env_extra or {}))
    env.pop("HERD_RUN_ID", None)
    # The lead leaves the stand-in time to start every pod on a busy machine: a pod that is not
    # waiting when the instant comes starts late (or, a second late, refuses to).
    proc = subprocess.Popen([str(KUBE_RUN), "-n", str(shards), "--lead", "5s", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=scaled(90))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        raise
    finally:
        # the pods (the stand-in's detached processes) end with the run; any left are ended here
        for pid_file in (state / "pods").glob("*/pid") if (state / "pods").is_dir() else []:
            try:
                os.killpg(int(pid_file.read_text()), 9)
            except (ProcessLookupError, PermissionError, ValueError):
                pass
    return proc.returncode, out, err, state


def test_simulation_merged_exactly_and_started_together(herd_bin, herd_serve, tmp_path):
    srv = herd_serve()
    scen = write_scenario(tmp_path / "scenario.yaml", srv.port, connections=30)
    merged_path, logs_path = tmp_path / "merged.json", tmp_path / "pods.log"
    code, out, err, state = kube_run(herd_bin, tmp_path, "-f", scen, "--json", merged_path,
                                     "--logs", logs_path, shards=3)
    assert code == 0, err
    assert "merged from 3 shards" in out  # the summary is printed

    # every pod ran exactly the manifest's command line, plus its own --bind range
    yaml = _need_yaml()
    calls = [json.loads(l) for l in (state / "calls").read_text().splitlines()]
    applied = next(c for c in calls if c[0] == "apply")
    assert applied[1:] == ["-f", applied[2]]
    pods = sorted((json.loads(p.read_text()) for p in state.glob("pods/*/argv.json")),
                  key=lambda p: p["index"])
    assert [p["index"] for p in pods] == [0, 1, 2]
    start_at = pods[0]["argv"][4]
    for p in pods:
        i = p["index"]
        assert p["argv"] == ["run", "--shard", f"{i}/3", "--start-at", start_at, "-f",
                             str(state / "configmaps" / p["job"] / "scenario.yaml"), "--json",
                             "-", "--bind", f"127.0.0.{10 * i + 2}-127.0.0.{10 * i + 11}"]
    assert len({p["env"]["HERD_RUN_ID"] for p in pods}) == 1
    # the Job and the ConfigMap were deleted at the end
    assert (state / "deleted").read_text().startswith("delete -f ")

    merged = load_report(merged_path)
    parts = blocks(logs_path.read_text())
    assert sorted(p["config"]["shard"] for p in parts) == ["0/3", "1/3", "2/3"]
    assert merged["shards"] == 3
    # counters summed, errors summed, histograms added bucket by bucket
    for k, v in merged["counters"].items():
        if k != "connections.peak":
            assert v == sum(p["counters"][k] for p in parts), k
    assert merged["counters"]["connections.opened"] == 30
    for name, h in merged["histograms"].items():
        assert h["count"] == sum(p["histograms"][name]["count"] for p in parts), name
        assert h["min_us"] == min(p["histograms"][name]["min_us"] for p in parts), name
        assert h["max_us"] == max(p["histograms"][name]["max_us"] for p in parts), name
    for name in ("rtt", "ready"):
        decoded = hdr_counts([merged["histograms"][name]["hdr"]] +
                             [p["histograms"][name]["hdr"] for p in parts])
        total = {}
        for d in decoded[1:]:
            for v, c in d.items():
                total[v] = total.get(v, 0) + c
        assert decoded[0] == total, name
    # one planned instant, every start within 10 ms of the others
    st = merged["start"]
    assert st["shards"] == 3
    assert {p["start"]["planned_unix_ns"] for p in parts} == {st["planned_unix_ns"]}
    assert st["planned"].startswith(start_at[:-1])
    assert st["actual_unix_ns"] == min(p["start"]["actual_unix_ns"] for p in parts)
    assert st["actual_last_unix_ns"] == max(p["start"]["actual_unix_ns"] for p in parts)
    assert 0 <= st["skew_us"] <= scaled(0.010) * 1e6, st


def test_simulation_threshold_on_the_whole(herd_bin, herd_serve, tmp_path):
    srv = herd_serve()
    scen = write_scenario(tmp_path / "scenario.yaml", srv.port, connections=4, duration="1s")
    code, out, err, state = kube_run(herd_bin, tmp_path, "-f", scen, "--threshold",
                                     "connections.opened>4", shards=2)
    assert code == 1, err
    assert re.search(r"FAIL\s+connections\.opened>4", out), out
    assert (state / "deleted").exists()


def test_simulation_no_target(herd_bin, tmp_path, free_port):
    scen = write_scenario(tmp_path / "scenario.yaml", free_port(), connections=2, duration="1s")
    code, out, err, state = kube_run(herd_bin, tmp_path, "-f", scen, shards=2)
    assert code == 3, err
    assert (state / "deleted").exists()


def test_simulation_a_shard_lost(herd_bin, herd_serve, tmp_path):
    srv = herd_serve()
    scen = write_scenario(tmp_path / "scenario.yaml", srv.port, connections=6, duration="1s")
    merged_path = tmp_path / "merged.json"
    code, out, err, state = kube_run(herd_bin, tmp_path, "-f", scen, "--json", merged_path,
                                     shards=3, env_extra={"FAKE_KUBE_LOST_LOG": "1"})
    assert code == 3, err
    assert "shard 1 (" in err and "no logs" in err
    merged = load_report(merged_path)
    assert merged["shards"] == 2 and merged["config"]["shard"] == "0+2/3"
    assert "merge: 1 of the 3 shards are missing" in merged["warnings"]
