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

Across hosts (ptnet/model/chain_hosts.py), each NF is on its host and the ends are local. A hop
whose two ends are on different hosts copies by nature, so it is VALE whatever the trust: the
hop's switch exists on both hosts (same name), each with an uplink to the other, a NIC of its own
(VALE attach) or a VXLAN device for the hop (VNI, remote address) attached through the generic
adapter. Pipes join ends on one host only: each host with pipes has its own pipe parent. The
chain's MTU is checked against every uplink the chain crosses, VXLAN's 50 bytes taken off.

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
from ptnet.model.chain_hosts import LOCAL, VXLAN_OVERHEAD, VXLAN_PORT, HostSpec
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
    """The persistent VALE port (VALE_NEWIF) that every pipe of the chain on `host` hangs from."""

    name: str
    rings: int
    slots: int
    pipes: int  # the chain's pipes
    room: int  # the pipes its region holds
    host: str = LOCAL

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "host": self.host,
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
    host: str = LOCAL

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "host": self.host,
            "kind": self.kind,
            "ports": list(self.ports),
            "users": list(self.users),
        }


@dataclass(frozen=True)
class UplinkPlan:
    """One side of a hop between hosts: what joins the hop's switch on `host` to the peer.
    `dev` is the netdev attached to the switch (as `attach`): the NIC, or the hop's VXLAN
    device, made over `underlay` with `vni` from `local` to `remote`."""

    host: str
    peer: str
    kind: Literal["nic", "vxlan"]
    dev: str
    attach: str
    mtu: int  # the underlay's IP MTU
    room: int  # the largest IP packet of the chain it carries
    underlay: str | None = None
    vni: int | None = None
    local: str | None = None
    remote: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "peer": self.peer,
            "kind": self.kind,
            "dev": self.dev,
            "attach": self.attach,
            "mtu": self.mtu,
            "room": self.room,
            "underlay": self.underlay,
            "vni": self.vni,
            "local": self.local,
            "remote": self.remote,
        }

    def describe(self) -> str:
        if self.kind == "nic":
            return f"NIC {self.dev} (MTU {self.mtu}) towards {self.peer}, attached as {self.attach}"
        return (
            f"VXLAN {self.dev}, VNI {self.vni}, to {self.peer} at {self.remote} over "
            f"{self.underlay} (MTU {self.mtu}, {self.room} less VXLAN's {VXLAN_OVERHEAD}), "
            f"attached as {self.attach}"
        )


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
    switch: str | None = None  # a VALE hop's switch (on each host of a hop between hosts)
    attach: str | None = None  # valeS:IFNAME, the name that attaches a NIC end to the switch
    left_host: str = LOCAL
    right_host: str = LOCAL
    uplinks: tuple[UplinkPlan, ...] = ()  # a hop between hosts: the left side's, the right's

    @property
    def crosses(self) -> bool:
        return self.left_host != self.right_host

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
            "left_host": self.left_host,
            "right_host": self.right_host,
            "uplinks": [u.to_dict() for u in self.uplinks],
        }


@dataclass(frozen=True)
class NfPlan:
    """One NF as a VM: its ports in order (in, towards the ingress; out), and its role's
    command line in the guest."""

    nf: NfSpec
    vm: VmSpec
    command: tuple[str, ...]
    uri: str | None = None  # its host's libvirt; None on the local host (the backend's own)

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
            "uri": self.uri,
        }


@dataclass(frozen=True)
class ChainPlan:
    spec: ChainSpec
    hops: tuple[Hop, ...]
    nfs: tuple[NfPlan, ...]
    regions: tuple[Region, ...]
    pipe_parents: tuple[PipeParent, ...]  # one per host with pipes
    # The host ports a generator opens at each end (on the local host); None for a NIC end.
    ingress_port: PortSpec | None
    egress_port: PortSpec | None

    @property
    def switches(self) -> tuple[str, ...]:
        return tuple(h.switch for h in self.hops if h.switch is not None)

    @property
    def pipe_parent(self) -> PipeParent | None:
        """The local host's pipe parent (a single-host chain's only one)."""
        return next((p for p in self.pipe_parents if p.host == LOCAL), None)

    @property
    def hosts(self) -> tuple[HostSpec, ...]:
        """The hosts the chain uses, the local one first, then in the file's order."""
        used = set(self.spec.placement)
        named = [h for h in self.spec.hosts if h.name in used and h.name != LOCAL]
        return (self.spec.host(LOCAL), *named)

    @property
    def spread(self) -> bool:
        """Whether the chain spans more than one host."""
        return len(self.hosts) > 1


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


