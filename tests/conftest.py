"""Shared helpers for the test suite."""

import os
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
