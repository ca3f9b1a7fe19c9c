"""herd's HdrHistogram V2 text, decoded by an implementation herd did not write.

tests/interop/hist_encode.c records values with herd's histogram and prints the `hdr` text with
the figures herd computes; tests/interop/hdr_decode.js decodes the text with npm's
hdr-histogram-js. Counts, totals, min, max and percentiles must agree exactly.

Needs a C compiler, zlib, node, and `npm ci` in tests/interop: skipped without them, failed
with HERD_REQUIRE_PEERS=1 (CI), like every peer in conftest.py.
"""

import json
import math
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import _missing

ROOT = Path(__file__).resolve().parents[2]
INTEROP = ROOT / "tests" / "interop"

# Parameters herd uses for every metric (stats.h: HIST_LOWEST, HIST_HIGHEST, HIST_SIGFIGS).
DEFAULT = (1, 3600000000, 3)


def _cases():
    rnd = random.Random(20240601)
    cases = [
        ("empty", DEFAULT, []),
        ("single", DEFAULT, [(42, 1)]),
        ("zero_only", DEFAULT, [(0, 5)]),
        ("uniform_small", DEFAULT, [(rnd.randint(0, 5000), 1) for _ in range(5000)]),
        (
            "log_uniform",
            DEFAULT,
            [(int(math.exp(rnd.random() * math.log(3.6e9))), 1) for _ in range(20000)],
        ),
        ("constant", DEFAULT, [(4242, 1000)]),
        ("two_point", DEFAULT, [(150, 900), (95000, 100)]),
        ("edges_and_clamped", DEFAULT, [(0, 3), (1, 1), (2047, 1), (2048, 1), (3600000000, 2),
                                        (3600000001, 1), (-5, 1)]),
        ("big_counts", DEFAULT, [(1000, 3000000000), (250000, 123456789), (17, 1)]),
        (
            "two_digits_wide",
            (1, 1000000000000, 2),
            [(int(math.exp(rnd.random() * math.log(1e12))), 1) for _ in range(3000)],
        ),
        (
            "five_digits",
            (1, 10000000, 5),
            [(rnd.randint(0, 10000000), rnd.randint(1, 3)) for _ in range(3000)],
        ),
        # A coarse unit (512): hdr-histogram-js reports maxValue plus the unit mask here (its
        # establishInternalTackingValues adds instead of or-ing), so max is not compared.
        (
            "unit_1000",
            (1000, 1000000000000, 2),
            [(rnd.randint(0, 10**9), 1) for _ in range(2000)] + [(700, 4)],
        ),
    ]
    return cases


CASES = _cases()


@pytest.fixture(scope="session")
def hist_encode(tmp_path_factory):
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        _missing("no C compiler to build tests/interop/hist_encode.c")
    out = tmp_path_factory.mktemp("interop") / "hist_encode"
    sources = sorted(str(p) for p in (ROOT / "src" / "stats").glob("*.c"))
    sources += sorted(str(p) for p in (ROOT / "src" / "base").glob("*.c"))
    cmd = [cc, "-std=c11", "-D_GNU_SOURCE", "-O1", "-I", str(ROOT / "src"),
           str(INTEROP / "hist_encode.c"), *sources, "-lz", "-lm", "-lpthread", "-o", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, "building hist_encode failed:\n" + res.stderr
    return out


@pytest.fixture(scope="session")
def node_decoder():
    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        _missing("node is not installed (needed to run hdr-histogram-js; scripts/setup-deps.sh "
                 "installs it)")
    if not (INTEROP / "node_modules" / "hdr-histogram-js").is_dir():
        _missing("hdr-histogram-js missing: run scripts/setup-deps.sh (npm ci in tests/interop)")
    return [node, str(INTEROP / "hdr_decode.js")]


@pytest.fixture(scope="session")
def results(hist_encode, node_decoder):
    """Encode every case with herd, decode all texts with one node process."""
    mine = []
    for name, params, values in CASES:
        args = [str(hist_encode)] + ([str(p) for p in params] if params != DEFAULT else [])
        stdin = "".join(f"{v} {c}\n" for v, c in values)
        res = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, f"{name}: hist_encode failed: {res.stderr}"
        mine.append(json.loads(res.stdout))
    res = subprocess.run(node_decoder, input="".join(m["hdr"] + "\n" for m in mine),
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, "hdr_decode.js failed:\n" + res.stderr
    theirs = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    assert len(theirs) == len(mine)
    return {name: (m, t) for (name, _, _), m, t in zip(CASES, mine, theirs)}


@pytest.mark.parametrize("name,params,values", CASES, ids=[c[0] for c in CASES])
def test_js_decodes_herd_encoding(results, name, params, values):
    mine, theirs = results[name]
    assert "error" not in theirs, f"hdr-histogram-js refused {mine['hdr']}: {theirs['error']}"

    lowest, highest, sigfigs = params
    assert theirs["lowestDiscernibleValue"] == lowest
    assert theirs["highestTrackableValue"] == highest
    assert theirs["numberOfSignificantValueDigits"] == sigfigs

    # What was recorded, independently of both implementations (negatives and values above
    # `highest` are clamped into range by herd and still counted).
    assert mine["totalCount"] == sum(c for _, c in values)
    assert theirs["totalCount"] == mine["totalCount"]
    assert theirs["counts"] == mine["counts"], "per-slot counts differ"

    assert theirs["minNonZeroValue"] == mine["minNonZeroValue"]
    if lowest == 1:
        assert theirs["maxValue"] == mine["maxValue"]
    for p in ("p50", "p90", "p99", "p999"):
        assert theirs[p] == mine[p], f"{p}: js {theirs[p]}, herd {mine[p]}"
    assert theirs["mean"] == pytest.approx(mine["mean"], rel=1e-9, abs=1e-9)
    assert theirs["stdDeviation"] == pytest.approx(mine["stdDeviation"], rel=1e-9, abs=1e-6)


def test_clamped_values_counted(results):
    mine, _ = results["edges_and_clamped"]
    assert mine["clamped"] == 2
    assert mine["maxValue"] >= 3600000000
