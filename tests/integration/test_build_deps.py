"""`make` on a machine without a build package: before anything compiles, one message names
what is missing (the pkg-config package and its Debian package) and what to run (`make deps`),
instead of a compiler error about a missing header (scripts/check-build-deps.sh, the Makefile's
build-deps). The machine's packages stay as they are: a pkg-config wrapper that knows no
yaml-0.1 (or no pkg-config at all) plays the machine without them, in a build directory of the
test's own that must stay empty."""
import os
import shutil
import subprocess

import pytest

from conftest import REPO


# A make of its own, not a sub-make of the one running the suite (`make test` passes its
# MAKEFLAGS down: a jobserver whose descriptors this process does not have, BUILD=...).
MAKE_ENV = {k: v for k, v in os.environ.items()
            if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}


def make(tmp_path, *args):
    build = f"build-deps-test-{tmp_path.name}"  # BUILD=<this>: build/<this>, never used else
    try:
        proc = subprocess.run(["make", "-C", REPO, "--no-print-directory", f"BUILD={build}",
                               *args], capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL, env=MAKE_ENV)
        compiled = (REPO / "build" / build).exists()
    finally:
        shutil.rmtree(REPO / "build" / build, ignore_errors=True)
    return proc, compiled


@pytest.fixture
def no_yaml_pkg_config(tmp_path):
    real = shutil.which("pkg-config")
    if not real:
        pytest.fail("pkg-config is not installed (scripts/setup-deps.sh installs it)")
    wrapper = tmp_path / "pkg-config"
    wrapper.write_text("#!/bin/sh\n# pkg-config without yaml-0.1 (libyaml-dev not installed)\n"
                       "for a; do [ \"$a\" = yaml-0.1 ] && exit 1; done\n"
                       f"exec {real} \"$@\"\n")
    wrapper.chmod(0o755)
    return wrapper


def test_missing_library_is_named_before_compiling(tmp_path, no_yaml_pkg_config):
    proc, compiled = make(tmp_path, f"PKG_CONFIG={no_yaml_pkg_config}", "-j2", "all")
    assert proc.returncode == 2, proc.stderr
    assert not compiled, "make compiled before it checked the build packages"
    assert "error:" not in proc.stderr, proc.stderr  # no compiler error
    assert "yaml-0.1" in proc.stderr and "libyaml-dev" in proc.stderr, proc.stderr
    assert "make deps" in proc.stderr, proc.stderr
    # Only what is missing is named.
    for present in ("libssl-dev", "zlib1g-dev", "libjansson-dev"):
        assert present not in proc.stderr, proc.stderr


def test_missing_pkg_config_is_named(tmp_path):
    proc, compiled = make(tmp_path, f"PKG_CONFIG={tmp_path / 'no-pkg-config'}", "all")
    assert proc.returncode == 2, proc.stderr
    assert not compiled
    for deb in ("pkg-config", "libssl-dev", "zlib1g-dev", "libyaml-dev", "libjansson-dev"):
        assert deb in proc.stderr, proc.stderr
    assert "make deps" in proc.stderr, proc.stderr


def test_everything_there_passes_the_check():
    # This machine has every build package (the suite is running on a build): silent success.
    proc = subprocess.run(["make", "-C", REPO, "--no-print-directory", "build-deps"],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          env=MAKE_ENV)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""
