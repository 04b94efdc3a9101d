"""A VM's life on either backend: up (to ready), down, and finding the VMs of this lab.

`up` plans once (ptnet/vm/launch.py) and hands the Launch to the backend. It returns only when
the guest is ready: its SSH server answered with the pinned host key and every netmap port's NIC
is up inside. Each VM's changes happen under its own file lock, and every state file is replaced
atomically, so concurrent ptnet processes see either the old or the new.
"""

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ptnet import host
from ptnet.backend import base
from ptnet.backend.libvirt import LibvirtBackend
from ptnet.backend.qemu import QemuBackend
from ptnet.build import image as images
from ptnet.errors import PtnetError, UsageError
from ptnet.guest import ssh
from ptnet.locking import file_lock
from ptnet.model.vm import BackendName, VmSpec, check_name
from ptnet.plan.ports import VmPort
from ptnet.vm.launch import plan

_PORTS_PROBE = (
    'for d in /sys/class/net/*; do echo "$(cat $d/address) $(cat $d/operstate) ${d##*/}"; done'
)
BACKENDS: dict[BackendName, Callable[[], base.Backend]] = {
    BackendName.qemu: QemuBackend,
    BackendName.libvirt: LibvirtBackend,
}


def backend_for(name: BackendName) -> base.Backend:
    return BACKENDS[name]()


def remote_extra(uri: str | None, jump: str | None) -> dict[str, Any]:
    """What a VM's record keeps of a remote host: the libvirt `uri` that defines its domain and
    the SSH destination `jump` through which its guest is reached; nothing for a local VM."""
    if uri is None:
        return {}
    return {"uri": uri, "jump": jump}


def slowdown(accel_name: str) -> float:
    """How many times longer than usual a guest takes to answer: 5 for TCG inside the TCG lab
    (about 30 times slower than TCG on the host), 2 for KVM inside it (on the SVM that the lab's
    TCG emulates), else 1."""
    if os.environ.get("PTNET_LAB_ACCEL") != "tcg":
        return 1.0
    return 5.0 if accel_name == "tcg" else 2.0


def ready_timeout(accel_name: str) -> float:
    """Seconds `up` waits for SSH: PTNET_VM_READY_TIMEOUT, else 180 times slowdown()."""
    if env := os.environ.get("PTNET_VM_READY_TIMEOUT"):
        try:
            return float(env)
        except ValueError:
            raise UsageError(f"PTNET_VM_READY_TIMEOUT={env!r}: not a number of seconds") from None
    return 180.0 * slowdown(accel_name)


@contextmanager
def locked(name: str) -> Iterator[None]:
    """Held while a ptnet process changes VM `name` (up, down, hot-plug)."""
    with file_lock(base.lock_path(name)):
        yield


@contextmanager
def progress(what: str) -> Iterator[Callable[[str], None]]:
    """A spinner with the time spent on stderr while a VM is waited for (on a terminal only);
    yields a function that changes what it says."""
    console = Console(stderr=True)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(
        *columns, console=console, transient=True, disable=not console.is_terminal
    ) as bar:
        task = bar.add_task(what)
        yield lambda text: bar.update(task, description=text)


def dry_run(spec: VmSpec) -> str:
    """What `up` would start: the QEMU command line or the domain XML."""
    launch, _ = plan(spec, dry_run=True)
    return backend_for(spec.backend).render(launch)


def up(
    spec: VmSpec, *, uri: str | None = None, jump: str | None = None
) -> tuple[base.Record, bool]:
    """Bring `spec` up to ready; return its record and whether it was started now. With `uri`
    (libvirt only), the domain is defined on that host's libvirt, and its guest reached through
    SSH destination `jump` (that host).

    A failed start leaves nothing behind: no process, runtime dir, known_hosts or lock file.
    """
    if uri is not None and spec.backend is not BackendName.libvirt:
        raise UsageError(f"VM {spec.name}: only the libvirt backend starts VMs on other hosts")
    with locked(spec.name):
        try:
            return _up_locked(spec, remote_extra(uri, jump))
        except BaseException:
            if base.load_record(spec.name) is None:
                base.forget(spec.name)
                base.lock_path(spec.name).unlink(missing_ok=True)
            raise


def _up_locked(spec: VmSpec, extra: dict[str, Any]) -> tuple[base.Record, bool]:
    backend = backend_for(spec.backend)
    record = base.load_record(spec.name)
    if record is not None:
        if record.backend == spec.backend and backend.alive(record):
            if record.spec() != spec:
                raise UsageError(
                    f"VM {spec.name} is already up with other settings; "
                    f"run: ptnet vm down {spec.name}"
                )
            _wait_ready(backend, record, time.monotonic() + 30)
            return record, False
        _teardown(record)
    launch, image = plan(spec)
    assert image is not None
    ready_within = ready_timeout(launch.accel)
    assert isinstance(launch.ssh_port, int)
    base.known_hosts(spec.name).write_text(ssh.known_hosts_line(launch.ssh_port, image.host_key))
    record = base.Record(
        name=spec.name,
        backend=spec.backend,
        settings={k: v for k, v in spec.to_dict().items() if k != "ports"},
        ports=list(launch.ports),
        image={"name": image.name, "key": image.key, "dir": str(image.dir)},
        ssh_port=launch.ssh_port,
        run_dir=launch.run_dir,
        console_log=launch.console_log,
        known_hosts=str(base.known_hosts(spec.name)),
        accel=launch.accel,
        started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        extra=dict(extra),
    )
    start = time.monotonic()
    try:
        backend.start(launch, record)
        base.save_record(record)
        _wait_ready(backend, record, start + ready_within)
    except BaseException:
        _teardown(record)
        raise
    record.ready_seconds = round(time.monotonic() - start, 3)
    base.save_record(record)
    host.log(f"{spec.name} is ready in {record.ready_seconds:.1f} s (ssh port {launch.ssh_port})")
    return record, True


