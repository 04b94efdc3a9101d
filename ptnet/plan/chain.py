"""A chain's plan: which link each hop is and why, the ports each side opens, the memory regions,
each NF as a VM, and the command that starts its role. Pure: `plan()` does no I/O.

The hops run ingress -> nf0 -> ... -> egress, and trust picks each one's link:

- Between two trusted ends (a trusted NF, or a host end) the hop is a netmap pipe: the left side
  opens the master end `PARENT{I`, the right side the slave end `PARENT}I` (I: the hop's index).
  Every pipe of the chain has the same parent, the persistent VALE port named after the chain
  (parent_name: CHAIN with '_' for '-'), so every
  pipe is in the parent's one private region: a trusted NF forwards from its in port to its
  out port by swapping buffers, and the chain is zero-copy end to end.
- A hop with an untrusted end, or with a NIC end, is a VALE switch of its own with two ports.
  Each side's port is an ephemeral VALE port with its own private region, and the switch copies
  between them, so an untrusted VM never maps another VM's buffers. A NIC end is attached to its
  hop's switch (VALE attach) and keeps its rings in the global region.

The pipe parent's region (kernel/mem.c, nm_mem_geom_fit) is sized when the parent is created:
for the parent's own rings plus NM_PRIV_PIPES pipes of its size. Its netmap_if pool holds 2 +
4 * NM_PRIV_PIPES objects, the first reserved; every bound pipe end takes one, so the region
holds at most MAX_PIPES pipes with both ends bound, whatever the parent's rings. The plan gives
the parent the fewest rings (VALE_NEWIF, 1..16) whose ring and buffer pools hold the chain's
pipes, and refuses a chain with more pipes than MAX_PIPES.

Rendering each VM's QEMU line or domain XML needs a Launch (ptnet/vm/launch.py), which reads the
image recipes and finds QEMU: `dry_run_vms()` resolves them the way `ptnet vm up --dry-run` does,
and the renderers take the result, so that the same plan always prints the same text.
"""

import hashlib
import json
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ptnet.errors import UsageError
from ptnet.model.chain import ChainSpec, NfSpec, Trust
from ptnet.model.ports import PortSpec, parse_port
from ptnet.model.vm import BackendName, PortMode, VmSpec
from ptnet.plan.libvirt_xml import domain_xml
from ptnet.plan.ports import port_mac
from ptnet.plan.qemu_argv import Launch, qemu_argv

LinkKind = Literal["pipe", "vale"]
INGRESS, EGRESS = "ingress", "egress"
# In the guest, eth0 is management; the NF's two ptnet netdevs follow in port order.
GUEST_IN, GUEST_OUT = "eth1", "eth2"
STATS = "/run/ptnet-nf/stats.json"

# The kernel's sizing of a private region (kernel/netmap_kern.h, kernel/mem.c).
PAGE_SIZE = 4096
NM_PRIV_PIPES = 2
NM_PRIV_IF_NUM, NM_PRIV_IF_SIZE = 2, 1024
NM_PRIV_RING_NUM, NM_PRIV_RING_SIZE = 4, 5 * PAGE_SIZE
NM_PRIV_BUF_NUM = 4098
NM_CACHE_ALIGN = 128
RING_HEADER, SLOT_SIZE = 256, 16
RESERVED_IFS, RESERVED_RINGS, RESERVED_BUFS = 1, 1, 2
NM_DEFAULT_SLOTS = 1024
VALE_RINGS_MAX = 16
VALE_SWITCHES_MAX = 8  # on the whole host
PIPE_SLOTS = NM_DEFAULT_SLOTS


