"""Boot a Debian kernel in QEMU, run one command in the guest, stream its output, return its code.

The guest sees the host's root filesystem read-only over 9p (so Python, our CLI and our built
tools run inside with no image to build), /tmp and /var/tmp as overlays whose writes stay in the
guest, empty tmpfs on /run and /mnt, and the chosen directories (by default the current one)
read-write. Three virtio-serial ports carry the command's
stdout, its stderr and a control channel (start time, exit code) back to us through pipes.
"""

import errno
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ptnet import host, paths
from ptnet.errors import PtnetError, UsageError
from ptnet.guest import ssh
from ptnet.lab import accel, initramfs
from ptnet.lab.kernel import Kernel
from ptnet.plan import lab as lab_plan

TIMEOUT_EXIT = 124
# init.sh writes "alive" on the control port this often while the command runs; a lab silent for
# STALL_SECONDS has stopped as a whole (seen with nested KVM under TCG: every vCPU idle, for good)
HEARTBEAT_SECONDS = 5
STALL_SECONDS = 180.0
KEEP_RUNS = 20
LAB_ENV = "/run/ptnet-lab.env"  # written by init.sh, read by the command's script
# Host variables the command inside sees; everything else starts clean.
PASS_ENV = ("PATH", "HOME", "USER", "LANG", "LC_ALL", "TERM", "VIRTUAL_ENV", "PYTHONPATH")


@dataclass
class LabSpec:
    kernel: Kernel
    command: Sequence[str]
    modules: Sequence[Path] = ()
    smp: int = 1
    mem_mb: int = 1024
    timeout: float = 300.0
    rw_dirs: Sequence[Path] = ()
    cwd: Path = field(default_factory=Path.cwd)
    env: dict[str, str] = field(default_factory=dict)
    qemu_args: Sequence[str] = ()  # more devices and netdevs (a lab pair's link)
    # under TCG, KVM for the guests nested in the lab (one CPU only: see _check())
    nested_kvm: bool = False
    stall_seconds: float = STALL_SECONDS  # silence after which the lab counts as stalled


@dataclass
class LabResult:
    exit_code: int
    accel: str
    boot_seconds: float | None  # from QEMU start to the command's start
    wall_seconds: float
    console_log: Path
    stalled: bool = False  # stopped by us: the lab kernel was silent for spec.stall_seconds

    def console_tail(self, lines: int = 25) -> str:
        """The last lines the lab kernel printed (the log itself is gone with the run's directory
        on a CI machine, so failures quote it)."""
        try:
            text = self.console_log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def qemu_binary() -> str:
    return host.require("qemu-system-x86_64", "qemu-system-x86")


def planned_argv(
    qemu: str, spec: LabSpec, accel_name: str, run_dir: str, stream_paths: dict[str, str]
) -> list[str]:
    """The lab's QEMU line for `spec`, its files in run_dir (see ptnet/plan/lab.py)."""
    return lab_plan.lab_argv(
        qemu,
        accel_name,
        spec.smp,
        spec.mem_mb,
        str(spec.kernel.vmlinux),
        f"{run_dir}/initrd.cpio",
        f"{run_dir}/console.log",
        [str(d) for d in spec.rw_dirs],
        stream_paths,
        spec.qemu_args,
        spec.nested_kvm,
    )


def dry_run(spec: LabSpec) -> str:
    """The QEMU line `run(spec)` would start, with placeholders for what only a run makes (its
    run directory, the pipes' descriptors, and the accelerator when no probe has decided it
    yet). Writes, binds and starts nothing."""
    _check(spec)
    qemu = qemu_binary()
    accel_name = accel.known(qemu, spec.kernel) or "<kvm-or-tcg>"
    run_dir = f"{paths.lab_runs_dir()}/<run>"
    streams = {name: f"/dev/fd/<{name}>" for name in lab_plan.STREAMS}
    return shlex.join(planned_argv(qemu, spec, accel_name, run_dir, streams))