def target(record: base.Record) -> ssh.Target:
    """Where to SSH into `record`; its known_hosts is rewritten from the image if it was lost."""
    known = Path(record.known_hosts)
    if not known.is_file():
        name, key = record.image.get("name", ""), record.image.get("key", "")
        pub = images.images_cache() / name / key / "host_key.pub"
        if not (name and key and pub.is_file()):
            raise PtnetError(f"no pinned host key for {record.name}: its image is not cached")
        known.parent.mkdir(parents=True, exist_ok=True)
        known.write_text(ssh.known_hosts_line(record.ssh_port, pub.read_text().strip()))
    jump = record.extra.get("jump")
    return ssh.Target(record.ssh_port, known, jump if isinstance(jump, str) else None)


def _wait_ready(backend: base.Backend, record: base.Record, deadline: float) -> None:
    """SSH answers (with the pinned key) and each port's NIC is up in the guest."""
    if record.extra.get("jump"):
        _wait_ready_remote(backend, record, deadline)
        return
    with progress(f"{record.name}: waiting for SSH") as say:
        try:
            ssh.wait_for_banner(
                record.ssh_port, deadline, lambda: backend.alive(record), f"VM {record.name}"
            )
        except PtnetError as exc:
            raise PtnetError(f"{exc} (console: {record.console_log})") from exc
        say(f"{record.name}: waiting for its ports")
        wait_ports(record, record.ports, deadline)


def _wait_ready_remote(backend: base.Backend, record: base.Record, deadline: float) -> None:
    """The same on another host, where the guest's port forward is on that host's loopback:
    retry SSH through the host until the guest answers, then wait for its ports."""
    with progress(f"{record.name}: waiting for SSH through {record.extra['jump']}"):
        while True:
            try:
                wait_ports(record, record.ports, deadline)
                return
            except PtnetError as exc:
                if time.monotonic() > deadline:
                    raise PtnetError(
                        f"VM {record.name} did not answer on SSH in time: {exc}"
                    ) from exc
                if not backend.alive(record):
                    raise PtnetError(f"VM {record.name} stopped before SSH answered") from exc
            time.sleep(2)


def wait_ports(
    record: base.Record, ports: list[VmPort], deadline: float, *, bring_up: bool = False
) -> None:
    """Wait until the guest has an up NIC with each port's MAC; a driver may probe it late.
    With bring_up, a NIC that is there but down is set up (a hot-plugged one)."""
    while True:
        try:
            result = ssh.run(
                target(record), _PORTS_PROBE, timeout=max(5.0, deadline - time.monotonic())
            )
        except PtnetError as exc:
            raise PtnetError(f"{exc} (console: {record.console_log})") from exc
        nics = {}
        for line in result.stdout.decode(errors="replace").splitlines():
            mac, state, dev = (line.split() + ["", "", ""])[:3]
            nics[mac] = (state, dev)
        bad = [
            (p, *nics.get(p.mac, ("missing", "?")))
            for p in ports
            if nics.get(p.mac, ("missing",))[0] not in ("up", "unknown")
        ]
        if not bad:
            return
        down = [dev for _p, state, dev in bad if state == "down"]
        if bring_up and down:
            up_cmd = " && ".join(f"ip link set {d} up" for d in down)
            ssh.run(target(record), up_cmd, timeout=30 * slowdown(record.accel))
            continue
        if time.monotonic() > deadline:
            p, state, dev = bad[0]
            raise PtnetError(
                f"VM {record.name}: port {p.spec} ({p.mac}) is {state} in the guest ({dev})"
            )
        time.sleep(1)


def _teardown(record: base.Record) -> None:
    """Stop the VM if it runs and remove every file ptnet keeps for it (the console log stays)."""
    try:
        backend_for(record.backend).stop(record)
    finally:
        base.forget(record.name, record.run_dir)


def find(name: str) -> base.Record:
    record = base.load_record(name)
    if record is None:
        for r in discovered():
            if r.name == name:
                return r
        raise UsageError(f"no VM named {name!r}; see: ptnet vm list")
    return record


def discovered() -> list[base.Record]:
    """Records from local state, plus the VMs the backends find without it."""
    out = {r.name: r for r in base.records()}
    for backend in BackendName:
        for r in backend_for(backend).discover():
            out.setdefault(r.name, r)
    return [out[n] for n in sorted(out)]


def down(name: str) -> bool:
    """Take VM `name` down and remove its files; False when there was nothing to do."""
    check_name(name)
    with locked(name):
        record = base.load_record(name)
        if record is None:
            record = next((r for r in discovered() if r.name == name), None)
        if record is None:
            base.forget(name)
            return False
        _teardown(record)
    base.lock_path(name).unlink(missing_ok=True)
    base.console_log(name).unlink(missing_ok=True)
    return True


def down_all() -> list[str]:
    names = [r.name for r in discovered()]
    return [n for n in names if down(n)]


def status(record: base.Record) -> dict[str, Any]:
    alive = backend_for(record.backend).alive(record)
    return {
        "name": record.name,
        "backend": record.backend.value,
        "state": "running" if alive else "dead",
        "pid": record.pid,
        "ssh": f"127.0.0.1:{record.ssh_port}",
        "image": record.image.get("name", ""),
        "cpus": record.settings.get("cpus"),
        "mem_mb": record.settings.get("mem_mb"),
        "port_mode": record.settings.get("port_mode"),
        "ports": [str(p.spec) for p in record.ports],
        "accel": record.accel,
        "ready_seconds": record.ready_seconds,
        "console_log": record.console_log,
        "run_dir": record.run_dir,
    }
