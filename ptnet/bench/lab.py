"""`ptnet bench lab`: how long the lab takes from QEMU start to the command, over many boots."""

from typing import Any

from ptnet.bench import harness
from ptnet.errors import PtnetError
from ptnet.lab import runner
from ptnet.lab.kernel import Kernel


def run(kernel: Kernel, boots: int) -> dict[str, Any]:
    walls: list[float] = []
    accels: set[str] = set()

    def once() -> float:
        result = runner.run(runner.LabSpec(kernel=kernel, command=["true"], timeout=60))
        if result.exit_code != 0 or result.boot_seconds is None:
            raise PtnetError(f"lab boot failed (console: {result.console_log})")
        walls.append(round(result.wall_seconds, 4))
        accels.add(result.accel)
        return result.boot_seconds

    boot = harness.repeat("boot-to-command", boots, once, "median_s")
    wall = harness.Scenario("median_s", walls)
    return harness.report(
        "lab",
        {"boot_to_command": boot, "boot_run_poweroff": wall},
        env={"kernel": kernel.release, "accel": ",".join(sorted(accels)), "boots": boots},
    )
