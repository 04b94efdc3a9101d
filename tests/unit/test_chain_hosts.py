"""Chains across hosts: the hosts: section and host:/vni: on NFs (one-line errors with field
paths), the placement, hops between hosts (always VALE, a switch on each side with its uplink),
pipe parents per host, the MTU check, each host's steps, and the plan and graph goldens
(PTNET_UPDATE_GOLDEN=1 rewrites them)."""

import json

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from test_chain_plan import _vms, check_golden

from ptnet.errors import UsageError
from ptnet.model.chain import from_data, json_schema, parse_shorthand, parse_text
from ptnet.model.chain_hosts import LOCAL, VNI_MAX, HostSpec, Uplink, default_vni
from ptnet.plan import chain_graph
from ptnet.plan.chain import (
    parent_name,
    plan,
    render_text,
    setup_commands,
    switch_name,
    teardown_commands,
    to_json,
    vxlan_name,
)

VXLAN_FILE = """\
name: spread
mtu: 1450
vni: 5000
hosts:
  local: {address: 192.0.2.1, uplink: {vxlan: eth0}}
  b:
    uri: qemu+ssh://root@192.0.2.2/system
    uplink: {vxlan: eth0}
nfs:
  - {role: fw}
  - {role: nat, host: b}
  - {role: ids, host: b, trust: untrusted}
"""

NIC_FILE = """\
name: cabled
mtu: 2000
hosts:
  local: {uplink: {nic: [eth3, eth4], mtu: 9000}}
  far:
    uri: qemu+ssh://ops@far.example:2222/system
    uplink: {nic: [enp1s0f0, enp1s0f1], mtu: 9000}
nfs:
  - {role: fw, host: far}
  - {role: nat, host: far}
"""

CASES = {"multi-vxlan": VXLAN_FILE, "multi-nic": NIC_FILE}


def _data(text: str) -> dict:
    return yaml.safe_load(text)


@pytest.mark.parametrize("case", sorted(CASES))
def test_plan_goldens(case):
    p = plan(parse_text(CASES[case]))
    check_golden(f"{case}.txt", render_text(p, _vms(p)))
    text = to_json(p, _vms(p))
    check_golden(f"{case}.json", text)
    check_golden(f"{case}.mmd", chain_graph.mermaid(p))
    check_golden(f"{case}.dot", chain_graph.dot(p))
    assert [h["name"] for h in json.loads(text)["hosts"]] == [
        LOCAL,
        *list(_data(CASES[case])["hosts"])[1:],
    ]


# -- the model ---------------------------------------------------------------------------------


def test_hosts_and_their_defaults():
    spec = parse_text(NIC_FILE)
    far = spec.host("far")
    assert far == HostSpec(
        "far",
        uri="qemu+ssh://ops@far.example:2222/system",
        ssh="ssh://ops@far.example:2222",  # from the URI, its port kept
        address=None,  # a name, not an address: no VXLAN remote from it
        uplink=Uplink("nic", ("enp1s0f0", "enp1s0f1"), 9000),
    )
    assert far.remote and not spec.host(LOCAL).remote
    # an NF on a remote host runs through its libvirt
    assert [(nf.host, nf.backend) for nf in spec.nfs] == [("far", "libvirt")] * 2
    assert spec.placement == (LOCAL, "far", "far", LOCAL)
    vxlan = parse_text(VXLAN_FILE)
    b = vxlan.host("b")
    assert (b.ssh, b.address) == ("root@192.0.2.2", "192.0.2.2")
    assert vxlan.nfs[0].backend == "qemu" and vxlan.nfs[0].host == LOCAL
    assert vxlan.vnis == {1: 5001, 3: 5003}
    # no hosts: the local host, implicit
    assert parse_shorthand("fw").host(LOCAL) == HostSpec(LOCAL)


