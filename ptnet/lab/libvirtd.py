"""libvirtd inside a lab VM: the lab as a host with libvirt, for the libvirt backend's lab tests and
for host b of a lab pair (ptnet/lab/pair.py).

The lab sees the host's root read-only, so libvirt's directories get writable layers (overlays on
a tmpfs under /run; a fresh machine may not have /var/lib/libvirt at all), and qemu.conf is the
one `ptnet host install` writes (/dev/netmap in cgroup_device_acl) plus `namespaces = []`:
inside the lab, libvirt's private /dev for QEMU comes up without the devices its list names
(measured: with it, the domain's QEMU found neither /dev/kvm nor /dev/netmap; without it, `ptnet
vm up --backend libvirt --port vale1:10` was ready in 19 s and validated 1000 of 1000 frames).
A real host keeps libvirt's default, and the list applies there.
"""

import shlex

from ptnet.install import libvirt_conf

# Written into the lab's qemu.conf after ptnet's block (see the module's docstring).
NO_NAMESPACES = "namespaces = []\n"
LAYERS = ("/etc/libvirt", "/var/lib", "/var/cache", "/var/log")
SOCKET = "/run/libvirt/libvirt-sock"


def qemu_conf(base: str = "") -> str:
    """The lab's qemu.conf: `base` as `ptnet host install` leaves it, libvirt's private /dev off."""
    return libvirt_conf.with_netmap(base) + NO_NAMESPACES


def start_script(wait_seconds: int = 60) -> str:
    """Shell commands (one `&&` chain, run as root inside the lab) that give libvirt writable
    directories, write its qemu.conf, start virtlogd and libvirtd, and wait for its socket."""
    steps = []
    for d in LAYERS:
        up = "/run/ptnet-libvirt" + d
        steps.append(
            f"mkdir -p {up}/upper {up}/work && mount -t overlay overlay "
            f"-o lowerdir={d},upperdir={up}/upper,workdir={up}/work {d}"
        )
    steps += [
        f"printf %s {shlex.quote(qemu_conf())} >/etc/libvirt/qemu.conf",
        "mkdir -p /var/lib/libvirt /var/cache/libvirt /var/log/libvirt/qemu /run/libvirt",
        "virtlogd -d && libvirtd -d",
        f"n=0; while [ ! -S {SOCKET} ]; do n=$((n+1)); [ $n -gt {wait_seconds * 2} ] && "
        "echo 'lab libvirtd: no socket' >&2 && exit 125; sleep 0.5; done",
    ]
    return " && ".join(steps)
