"""The in-guest half of the traffic benchmarks: execute a plan, save the tools' raw outputs.

    python -m ptnet.bench.traffic_guest PLAN.json OUT.json

Nothing is parsed here (ptnet.bench.traffic does that on the host); progress goes to stderr.
"""

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ptnet.bench.traffic import RX_IDLE_S, Scenario, plan_from_json, run_mpps
from ptnet.errors import PtnetError

RX_START_S = 0.5  # head start of the receiver, so it is bound before the first frame


def log(msg: str) -> None:
    print(f"bench guest: {msg}", file=sys.stderr, flush=True)


def one_run(sc: Scenario, seconds: float) -> dict[str, Any]:
    """Run the receiver (if any) and the sender once; return both outputs and exit codes."""
    out: dict[str, Any] = {"tx_argv": sc.tx, "rx_argv": sc.rx}
    rx = None
    if sc.rx is not None:
        rx = subprocess.Popen(sc.rx, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(RX_START_S)
    try:
        tx = subprocess.run(sc.tx, capture_output=True, text=True, timeout=seconds + 30)
        out.update(tx=tx.stdout, tx_err=tx.stderr[-2000:], tx_rc=tx.returncode)
        if rx is not None:
            rx_out, rx_err = rx.communicate(timeout=RX_IDLE_S + 30)
            out.update(rx=rx_out, rx_err=rx_err[-2000:], rx_rc=rx.returncode)
    except subprocess.TimeoutExpired as e:
        out["error"] = f"timed out: {e.cmd}"
    finally:
        if rx is not None and rx.poll() is None:
            rx.kill()
            rx.wait()
    return out


def main(argv: list[str]) -> int:
    plan = plan_from_json(json.loads(Path(argv[0]).read_text()))
    for cmd in plan.setup:
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            log(f"setup step {' '.join(cmd)} failed: {r.stderr.strip()}")
            return 1
    raw: dict[str, Any] = {
        "env": {"guest_kernel": platform.release(), "guest_cpus": os.cpu_count()}
    }
    # Runs are interleaved (A B C, A B C, ...), so that a change of load on the host during
    # the benchmark weighs on every scenario alike and the ratios stay fair.
    for sc in plan.scenarios:
        raw[sc.name] = []
    for i in range(plan.runs):
        for sc in plan.scenarios:
            run = one_run(sc, plan.seconds)
            try:
                figure = f"mpps={run_mpps(run, sc.measured):.4f}"
            except PtnetError as e:
                figure = f"failed: {e}"
            log(f"{sc.name} run {i + 1}/{plan.runs}: {figure}")
            raw[sc.name].append(run)
    Path(argv[1]).write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
