"""Running our traffic tools (pkt-gen, afpacket-gen, nm-kloop-test, bridge) from lab tests.

The tools print one JSON report on stdout with --json, and with -v say on stderr when they are
ready: pkt-gen writes a line with " bound " once per thread, bridge one listing its links.
"""

import contextlib
import json
import subprocess
from collections.abc import Iterator

import pytest


def spawn(argv: list[str]) -> subprocess.Popen[str]:
    """Start argv with its stdout and stderr piped, as text."""
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def started(argv: list[str], says: str, lines: int = 1) -> subprocess.Popen[str]:
    """Start argv and return once each of its first `lines` stderr lines contains `says`;
    otherwise kill it and fail the test with what it wrote on stderr."""
    proc = spawn(argv)
    assert proc.stderr is not None
    for _ in range(lines):
        line = proc.stderr.readline()
        if says not in line:
            proc.kill()
            _, err = proc.communicate()
            pytest.fail(f"{argv} did not say {says!r}: {line}{err}")
    return proc


def bound(argv: list[str], threads: int = 1) -> subprocess.Popen[str]:
    """Start pkt-gen argv with -v and return once each of its `threads` threads has bound."""
    return started([*argv, "-v"], " bound ", threads)


@contextlib.contextmanager
def reaped(proc: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    """Yield proc; on the way out, kill it and wait for it if it is still running."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def report(proc: subprocess.Popen[str], timeout: float) -> dict:
    """Wait up to `timeout` s for proc to end, assert it exited 0, return its JSON report."""
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"{proc.args}: exit {proc.returncode}\n{err}"
    return json.loads(out)


def run_json(argv: list[str], timeout: float = 90) -> dict:
    """Run argv to its end, assert it exited 0, return its JSON report."""
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{argv}: exit {r.returncode}\n{r.stderr}"
    return json.loads(r.stdout)


def exchange(
    server: subprocess.Popen[str],
    client: list[str],
    timeout: float = 60,
    server_timeout: float = 30,
) -> tuple[dict, dict]:
    """Run the client to its end, then collect the server (killed if it is left running);
    return the server's and the client's JSON reports."""
    with reaped(server):
        cli = run_json(client, timeout)
        return report(server, server_timeout), cli


def json_lines(text: str) -> list[dict]:
    """The --json reports in a mixed output (a nested guest's, say), in order."""
    return [json.loads(ln) for ln in text.splitlines() if ln.startswith("{")]
