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

A chain across hosts (ptnet/model/chain_hosts.py) keeps each host in its record, with the steps
that set it up and tear it down (ptnet/chain/host_steps.py). `create` runs every host's setup
(remote ones over ssh) before any VM starts, then defines each remote NF's domain through its
host's libvirt and reaches its guest through that host's SSH. `destroy` removes what it can on
every host: a host that cannot be reached is named in one error, after all the others were
cleaned, and the record stays so that `destroy` can finish once the host is back. `list` and
`show` read each host's libvirt.
"""

import contextlib
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ptnet import paths
from ptnet.backend import base
from ptnet.build.tools import tool_path
from ptnet.chain import host_steps
from ptnet.chain.host_steps import HostRecord
from ptnet.chain.hosts import host_timeout
from ptnet.errors import PtnetError, UsageError
from ptnet.guest import ssh
from ptnet.locking import file_lock
from ptnet.model.chain_hosts import LOCAL
from ptnet.model.ports import parse_port
from ptnet.model.vm import BackendName, VmSpec
from ptnet.plan import chain as chain_plan
from ptnet.vm import lifecycle as vms

STATS = "/run/ptnet-nf/stats.json"
RUN = "/run/ptnet-nf"
CHAIN_MARK = "chain"  # the file in a qemu VM's runtime directory naming its chain
CHAIN_NS = "https://ptnet.invalid/xmlns/chain/1"

Say = Callable[[str], None]
K = TypeVar("K")
V = TypeVar("V")


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
    host: str = LOCAL  # the host it runs on (a chain across hosts)
    uri: str | None = None  # that host's libvirt; None on this host
    jump: str | None = None  # that host's SSH target, through which its guest is reached


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
    hosts: list[HostRecord] = field(default_factory=list)  # a chain across hosts: every host

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ChainRecord":
        nfs = [NfRecord(**n) for n in data["nfs"]]
        hosts = [HostRecord(**h) for h in data.get("hosts", [])]
        return cls(**{**data, "nfs": nfs, "hosts": hosts})


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
            host=p.nf.host,
            uri=p.uri,
            jump=None if p.uri is None else plan.spec.host(p.nf.host).ssh,
        )
        for p in plan.nfs
    ]


def _host_records(plan: chain_plan.ChainPlan) -> list[HostRecord]:
    """The hosts of a chain across hosts with their steps, tools and VM files at this host's
    paths (the hosts share them: see docs/multi-host.md)."""
    return host_steps.host_records(
        plan,
        tool=lambda name: str(tool_path(name)),
        dirs=lambda vm: [str(base.vm_run_dir(vm)), str(base.vms_state_dir())],
        files=lambda vm: [str(base.vm_run_dir(vm)), str(base.console_log(vm))],
    )


# ---------------------------------------------------------------------------------------------
# create


def create(plan: chain_plan.ChainPlan, *, say: Say = say_stderr) -> ChainRecord:
    """Bring the chain of `plan` to running and ready; idempotent."""
    if plan.spread:
        return _create_spread(plan, say)
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


def _create_spread(plan: chain_plan.ChainPlan, say: Say) -> ChainRecord:
    """create() of a chain across hosts: every host's steps, this one's included, are in the
    record's hosts. A first create that fails removes what it started on every host, so that
    nothing is left anywhere; a converging one leaves the chain to destroy."""
    name = plan.spec.name
    fresh = load(name) is None
    try:
        return converge(
            name,
            _nf_records(plan),
            ingress=str(plan.ingress_port or ""),
            egress=str(plan.egress_port or ""),
            plan_json=chain_plan.to_dict(plan),
            hosts=_host_records(plan),
            say=say,
        )
    except PtnetError as exc:
        if not fresh:
            raise
        say(f"{name}: create failed; removing what it started on every host")
        try:
            destroy(name, say=say)
        except PtnetError as left:
            raise PtnetError(f"{exc}; and then: {left}") from exc
        raise


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
    hosts: Sequence[HostRecord] = (),
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
            hosts=list(hosts),
        )
        save(record)
        _host_ports(record, old, say)
        _setup_hosts(record, say)
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


def _on_hosts(
    hosts: Sequence[HostRecord], work: Callable[[HostRecord], None]
) -> dict[str, PtnetError]:
    """`work` on every host at once (one thread each); each host's error, by host name."""
    failed: dict[str, PtnetError] = {}

    def one(h: HostRecord) -> None:
        try:
            work(h)
        except PtnetError as exc:
            failed[h.name] = exc

    with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
        list(pool.map(one, hosts))
    return failed


def _setup_hosts(record: ChainRecord, say: Say) -> None:
    """Every host's setup steps (its pipe parent, NIC attaches, uplinks), before any VM."""

    def setup(h: HostRecord) -> None:
        host_steps.run(h, host_steps.setup_script(h.setup), host_timeout())
        say(f"{record.name}: host {h.name}: {len(h.setup)} setup steps done")

    failed = _on_hosts(record.hosts, setup)
    if failed:
        raise PtnetError(
            f"chain {record.name}: setup failed: " + "; ".join(str(e) for e in failed.values())
        )


