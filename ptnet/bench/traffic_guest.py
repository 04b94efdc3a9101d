"""The in-guest half of the traffic benchmarks: execute a plan, save the tools' raw outputs.

    python -m ptnet.bench.traffic_guest PLAN.json OUT.json

A receiver runs here, or in a nested guest (a scenario with a `nested_nic`): that guest boots
once, before the first run, and runs the receiver once per run while the sender runs here.
Nothing is parsed here (ptnet.bench.traffic does that on the host); progress goes to stderr.
"""

import contextlib
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Protocol

from ptnet.bench.traffic import RX_IDLE_S, Scenario, plan_from_json, scenario_mpps
from ptnet.errors import PtnetError

RX_START_S = 0.5  # head start of the receiver, so it is bound before the first frame
NESTED_BOOT_S = 900.0  # TCG inside TCG, on a busy host
NESTED_RX_S = 120.0  # a nested receiver's report, after its sender ended
# The nested guest's NIC: its only interface besides lo.
FIND_IF = 'IF=$(ls /sys/class/net | grep -vx lo | head -n 1); ip link set "$IF" up'


def log(msg: str) -> None:
    print(f"bench guest: {msg}", file=sys.stderr, flush=True)


class Receiver(Protocol):
    def start(self) -> None:
        """Return once the receiver is ready for the first frame."""

    def finish(self, timeout: float) -> dict[str, Any]:
        """Wait for the receiver's end: {"rx": stdout, "rx_err": ..., "rx_rc": code}."""

    def close(self) -> None:
        """Stop a receiver still running after a failed run."""


class LocalReceiver:
    """The receiver as a process of this guest, started anew for each run."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        time.sleep(RX_START_S)

    def finish(self, timeout: float) -> dict[str, Any]:
        assert self.proc is not None
        out, err = self.proc.communicate(timeout=timeout)
        return {"rx": out, "rx_err": err[-2000:], "rx_rc": self.proc.returncode}

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _sh_argv(argv: list[str]) -> str:
    """argv as one shell line, with $IF left for the shell to expand."""
    return " ".join(shlex.quote(a).replace("$IF", "'\"$IF\"'") for a in argv)


class NestedReceiver:
    """A nested guest (booted once) running the receiver `runs` times, one run per start()."""

    def __init__(self, sc: Scenario, runs: int, stack: contextlib.ExitStack) -> None:
        from ptnet.build import kbuild, qemu
        from ptnet.build.tools import tool_path
        from ptnet.lab import nested

        assert sc.rx is not None
        kernel = nested.default_kernel()
        script = (
            f"{FIND_IF}\ni=0\nwhile [ $i -lt {runs} ]; do\n\ti=$((i + 1))\n"
            f"\t{_sh_argv(sc.rx)} -v\n\techo rx-exit $?\ndone\n"
        )
        self.guest = stack.enter_context(
            nested.NestedGuest(
                qemu=qemu.binary_path(),
                modules=[kbuild.module_path(kernel, m) for m in ("netmap", "ptnet_guest")],
                kmods=["virtio_pci", "virtio_net"],
                tools=[tool_path(sc.rx[0])],
                qemu_args=[*qemu.firmware_args(), *sc.nested_nic],
                append="ipv6.disable=1",
                command=["sh", "-c", script],
            )
        )
        self.runs_started = 0

    def _wait_count(self, text: str, count: int, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while (out := self.guest.output()).count(text) < count:
            if self.guest.proc.poll() is not None:
                qemu_log = (self.guest.workdir / "qemu.log").read_text(errors="replace")
                raise PtnetError(
                    f"the nested receiver's QEMU exited ({qemu_log.strip()[-300:]!r}); "
                    f"its output: {out[-500:]!r}"
                )
            if time.monotonic() > deadline:
                raise PtnetError(
                    f"the nested receiver did not print {text!r} {count} times in {timeout:g} s "
                    f"(console: {self.guest.console_log}); its output: {out[-500:]!r}"
                )
            time.sleep(0.2)
        return out

    def boot(self) -> None:
        self._wait_count(" bound ", 1, NESTED_BOOT_S)

    def start(self) -> None:
        self.runs_started += 1
        self._wait_count(" bound ", self.runs_started, NESTED_BOOT_S)

    def finish(self, timeout: float) -> dict[str, Any]:
        out = self._wait_count("rx-exit ", self.runs_started, timeout + NESTED_RX_S)
        reports = [ln for ln in out.splitlines() if ln.startswith("{")]
        codes = [ln.split()[1] for ln in out.splitlines() if ln.startswith("rx-exit ")]
        report = reports[self.runs_started - 1] if len(reports) >= self.runs_started else ""
        rc = codes[self.runs_started - 1]
        return {"rx": report, "rx_err": out[-2000:], "rx_rc": int(rc) if rc.isdigit() else -1}

    def close(self) -> None:
        """The guest stays up for the next run; the ExitStack stops it at the end."""


def one_run(sc: Scenario, rx: Receiver | None, seconds: float) -> dict[str, Any]:
    """Run the receiver (if any) and the sender once; return both outputs and exit codes."""
    out: dict[str, Any] = {"tx_argv": sc.tx, "rx_argv": sc.rx}
    try:
        if rx is not None:
            rx.start()
        tx = subprocess.run(sc.tx, capture_output=True, text=True, timeout=seconds + 30)
        out.update(tx=tx.stdout, tx_err=tx.stderr[-2000:], tx_rc=tx.returncode)
        if rx is not None:
            out.update(rx.finish(RX_IDLE_S + 30))
    except subprocess.TimeoutExpired as e:
        out["error"] = f"timed out: {e.cmd}"
    except PtnetError as e:
        out["error"] = str(e)
    finally:
        if rx is not None:
            rx.close()
    return out


def load_netmap(path: str) -> None:
    """Replace the loaded netmap.ko with the one at `path`."""
    for cmd in (["rmmod", "netmap"], ["insmod", path]):
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise PtnetError(f"{' '.join(cmd)} failed: {r.stderr.strip()}")


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
    with contextlib.ExitStack() as stack:
        receivers: dict[str, Receiver | None] = {}
        for sc in plan.scenarios:
            raw[sc.name] = []
            if sc.rx is None:
                receivers[sc.name] = None
            elif sc.nested_nic:
                log(f"booting the nested guest of {sc.name}")
                receivers[sc.name] = NestedReceiver(sc, plan.runs, stack)
            else:
                receivers[sc.name] = LocalReceiver(sc.rx)
        for sc in plan.scenarios:
            rx = receivers[sc.name]
            if isinstance(rx, NestedReceiver):
                try:
                    rx.boot()
                except PtnetError as e:
                    log(f"{sc.name}: {e}")
                    return 1
                log(f"{sc.name}: the nested guest is up, its receiver bound")
        loaded: str | None = None  # the module loaded at boot, until a scenario names one
        for i in range(plan.runs):
            for sc in plan.scenarios:
                if sc.module is not None and sc.module != loaded:
                    try:
                        load_netmap(sc.module)
                    except PtnetError as e:
                        log(f"{sc.name}: {e}")
                        return 1
                    loaded = sc.module
                    log(f"loaded {sc.module}")
                run = one_run(sc, receivers[sc.name], plan.seconds)
                try:
                    figure = f"mpps={scenario_mpps(run, sc):.4f}"
                except PtnetError as e:
                    figure = f"failed: {e}"
                log(f"{sc.name} run {i + 1}/{plan.runs}: {figure}")
                raw[sc.name].append(run)
    Path(argv[1]).write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