def test_vnis_default_from_the_chain_and_an_nf_may_give_its_own():
    data = _data(VXLAN_FILE)
    del data["vni"]
    spec = from_data(data)
    base = default_vni("spread")
    assert spec.vnis == {1: base + 1, 3: base + 3}
    assert base >= 1 and base + 8 <= VNI_MAX
    data["nfs"][1]["vni"] = 7001
    assert from_data(data).vnis == {1: 7001, 3: base + 3}


@pytest.mark.parametrize("spec", [parse_text(VXLAN_FILE), parse_text(NIC_FILE)])
def test_to_dict_gives_the_spread_chain_back(spec):
    assert from_data(spec.to_dict()) == spec
    jsonschema.validate(spec.to_dict(), json_schema())


def test_schema_takes_the_files():
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    for text in CASES.values():
        jsonschema.validate(_data(text), schema)
    bad = _data(VXLAN_FILE)
    bad["nfs"][1]["vni"] = 1 << 24
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


B = {"uri": "qemu+ssh://root@192.0.2.2/system", "uplink": {"vxlan": "eth0"}}
L = {"address": "192.0.2.1", "uplink": {"vxlan": "eth0"}}


def _chain(hosts, nfs, **top):
    return {"name": "c", "mtu": 1450, "hosts": hosts, "nfs": nfs, **top}


BAD = [
    (
        _chain({"b": B}, [{"role": "fw", "host": "c"}]),
        "nfs[0].host: unknown host 'c'; the hosts are local, b",
    ),
    (
        _chain({"b": {**B, "uri": "qemu+ssh://h/foo"}}, [{"role": "fw", "host": "b"}]),
        "hosts.b.uri: bad libvirt URI 'qemu+ssh://h/foo': path /foo; expected "
        "qemu+ssh://[USER@]HOST[:PORT]/system (or qemu+tcp, qemu+tls)",
    ),
    (
        _chain({"b": {**B, "uri": "qemu:///system"}}, [{"role": "fw", "host": "b"}]),
        "hosts.b.uri: bad libvirt URI 'qemu:///system': this host's own libvirt; expected "
        "qemu+ssh://[USER@]HOST[:PORT]/system (or qemu+tcp, qemu+tls)",
    ),
    (
        _chain({"b": {**B, "uri": "http://h/system"}}, [{"role": "fw", "host": "b"}]),
        "hosts.b.uri: bad libvirt URI 'http://h/system': scheme http; expected "
        "qemu+ssh://[USER@]HOST[:PORT]/system (or qemu+tcp, qemu+tls)",
    ),
    (
        _chain({"b": {**B, "uri": "qemu+ssh:///system"}}, [{"role": "fw", "host": "b"}]),
        "hosts.b.uri: bad libvirt URI 'qemu+ssh:///system': no host; expected "
        "qemu+ssh://[USER@]HOST[:PORT]/system (or qemu+tcp, qemu+tls)",
    ),
    (
        _chain({"b": {"uplink": {"nic": "eth1"}}}, [{"role": "fw", "host": "b"}]),
        "hosts.b.uri: required for a remote host (qemu+ssh://[USER@]HOST/system)",
    ),
    (
        _chain({"local": {"uri": "qemu+ssh://h/system"}}, [{"role": "fw"}]),
        "hosts.local.uri: the local host is this machine; it takes no uri",
    ),
    (
        _chain({"B": B}, [{"role": "fw"}]),
        "hosts: bad host name 'B': a lowercase letter, then up to 14 of a-z, 0-9 and '-'",
    ),
    (
        _chain({"b": {**B, "ssh": "root@h x"}}, [{"role": "fw", "host": "b"}]),
        "hosts.b.ssh: bad SSH target 'root@h x': expected [USER@]HOST or ssh://[USER@]HOST:PORT",
    ),
    (
        _chain({"b": {**B, "address": "b.example"}}, [{"role": "fw", "host": "b"}]),
        "hosts.b.address: bad address 'b.example': expected an IPv4 or IPv6 address",
    ),
    (
        _chain({"b": {**B, "uplink": {"nic": "eth1", "vxlan": "eth0"}}}, [{"role": "fw"}]),
        "hosts.b.uplink: expected one of nic: IFNAME or vxlan: IFNAME",
    ),
    (
        _chain({"b": {**B, "uplink": {"nic": "eth/1"}}}, [{"role": "fw"}]),
        "hosts.b.uplink.nic: bad interface name 'eth/1': 1 to 15 of A-Z, a-z, 0-9, '_', '.', '-'",
    ),
    (
        _chain({"b": {**B, "uplink": {"vxlan": "eth0", "mtu": 100}}}, [{"role": "fw"}]),
        "hosts.b.uplink.mtu: expected at least 576",
    ),
    (
        _chain({"b": B}, [{"role": "fw", "host": "b", "vni": 0}]),
        "nfs[0].vni: expected at least 1",
    ),
    (
        _chain({"b": B}, [{"role": "fw", "host": "b", "vni": 1 << 24}]),
        "nfs[0].vni: expected at most 16777215",
    ),
    (
        _chain({"b": B}, [{"role": "fw", "host": "b"}], vni=VNI_MAX),
        "vni: hop 1 would get VNI 16777216 (16777215 + 1), past 16777215, the last 24-bit VNI; "
        "give a smaller vni",
    ),
    (
        _chain({"b": B}, [{"role": "fw", "host": "b"}, {"role": "nat", "vni": 100}], vni=100),
        "nfs[1].vni: duplicate VNI 100: hops 0 and 1 would share it",
    ),
    (
        _chain({"b": B}, [{"role": "fw", "host": "b"}, {"role": "nat", "host": "b", "vni": 9}]),
        "nfs[1].vni: the hop into nat stays on host b; a VNI is for a hop between hosts",
    ),
    (
        _chain({"b": B}, [{"role": "fw", "host": "b", "backend": "qemu"}]),
        "nfs[0].backend: fw is on host b, which ptnet reaches through its libvirt; "
        "expected libvirt",
    ),
    (_chain({}, [{"role": "fw"}], mtu=9000), "mtu: expected at most 2034"),
]


