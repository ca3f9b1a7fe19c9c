"""Report files (--json, --csv) never destroy what is at their path, and are checked before the
run. A regular file is replaced atomically (a symlink to one stays a symlink); a device, a FIFO
or /dev/stdout is written in place and stays what it was; a read-only file is refused. A path
that cannot be written is exit 2 before anything connects (herd run, --procs, -f, herd merge);
a write that fails at the end (a full disk) is said and makes the exit code 3.

Device nodes: as root the tests make private nodes of the same types (c 1 3 as /dev/null does,
c 1 7 as /dev/full), so that a herd that still renamed over a device would replace the test's
node, not the system's. Without root the system's nodes are used: this user cannot replace them.
/dev/stdout is likewise a private symlink to /proc/self/fd/1, as the system's is: a herd that
renamed over the path it was given replaced the system's /dev/stdout with a report file.
"""
import json
import os
import stat
import subprocess
import threading

import pytest

from conftest import CHILD_ENV, free_port, scaled


def device(tmp_path, name, minor, system):
    """A character device node of type (1, minor): a private one as root, else the system's."""
    if os.geteuid() != 0:
        return system
    path = tmp_path / name
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
    except PermissionError:
        pytest.skip("root without CAP_MKNOD: no private device node, and the system's must "
                    "not be put at risk")
    return path


def stdout_link(tmp_path):
    """A symlink of the test's own made like /dev/stdout (-> /proc/self/fd/1)."""
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")
    return link


def is_char_device(path):
    return stat.S_ISCHR(os.lstat(path).st_mode)


def unused_url():
    """A URL nothing listens on: a run against it that got as far as connecting exits 3."""
    return f"ws://127.0.0.1:{free_port()}/"


def herd(herd_bin, *args, timeout=30, stdout=subprocess.PIPE):
    proc = subprocess.run([herd_bin, *[str(a) for a in args]], stdout=stdout,
                          stderr=subprocess.PIPE, env=CHILD_ENV, timeout=scaled(timeout))
    return proc.returncode, proc.stderr.decode(errors="replace")


# ---------------------------------------------------------------------------------------------
# what is at the path survives


@pytest.mark.parametrize("option", ["--json", "--csv"])
def test_null_device_written_in_place(herd_serve, run_herd, tmp_path, option):
    srv = herd_serve()
    null = device(tmp_path, "null", 3, "/dev/null")
    res = run_herd("-c", 2, "-d", "1s", "-t", 1, option, null, srv.url("/echo"), json=False)
    assert res.code == 0, res.stderr
    assert is_char_device(null)


def test_full_device_is_an_error(herd_serve, run_herd, tmp_path):
    srv = herd_serve()
    full = device(tmp_path, "full", 7, "/dev/full")
    other = tmp_path / "other.csv"
    res = run_herd("-c", 2, "-d", "1s", "-t", 1, "--json", full, "--csv", other,
                   srv.url("/echo"), json=False)
    assert res.code == 3, res.stderr
    assert "--json" in res.stderr
    assert is_char_device(full)
    assert other.read_text().startswith("t,open,")  # the other report is still written


def test_fifo_written_in_place(herd_serve, run_herd, tmp_path):
    srv = herd_serve()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = []

    def reader():
        with open(fifo, "rb") as f:  # blocks until herd opens it for writing
            got.append(f.read())

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    res = run_herd("-c", 2, "-d", "1s", "-t", 1, "--json", fifo, srv.url("/echo"), json=False)
    t.join(timeout=scaled(10))
    assert res.code == 0, res.stderr
    assert got, "nothing came through the FIFO"
    rep = json.loads(got[0])
    assert rep["report_version"] == 1 and rep["counters"]["connections.opened"] == 2
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_fifo_nobody_reads_is_an_error(herd_serve, run_herd, tmp_path):
    srv = herd_serve()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    res = run_herd("-c", 2, "-d", "1s", "-t", 1, "--json", fifo, srv.url("/echo"), json=False,
                   timeout=30)
    assert res.code == 3, res.stderr  # no hang at the end, and no FIFO replaced
    assert "--json" in res.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_dev_stdout_to_a_pipe(herd_serve, run_herd, tmp_path):
    srv = herd_serve()
    link = stdout_link(tmp_path)
    res = run_herd("-c", 2, "-d", "1s", "-t", 1, "--json", link, srv.url("/echo"), json=False)
    assert res.code == 0, res.stderr
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"
    # the summary, then the report
    rep = json.loads(res.stdout[res.stdout.index("\n{\n") + 1:])
    assert rep["report_version"] == 1 and rep["counters"]["connections.opened"] == 2


def test_dev_stdout_to_a_file(herd_bin, herd_serve, tmp_path):
    """stdout redirected to a file (`> out`): the report goes after what stdout already wrote
    there, into the same file; it is not renamed over it."""
    srv = herd_serve()
    link = stdout_link(tmp_path)
    out = tmp_path / "out.txt"
    with open(out, "wb") as f:
        inode = os.fstat(f.fileno()).st_ino
        code, err = herd(herd_bin, "run", "-q", "-c", 2, "-d", "1s", "-t", 1, "--json", link,
                         srv.url("/echo"), stdout=f)
    assert code == 0, err
    assert link.is_symlink()
    assert out.stat().st_ino == inode
    text = out.read_text()
    start = text.index("\n{\n") + 1
    assert "connections" in text[:start]  # the summary is still there, before the report
    assert json.loads(text[start:])["counters"]["connections.opened"] == 2