def boot_slots() -> int:
    """How many local VM boots may overlap: as many as this machine has CPUs. A boot is
    CPU-bound, so more gain nothing; and in a one-CPU lab with nested KVM, QEMU's SVM emulation
    stalled the lab with three or four nested guests booting together (README, "The lab")."""
    return len(os.sched_getaffinity(0))


# This process's local VM boots in flight, whichever chain each is for (the bench grows two
# chains at once, each booting its own NFs).
_LOCAL_BOOTS = threading.BoundedSemaphore(boot_slots())


def _boot_all(nfs: list[NfRecord], chain: str, say: Say) -> None:
    """`ptnet vm up` every NF's VM at once, each marked with its chain; the local boots wait
    for a slot of _LOCAL_BOOTS (a remote one takes its own host's CPU)."""
    if not nfs:
        return
    failures: list[str] = []

    def boot(nf: NfRecord) -> None:
        start = time.monotonic()
        try:
            with _LOCAL_BOOTS if nf.host == LOCAL else contextlib.nullcontext():
                record, _ = vms.up(VmSpec.from_dict(nf.spec), uri=nf.uri, jump=nf.jump)
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
        _libvirt_mark(record, chain)
    else:
        Path(record.run_dir, CHAIN_MARK).write_text(chain + "\n")


def _libvirt_mark(record: base.Record, chain: str) -> None:
    import libvirt

    from ptnet.backend.libvirt import connection, record_uri

    with connection(record_uri(record)) as conn:
        dom = conn.lookupByName(record.name)
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if dom.isActive():
            flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
        xml = f'<chain name="{chain}"/>'
        dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, xml, "ptnetchain", CHAIN_NS, flags)


def marked_chain(record: base.Record) -> str | None:
    """The chain a VM belongs to, from its mark; None when it has none."""
    if record.backend is BackendName.libvirt:
        return _libvirt_chain(record)
    try:
        return Path(record.run_dir, CHAIN_MARK).read_text().strip() or None
    except OSError:
        return None


def _libvirt_chain(record: base.Record) -> str | None:
    import xml.etree.ElementTree as ET

    import libvirt

    from ptnet.backend.libvirt import connection, record_uri

    try:
        with connection(record_uri(record)) as conn:
            dom = conn.lookupByName(record.name)
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
    return devs_by_mac(nf, macs, out)


def devs_by_mac(nf: NfRecord, macs: dict[str, str], probe: str) -> list[str]:
    """The netdev of each of the NF's ports: `macs` maps the VM record's port specs (in their
    canonical form) to MACs, `probe` lists the guest's "MAC netdev" lines. An NF's port may be
    spelled another way (a pipe without its netmap: prefix), so it is compared canonically."""
    by_mac = dict(line.split()[:2] for line in probe.splitlines() if len(line.split()) >= 2)
    devs = []
    for port in nf.ports:
        dev = by_mac.get(macs.get(str(parse_port(port)), ""))
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


def _down_remote(nf: NfRecord) -> bool:
    """Remove the NF's domain on its host's libvirt, then this host's files of its VM;
    PtnetError (and the files kept) when that libvirt cannot be reached."""
    from ptnet.backend.libvirt import LibvirtBackend

    assert nf.uri is not None
    with vms.locked(nf.vm):
        gone = LibvirtBackend(nf.uri).remove(nf.vm)
        base.forget(nf.vm)
    base.lock_path(nf.vm).unlink(missing_ok=True)
    base.console_log(nf.vm).unlink(missing_ok=True)
    return gone


def remote_uris() -> list[str]:
    """The libvirt of every remote host some chain record names."""
    uris = set()
    for p in chains_dir().glob("*.json"):
        record = load(p.stem)
        uris |= {h.uri for h in record.hosts if h.uri is not None} if record else set()
    return sorted(uris)


def discover_remote(uris: Sequence[str], timeout: float) -> list[base.Record]:
    """This lab's domains on the libvirt at each of `uris`, all at once (a daemon thread each);
    a host that does not answer within `timeout` seconds gives nothing (libvirt's open over
    SSH cannot be cancelled, and may take TCP's minutes to fail)."""
    from ptnet.backend.libvirt import LibvirtBackend

    found = answers_within(timeout, {u: LibvirtBackend(u).discover for u in uris})
    return [r for u in uris for r in found.get(u, [])]


def answers_within(timeout: float, calls: dict[K, Callable[[], V]]) -> dict[K, V]:
    """Each call at once, in a daemon thread (a libvirt open over SSH cannot be cancelled);
    the answers that came within `timeout` seconds. A call that raised PtnetError or did not
    return in time has no answer."""
    found: dict[K, V] = {}

    def one(key: K, call: Callable[[], V]) -> None:
        with contextlib.suppress(PtnetError):
            found[key] = call()

    threads = [threading.Thread(target=one, args=kc, daemon=True) for kc in calls.items()]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return dict(found)


