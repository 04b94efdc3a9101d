"""Nested guests: a VM started from inside the lab VM, with a QEMU binary of our choosing.

Tests that run inside the lab (the "lab host") use this to boot the lab's own Debian kernel once
more, under a given QEMU (Debian's, or one from `ptnet build qemu`), with extra QEMU arguments
(netdevs, devices), and run one shell command in it:

    from ptnet.lab import nested

    result = nested.run(
        qemu=qemu_path,
        kmods=["virtio_pci", "virtio_net"],      # Debian modules of the kernel, with their deps
        modules=[netmap_ko],                     # our .ko files, loaded after those
        tools=[tool_path("afpacket-gen")],       # static programs, copied into /bin
        qemu_args=["-netdev", "...", "-device", "..."],
        command=["sh", "-c", "ip link set eth0 up && afpacket-gen -i eth0 -f tx -n 100"],
        timeout=300,
    )
    result.exit_code, result.output

TCG inside TCG is about 30 times slower than the lab itself, so the nested guest is as small as
it gets: one CPU, little memory, PVH boot of the uncompressed vmlinux, and an initramfs with
busybox, a tiny init (nested_init.sh), the modules and the tools; no root filesystem. The command's
stdout and stderr go to a second serial port, the console and init's reports to the first one;
both are files (`-serial file:`), which also lets a test watch the output while the guest runs
(NestedGuest.wait_for) to start its own side of a conversation at the right moment.

Files built on the host (QEMU, modules, tools, the kernel) are visible at the same paths inside
the lab, which sees the host's root read-only; the run's own files go to a fresh directory under
/tmp (the lab's private tmpfs) unless `workdir` is given.
"""

import os
import re
import shlex
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any

from ptnet import host
from ptnet.errors import PtnetError, UsageError
from ptnet.lab import accel, initramfs
from ptnet.lab import kernel as lab_kernel
from ptnet.lab.runner import TIMEOUT_EXIT
from ptnet.plan.lab import nested_argv

_REPORT = re.compile(rb"^ptnet-nested: (start|exit|modfail) ?(.*)$", re.MULTILINE)


@dataclass
class NestedResult:
    exit_code: int  # the command's, or TIMEOUT_EXIT (124) when the guest was killed
    output: str  # the command's stdout and stderr
    boot_seconds: float | None  # from QEMU's start to the command's start
    wall_seconds: float
    workdir: Path  # console.log, output.log, qemu.log, qemu.argv, initrd.cpio


def default_kernel() -> lab_kernel.Kernel:
    """The kernel the lab runs (PTNET_LAB_KERNEL inside the lab), else the default one."""
    return lab_kernel.find(os.environ.get("PTNET_LAB_KERNEL"))


def build_initramfs(
    kernel: lab_kernel.Kernel,
    dest: Path,
    *,
    command: Sequence[str],
    kmods: Sequence[str] = (),
    modules: Sequence[Path] = (),
    tools: Sequence[Path] = (),
    files: Mapping[str, bytes] | None = None,
) -> Path:
    """Write the nested guest's initramfs to `dest`.

    kmods are module names of `kernel` (loaded with their dependencies, in order), modules are
    .ko files (loaded after them, in the order given), tools are copied into /bin, and files
    maps initramfs paths to contents (mode 0755).
    """
    busybox = Path(host.require("busybox", "busybox-static"))
    cpio = initramfs.Cpio()
    made = ["bin", "dev", "proc", "sys", "lib", "lib/modules", "tmp", "run"]
    for d in made:
        cpio.dir(d)
    cpio.file("bin/busybox", busybox.read_bytes(), 0o755)
    cpio.symlink("bin/sh", "busybox")
    init = resources.files("ptnet.lab").joinpath("nested_init.sh").read_bytes()
    cpio.file("init", init, 0o755)
    load: list[str] = []
    for rel in initramfs._module_closure(kernel, tuple(kmods)):
        name = f"lib/modules/{Path(rel).name.split('.ko')[0]}.ko"
        cpio.file(name, initramfs._read_module(kernel.modules_dir / rel))
        load.append(name)
    for ko in modules:
        if not ko.is_file():
            raise UsageError(f"nested guest module {ko}: no such file")
        name = f"lib/modules/{ko.name}"
        cpio.file(name, ko.read_bytes())
        load.append(name)
    for tool in tools:
        if not tool.is_file():
            raise UsageError(f"nested guest tool {tool}: no such file")
        cpio.file(f"bin/{tool.name}", tool.read_bytes(), 0o755)
    cpio.file("nested.conf", f"MODULES={shlex.quote(' '.join(load))}\n".encode())
    cpio.file("cmd.sh", f"exec {shlex.join(command)}\n".encode(), 0o755)
    for name, data in (files or {}).items():
        rel = Path(name.lstrip("/"))
        for parent in reversed(rel.parents[:-1]):
            if str(parent) not in made:
                cpio.dir(str(parent))
                made.append(str(parent))
        cpio.file(str(rel), data, 0o755)
    dest.write_bytes(cpio.finish())
    return dest


