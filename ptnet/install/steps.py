"""`ptnet host install` and `ptnet host uninstall`, step by step. Each step says what it does
(ptnet.host logs every command and file before it happens); refusals come before any change."""

import contextlib
import os
import platform
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ptnet import host
from ptnet.errors import PtnetError, UsageError
from ptnet.install import dkms, holders, libvirt_conf, modconf, preflight
from ptnet.install import qemu as qemu_prefix

MODULES = ("ptnet_guest", modconf.MODULE)  # unload order: the guest driver uses netmap.ko
SYS_MODULE = Path("/sys/module")
FORCE_WAIT = 5.0


@dataclass(frozen=True)
class InstallOptions:
    load: modconf.LoadOptions
    qemu: bool = True


def loaded(module: str = modconf.MODULE) -> bool:
    return (SYS_MODULE / module).is_dir()


def check_not_in_use(force: bool) -> None:
    """Refuse while processes hold /dev/netmap, naming them; with `force`, stop them."""
    users = holders.holders()
    if not users:
        return
    names = ", ".join(map(str, users))
    if not force:
        raise UsageError(
            f"netmap is in use by: {names}; stop them, or pass --force to stop them first"
        )
    host.log(f"stopping the processes that hold /dev/netmap: {names}")
    for h in users:
        _signal(h.pid, signal.SIGTERM)
    deadline = time.monotonic() + FORCE_WAIT
    while holders.holders() and time.monotonic() < deadline:
        time.sleep(0.1)
    for h in holders.holders():
        _signal(h.pid, signal.SIGKILL)


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def check_unreferenced(module: str, users: int = 0) -> None:
    """Refuse while the kernel holds `module` (beyond `users` references of modules we unload
    first): persistent VALE ports, a guest's passthrough."""
    refs = int((SYS_MODULE / module / "refcnt").read_text())
    if refs > users:
        raise PtnetError(
            f"{module} is still in use ({refs} references: persistent VALE ports, a guest's "
            "passthrough, or open descriptors); remove them and run this again"
        )


def unload() -> None:
    """Unload the guest driver and netmap.ko where they are loaded (by name: one loaded from a
    file, not by modprobe, goes too)."""
    for module in MODULES:
        if loaded(module):
            check_unreferenced(module)
            host.run(host.as_root([host.require("rmmod", "kmod"), module]))


def install(opts: InstallOptions) -> None:
    release = platform.release()
    preflight.check_kernel(release)
    preflight.headers_dir(release)
    preflight.check_secure_boot()
    host.require("dkms", "dkms")
    modprobe = host.require("modprobe", "kmod")
    if loaded():
        check_not_in_use(force=False)
        check_unreferenced(modconf.MODULE, users=int(loaded("ptnet_guest")))
    host.log(f"installing ptnet {dkms.version()} for kernel {release}")
    with tempfile.TemporaryDirectory(prefix="ptnet-dkms-") as tmp:
        staged = Path(tmp) / dkms.source_dir().name
        dkms.stage(staged)
        dkms.install(staged, release)
    host.write_file(modconf.MODPROBE_CONF, modconf.modprobe_conf(opts.load))
    host.write_file(modconf.MODULES_LOAD_CONF, modconf.modules_load_conf())
    host.write_file(modconf.UDEV_RULE, modconf.udev_rule(opts.load))
    _udev_reload()
    unload()
    host.run(host.as_root([modprobe, modconf.MODULE]))
    if opts.qemu:
        qemu_prefix.install()
    libvirt_conf.install()
    host.log("installed; `ptnet host status` shows the state, `ptnet host uninstall` undoes it")


def uninstall(force: bool) -> None:
    if loaded():
        check_not_in_use(force)
        unload()
    dkms.remove()
    libvirt_conf.uninstall()
    host.remove(
        [
            modconf.MODPROBE_CONF,
            modconf.MODULES_LOAD_CONF,
            modconf.UDEV_RULE,
            qemu_prefix.PTNET_PREFIX,
        ]
    )
    _udev_reload()
    host.log(
        "uninstalled: module, DKMS package, configuration (libvirt's too), udev rule, QEMU prefix"
    )


def _udev_reload() -> None:
    """Have a running udevd read the rules again (a host without udevd has none to tell)."""
    if Path("/run/udev/control").exists():
        host.run(host.as_root([host.require("udevadm", "udev"), "control", "--reload"]))