def _command_script(spec: LabSpec, accel_name: str) -> bytes:
    env = {k: os.environ[k] for k in PASS_ENV if k in os.environ}
    env.update(
        PTNET_IN_LAB="1",
        PTNET_LAB_KERNEL=spec.kernel.release,
        PTNET_LAB_ACCEL=accel_name,
        PTNET_CACHE_DIR=str(paths.cache_dir().resolve()),
        PTNET_STATE_DIR="/tmp/ptnet-state",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(spec.env)
    # KVM for nested guests when init could load it (init.sh); the caller's PTNET_ACCEL wins
    lines = [f"[ -r {LAB_ENV} ] && . {LAB_ENV} && export PTNET_ACCEL"]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
    # The lab's state is its own, but it keeps the host's SSH client key: the guest images built
    # on the host trust that key, so `ptnet vm` inside the lab reaches their VMs.
    host_keys = ssh.key_dir().resolve()
    if host_keys.is_dir():
        lines.append(
            'mkdir -p "$PTNET_STATE_DIR" && '
            f'cp -a {shlex.quote(str(host_keys))} "$PTNET_STATE_DIR/" || exit 125'
        )
    lines.append(f"cd {shlex.quote(str(spec.cwd))} || exit 125")
    lines.append(f"exec {shlex.join(spec.command)}")
    return ("\n".join(lines) + "\n").encode()


def _run_conf(spec: LabSpec, boot_modules: list[str], probe: bool, accel_name: str) -> bytes:
    conf = {
        # the lab's TCG CPU offers SVM (ptnet/plan/lab.py): init loads KVM for nested guests
        "NESTED_KVM": "1" if spec.nested_kvm and accel_name == "tcg" else "0",
        "BOOT_MODULES": " ".join(boot_modules),
        "LOAD_MODULES": " ".join(str(m.resolve()) for m in spec.modules),
        # init.sh binds these before it enters the host's root: no symbolic links on the way.
        "KMOD_DIR": str(spec.kernel.modules_dir.parent.resolve()),
        "RW_DIRS": " ".join(str(d.resolve()) for d in spec.rw_dirs),
        "PROBE": "1" if probe else "0",
        "HEARTBEAT": str(HEARTBEAT_SECONDS),
    }
    return "".join(f"{k}={shlex.quote(v)}\n" for k, v in conf.items()).encode()


def _check(spec: LabSpec) -> None:
    if not spec.command:
        raise UsageError("no command given; put it after --, as in: ptnet lab run -- uname -r")
    for p in [*spec.modules, *spec.rw_dirs]:
        if " " in str(p):
            raise UsageError(f"paths with spaces cannot be shared with the lab: {p}")
    for d in spec.rw_dirs:
        if not d.is_dir():
            raise UsageError(f"--rw {d}: not a directory")
        if d == Path("/"):
            raise UsageError("--rw /: the host root is shared read-only; pick a directory")
    if spec.smp < 1 or spec.mem_mb < 256:
        raise UsageError("--cpus must be at least 1 and --mem at least 256 (MiB)")
    if spec.nested_kvm and spec.smp != 1:
        # measured: two nested guests at once on a 2-CPU lab stalled the lab within five
        # rounds, twice (Debian's QEMU 7.2 emulating SVM); on one CPU, 16 of 16 booted
        raise UsageError(
            f"--nested-kvm needs --cpus 1: with {spec.smp} CPUs, QEMU's SVM emulation stalls "
            "nested guests"
        )
    if spec.timeout <= 0:
        raise UsageError("--timeout must be positive")


def _spawn(argv: list[str], pass_fds: list[int], log: BinaryIO) -> subprocess.Popen[bytes]:
    """Start QEMU in its own session, its messages into `log`. An exec that fails with EFAULT
    is tried again: seen once in about a thousand lab boots here, with several lab VMs starting
    from threads at once."""

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            pass_fds=pass_fds,
            start_new_session=True,
        )

    for _ in range(2):
        try:
            return start()
        except OSError as e:
            if e.errno != errno.EFAULT:
                raise
            time.sleep(0.1)
    return start()


def _new_run_dir() -> Path:
    base = paths.lab_runs_dir()
    base.mkdir(parents=True, exist_ok=True)
    old = sorted(p for p in base.iterdir() if p.is_dir())
    for stale in old[: max(0, len(old) - KEEP_RUNS + 1)]:
        shutil.rmtree(stale, ignore_errors=True)  # another lab run may be removing it too
    return Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=base))


def _pump(src: int, dst: BinaryIO | None, on_line: list[bytes] | None = None) -> None:
    with os.fdopen(src, "rb", buffering=0) as f:
        while chunk := f.read(65536):
            if dst is not None:
                dst.write(chunk)
                dst.flush()
            if on_line is not None:
                on_line.append(chunk)