@pytest.mark.parametrize(("data", "message"), BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_bad_hosts_are_one_line_naming_the_field(data, message):
    with pytest.raises(UsageError) as exc:
        plan(from_data(data))
    assert str(exc.value) == message


# -- the plan ----------------------------------------------------------------------------------


def test_a_hop_between_hosts_is_vale_whatever_the_trust():
    p = plan(parse_text(VXLAN_FILE))
    assert [(h.kind, h.left_host, h.right_host) for h in p.hops] == [
        ("pipe", LOCAL, LOCAL),
        ("vale", LOCAL, "b"),  # fw and nat are both trusted
        ("vale", "b", "b"),  # ids is untrusted
        ("vale", "b", LOCAL),
    ]
    cross = p.hops[1]
    assert cross.crosses and "a hop between hosts copies, so it is VALE whatever" in cross.reason
    sw = switch_name("spread", 1)
    assert (str(cross.left_port), str(cross.right_port)) == (f"{sw}:nf0", f"{sw}:nf1")
    left, right = cross.uplinks
    assert (left.host, left.peer, right.host, right.peer) == (LOCAL, "b", "b", LOCAL)
    assert left.dev == right.dev == vxlan_name("spread", 1) == "vxlan" + sw[4:]
    assert len(left.dev) <= 15
    assert (left.vni, left.local, left.remote) == (5001, "192.0.2.1", "192.0.2.2")
    assert (right.vni, right.local, right.remote) == (5001, "192.0.2.2", "192.0.2.1")
    assert left.attach == f"{sw}:{left.dev}" and left.room == 1450
    # the NFs' regions are on their hosts
    assert {r.name: r.host for r in p.regions if r.kind == "vale-port"}[f"{sw}:nf1"] == "b"
    assert p.nfs[1].uri == "qemu+ssh://root@192.0.2.2/system" and p.nfs[0].uri is None


def test_each_host_gets_its_own_pipe_parent():
    p = plan(parse_text(NIC_FILE))
    # ingress and egress are local, fw and nat on far: only fw -> nat is a pipe, on far
    assert [h.kind for h in p.hops] == ["vale", "pipe", "vale"]
    [parent] = p.pipe_parents
    assert (parent.host, parent.name, parent.pipes) == ("far", parent_name("cabled"), 1)
    assert p.pipe_parent is None  # the local host has none
    assert setup_commands(p, "far")[0] == ("vale-ctl", "-n", "cabled", "-C", "1024,1024,1,1")
    assert teardown_commands(p, "far")[-1] == ("vale-ctl", "-r", "cabled")
    assert "far" in p.hops[1].reason
    pipes = [r for r in p.regions if r.kind == "pipes"]
    assert [(r.host, r.users) for r in pipes] == [("far", ("fw", "nat"))]


def test_trusted_pipe_regions_never_span_hosts():
    data = _chain({"local": L, "b": B}, [{"role": "fw"}, {"role": "nat", "host": "b"}])
    p = plan(from_data(data))
    assert [h.kind for h in p.hops] == ["pipe", "vale", "vale"]
    [parent] = p.pipe_parents
    assert parent.host == LOCAL and parent.pipes == 1


def test_vxlan_steps_on_each_host_in_order():
    p = plan(parse_text(VXLAN_FILE))
    sw1, sw3 = switch_name("spread", 1), switch_name("spread", 3)
    vx1, vx3 = vxlan_name("spread", 1), vxlan_name("spread", 3)

    def add(dev, vni, local, remote):
        return ("ip", "link", "add", dev, "mtu", "1450", "type", "vxlan", "id", str(vni),
                "local", local, "remote", remote, "dstport", "4789", "dev", "eth0")  # fmt: skip

    assert setup_commands(p, "b") == [
        add(vx1, 5001, "192.0.2.2", "192.0.2.1"),
        ("ip", "link", "set", vx1, "up"),
        ("vale-ctl", "-a", f"{sw1}:{vx1}"),
        add(vx3, 5003, "192.0.2.2", "192.0.2.1"),
        ("ip", "link", "set", vx3, "up"),
        ("vale-ctl", "-a", f"{sw3}:{vx3}"),
    ]
    assert teardown_commands(p, "b") == [
        ("vale-ctl", "-d", f"{sw3}:{vx3}"),
        ("ip", "link", "del", vx3),
        ("vale-ctl", "-d", f"{sw1}:{vx1}"),
        ("ip", "link", "del", vx1),
    ]
    local = setup_commands(p)
    assert local[0] == ("vale-ctl", "-n", "spread", "-C", "1024,1024,1,1")
    assert local[1] == add(vx1, 5001, "192.0.2.1", "192.0.2.2")
    assert teardown_commands(p)[-1] == ("vale-ctl", "-r", "spread")


def test_nic_uplinks_attach_the_kth_nic_to_the_kth_hop_between_hosts():
    p = plan(parse_text(NIC_FILE))
    sw0, sw2 = switch_name("cabled", 0), switch_name("cabled", 2)
    first, last = p.hops[0].uplinks, p.hops[2].uplinks
    assert [(u.host, u.dev, u.attach) for u in first] == [
        (LOCAL, "eth3", f"{sw0}:eth3"),
        ("far", "enp1s0f0", f"{sw0}:enp1s0f0"),
    ]
    assert [(u.host, u.dev) for u in last] == [("far", "enp1s0f1"), (LOCAL, "eth4")]
    assert first[0].describe() == f"NIC eth3 (MTU 9000) towards far, attached as {sw0}:eth3"
    assert setup_commands(p) == [
        ("vale-ctl", "-a", f"{sw0}:eth3"),
        ("vale-ctl", "-a", f"{sw2}:eth4"),
    ]
    assert teardown_commands(p) == [
        ("vale-ctl", "-d", f"{sw2}:eth4"),
        ("vale-ctl", "-d", f"{sw0}:eth3"),
    ]
    # a NIC attaches to one switch: one NIC for two hops is refused
    data = _data(NIC_FILE)
    data["hosts"]["local"]["uplink"]["nic"] = "eth3"
    with pytest.raises(UsageError) as exc:
        plan(from_data(data))
    assert str(exc.value) == (
        "hosts.local.uplink.nic: hop 2 (nat -> egress) is local's hop 2 between hosts, and it "
        "has 1 NIC (eth3); a NIC attaches to one switch: give one per hop, or use vxlan"
    )
    data["hosts"]["local"]["uplink"]["nic"] = ["eth3", "eth3"]
    with pytest.raises(UsageError, match=r"^hosts.local.uplink: nic: a NIC is given twice"):
        from_data(data)


def test_mtu_is_checked_at_plan_time_naming_the_hop_and_both_numbers():
    data = _data(VXLAN_FILE)
    data["mtu"] = 1500
    with pytest.raises(UsageError) as exc:
        plan(from_data(data))
    assert str(exc.value) == (
        "mtu: hop 1 (fw -> nat): the chain carries IP packets of up to 1500 bytes, and local's "
        "vxlan uplink over eth0 carries 1450 (its MTU 1500 less VXLAN's 50); set mtu: 1450 or "
        "raise hosts.local.uplink.mtu"
    )
    data["hosts"]["local"]["uplink"]["mtu"] = 1550  # b's is still 1500
    with pytest.raises(UsageError, match=r"^mtu: hop 1 \(fw -> nat\): .* b's vxlan uplink"):
        plan(from_data(data))
    data["hosts"]["b"]["uplink"]["mtu"] = 1550
    assert plan(from_data(data)).hops[1].uplinks[0].room == 1500


def test_a_hop_between_hosts_needs_both_uplinks_of_one_kind_and_the_peer_address():
    with pytest.raises(UsageError, match=r"^hosts.local.uplink: required: hop 1 \(fw -> nat\) "):
        plan(from_data(_chain({"b": B}, [{"role": "fw"}, {"role": "nat", "host": "b"}])))
    no_address = {**B, "uri": "qemu+ssh://root@b.example/system"}
    with pytest.raises(UsageError, match=r"^hosts.b.address: required: local's VXLAN uplink"):
        plan(from_data(_chain({"local": L, "b": no_address}, [{"role": "nat", "host": "b"}])))
    nic = {**B, "uplink": {"nic": "eth1"}}
    with pytest.raises(UsageError, match=r"^hosts.b.uplink: hop 0 \(ingress -> nat\): local's "):
        plan(from_data(_chain({"local": L, "b": nic}, [{"role": "nat", "host": "b"}])))


def test_switches_are_counted_on_each_host():
    # 8 untrusted NFs alternating between two hosts: 9 hops, each a switch on two hosts
    nfs = [{"role": "fw", "trust": "untrusted", "host": "b" if k % 2 else LOCAL} for k in range(8)]
    with pytest.raises(UsageError, match=r"its 9 VALE hops need a switch each"):
        plan(from_data(_chain({"local": L, "b": B}, nfs)))


def test_a_single_host_chain_shows_no_placement():
    text = render_text(plan(parse_shorthand("fw,nat")))
    assert "placement" not in text and "host, before the VMs:" in text
    assert "subgraph" not in chain_graph.mermaid(plan(parse_shorthand("fw,nat")))


def test_graph_groups_nodes_by_host_and_labels_uplinks():
    p = plan(parse_text(VXLAN_FILE))
    mmd = chain_graph.mermaid(p)
    assert '  subgraph host_b["b: qemu+ssh://root@192.0.2.2/system"]\n' in mmd
    assert "  nf0 <-.->|VALE + VXLAN 5001| nf1\n" in mmd
    assert '  subgraph "cluster_b" {\n' in chain_graph.dot(p)


# -- no spread chain crashes the planner --------------------------------------------------------

_uplink = st.fixed_dictionaries(
    {"vxlan": st.just("eth0"), "mtu": st.sampled_from([1400, 1500, 9000])}
) | st.fixed_dictionaries({"nic": st.sampled_from(["eth1", "eth2"])})
_host = st.fixed_dictionaries(
    {"uri": st.sampled_from(["qemu+ssh://root@192.0.2.2/system", "qemu+ssh://h/system"])},
    optional={"uplink": _uplink, "address": st.just("192.0.2.9")},
)
_nf = st.fixed_dictionaries(
    {"role": st.sampled_from(["fw", "ids", "nat"])},
    optional={
        "trust": st.sampled_from(["trusted", "untrusted"]),
        "host": st.sampled_from([LOCAL, "a", "b", "zz"]),
        "vni": st.integers(min_value=-1, max_value=(1 << 24) + 1),
    },
)


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "nfs": st.lists(_nf, min_size=1, max_size=8),
            "hosts": st.dictionaries(
                st.sampled_from([LOCAL, "a", "b", "B"]),
                _host | st.fixed_dictionaries({}, optional={"uplink": _uplink}),
                max_size=3,
            ),
        },
        optional={"mtu": st.sampled_from([1000, 1450, 1500]), "vni": st.integers(0, 1 << 24)},
    )
)
def test_every_spread_chain_plans_or_names_its_fault(data):
    try:
        p = plan(from_data(data))
    except UsageError as exc:
        assert "\n" not in str(exc)
        return
    where = p.spec.placement
    for h in p.hops:
        assert (h.left_host, h.right_host) == (where[h.index], where[h.index + 1])
        if h.crosses:
            assert h.kind == "vale" and len(h.uplinks) == 2
            assert all(p.spec.mtu <= u.room for u in h.uplinks)
        else:
            assert h.uplinks == ()
    for r in p.regions:
        if r.kind == "pipes":  # a pipe region is mapped from one host only
            assert {where[[*["ingress"], *(n.name for n in p.spec.nfs), "egress"].index(u)]
                    for u in r.users} == {r.host}  # fmt: skip
    vnis = [u.vni for h in p.hops for u in h.uplinks[:1] if u.vni is not None]
    assert len(vnis) == len(set(vnis))


