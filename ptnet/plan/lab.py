"""The exact QEMU command lines of the lab VM and of the guests nested in it. Pure: the same
inputs give the same argv.

The lab boots a Debian kernel with the host's root filesystem read-only over 9p, the chosen
directories read-write, and one virtio-serial port per stream the runner reads (the command's
stdout and stderr, and a control channel). A nested guest (KVM inside the lab where the lab's
CPU offers it, else TCG) boots from its own initramfs with two UARTs: the console, then the
command's output.
"""

from collections.abc import Mapping, Sequence

from ptnet.plan.machine import TCG_CPU, direct_boot_args, machine_args

# The lab's own flags: no PCI IRQ routing through the ACPI interpreter (ACPI itself stays: it
# is how the kernel finds the CPUs under PVH; acpi=off would leave one) and no bus scan beyond
# bus 0. Init halts with reboot, which -no-reboot turns into QEMU exiting.
LAB_FLAGS = ("pci=noacpi", "pci=lastbus=0")
# A nested guest has one CPU, so it needs no ACPI tables to find CPUs, and the ACPI
# interpreter's start-up is a fifth of its boot under TCG (PCI, MSI-X and the IO-APIC work
# from SeaBIOS' MP tables).
NESTED_FLAGS = (*LAB_FLAGS, "acpi=off")
# With nested KVM, the lab's CPU under TCG also offers AMD SVM, which TCG emulates: the lab
# kernel then runs KVM (kvm_amd, loaded by init.sh), and guests nested in the lab run under it
# rather than as TCG inside TCG, ready about ten times sooner (README, "The lab").
NESTED_KVM_CPU = f"{TCG_CPU},+svm"
# The virtio-serial ports the lab's init writes to.
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
    extra: Sequence[str] = (),
    nested_kvm: bool = False,
) -> list[str]:
    """The lab's QEMU line; stream_paths maps each of STREAMS to the file QEMU writes it to;
    `extra` (devices, netdevs) goes last; `nested_kvm` offers SVM to the lab under TCG."""
    cpu = NESTED_KVM_CPU if nested_kvm and accel == "tcg" else None
    argv = [*machine_args(qemu, accel, cpus, mem_mb, cpu), "-no-reboot"]
    argv += direct_boot_args(vmlinux, initrd, list(LAB_FLAGS))
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
    return [*argv, *extra]


def nested_argv(
    qemu: str,
    mem_mb: int,
    vmlinux: str,
    initrd: str,
    console_log: str,
    output_log: str,
    append: Sequence[str] = (),
    devices: Sequence[str] = (),
    accel: str = "tcg",
) -> list[str]:
    """A nested guest's QEMU line: one CPU on `accel` (KVM where the lab offers it), `append`
    after its kernel flags, and the caller's device arguments last."""
    argv = [*machine_args(qemu, accel, 1, mem_mb), "-no-reboot"]
    argv += direct_boot_args(vmlinux, initrd, [*NESTED_FLAGS, *append], uarts=2)
    argv += ["-serial", f"file:{console_log}", "-serial", f"file:{output_log}", *devices]
    return argv
