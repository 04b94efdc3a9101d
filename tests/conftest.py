"""Shared helpers for the test suite."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def ptnet(*args: str, env: dict[str, str] | None = None, timeout: float = 600):
    """Run the real `ptnet` CLI as a user would; return the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "ptnet", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def run_ptnet():
    return ptnet


@pytest.fixture(scope="session")
def port_spec_checker(tmp_path_factory) -> Path:
    """tests/lab/port_spec_check.c built against our uapi: our nm_spec_parse() and nm_open()."""
    cc = shutil.which("gcc")
    if cc is None:
        pytest.skip("no gcc")
    exe = tmp_path_factory.mktemp("psc") / "port_spec_check"
    src = ROOT / "tests" / "lab" / "port_spec_check.c"
    uapi = ROOT / "kernel" / "include" / "uapi"
    argv = [cc, "-std=gnu11", "-O1", "-Wall", "-Wextra", "-Werror", f"-I{uapi}", "-o", exe, src]
    build = subprocess.run(argv, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    return exe