def _discovered_members() -> dict[str, list[str]]:
    """Chain name -> the VMs marked as its members, from the backends alone: this host's, and
    the libvirt of every remote host a chain record names (a host that does not answer gives
    nothing)."""
    # A remote VM's mark is read from what its host's libvirt answers in time, never from its
    # local record (opening an unreachable host's libvirt can take minutes).
    found = [r for r in vms.discovered() if not r.extra.get("jump")]
    uris = remote_uris()
    if uris:
        found += discover_remote(uris, host_timeout())
    out: dict[str, list[str]] = {}
    for r in found:
        if (chain := marked_chain(r)) is not None and r.name not in out.get(chain, []):
            out.setdefault(chain, []).append(r.name)
    return out


def names() -> list[str]:
    """Every chain: those with a record, and those only the backends know of."""
    recorded = {p.stem for p in chains_dir().glob("*.json")}
    return sorted(recorded | set(_discovered_members()))


class HostsLeft(PtnetError):
    """destroy cleaned every host but these, which could not be reached (the record stays)."""


def destroy(name: str, *, say: Say = say_stderr) -> bool:
    """Take chain `name` down and remove its files on every host; False when there was
    nothing. A host that cannot be reached does not stop the others from being cleaned: it is
    named in HostsLeft afterwards, and the record stays for a later destroy."""
    chains_dir().mkdir(parents=True, exist_ok=True)
    with file_lock(lock_path(name)):
        record = load(name)
        members = set(_discovered_members().get(name, []))
        remote = {n.vm: n for n in record.nfs if n.uri is not None} if record else {}
        if record is not None:
            members |= set(record.owned_vms) | {n.vm for n in record.nfs}
            record.state = "destroying"
            save(record)
        if record is None and not members:
            lock_path(name).unlink(missing_ok=True)
            return False
        # A host that SSH cannot reach within the bound is lost at once: its libvirt over SSH
        # would take minutes to fail.
        far = [h for h in (record.hosts if record else []) if h.remote]
        lost = _on_hosts(far, lambda h: host_steps.run(h, "true", host_timeout()))

        def down(vm: str) -> None:
            nf = remote.get(vm)
            if nf is not None and nf.host in lost:
                return
            try:
                gone = _down(vm) if nf is None else _down_remote(nf)
            except PtnetError as exc:
                if nf is None:
                    raise
                lost.setdefault(nf.host, PtnetError(f"host {nf.host}: {exc}"))
                return
            if gone:
                where = "" if nf is None else f" on {nf.host}"
                say(f"{name}: VM {vm}{where} stopped and removed")

        with ThreadPoolExecutor(max_workers=max(1, len(members))) as pool:
            list(pool.map(down, sorted(members)))
        for attach in record.attached if record else []:
            _vale_ctl("-d", attach)
        for port in record.persistent if record else []:
            _vale_ctl("-r", port[0])
        reachable = [h for h in (record.hosts if record else []) if h.name not in lost]
        lost |= _on_hosts(reachable, _teardown_host)
        if lost:
            assert record is not None
            save(record)
            hosts = "; ".join(" ".join(str(e).split()) for e in lost.values())
            raise HostsLeft(
                f"chain {name}: every other host was cleaned, but not {', '.join(lost)}: "
                f"{hosts}; run ptnet chain destroy {name} again once it is back"
            )
        record_path(name).unlink(missing_ok=True)
    lock_path(name).unlink(missing_ok=True)
    say(f"{name}: destroyed")
    return True


def _teardown_host(h: HostRecord) -> None:
    host_steps.run(h, host_steps.teardown_script(h.teardown), host_timeout())


def destroy_all(*, say: Say = say_stderr) -> list[str]:
    """destroy() every chain; the hosts that could not be reached, after all were tried."""
    done, left = [], []
    for n in names():
        try:
            if destroy(n, say=say):
                done.append(n)
        except HostsLeft as exc:
            left.append(str(exc))
    if left:
        raise HostsLeft(" | ".join(left))
    return done


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
        state = _vm_state(nf)
        alive = state == "running"
        row: dict[str, Any] = {
            "name": nf.name,
            "role": nf.role,
            "trust": nf.trust,
            "host": nf.host,
            "vm": nf.vm,
            "backend": nf.backend,
            "state": state,
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


def _vm_state(nf: NfRecord) -> str:
    """running or dead, as the NF's host's backend sees its VM; unreachable when its host's
    libvirt does not answer within PTNET_HOST_TIMEOUT (opening it over SSH can take minutes to
    fail, and show or list must not wait for that)."""
    vm = base.load_record(nf.vm)
    if vm is None:
        return "dead"
    backend = vms.backend_for(vm.backend)
    if nf.uri is None:
        return "running" if backend.alive(vm) else "dead"
    answer = answers_within(host_timeout(), {nf.vm: lambda: backend.alive(vm)})
    if nf.vm not in answer:
        return "unreachable"
    return "running" if answer[nf.vm] else "dead"


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
