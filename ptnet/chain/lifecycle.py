"""A chain's life: create (converging), destroy, list and show.

`create` turns a ChainPlan into running NF VMs through the VM layer (ptnet/vm/lifecycle.py),
boots them in parallel, starts each NF's role program over SSH, and returns once every NF is
ready (SSH answers, its ports are up, its role process runs). It converges: VMs that already
run as planned are kept, a VM whose spec changed is replaced, a role whose command changed is
restarted, and VMs the plan no longer has go.

    state: <state>/chains/<name>.json   the chain record (JSON, atomic writes)
           <state>/chains/<name>.lock   held while a ptnet process changes that chain

The record is written before any side effect, with every VM the chain may own, so that
`destroy` works after a `kill -9` in the middle of `create`. Each NF VM is also marked with its
chain (a file in its runtime directory on the qemu backend, the domain's <metadata> on libvirt),
so that `list` and `destroy` find chains without the record too.
"""

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ptnet import paths
from ptnet.backend import base
from ptnet.build.tools import tool_path
from ptnet.errors import PtnetError, UsageError
from ptnet.guest import ssh
from ptnet.locking import file_lock
from ptnet.model.vm import BackendName, VmSpec
from ptnet.plan import chain as chain_plan
from ptnet.vm import lifecycle as vms

STATS = "/run/ptnet-nf/stats.json"
RUN = "/run/ptnet-nf"
CHAIN_MARK = "chain"  # the file in a qemu VM's runtime directory naming its chain
CHAIN_NS = "https://ptnet.invalid/xmlns/chain/1"

Say = Callable[[str], None]


def say_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def chains_dir() -> Path:
    return paths.state_dir() / "chains"


def record_path(name: str) -> Path:
    return chains_dir() / f"{name}.json"


def lock_path(name: str) -> Path:
    return chains_dir() / f"{name}.lock"


@dataclass
class NfRecord:
    """One NF as the chain started it: its VM, its role and the command that runs it."""

    name: str
    role: str
    trust: str
    vm: str
    backend: str
    spec: dict[str, Any]  # the VmSpec, as VmSpec.to_dict()
    command: list[str]  # the role's argv, with netmap:IN / netmap:OUT still unresolved
    ports: list[str]  # in, out
    devs: list[str] = field(default_factory=list)  # the guest netdevs of in, out
    ready_seconds: float | None = None


@dataclass
class ChainRecord:
    name: str
    state: str  # creating, ready or destroying
    nfs: list[NfRecord]
    owned_vms: list[str]  # every VM the chain may have started (a superset while creating)
    plan: dict[str, Any]  # the plan's JSON, for show and validate
    ingress_port: str
    egress_port: str
    persistent: list[list[str]] = field(default_factory=list)  # [name, slots, rings] VALE ports
    attached: list[str] = field(default_factory=list)  # valeS:IF, NICs attached to switches
    created: str = ""
    updated: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ChainRecord":
        nfs = [NfRecord(**n) for n in data["nfs"]]
        return cls(**{**data, "nfs": nfs})


def load(name: str) -> ChainRecord | None:
    path = record_path(name)
    try:
        return ChainRecord.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, KeyError) as exc:
        raise PtnetError(f"{path} is not a ptnet chain record ({exc}); remove it") from exc


def save(record: ChainRecord) -> None:
    record.updated = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    path = record_path(record.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(record.to_json(), indent=2) + "\n")
    tmp.replace(path)


def _nf_records(plan: chain_plan.ChainPlan) -> list[NfRecord]:
    return [
        NfRecord(
            name=p.nf.name,
            role=p.nf.role,
            trust=str(p.nf.trust),
            vm=p.vm.name,
            backend=p.vm.backend.value,
            spec=p.vm.to_dict(),
            command=list(p.command),
            ports=[str(port) for port in p.vm.ports],
        )
        for p in plan.nfs
    ]


# ---------------------------------------------------------------------------------------------
# create


def create(plan: chain_plan.ChainPlan, *, say: Say = say_stderr) -> ChainRecord:
    """Bring the chain of `plan` to running and ready; idempotent."""
    parent = plan.pipe_parent
    return converge(
        plan.spec.name,
        _nf_records(plan),
        ingress=str(plan.ingress_port or ""),
        egress=str(plan.egress_port or ""),
        plan_json=chain_plan.to_dict(plan),
        persistent=[] if parent is None else [[parent.name, str(parent.slots), str(parent.rings)]],
        attaches=[h.attach for h in plan.hops if h.attach is not None],
        say=say,
    )


def netmap_present() -> bool:
    return os.path.exists("/dev/netmap")


