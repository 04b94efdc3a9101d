"""`ptnet bench pipe`: netmap pipe throughput against the AF_PACKET baseline, in one lab boot.

The lab boots once with two CPUs and netmap.ko loaded; inside, ptnet.bench.pipe_guest runs
each scenario several times and saves the tools' raw outputs. This module turns those outputs
into figures: the receiver's packet rate of each run, their median per scenario, and the ratio
of the medians. Parsing lives here only; the guest just runs the tools.

    pipe      pkt-gen -f tx on netmap:pipeB{1  ->  pkt-gen -f rx on netmap:pipeB}1
    afpacket  afpacket-gen -f tx on a veth end ->  afpacket-gen -f rx on its peer

Both send 60-byte frames for a fixed time per run.
"""

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from ptnet import host
from ptnet.bench import harness
from ptnet.errors import PtnetError

BENCH = "pipe"
SCENARIOS = ("pipe", "afpacket")
RATIOS = {"pipe/afpacket": ("pipe", "afpacket")}
FRAME_LEN = 60
PIPE_TX = "netmap:pipeB{1"
PIPE_RX = "netmap:pipeB}1"
VETH = ("ptb0", "ptb1")  # tx end, rx end
RX_IDLE_S = 1.0  # a receiver stops after this long without packets
RAW_NAME = "raw.json"


def tool_report(stdout: str) -> dict[str, Any]:
    """The JSON object a tool printed with --json (its last JSON line on stdout)."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                return obj
    raise PtnetError(f"no --json report in the tool's output: {stdout[-300:]!r}")


def receiver_mpps(run: dict[str, Any]) -> float:
    """The figure of one run: the receiver's rate in Mpps.

    `run` is what the guest saved: {"rx": stdout, "tx": stdout, "rx_rc", "tx_rc", ...}.
    """
    if run.get("error"):
        raise PtnetError(f"run failed in the guest: {run['error']}")
    rx = tool_report(run["rx"])
    if rx.get("role") != "rx":
        raise PtnetError(f"expected the receiver's report, got role {rx.get('role')!r}")
    if not rx.get("packets"):
        detail = (run.get("rx_err") or "").strip()[-300:]
        raise PtnetError(f"the receiver got no packets; its stderr: {detail!r}")
    return float(rx["pps"]) / 1e6


def scenarios_of(raw: dict[str, list[dict[str, Any]]]) -> dict[str, harness.Scenario]:
    """One Scenario (metric mpps) per scenario of the raw guest results."""
    out: dict[str, harness.Scenario] = {}
    for name in SCENARIOS:
        runs = raw.get(name) or []
        if not runs:
            raise PtnetError(f"no runs of scenario {name} in the guest's results")
        s = harness.Scenario("mpps")
        for run in runs:
            s.runs.append(round(receiver_mpps(run), 4))
        tx = [tool_report(r["tx"]) for r in runs if r.get("tx")]
        s.extra["tx_mpps"] = [round(float(t.get("pps", 0)) / 1e6, 4) for t in tx]
        out[name] = s
    return out


def result(raw: dict[str, Any], env: dict[str, Any] | None = None) -> dict[str, Any]:
    """The bench's JSON object from the guest's raw results."""
    return harness.report(
        BENCH, scenarios_of(raw), RATIOS, env={**raw.get("env", {}), **(env or {})}
    )


def guest_command(
    python: str, out: Path, runs: int, seconds: float, tools: dict[str, Path]
) -> list[str]:
    return [
        python, "-m", "ptnet.bench.pipe_guest",
        "--out", str(out), "--runs", str(runs), "--seconds", str(seconds),
        "--pkt-gen", str(tools["pkt-gen"]), "--afpacket-gen", str(tools["afpacket-gen"]),
    ]  # fmt: skip


def run(kernel: Any, runs: int = 3, seconds: float = 3.0) -> dict[str, Any]:
    """Boot the lab once (-smp 2, netmap.ko) and run every scenario `runs` times."""
    from ptnet.build import kbuild
    from ptnet.build.tools import build_tools, tool_path
    from ptnet.lab import modules, runner

    build_tools()  # incremental: a no-op when they are up to date
    tools = {name: Path(tool_path(name)) for name in ("pkt-gen", "afpacket-gen")}
    kbuild.build_modules(kernel)
    budget = 60 + len(SCENARIOS) * runs * (seconds + RX_IDLE_S + 10)
    with tempfile.TemporaryDirectory(prefix="ptnet-bench-pipe-") as tmp:
        out = Path(tmp) / RAW_NAME
        spec = runner.LabSpec(
            kernel=kernel,
            command=guest_command(sys.executable, out, runs, seconds, tools),
            modules=[modules.resolve(kernel, "netmap")],
            smp=2,
            timeout=budget,
            rw_dirs=[Path(tmp)],
            cwd=Path(tmp),
        )
        # Everything the guest prints is progress: keep stdout for the JSON.
        lab = runner.run(spec, output=sys.stderr.buffer)
        if lab.exit_code != 0 or not out.is_file():
            raise PtnetError(
                f"the benchmark failed in the lab (exit code {lab.exit_code}); "
                f"console: {lab.console_log}"
            )
        raw = json.loads(out.read_text())
    cpus = raw.get("env", {}).get("guest_cpus")
    if cpus is not None and cpus < 2:
        host.log(f"warning: the guest saw {cpus} CPU; sender and receiver shared it")
    env = {
        "kernel": kernel.release,
        "accel": lab.accel,
        "smp": 2,
        "runs": runs,
        "seconds_per_run": seconds,
        "frame_len": FRAME_LEN,
    }
    return result(raw, env)