def _pipe_parent(chain: str, pipes: int, host: str = LOCAL) -> PipeParent | None:
    if pipes == 0:
        return None
    on = "" if host == LOCAL else f" on host {host}"
    if pipes > MAX_PIPES:
        raise UsageError(
            f"chain {chain}: its {pipes} pipe hops{on} would share one region, and a pipe parent's "
            f"private region holds at most {MAX_PIPES} pipes (its {region_room(1, PIPE_SLOTS).ifs}"
            " usable netmap_if objects, one per bound pipe end); use at most "
            f"{MAX_PIPES - 1} trusted NFs with host ends, or mark one untrusted"
        )
    for rings in range(1, VALE_RINGS_MAX + 1):
        room = region_room(rings, PIPE_SLOTS).pipes(PIPE_SLOTS)
        if room >= pipes:
            return PipeParent(parent_name(chain), rings, PIPE_SLOTS, pipes, room, host)
    raise AssertionError("MAX_PIPES fits with VALE_RINGS_MAX rings")


def vxlan_name(chain: str, hop: int) -> str:
    """vxlanHHHHHHI: the hop's VXLAN device, named as its switch (a netdev name fits 15)."""
    return "vxlan" + switch_name(chain, hop).removeprefix("vale")


def _uplinks(
    spec: ChainSpec, hop: int, ends: tuple[str, str], where: str, used: dict[str, int]
) -> tuple[UplinkPlan, ...]:
    """Both sides' uplinks of hop `hop` between hosts `ends`, refused (UsageError) where one is
    missing, the two disagree, or the chain's packets do not fit. `used` counts each host's
    hops between hosts so far: its Kth takes its Kth NIC."""
    switch = switch_name(spec.name, hop)
    out = []
    for side, peer in (ends, ends[::-1]):
        host = spec.host(side)
        up = host.uplink
        k = used[side] = used.get(side, 0) + 1
        if up is None:
            raise UsageError(
                f"hosts.{side}.uplink: required: hop {where} crosses from {ends[0]} to {ends[1]} "
                "(give nic: IFNAME or vxlan: IFNAME)"
            )
        if up.kind == "nic":
            if k > len(up.devs):
                raise UsageError(
                    f"hosts.{side}.uplink.nic: hop {where} is {side}'s hop {k} between hosts, "
                    f"and it has {_count(len(up.devs), 'NIC')} ({', '.join(up.devs)}); a NIC "
                    "attaches to one switch: give one per hop, or use vxlan"
                )
            dev = up.devs[k - 1]
            out.append(UplinkPlan(side, peer, "nic", dev, f"{switch}:{dev}", up.mtu, up.room))
            continue
        remote = spec.host(peer).address
        if remote is None:
            raise UsageError(
                f"hosts.{peer}.address: required: {side}'s VXLAN uplink of hop {where} sends "
                f"to {peer} at it"
            )
        dev = vxlan_name(spec.name, hop)
        out.append(
            UplinkPlan(
                side,
                peer,
                "vxlan",
                dev,
                f"{switch}:{dev}",
                up.mtu,
                up.room,
                underlay=up.devs[0],
                vni=spec.vnis[hop],
                local=host.address,
                remote=remote,
            )
        )
    left, right = out
    if left.kind != right.kind:
        raise UsageError(
            f"hosts.{right.host}.uplink: hop {where}: {left.host}'s uplink is {left.kind} and "
            f"{right.host}'s is {right.kind}; both sides of a hop use the same kind"
        )
    for u in out:
        if spec.mtu > u.room:
            less = f" less VXLAN's {VXLAN_OVERHEAD}" if u.kind == "vxlan" else ""
            raise UsageError(
                f"mtu: hop {where}: the chain carries IP packets of up to {spec.mtu} bytes, and "
                f"{u.host}'s {u.kind} uplink over {u.underlay or u.dev} carries {u.room} (its "
                f"MTU {u.mtu}{less}); set mtu: {u.room} or raise hosts.{u.host}.uplink.mtu"
            )
    return tuple(out)


