"""libvirt's QEMU and /dev/netmap.

libvirt starts QEMU in a private /dev that holds only the devices qemu.conf's cgroup_device_acl
allows, and runs it as qemu.conf's `user` (libvirt-qemu on Debian). Without both of the changes
below, a libvirt domain with a netmap port fails with "Could not open '/dev/netmap'".
`ptnet host install` adds /dev/netmap to that list and, when /dev/netmap has a group, puts the
QEMU user in it; `ptnet host uninstall` takes back exactly what install did. The text edits are
pure; the lab's second host (ptnet.lab.pair) writes its qemu.conf with the same function.
"""

import grp
import pwd
import re
from dataclasses import dataclass
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
MEMBER = "# ptnet added user {user} to group {group}"
_BLOCK = re.compile(rf"^{re.escape(BEGIN)}\n(?:.*\n)*?{re.escape(END)}\n?", re.M)
_OWN_ACL = re.compile(r"^\s*cgroup_device_acl\s*=\s*\[", re.M)
_INSERTED = f' "{DEVICE}",'
_MEMBER = re.compile(r"^# ptnet added user (\S+) to group (\S+)$", re.M)
_USER = re.compile(r'^\s*user\s*=\s*"([^"]*)"', re.M)
DEFAULT_USER = "libvirt-qemu"  # Debian's build of libvirt


@dataclass(frozen=True)
class Membership:
    """The QEMU user that install put in /dev/netmap's group, to be taken out again."""

    user: str
    group: str


def with_netmap(text: str, member: Membership | None = None) -> str:
    """qemu.conf `text` with /dev/netmap in cgroup_device_acl (first in the admin's own list when
    there is one, else in a list of ours after libvirt's defaults), and our block recording
    `member`. Applying it twice gives the same text."""
    text = without_netmap(text)
    own = _OWN_ACL.search(text)
    if own:
        text = text[: own.end()] + _INSERTED + text[own.end() :]
    lines = [BEGIN]
    if not own:
        items = ", ".join(f'"{p}"' for p in (*LIBVIRT_DEFAULT_ACL, DEVICE))
        lines.append(f"cgroup_device_acl = [ {items} ]")
    if member:
        lines.append(MEMBER.format(user=member.user, group=member.group))
    lines.append(END)
    sep = "" if not text or text.endswith("\n") else "\n"
    return text + sep + "\n".join(lines) + "\n"


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


def recorded_member(text: str) -> Membership | None:
    m = _MEMBER.search(text)
    return Membership(m.group(1), m.group(2)) if m else None


def qemu_user(text: str) -> str | None:
    """The user libvirt runs QEMU as, by qemu.conf `text`; None for root (no group needed)."""
    m = _USER.search(text)
    name = m.group(1) if m else DEFAULT_USER
    if name in ("root", "+0"):
        return None
    try:
        return pwd.getpwnam(name.lstrip("+")).pw_name
    except KeyError:
        return None


def may_open(user: str, device: Path) -> bool:
    """Whether `user` may read and write `device` by its owner, group and mode."""
    st = device.stat()
    pw = pwd.getpwnam(user)
    if pw.pw_uid == st.st_uid:
        return st.st_mode & 0o600 == 0o600
    try:
        members = grp.getgrgid(st.st_gid).gr_mem
    except KeyError:
        members = []
    if pw.pw_gid == st.st_gid or user in members:
        return st.st_mode & 0o060 == 0o060
    return st.st_mode & 0o006 == 0o006


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


def install(group: str | None) -> None:
    """Let libvirt's QEMU open /dev/netmap; nothing where libvirt is not installed."""
    if not QEMU_CONF.parent.is_dir():
        return
    text = _read()
    member = None
    user = qemu_user(text)
    if group is not None and user is not None and user not in grp.getgrnam(group).gr_mem:
        host.run(host.as_root([host.require("gpasswd", "passwd"), "-a", user, group]))
        member = Membership(user, group)
    else:
        member = recorded_member(text)
    host.log(f"libvirt: adding {DEVICE} to cgroup_device_acl in {QEMU_CONF}")
    _write(with_netmap(text, member))
    if group is None and user is not None:
        host.log(
            f"libvirt runs QEMU as {user}, which cannot open {DEVICE} (mode 0600, root's): "
            "install with --group for libvirt domains with netmap ports"
        )
    _restart_libvirt()


def uninstall() -> None:
    if not QEMU_CONF.exists():
        return
    text = _read()
    member = recorded_member(text)
    if member is not None:
        host.run(host.as_root([host.require("gpasswd", "passwd"), "-d", member.user, member.group]))
    restored = without_netmap(text)
    if restored == text:
        return
    if restored.strip():
        _write(restored)
    else:  # install made the file: libvirt's defaults again
        host.remove([QEMU_CONF])
    _restart_libvirt()
