"""VM lifecycle on either backend: up (to ready), down, list, show, SSH targets, hot-plug, console.

`up` returns only when the guest is ready: its SSH server answered with the pinned host key and
every netmap port's NIC is up inside. Each VM's changes happen under its own file lock, and every
state file is replaced atomically, so concurrent ptnet processes see either the old or the new.
"""

import os
import select
import socket
import sys
import termios
import time
import tty
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ptnet import host
from ptnet.backend import base
from ptnet.errors import PtnetError, UsageError
from ptnet.guest import ssh
from ptnet.locking import file_lock
from ptnet.model.ports import PortSpec, parse_port
from ptnet.model.vm import VmSpec
from ptnet.plan.qemu_argv import Launch, port_id


def slowdown(accel: str) -> float:
    """How many times longer than usual a guest takes to answer: 5 for TCG inside the TCG lab
    (about 30 times slower than TCG on the host), else 1."""
    return 5.0 if accel == "tcg" and os.environ.get("PTNET_LAB_ACCEL") == "tcg" else 1.0


def ready_timeout(accel: str) -> float:
    """Seconds `up` waits for SSH: PTNET_VM_READY_TIMEOUT, else 180 (900 for TCG in the lab)."""
    if env := os.environ.get("PTNET_VM_READY_TIMEOUT"):
        try:
            return float(env)
        except ValueError:
            raise UsageError(f"PTNET_VM_READY_TIMEOUT={env!r}: not a number of seconds") from None
    return 180.0 * slowdown(accel)


_PORTS_PROBE = (
    'for d in /sys/class/net/*; do echo "$(cat $d/address) $(cat $d/operstate) ${d##*/}"; done'
)


def get(backend: str) -> base.Backend:
    if backend == "qemu":
        from ptnet.backend.qemu import QemuBackend

        return QemuBackend()
    if backend == "libvirt":
        from ptnet.backend.libvirt import LibvirtBackend

        return LibvirtBackend()
    raise UsageError(f"unknown backend {backend!r}; choose qemu or libvirt")


@contextmanager
def _locked(name: str) -> Iterator[None]:
    with file_lock(base.lock_path(name)):
        yield


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _qemu_for(spec: VmSpec, *, dry_run: bool) -> tuple[str, tuple[str, ...]]:
    """The QEMU binary for `spec` and its firmware dirs: ours when it has ports, else Debian's."""
    if not spec.ports:
        return host.require("qemu-system-x86_64", "qemu-system-x86"), ()
    from ptnet.build import qemu as qemu_build

    try:
        return str(qemu_build.binary_path()), qemu_build.FIRMWARE_PATH
    except UsageError:
        if not dry_run:
            raise
        pin = qemu_build.load_pin()
        return str(
            qemu_build.version_dir(pin) / "build" / qemu_build.BINARY
        ), qemu_build.FIRMWARE_PATH


def check_ports_available(ports: tuple[PortSpec, ...]) -> None:
    """Ports are real netmap ports or nothing: refuse when this host cannot give them."""
    if ports and not os.path.exists("/dev/netmap"):
        raise PtnetError(
            f"--port {ports[0]}: this host has no /dev/netmap (netmap.ko is not loaded), "
            "so no netmap port can exist here; VMs with ports run where netmap.ko is loaded"
        )


def plan(spec: VmSpec, *, dry_run: bool = False) -> tuple[Launch, Any]:
    """The launch plan for `spec` and its image (built unless dry_run)."""
    from ptnet.build import image as images
    from ptnet.lab import accel
    from ptnet.lab import kernel as kernels
    from ptnet.plan.ports import check_port_for_mode

    for p in spec.ports:
        check_port_for_mode(p, spec.port_mode)
    if not dry_run:
        check_ports_available(spec.ports)
    qemu, firmware = _qemu_for(spec, dry_run=dry_run)
    image = images.current(spec.image) if dry_run else images.ensure(spec.image)
    kernel = kernels.find(image.kernel)
    accel_name = accel.choose(host.require("qemu-system-x86_64", "qemu-system-x86"), kernel)
    run_dir = base.vm_run_dir(spec.name) if dry_run else base.make_run_dir(spec.name)
    launch = Launch(
        spec=spec,
        qemu=qemu,
        accel=accel_name,
        vmlinux=str(image.vmlinux),
        initrd=str(image.initrd),
        run_dir=str(run_dir),
        console_log=str(base.console_log(spec.name)),
        ssh_port=free_port(),
        firmware_dirs=firmware,
        image_name=image.name,
        image_key=image.key,
    )
    return launch, image


def dry_run(spec: VmSpec) -> str:
    launch, _ = plan(spec, dry_run=True)
    return get(spec.backend).render(launch)


def up(spec: VmSpec) -> tuple[base.Record, bool]:
    """Bring `spec` up to ready; return its record and whether it was started now.

    A failed start leaves nothing behind: no process, runtime dir, known_hosts or lock file.
    """
    with _locked(spec.name):
        try:
            return _up_locked(spec)
        except BaseException:
            if base.load_record(spec.name) is None:
                base.forget(spec.name)
                base.lock_path(spec.name).unlink(missing_ok=True)
            raise