def converge(
    name: str,
    wanted: list[NfRecord],
    *,
    ingress: str,
    egress: str,
    plan_json: dict[str, Any],
    persistent: Sequence[list[str]] = (),
    attaches: Sequence[str] = (),
    say: Say = say_stderr,
) -> ChainRecord:
    """Make chain `name` the NFs `wanted`, keeping what already runs as wanted."""
    if not netmap_present():
        raise PtnetError(
            f"chain {name}: this host has no /dev/netmap (netmap.ko is not loaded); "
            "chains run where netmap.ko is loaded (the lab: ptnet lab run)"
        )
    chains_dir().mkdir(parents=True, exist_ok=True)
    with file_lock(lock_path(name)):
        old = load(name)
        old_vms = set(old.owned_vms) if old else set()
        # Intent first: whatever happens from here, destroy finds every VM this run may touch.
        record = ChainRecord(
            name=name,
            state="creating",
            nfs=wanted,
            owned_vms=sorted(old_vms | {n.vm for n in wanted}),
            plan=plan_json,
            ingress_port=ingress,
            egress_port=egress,
            persistent=[list(p) for p in persistent],
            attached=list(attaches),
            created=old.created if old else time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        )
        save(record)
        _host_ports(record, old, say)
        _converge_vms(record, old, say)
        record.state = "ready"
        record.owned_vms = sorted(n.vm for n in wanted)
        save(record)
    say(f"{name}: ready ({len(wanted)} NFs)")
    return record


def _converge_vms(record: ChainRecord, old: ChainRecord | None, say: Say) -> None:
    name, wanted = record.name, record.nfs
    before = {n.vm: n for n in old.nfs} if old else {}
    keep: list[NfRecord] = []
    boot: list[NfRecord] = []
    for nf in wanted:
        running = base.load_record(nf.vm)
        same = (
            running is not None
            and vms.backend_for(running.backend).alive(running)
            and running.spec() == VmSpec.from_dict(nf.spec)
        )
        (keep if same else boot).append(nf)
    # Go first: VMs no longer wanted, and those that restart with other settings (their ports
    # may be the ones the new VMs take).
    stale = set(record.owned_vms) - {n.vm for n in keep}
    for vm in sorted(stale):
        if _down(vm):
            say(f"{name}: VM {vm}: stopped (not as planned)")
    for nf in boot:
        say(f"{name}: {nf.name} ({nf.role}, {nf.trust}): booting VM {nf.vm}")
    _boot_all(boot, name, say)
    for nf in keep:
        say(f"{name}: {nf.name}: VM {nf.vm} already up as planned")
        prev = before.get(nf.vm)
        nf.ready_seconds = prev.ready_seconds if prev else None
        _ensure_role(nf, prev, name, say)
    for nf in boot:
        _ensure_role(nf, None, name, say)


def _vale_ctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tool_path("vale-ctl")), *args], capture_output=True, text=True, check=False
    )


def _host_ports(record: ChainRecord, old: ChainRecord | None, say: Say) -> None:
    """The pipe parent (a persistent VALE port) and the NIC attaches, before any VM opens them.
    Both are there already when a previous create made them; ones no longer wanted go."""
    wanted = {p[0] for p in record.persistent}
    for name in sorted({p[0] for p in old.persistent} - wanted if old else set()):
        _vale_ctl("-r", name)
    for attach in sorted(set(old.attached) - set(record.attached) if old else set()):
        _vale_ctl("-d", attach)
    for name, slots, rings in record.persistent:
        made = _vale_ctl("-n", name, "-C", f"{slots},{slots},{rings},{rings}")
        if made.returncode == 0:
            say(f"{record.name}: pipe parent {name} created ({rings} rings of {slots} slots)")
        elif "exists" not in made.stderr.lower():
            raise PtnetError(f"chain {record.name}: vale-ctl -n {name}: {made.stderr.strip()}")
    for attach in record.attached:
        made = _vale_ctl("-a", attach)
        if made.returncode == 0:
            say(f"{record.name}: {attach} attached")
        elif "busy" not in made.stderr.lower() and "exists" not in made.stderr.lower():
            raise PtnetError(f"chain {record.name}: vale-ctl -a {attach}: {made.stderr.strip()}")


def _boot_all(nfs: list[NfRecord], chain: str, say: Say) -> None:
    """`ptnet vm up` every NF's VM at once (the boots overlap), each marked with its chain."""
    if not nfs:
        return
    failures: list[str] = []

    def boot(nf: NfRecord) -> None:
        start = time.monotonic()
        try:
            record, _ = vms.up(VmSpec.from_dict(nf.spec))
        except PtnetError as exc:
            failures.append(f"{nf.name}: {exc}")
            return
        mark(record, chain)
        nf.ready_seconds = round(time.monotonic() - start, 1)
        say(f"{chain}: {nf.name}: VM {nf.vm} up, SSH and ports ready in {nf.ready_seconds} s")

    with ThreadPoolExecutor(max_workers=len(nfs)) as pool:
        list(pool.map(boot, nfs))
    if failures:
        raise PtnetError(f"chain {chain}: " + "; ".join(failures))