@dataclass(frozen=True)
class RegionRoom:
    """What a pipe parent's private region holds: netmap_if, ring and buffer objects, usable."""

    ifs: int
    rings: int
    bufs: int

    def pipes(self, slots: int) -> int:
        """Pipes with both ends bound: an end takes a netmap_if, a pipe 4 rings (1 a side for
        each end) and two sets of buffers (an rx ring borrows its peer tx ring's)."""
        return min(self.ifs // 2, self.rings // 4, self.bufs // (2 * slots))


def _align(n: int, to: int) -> int:
    return -(-n // to) * to


def _fill_pages(num: int, size: int) -> int:
    return _align(num * size, PAGE_SIZE) // size


def region_room(rings: int, slots: int) -> RegionRoom:
    """The room of the private region of a VALE port with `rings` rings each way of `slots`
    slots, as kernel/mem.c's nm_mem_geom_fit sizes it (no extra buffers)."""
    pipe_rings = 4 * NM_PRIV_PIPES
    own = rings + 1  # and a host ring each way
    if_size = max(NM_PRIV_IF_SIZE, _align(56 + 8 * 2 * own, 64))
    ring_size = max(NM_PRIV_RING_SIZE, _align(RING_HEADER + SLOT_SIZE * slots, NM_CACHE_ALIGN))
    ifs = _fill_pages(max(NM_PRIV_IF_NUM, 2 + pipe_rings), if_size)
    ring_objs = _fill_pages(max(NM_PRIV_RING_NUM, 2 * own + 2 * pipe_rings), ring_size)
    bufs = _fill_pages(max(NM_PRIV_BUF_NUM, 2 * (pipe_rings + own) * slots + 2), 2048)
    return RegionRoom(ifs - RESERVED_IFS, ring_objs - RESERVED_RINGS, bufs - RESERVED_BUFS)


MAX_PIPES = max(region_room(r, PIPE_SLOTS).pipes(PIPE_SLOTS) for r in (1, VALE_RINGS_MAX))


@dataclass(frozen=True)
class PipeParent:
    """The persistent VALE port (VALE_NEWIF) that every pipe of the chain hangs from."""

    name: str
    rings: int
    slots: int
    pipes: int  # the chain's pipes
    room: int  # the pipes its region holds

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rings": self.rings,
            "slots": self.slots,
            "pipes": self.pipes,
            "room": self.room,
        }


@dataclass(frozen=True)
class Region:
    """A memory region and who maps it: `pipes` (the pipe parent's, shared by every trusted
    end), `vale-port` (one VALE port's own), or `global` (a NIC's rings, mapped by no VM)."""

    name: str
    kind: Literal["pipes", "vale-port", "global"]
    ports: tuple[str, ...]
    users: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "ports": list(self.ports),
            "users": list(self.users),
        }


@dataclass(frozen=True)
class Hop:
    """The link between two neighbours: `left` sends towards the egress on `left_port`, and
    `right` receives it on `right_port` (and the other way back)."""

    index: int
    left: str
    right: str
    kind: LinkKind
    reason: str
    left_port: PortSpec
    right_port: PortSpec
    left_region: str
    right_region: str
    switch: str | None = None  # a VALE hop's switch
    attach: str | None = None  # valeS:IFNAME, the name that attaches a NIC end to the switch

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "left": self.left,
            "right": self.right,
            "kind": self.kind,
            "reason": self.reason,
            "left_port": str(self.left_port),
            "right_port": str(self.right_port),
            "left_region": self.left_region,
            "right_region": self.right_region,
            "switch": self.switch,
            "attach": self.attach,
        }


@dataclass(frozen=True)
class NfPlan:
    """One NF as a VM: its ports in order (in, towards the ingress; out), and its role's
    command line in the guest."""

    nf: NfSpec
    vm: VmSpec
    command: tuple[str, ...]

    @property
    def in_port(self) -> PortSpec:
        return self.vm.ports[0]

    @property
    def out_port(self) -> PortSpec:
        return self.vm.ports[1]

    @property
    def macs(self) -> tuple[str, str]:
        return port_mac(self.vm.name, 0), port_mac(self.vm.name, 1)

    def to_dict(self) -> dict[str, Any]:
        in_mac, out_mac = self.macs
        return {
            **self.nf.to_dict(),
            "vm": self.vm.to_dict(),
            "in": {"port": str(self.in_port), "netdev": GUEST_IN, "mac": in_mac},
            "out": {"port": str(self.out_port), "netdev": GUEST_OUT, "mac": out_mac},
            "command": list(self.command),
        }


