"""The module's parameters under /sys/module/netmap/parameters: leak counters and pool sizes."""

import time
from pathlib import Path

PARAMS = Path("/sys/module/netmap/parameters")

# Objects the module currently holds; each is 0 when nothing uses netmap.
LEAK_COUNTERS = (
    "priv_count",
    "port_count",
    "mem_count",
    "if_in_use",
    "ring_in_use",
    "buf_in_use",
    "csb_count",  # descriptors in CSB mode (pinned user pages)
    "extmem_pages",  # user pages pinned by EXTMEM regions
    "kloop_count",  # running sync kloops
)
# Pool sizes, as in upstream netmap.
SIZE_PARAMS = ("buf_num", "buf_size", "ring_num", "ring_size", "if_num", "if_size")


def loaded() -> bool:
    return PARAMS.is_dir()


def read(name: str) -> int | None:
    """A parameter's value, or None when the module does not expose it."""
    try:
        return int((PARAMS / name).read_text().split()[0])
    except FileNotFoundError:
        return None


def snapshot() -> dict[str, int]:
    """The leak counters the module exposes, by name."""
    out = {}
    for name in LEAK_COUNTERS:
        v = read(name)
        if v is not None:
            out[name] = v
    return out


def wait_idle(idle: dict[str, int], timeout: float = 3.0) -> dict[str, int]:
    """Wait until every counter equals its idle value; return the last snapshot.

    Releases that the kernel defers (an fput after a killed process, an RCU grace period)
    get `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        now = snapshot()
        if all(now.get(k) == v for k, v in idle.items()) or time.monotonic() > deadline:
            return now
        time.sleep(0.02)