class NestedGuest:
    """A running nested guest. Use as a context manager: leaving it kills a guest still running."""

    def __init__(
        self,
        *,
        qemu: Path,
        command: Sequence[str],
        kernel: lab_kernel.Kernel | None = None,
        kmods: Sequence[str] = (),
        modules: Sequence[Path] = (),
        tools: Sequence[Path] = (),
        files: Mapping[str, bytes] | None = None,
        qemu_args: Sequence[str] = (),
        mem_mb: int = 256,
        append: str = "",
        workdir: Path | None = None,
    ) -> None:
        if not command:
            raise UsageError("the nested guest needs a command")
        if not Path(qemu).is_file():
            raise UsageError(f"QEMU binary {qemu}: no such file")
        kernel = kernel or default_kernel()
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="ptnet-nested-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.console_log = self.workdir / "console.log"
        self.output_log = self.workdir / "output.log"
        for f in (self.console_log, self.output_log):
            f.write_bytes(b"")
        initrd = build_initramfs(
            kernel,
            self.workdir / "initrd.cpio",
            command=command,
            kmods=kmods,
            modules=modules,
            tools=tools,
            files=files,
        )
        self.argv = nested_argv(
            str(qemu),
            mem_mb,
            str(kernel.vmlinux),
            str(initrd),
            str(self.console_log),
            str(self.output_log),
            append.split(),
            qemu_args,
            accel.known(str(qemu), kernel) or "tcg",
        )
        (self.workdir / "qemu.argv").write_text(shlex.join(self.argv) + "\n")
        self._qemu_log = (self.workdir / "qemu.log").open("wb")
        self.start = time.monotonic()
        self.proc = subprocess.Popen(
            # QEMU dies with the thread that started it, even when that is killed outright.
            [host.require("setpriv", "util-linux"), "--pdeathsig", "KILL", "--", *self.argv],
            stdin=subprocess.DEVNULL,
            stdout=self._qemu_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def __enter__(self) -> "NestedGuest":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._qemu_log.close()

    def output(self) -> str:
        """The command's output so far (the serial line's CR LF turned back into LF)."""
        return self.output_log.read_bytes().replace(b"\r\n", b"\n").decode(errors="replace")

    def _reports(self) -> list[tuple[str, str]]:
        return [
            (m.group(1).decode(), m.group(2).decode(errors="replace").strip())
            for m in _REPORT.finditer(self.console_log.read_bytes().replace(b"\r", b""))
        ]

    def _check_alive(self) -> None:
        for kind, detail in self._reports():
            if kind == "modfail":
                raise PtnetError(f"nested guest: module failed to load: {detail}")
        if self.proc.poll() is not None:
            raise PtnetError(f"nested QEMU exited with code {self.proc.returncode}: {self._why()}")

    def _why(self) -> str:
        qemu_log = (self.workdir / "qemu.log").read_text(errors="replace").strip().splitlines()
        detail = qemu_log[-1] if qemu_log else "no message"
        return f"{detail} (console: {self.console_log})"

    def wait_for(self, text: str, timeout: float) -> None:
        """Return once the command's output contains `text`; PtnetError when it does not."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if not any(kind == "exit" for kind, _ in self._reports()):
                self._check_alive()
            else:
                raise PtnetError(f"the nested command ended without printing {text!r}")
            if time.monotonic() > deadline:
                raise PtnetError(
                    f"no {text!r} from the nested guest after {timeout:g} s "
                    f"(console: {self.console_log})"
                )
            time.sleep(0.2)

    def wait(self, timeout: float) -> NestedResult:
        """Wait for the guest to power off; the command's exit code (124: timed out, killed)."""
        deadline = self.start + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        timed_out = self.proc.poll() is None
        self.kill()
        wall = time.monotonic() - self.start
        code, boot = None, None
        for kind, detail in self._reports():
            if kind == "modfail":
                raise PtnetError(f"nested guest: module failed to load: {detail}")
            if kind == "start" and re.fullmatch(r"[0-9.]+", detail):
                boot = float(detail)  # the guest's uptime: PVH starts the kernel at once
            if kind == "exit" and detail.isdigit():
                code = int(detail)
        if timed_out:
            code = TIMEOUT_EXIT
        elif code is None:
            raise PtnetError(f"the nested guest stopped before its command ended: {self._why()}")
        return NestedResult(code, self.output(), boot, wall, self.workdir)


def run(*, timeout: float = 600.0, **kwargs: Any) -> NestedResult:
    """Boot a nested guest (NestedGuest's arguments), run its command, return the result."""
    with NestedGuest(**kwargs) as guest:
        return guest.wait(timeout)