@dataclass(frozen=True)
class ChainPlan:
    spec: ChainSpec
    hops: tuple[Hop, ...]
    nfs: tuple[NfPlan, ...]
    regions: tuple[Region, ...]
    pipe_parent: PipeParent | None
    # The host ports a generator opens at each end; None where the end is a NIC.
    ingress_port: PortSpec | None
    egress_port: PortSpec | None

    @property
    def switches(self) -> tuple[str, ...]:
        return tuple(h.switch for h in self.hops if h.switch is not None)


def parent_name(chain: str) -> str:
    """The pipe parent: the chain's name with '_' for '-' (in a port spec, '-' selects a ring)."""
    return chain.replace("-", "_")


def switch_name(chain: str, hop: int) -> str:
    """valeHHHHHHI: six hex digits of a hash of the chain's name, then the hop's index. A VALE
    port's whole name, valeS:P, must fit IFNAMSIZ for nm_open(): with P at most 3 characters
    (`nfK`, `ing`, `egr`), it is 15 at most."""
    return f"vale{hashlib.sha256(chain.encode()).hexdigest()[:6]}{hop}"


def _vale_port_name(ends: list[str], end: str) -> str:
    """`ing` and `egr` for the host ends, `nfK` for the NF at position K."""
    if end in (INGRESS, EGRESS):
        return end[:3]
    return f"nf{ends.index(end) - 1}"


def _trusted(spec: ChainSpec, end: str) -> bool:
    """Host ends are ours; NFs are as the spec says."""
    for nf in spec.nfs:
        if nf.name == end:
            return nf.trust is Trust.trusted
    return True


def _option_args(config: Mapping[str, Any]) -> list[str]:
    """Role options as --KEY VALUE (a list repeats the option; true is a bare flag)."""
    args: list[str] = []
    for key, value in config.items():
        flag = "--" + key.replace("_", "-")
        for item in value if isinstance(value, list) else [value]:
            if item is True:
                args.append(flag)
            elif item is not False:
                args += [flag, str(item).lower() if isinstance(item, bool) else str(item)]
    return args


def role_command(nf: NfSpec) -> tuple[str, ...]:
    """What starts the NF in its guest, between netdevs GUEST_IN and GUEST_OUT."""
    if nf.command is None:
        return (
            f"nf-{nf.role}",
            "-i", f"netmap:{GUEST_IN}",
            "-o", f"netmap:{GUEST_OUT}",
            "--stats", STATS,
            *_option_args(nf.config),
        )  # fmt: skip
    words = shlex.split(nf.command)
    return tuple(w.replace("{in}", GUEST_IN).replace("{out}", GUEST_OUT) for w in words)


def _pipe_parent(chain: str, pipes: int) -> PipeParent | None:
    if pipes == 0:
        return None
    if pipes > MAX_PIPES:
        raise UsageError(
            f"chain {chain}: its {pipes} pipe hops would share one region, and a pipe parent's "
            f"private region holds at most {MAX_PIPES} pipes (its {region_room(1, PIPE_SLOTS).ifs}"
            " usable netmap_if objects, one per bound pipe end); use at most "
            f"{MAX_PIPES - 1} trusted NFs with host ends, or mark one untrusted"
        )
    for rings in range(1, VALE_RINGS_MAX + 1):
        room = region_room(rings, PIPE_SLOTS).pipes(PIPE_SLOTS)
        if room >= pipes:
            return PipeParent(parent_name(chain), rings, PIPE_SLOTS, pipes, room)
    raise AssertionError("MAX_PIPES fits with VALE_RINGS_MAX rings")


