"""The part of a QEMU line that every VM we start shares: the machine, its CPUs and memory, and a
direct kernel boot. Pure. The lab (ptnet/plan/lab.py) and `ptnet vm` (ptnet/plan/qemu_argv.py)
add their own devices after it.
"""

# Kernel flags measured for a fast boot under TCG: only the UARTs used, no LSM or audit
# start-up, no crypto self-tests or CPU mitigations, and no clocksource watchdog.
FAST_BOOT_FLAGS = (
    "console=ttyS0 quiet loglevel=4 panic=-1",
    "cryptomgr.notests mitigations=off 8250.nr_uarts={uarts} apparmor=0 audit=0",
    "tsc=reliable no_timer_check i8042.noaux i8042.nokbd",
)


# The CPU model under TCG: qemu64 raised to x86-64-v2 (SSSE3, SSE4.1, SSE4.2, POPCNT; it already
# has SSE3, CMPXCHG16B and LAHF), the baseline that host binaries such as NumPy 2 are built
# for: the lab runs the host's programs, and under plain qemu64 NumPy dies of SIGILL.
TCG_CPU = "qemu64,+ssse3,+sse4.1,+sse4.2,+popcnt"


def machine_args(
    qemu: str, accel: str, cpus: int, mem_mb: int, cpu: str | None = None
) -> list[str]:
    """QEMU with no default devices, a pc machine on `accel` ("kvm" or "tcg"), CPUs, memory;
    the CPU model is the host's under KVM and TCG_CPU under TCG unless `cpu` names one."""
    cpu = cpu or ("host" if accel == "kvm" else TCG_CPU)
    return [
        qemu, "-nodefaults", "-no-user-config", "-display", "none",
        "-M", "pc", "-accel", accel, "-cpu", cpu, "-smp", str(cpus), "-m", str(mem_mb),
    ]  # fmt: skip


def kernel_cmdline(flags: list[str], uarts: int = 1) -> str:
    """The fast-boot flags for `uarts` serial lines, followed by `flags`."""
    return " ".join([*(f.format(uarts=uarts) for f in FAST_BOOT_FLAGS), *flags])


def direct_boot_args(vmlinux: str, initrd: str, flags: list[str], uarts: int = 1) -> list[str]:
    """Boot `vmlinux` (PVH) with `initrd` and kernel_cmdline(flags, uarts)."""
    return ["-kernel", vmlinux, "-initrd", initrd, "-append", kernel_cmdline(flags, uarts)]