def mark(record: base.Record, chain: str) -> None:
    """Name the VM's chain where discovery finds it without the chain's record."""
    if record.backend is BackendName.libvirt:
        _libvirt_mark(record.name, chain)
    else:
        Path(record.run_dir, CHAIN_MARK).write_text(chain + "\n")


def _libvirt_mark(vm: str, chain: str) -> None:
    import libvirt

    from ptnet.backend.libvirt import connection

    with connection() as conn:
        dom = conn.lookupByName(vm)
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if dom.isActive():
            flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
        xml = f'<chain name="{chain}"/>'
        dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, xml, "ptnetchain", CHAIN_NS, flags)


def marked_chain(record: base.Record) -> str | None:
    """The chain a VM belongs to, from its mark; None when it has none."""
    if record.backend is BackendName.libvirt:
        return _libvirt_chain(record.name)
    try:
        return Path(record.run_dir, CHAIN_MARK).read_text().strip() or None
    except OSError:
        return None


def _libvirt_chain(vm: str) -> str | None:
    import xml.etree.ElementTree as ET

    import libvirt

    from ptnet.backend.libvirt import connection

    try:
        with connection() as conn:
            dom = conn.lookupByName(vm)
            text = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, CHAIN_NS)
    except (libvirt.libvirtError, PtnetError):
        return None
    return ET.fromstring(text).get("name")


def vm_target(vm: str) -> tuple[base.Record, ssh.Target]:
    record = vms.find(vm)
    return record, vms.target(record)


def guest(vm: str, command: str, *, timeout: float = 60.0) -> ssh.Result:
    record, target = vm_target(vm)
    return ssh.run(target, command, timeout=timeout * vms.slowdown(record.accel))


def resolve_devs(nf: NfRecord) -> list[str]:
    """The guest netdevs of the NF's in and out ports, found by the MACs the VM record holds."""
    record, target = vm_target(nf.vm)
    macs = {str(p.spec): p.mac for p in record.ports}
    probe = 'for d in /sys/class/net/*; do echo "$(cat $d/address) ${d##*/}"; done'
    out = ssh.run(target, probe, timeout=60 * vms.slowdown(record.accel)).stdout.decode()
    by_mac = dict(line.split()[:2] for line in out.splitlines() if len(line.split()) >= 2)
    devs = []
    for port in nf.ports:
        dev = by_mac.get(macs.get(port, ""))
        if dev is None:
            raise PtnetError(f"NF {nf.name}: no netdev for port {port} in VM {nf.vm}")
        devs.append(dev)
    return devs


def role_argv(nf: NfRecord) -> list[str]:
    """The role's command, with the netdevs the guest really gave the in and out ports."""
    names = {chain_plan.GUEST_IN: nf.devs[0], chain_plan.GUEST_OUT: nf.devs[1]}
    return [_swap_devs(a, names) for a in nf.command]


def _swap_devs(arg: str, names: dict[str, str]) -> str:
    for planned, real in names.items():
        if arg == planned or arg == f"netmap:{planned}":
            return arg.replace(planned, real)
    return arg


def _role_script(argv: list[str]) -> str:
    """Start the role detached (SIGHUP ignored, its pid in RUN/pid), then check that it still
    runs a moment later. The image is busybox without nohup."""
    cmd = shlex.join(argv)
    return (
        f"mkdir -p {RUN} && rm -f {STATS} && "
        f"{{ (trap '' HUP; exec {cmd}) >{RUN}/log 2>&1 </dev/null & echo $! >{RUN}/pid; }} && "
        f"sleep 1 && kill -0 $(cat {RUN}/pid) 2>/dev/null || {{ cat {RUN}/log >&2; exit 1; }}"
    )


def role_running(nf: NfRecord) -> bool:
    """The role process the chain started runs, with exactly the command the chain wants."""
    check = f"p=$(cat {RUN}/pid 2>/dev/null) && kill -0 $p 2>/dev/null && cat /proc/$p/cmdline"
    result = guest(nf.vm, check)
    argv = [a.decode(errors="replace") for a in result.stdout.split(b"\0")[:-1]]
    return result.exit_code == 0 and argv == role_argv(nf)


def _ensure_role(nf: NfRecord, prev: NfRecord | None, chain: str, say: Say) -> None:
    nf.devs = resolve_devs(nf)
    if prev is not None and role_running(nf):
        say(f"{chain}: {nf.name}: role {nf.role} already runs")
        return
    start_role(nf)
    say(f"{chain}: {nf.name}: role {nf.role} runs on {nf.devs[0]} -> {nf.devs[1]}")