def plan(spec: ChainSpec) -> ChainPlan:
    """The plan of `spec`. Refuses (UsageError) a chain the kernel could not hold."""
    ends = [INGRESS, *(nf.name for nf in spec.nfs), EGRESS]
    nics = {0: spec.ingress.nic, len(ends) - 2: spec.egress.nic}
    kinds: list[LinkKind] = []
    for i in range(len(ends) - 1):
        left, right = ends[i], ends[i + 1]
        pipe = nics.get(i) is None and _trusted(spec, left) and _trusted(spec, right)
        kinds.append("pipe" if pipe else "vale")
    switches = kinds.count("vale")
    if switches > VALE_SWITCHES_MAX:
        raise UsageError(
            f"chain {spec.name}: its {switches} VALE hops need a switch each, and a host has at "
            f"most {VALE_SWITCHES_MAX} VALE switches; mark some NFs trusted"
        )
    parent = _pipe_parent(spec.name, kinds.count("pipe"))

    hops: list[Hop] = []
    pipe_ports: list[str] = []
    pipe_users: list[str] = []
    regions: list[Region] = []
    for i, kind in enumerate(kinds):
        left, right = ends[i], ends[i + 1]
        nic = nics.get(i)
        if kind == "pipe":
            assert parent is not None
            lport = parse_port(f"netmap:{parent.name}{{{i}")
            rport = parse_port(f"netmap:{parent.name}}}{i}")
            pipe_ports += [str(lport), str(rport)]
            pipe_users += [e for e in (left, right) if e not in pipe_users]
            hops.append(
                Hop(
                    index=i,
                    left=left,
                    right=right,
                    kind=kind,
                    reason=f"{left} and {right} are trusted: a zero-copy netmap pipe in the "
                    "chain's shared region",
                    left_port=lport,
                    right_port=rport,
                    left_region=parent.name,
                    right_region=parent.name,
                )
            )
            continue
        switch = switch_name(spec.name, i)
        side_ports: list[PortSpec] = []
        for end in (left, right):
            if end in (INGRESS, EGRESS) and nic is not None:
                side_ports.append(parse_port(f"netmap:{nic}"))
                regions.append(Region("global", "global", (f"netmap:{nic}",), ()))
            else:
                port = parse_port(f"{switch}:{_vale_port_name(ends, end)}")
                side_ports.append(port)
                regions.append(Region(str(port), "vale-port", (str(port),), (end,)))
        if nic is not None:
            why = f"NIC {nic} at the {left if left in (INGRESS, EGRESS) else right}"
            reason = f"{why}: attached to a VALE switch of its own, which copies"
        else:
            untrusted = " and ".join(e for e in (left, right) if not _trusted(spec, e))
            reason = (
                f"{untrusted} {'are' if ' and ' in untrusted else 'is'} untrusted: a VALE switch "
                "of its own copies, and each port has its own region"
            )
        hops.append(
            Hop(
                index=i,
                left=left,
                right=right,
                kind=kind,
                reason=reason,
                left_port=side_ports[0],
                right_port=side_ports[1],
                left_region=regions[-2].name,
                right_region=regions[-1].name,
                switch=switch,
                attach=None if nic is None else f"{switch}:{nic}",
            )
        )
    if parent is not None:
        regions.insert(0, Region(parent.name, "pipes", tuple(pipe_ports), tuple(pipe_users)))

    nfs = []
    for k, nf in enumerate(spec.nfs):
        vm = VmSpec(
            name=spec.vm_name(nf),
            image=nf.image,
            cpus=nf.cpus,
            mem_mb=nf.mem_mb,
            backend=nf.backend,
            port_mode=PortMode.passthrough,
            ports=(hops[k].right_port, hops[k + 1].left_port),
        )
        nfs.append(NfPlan(nf, vm, role_command(nf)))
    first, last = hops[0], hops[-1]
    return ChainPlan(
        spec=spec,
        hops=tuple(hops),
        nfs=tuple(nfs),
        regions=_merge_global(regions),
        pipe_parent=parent,
        ingress_port=None if spec.ingress.nic else first.left_port,
        egress_port=None if spec.egress.nic else last.right_port,
    )


