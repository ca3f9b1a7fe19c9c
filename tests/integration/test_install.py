"""make install (PREFIX, DESTDIR, no root): the binary, herd(1) and the bash completion, the last
two printed by herd from the option tables that give --help, so every option of --help is in the
man page and completes in bash. The Debian package (make deb) is installed with dpkg -i and run
by CI (scripts/check-deb.sh), which needs root."""
import os
import re
import subprocess

from conftest import REPO
from test_build_deps import MAKE_ENV


def test_make_install_into_destdir(tmp_path, herd_bin):
    build = os.environ.get("HERD_BUILD", "release")
    dest = tmp_path / "root"
    proc = subprocess.run(["make", "-C", REPO, "--no-print-directory", f"BUILD={build}",
                           "install", f"DESTDIR={dest}", "PREFIX=/opt/herd"],
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
                          env=MAKE_ENV)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    binary = dest / "opt/herd/bin/herd"
    man = dest / "opt/herd/share/man/man1/herd.1"
    comp = dest / "opt/herd/share/bash-completion/completions/herd"
    assert os.access(binary, os.X_OK)
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and out.stdout.startswith("herd ")

    # The page renders without a warning, and holds every option --help lists.
    groff = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", man], capture_output=True,
                           text=True, timeout=30)
    assert groff.returncode == 0 and not groff.stderr, groff.stderr
    page = subprocess.run(["groff", "-man", "-Tutf8", "-P-cbou", man], capture_output=True,
                          text=True, timeout=30).stdout
    for cmd in ("run", "serve"):
        helptext = subprocess.run([herd_bin, cmd, "--help"], capture_output=True, text=True,
                                  timeout=10).stdout
        opts = set(re.findall(r"^\s+(?:-\w, )?(--[\w-]+)", helptext, re.M))
        assert len(opts) > 10, helptext
        missing = [o for o in opts if o not in page]
        assert not missing, f"herd {cmd} --help options missing from herd(1): {missing}"
    assert "EXIT STATUS" in page

    # The completion script parses and completes options and their words.
    def complete(*words):
        script = (f"source {comp}; COMP_WORDS=({' '.join(repr(w) for w in words)}); "
                  f"COMP_CWORD={len(words) - 1}; _herd; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
        r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, r.stderr
        return r.stdout.split()

    assert complete("herd", "se") == ["serve"]
    assert complete("herd", "run", "--rol") == ["--role"]
    assert complete("herd", "run", "--role", "") == ["ping", "echo", "publish", "subscribe",
                                                     "idle"]
    assert complete("herd", "serve", "--slow-policy", "d") == ["drop"]
    assert complete("herd", "merge", "--for") == ["--force"]