@pytest.mark.parametrize(
    ("uri", "ssh", "address"),
    [
        ("qemu+ssh://root@192.0.2.2/system", "root@192.0.2.2", "192.0.2.2"),
        ("qemu+ssh://b.example/session", "b.example", None),
        ("qemu+ssh://root@[2001:db8::2]/system", "root@2001:db8::2", "2001:db8::2"),
        (
            "qemu+ssh://root@[2001:db8::2]:2222/system",
            "ssh://root@[2001:db8::2]:2222",
            "2001:db8::2",
        ),
        ("qemu+tls://b.example:16514/system", "b.example", None),  # libvirt's port, not SSH's
    ],
)
def test_the_ssh_target_and_address_follow_the_uri(uri, ssh, address):
    spec = from_data({"hosts": {"b": {"uri": uri}}, "nfs": [{"role": "fw", "host": "b"}]})
    assert (spec.host("b").ssh, spec.host("b").address) == (ssh, address)
    assert from_data(spec.to_dict()) == spec


@pytest.mark.parametrize("target", ["-oProxyCommand=x", "ssh://h:0", "ssh://h:65536", "a b"])
def test_an_ssh_target_is_a_destination_only(target):
    data = {"hosts": {"b": {**B, "ssh": target}}, "nfs": [{"role": "fw", "host": "b"}]}
    with pytest.raises(UsageError, match=r"^hosts.b.ssh: bad SSH target "):
        from_data(data)


def test_the_backend_override_leaves_remote_nfs_on_their_libvirt():
    spec = parse_text(VXLAN_FILE, backend="libvirt")
    assert [nf.backend for nf in spec.nfs] == ["libvirt"] * 3
    spec = parse_text(VXLAN_FILE, backend="qemu")
    assert [(nf.host, nf.backend) for nf in spec.nfs] == [
        (LOCAL, "qemu"),
        ("b", "libvirt"),
        ("b", "libvirt"),
    ]
