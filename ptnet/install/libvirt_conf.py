"""libvirt's QEMU and /dev/netmap.

libvirt starts QEMU in a private /dev that holds only the devices qemu.conf's cgroup_device_acl
allows, so a libvirt domain with a netmap port fails with "Could not open '/dev/netmap'" until
the list has it. `ptnet host install` adds it; `ptnet host uninstall` takes it out again. (Our
domains run QEMU as the user who runs ptnet (ptnet/plan/templates/domain.xml.j2), so the
device's group and mode apply to libvirt domains as they do to the qemu backend.) The text
edits are pure; the lab's second host (ptnet.lab.pair) writes its qemu.conf with them too.
"""

import re
from pathlib import Path

from ptnet import host

QEMU_CONF = Path("/etc/libvirt/qemu.conf")
DEVICE = "/dev/netmap"
# libvirt's built-in list when qemu.conf sets none; setting the key replaces it, so ours repeats it
# (a path that does not exist on the host is skipped by libvirt).
LIBVIRT_DEFAULT_ACL = (
    "/dev/null",
    "/dev/full",
    "/dev/zero",
    "/dev/random",
    "/dev/urandom",
    "/dev/ptmx",
    "/dev/kvm",
    "/dev/userfaultfd",
)
BEGIN = "# BEGIN ptnet (`ptnet host install` wrote this block; `ptnet host uninstall` removes it)"
END = "# END ptnet"
_BLOCK = re.compile(rf"^{re.escape(BEGIN)}\n(?:.*\n)*?{re.escape(END)}\n?", re.M)
_OWN_ACL = re.compile(r"^\s*cgroup_device_acl\s*=\s*\[", re.M)
_INSERTED = f' "{DEVICE}",'


def with_netmap(text: str) -> str:
    """qemu.conf `text` with /dev/netmap in cgroup_device_acl: first in the admin's own list
    when there is one, else in a block of ours that repeats libvirt's defaults. Applying it
    twice gives the same text."""
    text = without_netmap(text)
    own = _OWN_ACL.search(text)
    if own:
        return text[: own.end()] + _INSERTED + text[own.end() :]
    items = ", ".join(f'"{p}"' for p in (*LIBVIRT_DEFAULT_ACL, DEVICE))
    sep = "" if not text or text.endswith("\n") else "\n"
    return text + sep + f"{BEGIN}\ncgroup_device_acl = [ {items} ]\n{END}\n"


def without_netmap(text: str) -> str:
    """qemu.conf `text` as it was before with_netmap()."""
    text = _BLOCK.sub("", text)
    own = _OWN_ACL.search(text)
    if own and text.startswith(_INSERTED, own.end()):
        text = text[: own.end()] + text[own.end() + len(_INSERTED) :]
    return text


def allows_netmap(text: str) -> bool:
    """Whether the cgroup_device_acl in effect in qemu.conf `text` lists /dev/netmap."""
    own = _OWN_ACL.search(text)
    if not own:
        return False
    body = text[own.end() :].split("]", 1)[0]
    return f'"{DEVICE}"' in body


def _read() -> str:
    """qemu.conf (root's, mode 0600), or "" where there is none (libvirt's defaults apply)."""
    if not QEMU_CONF.exists():
        return ""
    return host.run(host.as_root(["cat", str(QEMU_CONF)]), capture=True, quiet=True).stdout


def _write(text: str) -> None:
    mode = QEMU_CONF.stat().st_mode & 0o777 if QEMU_CONF.exists() else 0o600
    host.write_file(QEMU_CONF, text, mode=mode)


def _restart_libvirt() -> None:
    """Have a running libvirt read qemu.conf again (running domains keep running)."""
    if Path("/run/systemd/system").is_dir():
        systemctl = host.require("systemctl", "systemd")
        host.run(host.as_root([systemctl, "try-restart", "libvirtd.service", "virtqemud.service"]))
    else:
        host.log("no systemd: restart libvirtd (or virtqemud) yourself for qemu.conf to apply")


def install() -> None:
    """Let libvirt's QEMU open /dev/netmap; nothing where libvirt is not installed."""
    if not QEMU_CONF.parent.is_dir():
        return
    text = _read()
    edited = with_netmap(text)
    if edited == text:
        return
    host.log(f"libvirt: adding {DEVICE} to cgroup_device_acl in {QEMU_CONF}")
    _write(edited)
    _restart_libvirt()


def uninstall() -> None:
    if not QEMU_CONF.exists():
        return
    text = _read()
    restored = without_netmap(text)
    if restored == text:
        return
    if restored.strip():
        _write(restored)
    else:  # install made the file: libvirt's defaults again
        host.remove([QEMU_CONF])
    _restart_libvirt()