def run(
    spec: LabSpec, *, probe_accel: str | None = None, output: BinaryIO | None = None
) -> LabResult:
    """Boot, run spec.command, and return its exit code (124 on timeout).

    The command's stdout and stderr stream to ours, or both into `output` when given.
    With probe_accel set, only boot far enough to answer on the control port, with that
    accelerator; the exit code is then 0 when the guest came up.
    """
    _check(spec)
    qemu = qemu_binary()
    accel_name = probe_accel or accel.choose(qemu, spec.kernel)
    run_dir = _new_run_dir()
    console_log = run_dir / "console.log"
    base, boot_modules = initramfs.base(spec.kernel)
    initramfs.with_payload(
        base,
        {
            "run.conf": _run_conf(
                spec, boot_modules, probe=probe_accel is not None, accel_name=accel_name
            ),
            "cmd.sh": _command_script(spec, accel_name),
        },
        run_dir / "initrd.cpio",
    )
    pipes = {name: os.pipe() for name in lab_plan.STREAMS}
    streams = {n: f"/dev/fd/{w}" for n, (_, w) in pipes.items()}
    argv = planned_argv(qemu, spec, accel_name, str(run_dir), streams)
    (run_dir / "qemu.argv").write_text(shlex.join(argv) + "\n")
    quiet = probe_accel is not None
    ctl: list[bytes] = []
    out_sink = None if quiet else output or sys.stdout.buffer
    err_sink = None if quiet else output or sys.stderr.buffer
    sinks = {"ctl": (None, ctl), "out": (out_sink, None), "err": (err_sink, None)}
    start = time.monotonic()
    qemu_log = run_dir / "qemu.log"
    with qemu_log.open("wb") as log:
        proc = _spawn(
            # QEMU dies with the thread that started it, even when we are killed outright.
            [host.require("setpriv", "util-linux"), "--pdeathsig", "KILL", "--", *argv],
            pass_fds=[w for _, w in pipes.values()],
            log=log,
        )
    for _, w in pipes.values():
        os.close(w)
    threads = [
        threading.Thread(target=_pump, args=(r, *sinks[n]), daemon=True)
        for n, (r, _) in pipes.items()
    ]
    for t in threads:
        t.start()
    boot_seconds: float | None = None
    timed_out = stalled = False
    heard, heard_at = 0, start
    try:
        deadline = start + spec.timeout
        while proc.poll() is None:
            now = time.monotonic()
            if len(ctl) != heard:
                heard, heard_at = len(ctl), now
            if boot_seconds is None and b"start " in b"".join(ctl):
                boot_seconds = now - start
            if now > deadline:
                timed_out = True
                break
            if boot_seconds is not None and now - heard_at > spec.stall_seconds:
                timed_out = stalled = True
                break
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        for t in threads:
            t.join(timeout=5)
    wall = time.monotonic() - start
    qemu_err = qemu_log.read_text(errors="replace").strip()
    messages = b"".join(ctl).decode(errors="replace").splitlines()
    if boot_seconds is None and any(m.startswith("start ") for m in messages):
        boot_seconds = wall
    result = LabResult(TIMEOUT_EXIT, accel_name, boot_seconds, wall, console_log, stalled)
    if timed_out:
        if stalled and not quiet:
            host.log(
                f"the lab stalled: no sign of life from its kernel for {spec.stall_seconds:g} s, "
                f"stopped after {wall:.0f} s; console log: {console_log}"
            )
        elif not quiet:
            host.log(f"timed out after {spec.timeout:g} s; console log: {console_log}")
        return result
    for m in messages:
        if m.startswith("modfail "):
            raise PtnetError(f"module failed to load in the lab: {m[8:]} (console: {console_log})")
        if m.startswith("error "):
            raise PtnetError(f"lab guest: {m} (console: {console_log})")
        if m.startswith("exit "):
            result.exit_code = int(m.split()[1])
            return result
        if m == "probe ok":
            result.exit_code = 0
            return result
    if quiet:
        result.exit_code = 1
        return result
    detail = qemu_err.splitlines()[-1] if qemu_err else "the guest stopped before the command ended"
    raise PtnetError(f"lab VM failed: {detail} (console: {console_log})")
