"""The lab VM's exact QEMU command line. Pure: the same inputs give the same argv.

The lab boots a Debian kernel with the host's root filesystem read-only over 9p, the chosen
directories read-write, and a virtio-serial port per stream the runner reads (the command's
stdout and stderr, and a control channel). Each port's host side is a file QEMU opens: a pipe
the runner passes as /dev/fd/N, or a placeholder where the runner has not made it yet.
"""

from collections.abc import Mapping, Sequence

from ptnet.plan.machine import direct_boot_args, machine_args

# The lab's own flags: no PCI IRQ routing through the ACPI interpreter (ACPI itself stays: it
# is how the kernel finds the CPUs under PVH; acpi=off would leave one) and no bus scan beyond
# bus 0. Init halts with reboot, which -no-reboot turns into QEMU exiting.
LAB_FLAGS = ["pci=noacpi", "pci=lastbus=0"]
# The virtio-serial ports the guest's init writes: name -> what it carries.
STREAMS = ("ctl", "out", "err")


def lab_argv(
    qemu: str,
    accel: str,
    cpus: int,
    mem_mb: int,
    vmlinux: str,
    initrd: str,
    console_log: str,
    rw_dirs: Sequence[str],
    stream_paths: Mapping[str, str],
) -> list[str]:
    """The lab's QEMU line; stream_paths maps each of STREAMS to the file QEMU writes it to."""
    argv = machine_args(qemu, accel, cpus, mem_mb) + ["-no-reboot"]
    argv += direct_boot_args(vmlinux, initrd, LAB_FLAGS)
    argv += [
        "-serial", f"file:{console_log}",
        "-virtfs", "local,path=/,mount_tag=root,security_model=none,readonly=on,multidevs=remap",
    ]  # fmt: skip
    for i, d in enumerate(rw_dirs):
        argv += ["-virtfs", f"local,path={d},mount_tag=rw{i},security_model=none,multidevs=remap"]
    argv += ["-device", "virtio-serial-pci,id=vser"]
    for name in STREAMS:
        argv += [
            "-chardev", f"file,id={name},path={stream_paths[name]}",
            "-device", f"virtserialport,bus=vser.0,chardev={name},name=ptnet.{name}",
        ]  # fmt: skip
    return argv
