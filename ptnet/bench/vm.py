"""`ptnet bench vm`: how long `ptnet vm up` takes to a ready guest, and `ptnet --help` latency.

up_to_ready is measured from QEMU's start to the pinned SSH answering (the record's
ready_seconds); up_total is the whole `up` call (image check and planning included). Each run
uses a fresh VM of the default image that is taken down again.
"""

import os
import subprocess
import sys
import time
from typing import Any

from ptnet.bench import harness
from ptnet.errors import PtnetError

HELP_TARGET_MS = 200.0


def help_latency_ms() -> float:
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "ptnet", "--help"], capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise PtnetError("ptnet --help failed")
    return (time.monotonic() - start) * 1000


def run(boots: int, helps: int, backend: str = "qemu") -> dict[str, Any]:
    from ptnet.model.vm import VmSpec
    from ptnet.vm import lifecycle as backends

    name = f"bench-vm-{os.getpid()}"
    spec = VmSpec(name=name, backend=backend)
    ready: list[float] = []
    accels: set[str] = set()

    def once() -> float:
        start = time.monotonic()
        try:
            record, _ = backends.up(spec)
            total = time.monotonic() - start
            assert record.ready_seconds is not None
            ready.append(round(record.ready_seconds, 4))
            accels.add(record.accel)
        finally:
            backends.down(name)
        return total

    total = harness.repeat("up (total)", boots, once, "median_s")
    help_ms = harness.repeat("ptnet --help", helps, help_latency_ms, "median_ms")
    help_ms.extra["target_ms"] = HELP_TARGET_MS
    help_ms.extra["under_target"] = help_ms.median < HELP_TARGET_MS
    load = os.getloadavg()[0]
    return harness.report(
        "vm",
        {
            "up_to_ready": harness.Scenario("median_s", ready),
            "up_total": total,
            "help_latency": help_ms,
        },
        env={"backend": backend, "accel": ",".join(sorted(accels)), "loadavg_1m": load},
    )