def plan(spec: ChainSpec) -> ChainPlan:
    """The plan of `spec`. Refuses (UsageError) a chain the kernel could not hold."""
    ends = [INGRESS, *(nf.name for nf in spec.nfs), EGRESS]
    where = spec.placement
    nics = {0: spec.ingress.nic, len(ends) - 2: spec.egress.nic}
    kinds: list[LinkKind] = []
    for i in range(len(ends) - 1):
        left, right = ends[i], ends[i + 1]
        pipe = (
            nics.get(i) is None
            and where[i] == where[i + 1]
            and _trusted(spec, left)
            and _trusted(spec, right)
        )
        kinds.append("pipe" if pipe else "vale")
    for name in dict.fromkeys(where):
        # a hop between hosts has its switch on both
        switches = sum(
            k == "vale" and name in (where[i], where[i + 1]) for i, k in enumerate(kinds)
        )
        if switches > VALE_SWITCHES_MAX:
            on = "" if name == LOCAL else f" on host {name}"
            raise UsageError(
                f"chain {spec.name}: its {switches} VALE hops{on} need a switch each, and a host "
                f"has at most {VALE_SWITCHES_MAX} VALE switches; mark some NFs trusted"
            )
    parents = {}
    for name in dict.fromkeys(where):
        count = sum(k == "pipe" and where[i] == name for i, k in enumerate(kinds))
        parent = _pipe_parent(spec.name, count, name)
        if parent is not None:
            parents[name] = parent

    hops: list[Hop] = []
    pipe_ports: dict[str, list[str]] = {name: [] for name in parents}
    pipe_users: dict[str, list[str]] = {name: [] for name in parents}
    regions: list[Region] = []
    crossings: dict[str, int] = {}
    for i, kind in enumerate(kinds):
        left, right = ends[i], ends[i + 1]
        lhost, rhost = where[i], where[i + 1]
        nic = nics.get(i)
        switch: str | None = None
        uplinks: tuple[UplinkPlan, ...] = ()
        if kind == "pipe":
            parent = parents[lhost]
            ports = (
                parse_port(f"netmap:{parent.name}{{{i}"),
                parse_port(f"netmap:{parent.name}}}{i}"),
            )
            pipe_ports[lhost] += [str(p) for p in ports]
            pipe_users[lhost] += [e for e in (left, right) if e not in pipe_users[lhost]]
            on = "" if lhost == LOCAL else f" on host {lhost}"
            reason = (
                f"{left} and {right} are trusted{on}: a zero-copy netmap pipe in "
                "the chain's shared region"
            )
            region_names = (parent.name, parent.name)
        else:
            switch = switch_name(spec.name, i)
            side_ports: list[PortSpec] = []
            for end, host in ((left, lhost), (right, rhost)):
                if end in (INGRESS, EGRESS) and nic is not None:
                    side_ports.append(parse_port(f"netmap:{nic}"))
                    regions.append(Region("global", "global", (f"netmap:{nic}",), ()))
                else:
                    port = parse_port(f"{switch}:{_vale_port_name(ends, end)}")
                    side_ports.append(port)
                    regions.append(Region(str(port), "vale-port", (str(port),), (end,), host))
            ports = (side_ports[0], side_ports[1])
            region_names = (regions[-2].name, regions[-1].name)
            if lhost != rhost:
                uplinks = _uplinks(spec, i, (lhost, rhost), f"{i} ({left} -> {right})", crossings)
                reason = (
                    f"{left} is on {lhost} and {right} on {rhost}: a hop between hosts copies, so "
                    "it is VALE whatever the trust, a switch on each host with its uplink"
                )
            elif nic is not None:
                why = f"NIC {nic} at the {left if left in (INGRESS, EGRESS) else right}"
                reason = f"{why}: attached to a VALE switch of its own, which copies"
            else:
                untrusted = " and ".join(e for e in (left, right) if not _trusted(spec, e))
                reason = (
                    f"{untrusted} {'are' if ' and ' in untrusted else 'is'} untrusted: a VALE "
                    "switch of its own copies, and each port has its own region"
                )
        hops.append(
            Hop(
                index=i,
                left=left,
                right=right,
                kind=kind,
                reason=reason,
                left_port=ports[0],
                right_port=ports[1],
                left_region=region_names[0],
                right_region=region_names[1],
                switch=switch,
                attach=None if nic is None else f"{switch}:{nic}",
                left_host=lhost,
                right_host=rhost,
                uplinks=uplinks,
            )
        )
    for name, parent in reversed(parents.items()):
        regions.insert(
            0,
            Region(parent.name, "pipes", tuple(pipe_ports[name]), tuple(pipe_users[name]), name),
        )

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
        nfs.append(NfPlan(nf, vm, role_command(nf), spec.host(nf.host).uri))
    first, last = hops[0], hops[-1]
    return ChainPlan(
        spec=spec,
        hops=tuple(hops),
        nfs=tuple(nfs),
        regions=_merge_global(regions),
        pipe_parents=tuple(parents.values()),
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
IP = "ip"


def setup_commands(chain: ChainPlan, host: str = LOCAL) -> list[tuple[str, ...]]:
    """The steps on `host` before any VM starts: make its pipe parent (so that its region has
    the plan's room), attach the NIC ends to their switches, then make each uplink of a hop
    between hosts (a VXLAN device, up) and attach it to the hop's switch. VALE ports and switches
    without a NIC come and go with the VMs that open them."""
    steps: list[tuple[str, ...]] = []
    for p in chain.pipe_parents:
        if p.host == host:
            conf = f"{p.slots},{p.slots},{p.rings},{p.rings}"
            steps.append((VALE_CTL, "-n", p.name, "-C", conf))
    if host == LOCAL:
        steps += [(VALE_CTL, "-a", h.attach) for h in chain.hops if h.attach is not None]
    for u in _uplinks_on(chain, host):
        if u.kind == "vxlan":
            local = ("local", u.local) if u.local is not None else ()
            steps.append(
                (IP, "link", "add", u.dev, "mtu", str(u.room), "type", "vxlan", "id", str(u.vni),
                 *local, "remote", str(u.remote), "dstport", str(VXLAN_PORT),
                 "dev", str(u.underlay))
            )  # fmt: skip
            steps.append((IP, "link", "set", u.dev, "up"))
        steps.append((VALE_CTL, "-a", u.attach))
    return steps


def teardown_commands(chain: ChainPlan, host: str = LOCAL) -> list[tuple[str, ...]]:
    """The steps on `host` once its VMs are gone, setup's undone in reverse: detach and delete
    the uplinks, detach the NICs, delete the pipe parent."""
    steps: list[tuple[str, ...]] = []
    for u in reversed(_uplinks_on(chain, host)):
        steps.append((VALE_CTL, "-d", u.attach))
        if u.kind == "vxlan":
            steps.append((IP, "link", "del", u.dev))
    if host == LOCAL:
        steps += [(VALE_CTL, "-d", h.attach) for h in chain.hops if h.attach is not None]
    steps += [(VALE_CTL, "-r", p.name) for p in chain.pipe_parents if p.host == host]
    return steps


def _uplinks_on(chain: ChainPlan, host: str) -> list[UplinkPlan]:
    return [u for h in chain.hops for u in h.uplinks if u.host == host]


# -- each VM's QEMU line or domain XML ---------------------------------------------------------


@dataclass(frozen=True)
class VmRender:
    """An NF's VM as its backend starts it: the QEMU argv, or the libvirt domain XML."""

    backend: BackendName
    argv: tuple[str, ...] = ()
    xml: str = ""
    uri: str | None = None  # the remote libvirt that defines it; None: the local one

    def to_dict(self) -> dict[str, Any]:
        if self.backend is BackendName.libvirt:
            uri = {} if self.uri is None else {"uri": self.uri}
            return {"backend": self.backend.value, **uri, "domain_xml": self.xml}
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
                p.vm.backend, xml=domain_xml(launch, lab=lab, uid=uid, gid=gid), uri=p.uri
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
        "mtu": spec.mtu,
        "pipe_parent": chain.pipe_parent.to_dict() if chain.pipe_parent else None,
        "pipe_parents": [p.to_dict() for p in chain.pipe_parents],
        "switches": list(chain.switches),
        "hops": [h.to_dict() for h in chain.hops],
        "regions": [r.to_dict() for r in chain.regions],
        "setup": [list(c) for c in setup_commands(chain)],
        "teardown": [list(c) for c in teardown_commands(chain)],
        "hosts": [
            {
                "name": h.name,
                **h.to_dict(),
                "nfs": [nf.name for nf in spec.nfs if nf.host == h.name],
                "setup": [list(c) for c in setup_commands(chain, h.name)],
                "teardown": [list(c) for c in teardown_commands(chain, h.name)],
            }
            for h in chain.hosts
        ],
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


def _host_text(h: HostSpec) -> str:
    if not h.remote:
        return f"{h.name} (this machine)"
    return f"{h.name} (libvirt {h.uri}, tools over ssh {h.ssh})"


def render_text(chain: ChainPlan, vms: Mapping[str, VmRender] | None = None) -> str:
    """The plan for people: hops with their link and why, regions, and each NF's VM; for a
    chain across hosts, the placement and each hop's uplinks too."""
    spec = chain.spec
    spread = chain.spread
    pipes = sum(h.kind == "pipe" for h in chain.hops)
    lines = [
        f"chain {spec.name}: {len(spec.nfs)} NFs, {len(chain.hops)} hops "
        f"({pipes} pipe, {len(chain.hops) - pipes} VALE)",
        f"ingress: {_end_text(chain, INGRESS)}",
        f"egress:  {_end_text(chain, EGRESS)}",
    ]
    if spread:
        lines += ["", f"placement (the ends on {LOCAL}; IP packets of up to {spec.mtu} bytes):"]
        for h in chain.hosts:
            names = [nf.name for nf in spec.nfs if nf.host == h.name]
            lines.append(f"  {_host_text(h)}: {', '.join(names) or 'the ends only'}")
    lines += ["", "hops:"]
    for h in chain.hops:
        link = "pipe" if h.kind == "pipe" else f"VALE {h.switch}"
        left, right = h.left, h.right
        if spread:
            left, right = f"{left}@{h.left_host}", f"{right}@{h.right_host}"
        lines.append(f"  {h.index}  {left} -> {right}: {link}, {h.left_port} <-> {h.right_port}")
        lines.append(f"     why: {h.reason}")
        lines += [f"     uplink on {u.host}: {u.describe()}" for u in h.uplinks]
    lines += ["", "regions:"]
    for r in chain.regions:
        on = f" on {r.host}" if spread and r.kind != "global" else ""
        if r.kind == "pipes":
            p = next(p for p in chain.pipe_parents if p.host == r.host)
            lines.append(
                f"  {r.name}{on}: the pipes' shared region, of persistent VALE port {p.name} "
                f"(VALE_NEWIF, {_count(p.rings, 'ring')} of {p.slots} slots each way, made "
                f"before any pipe opens); {p.pipes} of at most {p.room} pipes"
            )
        elif r.kind == "vale-port":
            lines.append(f"  {r.name}{on}: the VALE port's own region")
        else:
            lines.append("  global: region 1, the NICs' rings; no VM maps it")
        if r.users:
            lines.append(f"     mapped by: {', '.join(r.users)}")
        lines.append(f"     ports: {' '.join(r.ports)}")
    for h in chain.hosts:
        label = f"host {h.name}" if spread else "host"
        lines += ["", f"{label}, before the VMs:"]
        lines += [f"  {shlex.join(c)}" for c in setup_commands(chain, h.name)] or ["  nothing"]
        lines += [f"{label}, after the VMs:"]
        lines += [f"  {shlex.join(c)}" for c in teardown_commands(chain, h.name)] or ["  nothing"]
    lines += ["", "nfs:"]
    for p in chain.nfs:
        nf, vm = p.nf, p.vm
        in_mac, out_mac = p.macs
        on = f", on {nf.host}" if spread else ""
        lines += [
            f"  {nf.name}: role {nf.role}{'' if nf.builtin else ' (custom)'}, {nf.trust}, "
            f"VM {vm.name} (image {vm.image}, {_count(vm.cpus, 'CPU')}, {vm.mem_mb} MiB, "
            f"{vm.backend}{on})",
            f"     in:  {p.in_port} as {GUEST_IN} ({in_mac})",
            f"     out: {p.out_port} as {GUEST_OUT} ({out_mac})",
            f"     runs: {shlex.join(p.command)}",
        ]
        if vms:
            r = vms[nf.name]
            if r.backend is BackendName.libvirt:
                lines.append(
                    "     domain XML:" if r.uri is None else f"     domain XML, on {r.uri}:"
                )
                lines += [f"       {line}" for line in r.xml.rstrip("\n").split("\n")]
            else:
                lines.append(f"     qemu: {shlex.join(r.argv)}")
    return "\n".join(lines) + "\n"