def _merge_global(regions: list[Region]) -> tuple[Region, ...]:
    """One entry for the global region, with every NIC in it, last."""
    own = [r for r in regions if r.kind != "global"]
    nics = tuple(p for r in regions if r.kind == "global" for p in r.ports)
    return tuple(own + ([Region("global", "global", nics, ())] if nics else []))


# -- what the host does around the VMs -------------------------------------------------------

VALE_CTL = "vale-ctl"


def setup_commands(chain: ChainPlan) -> list[tuple[str, ...]]:
    """The host's vale-ctl steps before any VM starts: make the pipe parent (so that its region
    has the plan's room), then attach the NIC ends to their switches. VALE ports and switches
    without a NIC come and go with the VMs that open them."""
    steps: list[tuple[str, ...]] = []
    if (p := chain.pipe_parent) is not None:
        conf = f"{p.slots},{p.slots},{p.rings},{p.rings}"
        steps.append((VALE_CTL, "-n", p.name, "-C", conf))
    steps += [(VALE_CTL, "-a", h.attach) for h in chain.hops if h.attach is not None]
    return steps


def teardown_commands(chain: ChainPlan) -> list[tuple[str, ...]]:
    """The host's vale-ctl steps once the VMs are gone: detach the NICs, delete the parent."""
    steps: list[tuple[str, ...]] = [
        (VALE_CTL, "-d", h.attach) for h in chain.hops if h.attach is not None
    ]
    if chain.pipe_parent is not None:
        steps.append((VALE_CTL, "-r", chain.pipe_parent.name))
    return steps


# -- each VM's QEMU line or domain XML ---------------------------------------------------------


@dataclass(frozen=True)
class VmRender:
    """An NF's VM as its backend starts it: the QEMU argv, or the libvirt domain XML."""

    backend: BackendName
    argv: tuple[str, ...] = ()
    xml: str = ""

    def to_dict(self) -> dict[str, Any]:
        if self.backend is BackendName.libvirt:
            return {"backend": self.backend.value, "domain_xml": self.xml}
        return {"backend": self.backend.value, "qemu_argv": list(self.argv)}


def render_vms(
    chain: ChainPlan, launch_of: Callable[[VmSpec], Launch], *, lab: str, uid: int, gid: int
) -> dict[str, VmRender]:
    """Each NF's VM (by NF name), from the Launch that `launch_of` resolves for it."""
    out = {}
    for k, p in enumerate(chain.nfs):
        try:
            launch = launch_of(p.vm)
        except UsageError as exc:
            raise UsageError(f"nfs[{k}] ({p.nf.name}): {exc}") from None
        if p.vm.backend is BackendName.libvirt:
            out[p.nf.name] = VmRender(
                p.vm.backend, xml=domain_xml(launch, lab=lab, uid=uid, gid=gid)
            )
        else:
            out[p.nf.name] = VmRender(p.vm.backend, argv=tuple(qemu_argv(launch)))
    return out


def dry_run_vms(chain: ChainPlan) -> dict[str, VmRender]:
    """render_vms() as `ptnet vm up --dry-run` resolves a VM: no build, probe or start."""
    import os

    from ptnet.backend.libvirt import lab_id
    from ptnet.vm import launch

    return render_vms(
        chain,
        lambda vm: launch.plan(vm, dry_run=True)[0],
        lab=lab_id(),
        uid=os.getuid(),
        gid=os.getgid(),
    )


# -- text and JSON -----------------------------------------------------------------------------


def to_dict(chain: ChainPlan, vms: Mapping[str, VmRender] | None = None) -> dict[str, Any]:
    spec = chain.spec
    return {
        "name": spec.name,
        "ingress": {"end": str(spec.ingress), "port": _str(chain.ingress_port)},
        "egress": {"end": str(spec.egress), "port": _str(chain.egress_port)},
        "pipe_parent": chain.pipe_parent.to_dict() if chain.pipe_parent else None,
        "switches": list(chain.switches),
        "hops": [h.to_dict() for h in chain.hops],
        "regions": [r.to_dict() for r in chain.regions],
        "setup": [list(c) for c in setup_commands(chain)],
        "teardown": [list(c) for c in teardown_commands(chain)],
        "nfs": [
            {**p.to_dict(), **({"vm_render": vms[p.nf.name].to_dict()} if vms else {})}
            for p in chain.nfs
        ],
    }


