"""A VM's launch plan and its exact QEMU command line. Pure: the same plan gives the same argv.

The guest boots the image's kernel with PVH (`-kernel` on the uncompressed vmlinux) and its
initramfs. The management NIC is slirp with one forward, 127.0.0.1:PORT to the guest's SSH; the
QMP monitor and the serial console are unix sockets in the VM's private runtime directory.
Each netmap port becomes a NIC (ptnet/plan/ports.py), rendered by ptnet/plan/devices.py.
"""

from dataclasses import dataclass

from ptnet.model.vm import VmSpec
from ptnet.plan import devices
from ptnet.plan.devices import Device, Netdev, Nic
from ptnet.plan.machine import direct_boot_args, machine_args
from ptnet.plan.ports import VmPort, vm_port, vm_port_nic

MGMT_MAC = "52:54:00:00:00:01"
# What the guest's init reads. Not the lab's pci=noacpi: with ACPI on, it makes Linux refuse
# every BAR the firmware assigned, and a ptnet-pci device then gets no I/O window; ACPI also
# announces hot-plugged ports.


@dataclass(frozen=True)
class Launch:
    """Everything a backend needs to start one VM, resolved to concrete paths and numbers.

    `--dry-run` plans without side effects, so what is only known when the VM starts (the SSH
    port, an accelerator not probed yet, the image's key before it is built) is a placeholder
    word there: SSH_PORT, ACCEL, IMAGE_KEY.
    """

    spec: VmSpec
    qemu: str
    accel: str  # "kvm" or "tcg"
    vmlinux: str
    initrd: str
    run_dir: str  # private (0700): the QMP and console sockets, QEMU's pid file
    console_log: str
    ssh_port: int | str
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

    @property
    def ports(self) -> tuple[VmPort, ...]:
        """The spec's ports, numbered from 0 in the order given."""
        return tuple(vm_port(self.spec.name, p, i) for i, p in enumerate(self.spec.ports))

    @property
    def nics(self) -> tuple[Nic, ...]:
        """The management NIC, then one NIC per port."""
        ports = (vm_port_nic(p, self.spec.port_mode) for p in self.ports)
        return (mgmt_nic(self.ssh_port), *ports)


def guest_flags(spec: VmSpec) -> list[str]:
    return [f"ptnet.name={spec.name}", f"ptnet.mgmt={MGMT_MAC}"]


def mgmt_nic(ssh_port: int | str) -> Nic:
    """The management NIC: slirp, with only the guest's SSH forwarded, on loopback."""
    forward = f"tcp:127.0.0.1:{ssh_port}-:22"
    return Nic(
        Netdev("user", "mgmt", (("net", "10.0.2.0/24"), ("hostfwd", forward))),
        Device(
            "virtio-net-pci", "mgmt-nic", (("netdev", "mgmt"), ("mac", MGMT_MAC), ("romfile", ""))
        ),
    )


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
    ]  # fmt: skip
    for nic in launch.nics:
        argv += devices.argv(nic)
    return [*argv, "-pidfile", launch.pidfile, "-daemonize"]
