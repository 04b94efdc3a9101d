"""Our QEMU (ptnet-pci, netmap passthrough) in ptnet's own prefix, never over the
distribution's: /opt/ptnet/qemu/bin/qemu-system-x86_64. It finds its firmware in Debian's
directories (ptnet.build.qemu.FIRMWARE_PATH is compiled in), so it needs nothing beside it."""

from pathlib import Path

from ptnet import host
from ptnet.build import qemu as qemu_build
from ptnet.errors import UsageError

PTNET_PREFIX = Path("/opt/ptnet")
PREFIX = PTNET_PREFIX / "qemu"
BINARY = PREFIX / "bin" / qemu_build.BINARY


def installed() -> Path | None:
    return BINARY if BINARY.is_file() else None


def install() -> Path:
    """Copy our QEMU (built first if it is not) into the prefix; return its path there."""
    try:
        built = qemu_build.binary_path()
    except UsageError:  # not built yet
        built = qemu_build.build()
    host.run(host.as_root(["install", "-D", "-m", "0755", str(built), str(BINARY)]))
    return BINARY


def version(binary: Path) -> str:
    out = host.run([str(binary), "--version"], capture=True, quiet=True).stdout
    first = out.strip().splitlines()[0] if out.strip() else "unknown"
    return first.removeprefix("QEMU emulator version ").strip()
