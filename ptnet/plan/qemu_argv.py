"""A VM's launch plan and its exact QEMU command line. Pure: the same plan gives the same argv.

The guest boots the image's kernel with PVH (`-kernel` on the uncompressed vmlinux) and its
initramfs. The management NIC is slirp with one forward, 127.0.0.1:PORT to the guest's SSH; the
QMP monitor and the serial console are unix sockets in the VM's private runtime directory.
Each netmap port becomes a NIC through V1's renderer (ptnet/plan/ports.py).
"""

from collections.abc import Callable
from dataclasses import dataclass

from ptnet.model.ports import PortSpec
from ptnet.model.vm import VmSpec
from ptnet.plan.machine import direct_boot_args, machine_args
from ptnet.plan.ports import port_mac, qemu_port_args

# V1's renderers: (port, netdev id, MAC, mode) -> argv
PortRenderer = Callable[[PortSpec, str, str, str], list[str]]

MGMT_MAC = "52:54:00:00:00:01"
# What the guest's init reads. Not the lab's pci=noacpi: with ACPI on, it makes Linux refuse
# every BAR the firmware assigned, and a ptnet-pci device then gets no I/O window; ACPI also
# announces hot-plugged ports.


@dataclass(frozen=True)
class Launch:
    """Everything a backend needs to start one VM, resolved to concrete paths and numbers."""

    spec: VmSpec
    qemu: str
    accel: str  # "kvm" or "tcg"
    vmlinux: str
    initrd: str
    run_dir: str  # private (0700): the QMP and console sockets, QEMU's pid file
    console_log: str
    ssh_port: int
    firmware_dirs: tuple[str, ...] = ()  # -L, for a QEMU built without bundled firmware
    image_name: str = ""
    image_key: str = ""

    @property
    def qmp_socket(self) -> str:
        return f"{self.run_dir}/qmp.sock"

    @property
    def console_socket(self) -> str:
        return f"{self.run_dir}/console.sock"

    @property
    def pidfile(self) -> str:
        return f"{self.run_dir}/qemu.pid"


def guest_flags(spec: VmSpec) -> list[str]:
    return [f"ptnet.name={spec.name}", f"ptnet.mgmt={MGMT_MAC}"]


def port_id(index: int) -> str:
    return f"port{index}"


def mgmt_args(ssh_port: int) -> list[str]:
    """The management NIC: slirp, with only the guest's SSH forwarded, on loopback."""
    return [
        "-netdev", f"user,id=mgmt,net=10.0.2.0/24,hostfwd=tcp:127.0.0.1:{ssh_port}-:22",
        "-device", f"virtio-net-pci,netdev=mgmt,mac={MGMT_MAC},romfile=",
    ]  # fmt: skip


def ports_args(spec: VmSpec, render: PortRenderer) -> list[str]:
    args: list[str] = []
    for i, port in enumerate(spec.ports):
        args += render(port, port_id(i), port_mac(spec.name, i), spec.port_mode)
    return args


def qemu_argv(launch: Launch) -> list[str]:
    spec = launch.spec
    argv = machine_args(launch.qemu, launch.accel, spec.cpus, spec.mem_mb)
    argv += ["-name", spec.name]
    for d in launch.firmware_dirs:
        argv += ["-L", d]
    argv += [
        *direct_boot_args(launch.vmlinux, launch.initrd, guest_flags(spec)),
        "-chardev",
        f"socket,id=console,path={launch.console_socket},server=on,wait=off,"
        f"logfile={launch.console_log}",
        "-serial", "chardev:console",
        "-chardev", f"socket,id=qmp,path={launch.qmp_socket},server=on,wait=off",
        "-mon", "chardev=qmp,mode=control",
        *mgmt_args(launch.ssh_port),
        *ports_args(spec, qemu_port_args),
        "-pidfile", launch.pidfile, "-daemonize",
    ]  # fmt: skip
    return argv
