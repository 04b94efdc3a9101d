"""The lab's initramfs: busybox, our init, and the few modules needed to reach the host's root.

The base archive is built once per kernel and cached; each run appends a small second archive with
its own /run.conf and /cmd.sh (the kernel unpacks concatenated cpio archives in order).
"""

import hashlib
import io
import lzma
import os
import shutil
import stat
import subprocess
from importlib import resources
from pathlib import Path

from ptnet import host, paths
from ptnet.errors import PtnetError
from ptnet.lab.kernel import Kernel

# What init needs before it can mount the host over 9p and talk on virtio-serial ports.
BOOT_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "virtio_console", "overlay")
BUSYBOX_APPLETS = (
    "sh", "mount", "insmod", "cat", "echo", "mkdir", "cp", "sleep", "sync", "reboot", "chmod",
    "ip", "hostname", "env", "chroot",
)  # fmt: skip


class Cpio:
    """A writer for the newc cpio format the kernel unpacks."""

    def __init__(self) -> None:
        self._buf = io.BytesIO()
        self._ino = 1

    def _entry(self, name: str, mode: int, data: bytes = b"") -> None:
        encoded = name.encode() + b"\0"
        fields = [self._ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0]
        self._ino += 1
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        self._buf.write(header + encoded)
        self._pad()
        self._buf.write(data)
        self._pad()

    def _pad(self) -> None:
        self._buf.write(b"\0" * (-self._buf.tell() % 4))

    def dir(self, name: str) -> None:
        self._entry(name, stat.S_IFDIR | 0o755)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        self._buf.write(b"\0" * (-self._buf.tell() % 512))
        return self._buf.getvalue()


def _module_closure(kernel: Kernel, names: tuple[str, ...]) -> list[str]:
    """Module paths (relative to modules_dir) for `names` and their dependencies, in load order."""
    deps: dict[str, list[str]] = {}
    for line in (kernel.modules_dir / "modules.dep").read_text().splitlines():
        mod, _, rest = line.partition(":")
        deps[mod] = rest.split()
    by_name = {Path(m).name.split(".ko")[0].replace("-", "_"): m for m in deps}
    order: list[str] = []

    def visit(mod: str) -> None:
        for dep in deps[mod]:
            visit(dep)
        if mod not in order:
            order.append(mod)

    for name in names:
        if name in by_name:
            visit(by_name[name])
        elif not _builtin(kernel, name):
            raise PtnetError(f"kernel {kernel.release} has no module {name}")
    return order


def _builtin(kernel: Kernel, name: str) -> bool:
    builtin = (kernel.modules_dir / "modules.builtin").read_text()
    return any(
        Path(line).name.split(".ko")[0].replace("-", "_") == name for line in builtin.split()
    )


def _read_module(path: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".xz":
        return lzma.decompress(data)
    if path.suffix == ".zst":
        zstd = host.require("zstd", "zstd")
        return subprocess.run(
            [zstd, "-dc", "-q", str(path)], capture_output=True, check=True
        ).stdout
    return data


def _init_script() -> bytes:
    return resources.files("ptnet.lab").joinpath("init.sh").read_bytes()


def base(kernel: Kernel) -> tuple[Path, list[str]]:
    """The cached base archive for `kernel` and the boot module paths it holds, in load order."""
    busybox = Path(host.require("busybox", "busybox-static"))
    modules = _module_closure(kernel, BOOT_MODULES)
    init = _init_script()
    key = hashlib.sha256()
    for part in (busybox.read_bytes(), init, "\n".join(modules).encode()):
        key.update(part)
    out = paths.cache_dir() / "initramfs" / f"{kernel.release}-{key.hexdigest()[:16]}.cpio"
    boot_paths = [f"lib/boot/{Path(m).name.split('.ko')[0]}.ko" for m in modules]
    if out.is_file():
        return out, boot_paths
    cpio = Cpio()
    for d in ("bin", "dev", "proc", "sys", "host", "lib", "lib/boot"):
        cpio.dir(d)
    cpio.file("bin/busybox", busybox.read_bytes(), 0o755)
    for applet in BUSYBOX_APPLETS:
        cpio.symlink(f"bin/{applet}", "busybox")
    cpio.file("init", init, 0o755)
    for rel, dest in zip(modules, boot_paths, strict=True):
        cpio.file(dest, _read_module(kernel.modules_dir / rel))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(cpio.finish())
    tmp.rename(out)
    return out, boot_paths


def with_payload(base_archive: Path, files: dict[str, bytes], dest: Path) -> Path:
    """Write base + a second archive holding `files` (name -> content) to `dest`."""
    extra = Cpio()
    for name, data in files.items():
        extra.file(name, data, 0o755)
    with dest.open("wb") as f, base_archive.open("rb") as src:
        shutil.copyfileobj(src, f)
        f.write(extra.finish())
    return dest