def to_json(chain: ChainPlan, vms: Mapping[str, VmRender] | None = None) -> str:
    return json.dumps(to_dict(chain, vms), indent=2) + "\n"


def _str(port: PortSpec | None) -> str | None:
    return None if port is None else str(port)


def _end_text(chain: ChainPlan, which: str) -> str:
    end = chain.spec.ingress if which == INGRESS else chain.spec.egress
    port = chain.ingress_port if which == INGRESS else chain.egress_port
    if end.nic is not None:
        hop = chain.hops[0] if which == INGRESS else chain.hops[-1]
        return f"NIC {end.nic}, attached to switch {hop.switch} as {hop.attach}"
    return f"host port {port}"


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def render_text(chain: ChainPlan, vms: Mapping[str, VmRender] | None = None) -> str:
    """The plan for people: hops with their link and why, regions, and each NF's VM."""
    spec = chain.spec
    pipes = sum(h.kind == "pipe" for h in chain.hops)
    lines = [
        f"chain {spec.name}: {len(spec.nfs)} NFs, {len(chain.hops)} hops "
        f"({pipes} pipe, {len(chain.hops) - pipes} VALE)",
        f"ingress: {_end_text(chain, INGRESS)}",
        f"egress:  {_end_text(chain, EGRESS)}",
        "",
        "hops:",
    ]
    for h in chain.hops:
        link = "pipe" if h.kind == "pipe" else f"VALE {h.switch}"
        lines.append(
            f"  {h.index}  {h.left} -> {h.right}: {link}, {h.left_port} <-> {h.right_port}"
        )
        lines.append(f"     why: {h.reason}")
    lines += ["", "regions:"]
    for r in chain.regions:
        if r.kind == "pipes":
            assert chain.pipe_parent is not None
            p = chain.pipe_parent
            lines.append(
                f"  {r.name}: the pipes' shared region, of persistent VALE port {p.name} "
                f"(VALE_NEWIF, {_count(p.rings, 'ring')} of {p.slots} slots each way, made "
                f"before any pipe opens); {p.pipes} of at most {p.room} pipes"
            )
        elif r.kind == "vale-port":
            lines.append(f"  {r.name}: the VALE port's own region")
        else:
            lines.append("  global: region 1, the NICs' rings; no VM maps it")
        if r.users:
            lines.append(f"     mapped by: {', '.join(r.users)}")
        lines.append(f"     ports: {' '.join(r.ports)}")
    lines += ["", "host, before the VMs:"]
    lines += [f"  {shlex.join(c)}" for c in setup_commands(chain)] or ["  nothing"]
    lines += ["host, after the VMs:"]
    lines += [f"  {shlex.join(c)}" for c in teardown_commands(chain)] or ["  nothing"]
    lines += ["", "nfs:"]
    for p in chain.nfs:
        nf, vm = p.nf, p.vm
        in_mac, out_mac = p.macs
        lines += [
            f"  {nf.name}: role {nf.role}{'' if nf.builtin else ' (custom)'}, {nf.trust}, "
            f"VM {vm.name} (image {vm.image}, {_count(vm.cpus, 'CPU')}, {vm.mem_mb} MiB, "
            f"{vm.backend})",
            f"     in:  {p.in_port} as {GUEST_IN} ({in_mac})",
            f"     out: {p.out_port} as {GUEST_OUT} ({out_mac})",
            f"     runs: {shlex.join(p.command)}",
        ]
        if vms:
            r = vms[nf.name]
            if r.backend is BackendName.libvirt:
                lines.append("     domain XML:")
                lines += [f"       {line}" for line in r.xml.rstrip("\n").split("\n")]
            else:
                lines.append(f"     qemu: {shlex.join(r.argv)}")
    return "\n".join(lines) + "\n"
