"""The processes that hold /dev/netmap open, found through /proc/*/fd."""

import os
from dataclasses import dataclass
from pathlib import Path

DEVICE = "/dev/netmap"


@dataclass(frozen=True)
class Holder:
    pid: int
    command: str

    def __str__(self) -> str:
        return f"{self.pid} ({self.command})"


def holders(device: str = DEVICE, proc: Path = Path("/proc")) -> list[Holder]:
    """Every process with a descriptor on `device`, by pid. Processes that end while we look,
    or whose descriptors we may not read, are skipped."""
    found: list[Holder] = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target == device:
                try:
                    command = (entry / "comm").read_text().strip()
                except OSError:
                    command = "?"
                found.append(Holder(int(entry.name), command))
                break
    return sorted(found, key=lambda h: h.pid)
