"""Health checks for `ptnet doctor`: what this machine has, and what is missing for what."""

import importlib.util
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from ptnet.lab import accel, kernel


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    required: bool
    detail: str

    @property
    def status(self) -> str:
        if self.ok:
            return "ok"
        return "MISSING" if self.required else "absent"


def _version(argv: list[str], pattern: str) -> str | None:
    if not shutil.which(argv[0]):
        return None
    out = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
    m = re.search(pattern, out)
    return m.group(1) if m else out.strip().splitlines()[0] if out.strip() else "unknown"


def _program(
    name: str, package: str, required: bool, version_re: str, flag: str = "--version"
) -> Check:
    ver = _version([name, flag] if flag else [name], version_re)
    if ver is None:
        return Check(name, False, required, f"apt-get install {package}")
    return Check(name, True, required, ver)


def _qemu() -> Check:
    ver = _version(["qemu-system-x86_64", "--version"], r"version (\S+)")
    if ver is None:
        return Check("qemu", False, True, "apt-get install qemu-system-x86")
    return Check("qemu", True, True, f"qemu-system-x86_64 {ver}")


def kvm() -> Check:
    if not accel.kvm_device_usable():
        return Check("kvm", False, False, "/dev/kvm not usable; the lab uses TCG")
    verdicts = set(accel.probed_verdicts().values())
    if verdicts == {"tcg"}:
        return Check("kvm", False, False, "/dev/kvm opens but cannot boot the lab kernel; TCG")
    if "kvm" in verdicts:
        return Check("kvm", True, False, "boots the lab kernel")
    return Check("kvm", True, False, "/dev/kvm opens; the first lab run probes it")


def _kernels() -> list[Check]:
    cached = kernel.cached()
    if not cached:
        return [Check("lab kernel", False, True, "none cached; run: ptnet kernel fetch")]
    return [
        Check(
            f"kernel {k.release}",
            k.headers_installed,
            True,
            f"{k.series}; headers {'extracted' if k.headers_installed else 'missing'}",
        )
        for k in cached
    ]


def _host_install() -> list[Check]:
    """netmap.ko, DKMS, /dev/netmap and our QEMU on this host (`ptnet host status`)."""
    from ptnet.install import status

    return status.checks()


def libvirtd() -> Check:
    path = shutil.which("libvirtd")
    if path is None:
        return Check("libvirtd", False, False, "apt-get install libvirt-daemon-system")
    running = subprocess.run(["pgrep", "-x", "libvirtd"], capture_output=True, check=False)
    return Check("libvirtd", True, False, "running" if running.returncode == 0 else "not running")


def _python_module(module: str, package: str) -> Check:
    found = importlib.util.find_spec(module) is not None
    return Check(
        f"python {module}", found, False, "importable" if found else f"pip install {package}"
    )


CHECKS: list[Callable[[], Check | list[Check]]] = [
    _qemu,
    kvm,
    lambda: _program("busybox", "busybox-static", True, r"BusyBox (v\S+)", flag=""),
    _kernels,
    lambda: _program("gcc-12", "gcc-12", True, r"\) (\S+)"),
    lambda: _program("make", "make", True, r"Make (\S+)"),
    lambda: _program("depmod", "kmod", True, r"kmod version (\S+)"),
    lambda: _program("dpkg-deb", "dpkg", True, r"version (\S+)"),
    lambda: _program("pahole", "dwarves", False, r"v?(\S+)"),
    # the trixie chroot that the 7.x modules build in
    lambda: _program("debootstrap", "debootstrap", False, r"debootstrap (\S+)"),
    _host_install,
    libvirtd,
    lambda: _python_module("qemu.qmp", "qemu.qmp"),
    lambda: _python_module("libvirt", "libvirt-python"),
    lambda: _python_module("paramiko", "paramiko"),
]


def run_checks() -> list[Check]:
    results: list[Check] = []
    for check in CHECKS:
        got = check()
        results.extend(got if isinstance(got, list) else [got])
    return results