def _up_locked(spec: VmSpec) -> tuple[base.Record, bool]:
    backend = get(spec.backend)
    record = base.load_record(spec.name)
    if record is not None:
        if record.backend == spec.backend and get(record.backend).alive(record):
            if record.spec != spec.to_dict():
                raise UsageError(
                    f"VM {spec.name} is already up with other settings; "
                    f"run: ptnet vm down {spec.name}"
                )
            _wait_ready(get(record.backend), record, spec, time.monotonic() + 30)
            return record, False
        _teardown(record)
    launch, image = plan(spec)
    ready_within = ready_timeout(launch.accel)
    base.known_hosts(spec.name).write_text(ssh.known_hosts_line(launch.ssh_port, image.host_key))
    record = base.Record(
        name=spec.name,
        backend=spec.backend,
        spec=spec.to_dict(),
        image={"name": image.name, "key": image.key, "dir": str(image.dir)},
        ssh_port=launch.ssh_port,
        run_dir=launch.run_dir,
        console_log=launch.console_log,
        known_hosts=str(base.known_hosts(spec.name)),
        accel=launch.accel,
        started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    start = time.monotonic()
    try:
        backend.start(launch, record)
        base.save_record(record)
        _wait_ready(backend, record, spec, start + ready_within)
    except BaseException:
        _teardown(record)
        raise
    record.ready_seconds = round(time.monotonic() - start, 3)
    base.save_record(record)
    host.log(f"{spec.name} is ready in {record.ready_seconds:.1f} s (ssh port {launch.ssh_port})")
    return record, True


def target(record: base.Record) -> ssh.Target:
    """Where to SSH into `record`; its known_hosts is rewritten from the image if it was lost."""
    from pathlib import Path

    from ptnet.build import image as images

    known = Path(record.known_hosts)
    if not known.is_file():
        name, key = record.image.get("name", ""), record.image.get("key", "")
        pub = images.images_cache() / name / key / "host_key.pub"
        if not (name and key and pub.is_file()):
            raise PtnetError(f"no pinned host key for {record.name}: its image is not cached")
        known.parent.mkdir(parents=True, exist_ok=True)
        known.write_text(ssh.known_hosts_line(record.ssh_port, pub.read_text().strip()))
    return ssh.Target(record.ssh_port, known)


def _wait_ready(backend: base.Backend, record: base.Record, spec: VmSpec, deadline: float) -> None:
    """SSH answers (with the pinned key) and each port's NIC is up in the guest."""
    from ptnet.plan.ports import port_mac

    try:
        ssh.wait_for_banner(
            record.ssh_port, deadline, lambda: backend.alive(record), f"VM {record.name}"
        )
    except PtnetError as exc:
        raise PtnetError(f"{exc} (console: {record.console_log})") from exc
    _wait_ports(
        record, [(str(p), port_mac(spec.name, i)) for i, p in enumerate(spec.ports)], deadline
    )


def _wait_ports(
    record: base.Record, ports: list[tuple[str, str]], deadline: float, *, bring_up: bool = False
) -> None:
    """Wait until the guest has an up NIC with each (port, MAC); a driver may probe it late.
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
            (p, mac, *nics.get(mac, ("missing", "?")))
            for p, mac in ports
            if nics.get(mac, ("missing",))[0] not in ("up", "unknown")
        ]
        if not bad:
            return
        down = [dev for _p, _mac, state, dev in bad if state == "down"]
        if bring_up and down:
            up_cmd = " && ".join(f"ip link set {d} up" for d in down)
            ssh.run(target(record), up_cmd, timeout=30 * slowdown(record.accel))
            continue
        if time.monotonic() > deadline:
            p, mac, state, dev = bad[0]
            raise PtnetError(f"VM {record.name}: port {p} ({mac}) is {state} in the guest ({dev})")
        time.sleep(1)


def _teardown(record: base.Record) -> None:
    """Stop the VM if it runs and remove every file ptnet keeps for it (the console log stays)."""
    try:
        get(record.backend).stop(record)
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
    for backend in ("qemu", "libvirt"):
        for r in get(backend).discover():
            out.setdefault(r.name, r)
    return [out[n] for n in sorted(out)]


def down(name: str) -> bool:
    """Take VM `name` down and remove its files; False when there was nothing to do."""
    from ptnet.model.vm import check_name

    check_name(name)
    with _locked(name):
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
    alive = get(record.backend).alive(record)
    return {
        "name": record.name,
        "backend": record.backend,
        "state": "running" if alive else "dead",
        "pid": record.pid,
        "ssh": f"127.0.0.1:{record.ssh_port}",
        "image": record.image.get("name", ""),
        "cpus": record.spec.get("cpus"),
        "mem_mb": record.spec.get("mem_mb"),
        "port_mode": record.spec.get("port_mode"),
        "ports": record.spec.get("ports", []),
        "accel": record.accel,
        "ready_seconds": record.ready_seconds,
        "console_log": record.console_log,
        "run_dir": record.run_dir,
    }


def _qmp_opts(text: str) -> dict[str, Any]:
    """A QEMU `type,key=value,...` option string as QMP arguments (',,' is a literal comma)."""
    parts, cur, i = [], "", 0
    while i < len(text):
        if text[i] == ",":
            if text[i + 1 : i + 2] == ",":
                cur += ","
                i += 2
                continue
            parts.append(cur)
            cur = ""
        else:
            cur += text[i]
        i += 1
    parts.append(cur)
    out: dict[str, Any] = {"type": parts[0]}
    for item in parts[1:]:
        key, _, value = item.partition("=")
        out[key] = {"on": True, "off": False}.get(value, value)
    return out


def _port_ids(record: base.Record) -> dict[str, int]:
    """Port spec -> the index its netdev id and MAC derive from (stable across hot-plugs)."""
    ids: dict[str, int] = record.extra.get("port_ids") or {
        p: i for i, p in enumerate(record.spec.get("ports", []))
    }
    return dict(ids)


def port_add(name: str, spec_text: str) -> str:
    from ptnet.plan.ports import port_mac, qemu_port_args

    port = parse_port(spec_text)
    with _locked(name):
        record = find(name)
        backend = get(record.backend)
        if not backend.alive(record):
            raise PtnetError(f"VM {name} is not running; run: ptnet vm down {name}, then up")
        spec = VmSpec.from_dict(record.spec)
        if any(str(p) == str(port) for p in spec.ports):
            raise UsageError(f"VM {name} already has port '{port}'")
        from ptnet.plan.ports import check_port_for_mode

        check_port_for_mode(port, spec.port_mode)
        check_ports_available((port,))
        ids = _port_ids(record)
        index = max(ids.values(), default=-1) + 1
        nid = port_id(index)
        args = qemu_port_args(port, nid, port_mac(name, index), spec.port_mode)
        netdev = _qmp_opts(args[1])
        device = _qmp_opts(args[3])
        device["driver"] = device.pop("type")
        device["id"] = f"{nid}-nic"
        backend.qmp(record, "netdev_add", netdev)
        try:
            backend.qmp(record, "device_add", device)
        except PtnetError:
            backend.qmp(record, "netdev_del", {"id": nid})
            raise
        record.spec["ports"] = [*record.spec["ports"], str(port)]
        record.extra["port_ids"] = {**ids, str(port): index}
        base.save_record(record)
        # Ready like `up`: the guest's driver registered the NIC, and it is up.
        deadline = time.monotonic() + ready_timeout(record.accel) / 3
        _wait_ports(record, [(str(port), port_mac(name, index))], deadline, bring_up=True)
        return nid


def port_del(name: str, spec_text: str) -> None:
    port = parse_port(spec_text)
    with _locked(name):
        record = find(name)
        ids = _port_ids(record)
        if str(port) not in ids:
            raise UsageError(f"VM {name} has no port '{port}'")
        nid = port_id(ids.pop(str(port)))
        backend = get(record.backend)
        backend.qmp(record, "device_del", {"id": f"{nid}-nic"})
        release_within = 30 * slowdown(record.accel)
        deadline = time.monotonic() + release_within
        while any(
            d.get("name") == f"{nid}-nic"
            for d in backend.qmp(record, "qom-list", {"path": "/machine/peripheral"})
        ):
            if time.monotonic() > deadline:
                raise PtnetError(
                    f"the guest of {name} did not release {port} in {release_within:g} s"
                )
            time.sleep(0.2)
        backend.qmp(record, "netdev_del", {"id": nid})
        record.spec["ports"] = [p for p in record.spec["ports"] if p != str(port)]
        record.extra["port_ids"] = ids  # the other ports keep their ids (and MACs)
        base.save_record(record)


def console(record: base.Record) -> None:
    """Attach the terminal to the VM's serial console; Ctrl-] detaches."""
    from pathlib import Path

    path = Path(record.run_dir) / "console.sock"
    try:
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(str(path))
    except OSError as exc:
        raise PtnetError(f"cannot reach the console of {record.name} ({path}): {exc}") from exc
    stdin = sys.stdin.fileno()
    interactive = os.isatty(stdin)
    saved = termios.tcgetattr(stdin) if interactive else None
    if interactive:
        host.log(f"console of {record.name}; detach with Ctrl-]")
        tty.setraw(stdin)
    idle_after_eof: float | None = None
    try:
        while True:
            fds = [sock] if idle_after_eof is not None else [sock, stdin]
            ready, _, _ = select.select(fds, [], [], 0.5)
            if sock in ready:
                data = sock.recv(65536)
                if not data:
                    break
                os.write(sys.stdout.fileno(), data)
                if idle_after_eof is not None:
                    idle_after_eof = time.monotonic()
            if stdin in ready:
                data = os.read(stdin, 4096)
                if interactive and b"\x1d" in data:
                    break
                if not data:
                    idle_after_eof = time.monotonic()
                else:
                    sock.sendall(data)
            if idle_after_eof is not None and time.monotonic() - idle_after_eof > 1.0:
                break  # input ended and the guest has been quiet for a second
    finally:
        sock.close()
        if saved is not None:
            termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