def test_symlink_stays_a_symlink(herd_serve, run_herd, tmp_path):
    srv = herd_serve()
    real_dir = tmp_path / "reports"
    real_dir.mkdir()
    real = real_dir / "r.json"
    real.write_text("old\n")
    real.chmod(0o640)
    link_dir = tmp_path / "links"
    link_dir.mkdir()
    link = link_dir / "link.json"
    link.symlink_to(real)
    res = run_herd("-c", 2, "-d", "1s", "-t", 1, "--json", link, srv.url("/echo"), json=False)
    assert res.code == 0, res.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert json.loads(real.read_text())["counters"]["connections.opened"] == 2
    assert stat.S_IMODE(real.stat().st_mode) == 0o640  # the file keeps its mode
    # the temporary file was made beside the target (same filesystem for the rename) and is gone
    assert sorted(os.listdir(real_dir)) == ["r.json"]
    assert sorted(os.listdir(link_dir)) == ["link.json"]


# ---------------------------------------------------------------------------------------------
# checked before the run: exit 2, nothing connects (the URL has no server: a run would exit 3)


@pytest.mark.parametrize("option", ["--json", "--csv"])
def test_read_only_file_refused_before_the_run(run_herd, tmp_path, option):
    ro = tmp_path / "ro.out"
    ro.write_text("keep\n")
    ro.chmod(0o444)
    res = run_herd("-c", 2, "--timeout", "5s", option, ro, unused_url(), json=False)
    assert res.code == 2, res.stderr
    assert option in res.stderr
    assert ro.read_text() == "keep\n" and stat.S_IMODE(ro.stat().st_mode) == 0o444


@pytest.mark.parametrize("option", ["--json", "--csv"])
def test_missing_directory_refused_before_the_run(run_herd, tmp_path, option):
    res = run_herd("-c", 2, "--timeout", "5s", option, tmp_path / "nonexistent" / "x.out",
                   unused_url(), json=False)
    assert res.code == 2, res.stderr
    assert option in res.stderr
    assert not (tmp_path / "nonexistent").exists()


def test_directory_refused_before_the_run(run_herd, tmp_path):
    res = run_herd("-c", 2, "--timeout", "5s", "--json", tmp_path, unused_url(), json=False)
    assert res.code == 2, res.stderr
    assert "--json" in res.stderr


def test_checked_with_procs_and_check(run_herd, tmp_path):
    bad = tmp_path / "nonexistent" / "x.json"
    res = run_herd("--procs", 2, "-c", 4, "--timeout", "5s", "--json", bad, unused_url(),
                   json=False)
    assert res.code == 2, res.stderr
    assert "--json" in res.stderr
    res = run_herd("--check", "--csv", bad, unused_url(), json=False)
    assert res.code == 2, res.stderr
    assert "--csv" in res.stderr


def test_checked_for_a_scenario(run_herd, tmp_path):
    bad = tmp_path / "nonexistent" / "x.json"
    path = tmp_path / "s.yaml"
    path.write_text(f"json: {bad}\ngroups:\n  - name: a\n    url: {unused_url()}\n"
                    f"    timeout: 5s\n")
    for extra in ([], ["--procs", "2"], ["--check"]):
        res = run_herd("-f", path, *extra, json=False)
        assert res.code == 2, (extra, res.stderr)
        assert "--json" in res.stderr, extra


# ---------------------------------------------------------------------------------------------
# herd merge: the same writer, checked before the reports are read


def test_merge_outputs(herd_bin, herd_serve, run_herd, tmp_path):
    srv = herd_serve()
    shard = tmp_path / "s0.json"
    res = run_herd("-c", 2, "-d", "1s", "-t", 1, srv.url("/echo"), json_path=shard)
    assert res.code == 0, res.stderr
    # checked first: a missing input is not even read when the output cannot be written
    code, err = herd(herd_bin, "merge", "--json", tmp_path / "nonexistent" / "m.json",
                     tmp_path / "missing-input.json")
    assert code == 2 and "--json" in err, err
    ro = tmp_path / "ro.csv"
    ro.write_text("keep\n")
    ro.chmod(0o444)
    code, err = herd(herd_bin, "merge", "--csv", ro, shard)
    assert code == 2 and "--csv" in err, err
    assert ro.read_text() == "keep\n"
    null = device(tmp_path, "null", 3, "/dev/null")
    code, err = herd(herd_bin, "merge", "--json", null, shard)
    assert code == 0, err
    assert is_char_device(null)
    link = tmp_path / "merged.json"
    target = tmp_path / "merged-target.json"
    link.symlink_to(target.name)
    code, err = herd(herd_bin, "merge", "--json", link, shard)
    assert code == 0, err
    assert link.is_symlink()
    assert json.loads(target.read_text())["counters"]["connections.opened"] == 2


def test_report_of_a_missing_file(herd_bin):
    code, err = herd(herd_bin, "report", "r.json")
    assert code == 2 and "r.json" in err