def start_role(nf: NfRecord) -> None:
    """(Re)start the NF's role in its guest, detached; PtnetError if it does not stay up."""
    stop_role(nf.vm)
    result = guest(nf.vm, _role_script(role_argv(nf)))
    if result.exit_code != 0:
        detail = result.stderr.decode(errors="replace").strip().splitlines()
        raise PtnetError(
            f"NF {nf.name}: role {nf.role} did not start in VM {nf.vm}: "
            + (detail[-1] if detail else f"exit code {result.exit_code}")
        )


def stop_role(vm: str) -> None:
    guest(vm, f"p=$(cat {RUN}/pid 2>/dev/null) && kill $p 2>/dev/null; rm -f {RUN}/pid; true")


# ---------------------------------------------------------------------------------------------
# destroy, list, show


def _down(vm: str) -> bool:
    """`ptnet vm down`, and no lock file or console log left where there was no VM to take
    down (a boot that failed leaves its console log)."""
    gone = vms.down(vm)
    base.lock_path(vm).unlink(missing_ok=True)
    base.console_log(vm).unlink(missing_ok=True)
    return gone


def _discovered_members() -> dict[str, list[str]]:
    """Chain name -> the VMs marked as its members, from the backends alone."""
    out: dict[str, list[str]] = {}
    for r in vms.discovered():
        if (chain := marked_chain(r)) is not None:
            out.setdefault(chain, []).append(r.name)
    return out


def names() -> list[str]:
    """Every chain: those with a record, and those only the backends know of."""
    recorded = {p.stem for p in chains_dir().glob("*.json")}
    return sorted(recorded | set(_discovered_members()))


def destroy(name: str, *, say: Say = say_stderr) -> bool:
    """Take chain `name` down and remove its files; False when there was nothing."""
    chains_dir().mkdir(parents=True, exist_ok=True)
    with file_lock(lock_path(name)):
        record = load(name)
        members = set(_discovered_members().get(name, []))
        if record is not None:
            members |= set(record.owned_vms) | {n.vm for n in record.nfs}
            record.state = "destroying"
            save(record)
        if record is None and not members:
            lock_path(name).unlink(missing_ok=True)
            return False
        for vm in sorted(members):
            if _down(vm):
                say(f"{name}: VM {vm} stopped and removed")
        for attach in record.attached if record else []:
            _vale_ctl("-d", attach)
        for port in record.persistent if record else []:
            _vale_ctl("-r", port[0])
        record_path(name).unlink(missing_ok=True)
    lock_path(name).unlink(missing_ok=True)
    say(f"{name}: destroyed")
    return True


def destroy_all(*, say: Say = say_stderr) -> list[str]:
    return [n for n in names() if destroy(n, say=say)]


def find(name: str) -> ChainRecord:
    record = load(name)
    if record is None:
        raise UsageError(f"no chain named {name!r}; see: ptnet chain list")
    return record


def nf_stats(nf: NfRecord) -> dict[str, Any] | None:
    """The NF's stats JSON, read over SSH; None when it cannot be read."""
    try:
        result = guest(nf.vm, f"cat {STATS}", timeout=30)
    except PtnetError:
        return None
    if result.exit_code != 0:
        return None
    try:
        data = json.loads(result.stdout)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def status(record: ChainRecord, *, counters: bool = False) -> dict[str, Any]:
    nfs = []
    for nf in record.nfs:
        vm = base.load_record(nf.vm)
        alive = vm is not None and vms.backend_for(vm.backend).alive(vm)
        row: dict[str, Any] = {
            "name": nf.name,
            "role": nf.role,
            "trust": nf.trust,
            "vm": nf.vm,
            "backend": nf.backend,
            "state": "running" if alive else "dead",
            "ports": nf.ports,
            "devs": nf.devs,
            "ready_seconds": nf.ready_seconds,
        }
        if counters:
            row["stats"] = nf_stats(nf) if alive else None
        nfs.append(row)
    states = {n["state"] for n in nfs}
    return {
        "name": record.name,
        "state": record.state if record.state != "ready" or states <= {"running"} else "degraded",
        "nfs": nfs,
        "hops": record.plan.get("hops", []),
        "regions": record.plan.get("regions", []),
        "ingress_port": record.ingress_port,
        "egress_port": record.egress_port,
        "created": record.created,
    }


def listing() -> list[dict[str, Any]]:
    rows = []
    members = _discovered_members()
    for n in names():
        record = load(n)
        if record is None:
            rows.append({"name": n, "state": "orphan", "nfs": [], "vms": members.get(n, [])})
            continue
        s = status(record)
        s["vms"] = [nf.vm for nf in record.nfs]
        rows.append(s)
    return rows
