"""Running the network functions (nf-fw, nf-nat, nf-ids) and nf-probe on pipes in the lab.

One NF sits between two pipes: the probe holds the master end of pipe 0 (the ingress) and the
slave end of pipe 1 (the egress); the NF holds the slave end of pipe 0 as its IN port and the
master end of pipe 1 as its OUT port. A chain of k NFs uses k+1 pipes the same way. The pipes
have a parent each (PNAME0{1, PNAME1{1, ...: separate memory regions, so the NFs copy), or with
shared=True one parent (PNAME{0, PNAME{1, ...: one region, so the NFs swap buffers).
"""

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from nm import pktgen
from ptnet.build.tools import tool_path


def _pipe(pname: str, k: int, end: str, shared: bool) -> str:
    return f"netmap:{pname}{end}{k}" if shared else f"netmap:{pname}{k}{end}1"


def hops(pname: str, n: int, shared: bool = False) -> list[tuple[str, str]]:
    """The (IN, OUT) ports of n NFs in a row, on pipes named after pname."""
    return [(_pipe(pname, k, "}", shared), _pipe(pname, k + 1, "{", shared)) for k in range(n)]


def ends(pname: str, n: int, shared: bool = False) -> tuple[str, str]:
    """The probe's ports (A at the ingress, B at the egress) around n NFs."""
    return _pipe(pname, 0, "{", shared), _pipe(pname, n, "}", shared)


@contextlib.contextmanager
def running(role: str, port_in: str, port_out: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    """Run nf-ROLE between the two ports; on the way out stop it with SIGTERM and check that it
    exited 0."""
    proc = pktgen.started(
        [str(tool_path(f"nf-{role}")), "-i", port_in, "-o", port_out, *args], " <-> "
    )
    with pktgen.reaped(proc):
        yield proc
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err


def probe(a: str, b: str, mix: str, tmp: Path, *args: str) -> dict:
    """Run nf-probe with the mix (the text of a mix file); return its report."""
    path = tmp / "mix.txt"
    path.write_text(mix)
    return pktgen.run_json([str(tool_path("nf-probe")), "-a", a, "-b", b, "-f", str(path), *args])


def flows(report: dict) -> dict[str, dict]:
    """The probe's flows by name."""
    return {f["name"]: f for f in report["flows"]}


def stats(path: Path) -> dict:
    """The stats file an NF wrote."""
    return json.loads(path.read_text())


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of process pid so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(proc: subprocess.Popen[str], seconds: float = 2.0) -> float:
    """The CPU time proc used over `seconds` of wall time."""
    before = cpu_seconds(proc.pid)
    time.sleep(seconds)
    return cpu_seconds(proc.pid) - before
