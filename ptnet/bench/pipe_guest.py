"""The in-guest half of `ptnet bench pipe`: run the tools, save their raw outputs as JSON.

    python -m ptnet.bench.pipe_guest --out FILE --runs N --seconds S --pkt-gen P --afpacket-gen A

Each run starts the receiver, then the sender for S seconds; the receiver stops once traffic has
been idle for a second. Nothing is parsed here (ptnet.bench.pipe does that on the host); progress
goes to stderr.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ptnet.bench.pipe import FRAME_LEN, PIPE_RX, PIPE_TX, RX_IDLE_S, VETH, receiver_mpps
from ptnet.errors import PtnetError

RX_START_S = 0.5  # head start of the receiver, so it is bound before the first frame
TX_CPU, RX_CPU = 0, 1


def log(msg: str) -> None:
    print(f"pipe_guest: {msg}", file=sys.stderr, flush=True)


def pair(tx_argv: list[str], rx_argv: list[str], seconds: float) -> dict[str, Any]:
    """Run one receiver and one sender; return both outputs and exit codes."""
    rx = subprocess.Popen(rx_argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(RX_START_S)
    out: dict[str, Any] = {"tx_argv": tx_argv, "rx_argv": rx_argv}
    try:
        tx = subprocess.run(
            tx_argv, capture_output=True, text=True, timeout=seconds + 30, check=False
        )
        out.update(tx=tx.stdout, tx_err=tx.stderr[-2000:], tx_rc=tx.returncode)
        rx_out, rx_err = rx.communicate(timeout=RX_IDLE_S + 30)
        out.update(rx=rx_out, rx_err=rx_err[-2000:], rx_rc=rx.returncode)
    except subprocess.TimeoutExpired as e:
        out["error"] = f"timed out: {e.cmd}"
    finally:
        if rx.poll() is None:
            rx.kill()
            rx.wait()
    return out


def runs_of(name: str, count: int, args: tuple[list[str], list[str]], seconds: float) -> list:
    runs = []
    for i in range(count):
        run = pair(*args, seconds)
        try:
            figure = f"mpps={receiver_mpps(run):.4f}"
        except PtnetError as e:
            figure = f"failed: {e}"
        log(f"{name} run {i + 1}/{count}: {figure}")
        runs.append(run)
    return runs


def tx_rx_args(
    tool: Path, tx_port: str, rx_port: str, seconds: float
) -> tuple[list[str], list[str]]:
    tx = [str(tool), "-i", tx_port, "-f", "tx", "-l", str(FRAME_LEN), "--timeout", f"{seconds:g}"]
    rx = [str(tool), "-i", rx_port, "-f", "rx", "--idle", f"{RX_IDLE_S:g}"]
    rx += ["--timeout", f"{seconds + 20:g}"]
    if (os.cpu_count() or 1) > 1:
        tx += ["-a", str(TX_CPU)]
        rx += ["-a", str(RX_CPU)]
    return tx + ["--json"], rx + ["--json"]


def setup_veth() -> None:
    a, b = VETH
    for argv in (
        ["modprobe", "veth"],
        ["ip", "link", "add", a, "type", "veth", "peer", "name", b],
        ["ip", "link", "set", a, "up"],
        ["ip", "link", "set", b, "up"],
    ):
        r = subprocess.run(argv, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise SystemExit(f"pipe_guest: {' '.join(argv)} failed: {r.stderr.strip()}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="pipe_guest")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--pkt-gen", type=Path, required=True)
    p.add_argument("--afpacket-gen", type=Path, required=True)
    a = p.parse_args(argv)

    raw: dict[str, Any] = {
        "env": {"guest_kernel": platform.release(), "guest_cpus": os.cpu_count()}
    }
    pipe_args = tx_rx_args(a.pkt_gen, PIPE_TX, PIPE_RX, a.seconds)
    raw["pipe"] = runs_of("pipe", a.runs, pipe_args, a.seconds)
    setup_veth()
    af_args = tx_rx_args(a.afpacket_gen, VETH[0], VETH[1], a.seconds)
    raw["afpacket"] = runs_of("afpacket", a.runs, af_args, a.seconds)
    a.out.write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
