"""The Debian packages ptnet needs on the host, and installing the missing ones idempotently."""

import subprocess
from pathlib import Path

from ptnet import host

# What the lab, the module builds and the tools need. (The Python environment's own build needs,
# such as libvirt-dev for libvirt-python, are installed by the Makefile's bootstrap step.)
LAB_PACKAGES = (
    "qemu-system-x86",  # the lab VM and, later, our patched QEMU's runtime firmware
    "busybox-static",  # the lab initramfs
    "kmod",  # depmod for the extracted kernel, modprobe inside the lab
    "xz-utils",
    "zstd",
    "gcc-12",  # Debian's kernel headers build with gcc-12
    "make",
    "libelf1",  # kbuild's host programs (modpost, objtool)
    "libssl3",
    "dwarves",  # pahole: BTF for modules on 6.12
    "debootstrap",  # the trixie chroot that 7.x modules are built in (gcc-14, trixie's libc)
    "iproute2",  # veth pairs and namespaces inside the lab
    "libc6-dev",  # static userspace tools
    # ptnet vm: the ssh client for `vm ssh`, and libvirtd for the libvirt backend (the guest's
    # dropbear and its libraries are downloaded as .debs into the image, never installed here)
    "openssh-client",
    "libvirt-daemon",
    "libvirt-daemon-driver-qemu",
    # /etc/libvirt itself (libvirt.conf), which the lab's libvirtd layers its qemu.conf over
    # (ptnet/lab/libvirtd.py); without it the directory does not exist at all
    "libvirt-clients",
    # `ptnet host install` registers our modules with DKMS; its lab test runs the host's dkms
    "dkms",
    # `ptnet chain graph --format svg` runs Graphviz's dot
    "graphviz",
)


# What `ptnet build qemu` needs besides the lab packages (meson >= 1.5 comes from bookworm-backports
# into a venv in the cache, so it is not listed).
QEMU_BUILD_PACKAGES = (
    "dpkg-dev",  # dpkg-source unpacks the Debian source package
    "patch",
    "gcc",
    "pkg-config",
    "ninja-build",
    "flex",
    "bison",
    "libglib2.0-dev",
    "libpixman-1-dev",
    "libslirp-dev",  # -netdev user
)


def missing(packages: tuple[str, ...] = LAB_PACKAGES) -> list[str]:
    """Packages from `packages` that dpkg does not have installed."""
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *packages],
        capture_output=True,
        text=True,
        check=False,
    )
    installed = {
        line.split()[0] for line in proc.stdout.splitlines() if line.endswith(" installed")
    }
    return [p for p in packages if p not in installed]


# virtlogd refuses to start without its log directory, which only libvirt-daemon-system (the
# systemd units we do not install) would create.
LIBVIRT_LOG_DIR = Path("/var/log/libvirt")


def install() -> list[str]:
    """Install whatever the lab and `ptnet build qemu` miss; return what was installed."""
    todo = missing(LAB_PACKAGES + QEMU_BUILD_PACKAGES)
    if todo:
        host.apt_update()
        host.apt_install(todo)
    if not LIBVIRT_LOG_DIR.is_dir():
        host.run(host.as_root(["install", "-d", "-m", "0700", str(LIBVIRT_LOG_DIR)]))
    # libvirtd's QEMU driver refuses to start without its default user and group, which only
    # libvirt-daemon-system's maintainer scripts would create.
    if subprocess.run(["getent", "passwd", "libvirt-qemu"], capture_output=True).returncode:
        host.run(host.as_root(["groupadd", "-r", "-f", "libvirt-qemu"]))
        host.run(
            host.as_root(
                [
                    "useradd",
                    "-r",
                    "-g",
                    "libvirt-qemu",
                    "-d",
                    "/var/lib/libvirt",
                    "-s",
                    "/usr/sbin/nologin",
                ]
                + ["libvirt-qemu"]
            )
        )
    return todo
