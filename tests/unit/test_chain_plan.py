"""Chain plans: hops and their links by trust, the pipe parent and regions, NFs as VMs, and the
whole plan as text and JSON with each VM's QEMU line or domain XML (goldens).

The planner is pure, and each VM's Launch is fixed here, so a plan gives byte-identical output.
To accept a deliberate change, run with PTNET_UPDATE_GOLDEN=1 and review the diff of
tests/unit/golden/chain/.
"""

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ptnet.errors import UsageError
from ptnet.model.chain import ChainSpec, parse_shorthand, parse_text
from ptnet.model.vm import VmSpec
from ptnet.plan import chain as chain_plan
from ptnet.plan.chain import (
    MAX_PIPES,
    NfPlan,
    parent_name,
    plan,
    region_room,
    render_text,
    render_vms,
    role_command,
    setup_commands,
    switch_name,
    teardown_commands,
    to_json,
)
from ptnet.plan.ports import port_mac
from ptnet.plan.qemu_argv import Launch

GOLDEN = Path(__file__).parent / "golden" / "chain"

CUSTOM_FILE = """\
name: edge
ingress: netmap:eth1
egress: netmap:eth2
nfs:
  - role: fw
    config: {rules: /etc/ptnet/fw.rules, log: true, quiet: false}
  - name: filter
    role: nft
    trust: untrusted
    cpus: 2
    mem: 1G
    command: "nft-start --in {in} --out '{out}'"
  - role: ids
    config: {mode: ips, signatures: [a.rules, b.rules]}
"""


def launch_of(vm: VmSpec) -> Launch:
    return Launch(
        spec=vm,
        qemu="/opt/qemu/bin/qemu-system-x86_64",
        accel="tcg",
        vmlinux="/cache/kernels/6.1.0-56-amd64/vmlinux",
        initrd=f"/cache/images/{vm.image}/0123456789abcdef/initrd.cpio",
        run_dir=f"/run/ptnet/vms/{vm.name}",
        console_log=f"/state/vms/{vm.name}.console.log",
        ssh_port="SSH_PORT",
        firmware_dirs=("/usr/share/qemu", "/usr/share/seabios"),
        image_name=vm.image,
        image_key="0123456789abcdef",
    )


CASES: dict[str, ChainSpec] = {
    "fw-ids-nat": parse_shorthand("fw,ids,nat"),
    "fw-ids-untrusted-nat": parse_shorthand("fw,ids:untrusted,nat"),
    "custom-nic-ends": parse_text(CUSTOM_FILE, "edge.yml"),
    "libvirt": parse_shorthand("fw,nat:untrusted", "lv", backend="libvirt"),
}


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("PTNET_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.is_file(), f"no golden file {path}; run with PTNET_UPDATE_GOLDEN=1"
    assert text == path.read_text()


def _vms(p):
    return render_vms(p, launch_of, lab="/state", uid=0, gid=0)


@pytest.mark.parametrize("case", sorted(CASES))
def test_plan_text_golden(case):
    p = plan(CASES[case])
    check_golden(f"{case}.txt", render_text(p, _vms(p)))


@pytest.mark.parametrize("case", sorted(CASES))
def test_plan_json_golden(case):
    p = plan(CASES[case])
    text = to_json(p, _vms(p))
    check_golden(f"{case}.json", text)
    assert json.loads(text)["name"] == CASES[case].name


def test_trusted_chain_is_pipes_on_one_parent_in_one_region():
    p = plan(parse_shorthand("fw,ids,nat"))
    assert [h.kind for h in p.hops] == ["pipe"] * 4
    assert [(str(h.left_port), str(h.right_port)) for h in p.hops] == [
        (f"netmap:fw_ids_nat{{{i}", f"netmap:fw_ids_nat}}{i}") for i in range(4)
    ]
    assert str(p.ingress_port) == "netmap:fw_ids_nat{0"
    assert str(p.egress_port) == "netmap:fw_ids_nat}3"
    [region] = p.regions
    assert region.kind == "pipes" and region.name == "fw_ids_nat"
    assert region.users == ("ingress", "fw", "ids", "nat", "egress")
    assert p.pipe_parent is not None and p.pipe_parent.pipes == 4
    assert p.switches == ()
    # each NF's ports, in order: in from the previous hop, out to the next
    fw = p.nfs[0]
    assert (str(fw.in_port), str(fw.out_port)) == ("netmap:fw_ids_nat}0", "netmap:fw_ids_nat{1")
    assert fw.vm.name == "fw-ids-nat-fw" and fw.vm.image == "fw"
    assert fw.vm.port_mode == "passthrough"
    assert fw.macs == (port_mac("fw-ids-nat-fw", 0), port_mac("fw-ids-nat-fw", 1))


def test_an_untrusted_nf_gets_a_switch_each_side_and_shares_no_region():
    p = plan(parse_shorthand("fw,ids:untrusted,nat"))
    assert [h.kind for h in p.hops] == ["pipe", "vale", "vale", "pipe"]
    sw1, sw2 = switch_name("fw-ids-nat", 1), switch_name("fw-ids-nat", 2)
    assert p.switches == (sw1, sw2)
    ids = p.nfs[1]
    assert (str(ids.in_port), str(ids.out_port)) == (f"{sw1}:nf1", f"{sw2}:nf1")
    assert "ids is untrusted" in p.hops[1].reason
    mapped_by_ids = [r for r in p.regions if "ids" in r.users]
    assert [r.name for r in mapped_by_ids] == [f"{sw1}:nf1", f"{sw2}:nf1"]
    assert all(r.users == ("ids",) and r.kind == "vale-port" for r in mapped_by_ids)
    pipes = p.regions[0]
    assert pipes.kind == "pipes" and "ids" not in pipes.users
    assert pipes.users == ("ingress", "fw", "nat", "egress")


def test_nic_ends_are_attached_to_switches_and_have_no_host_port():
    p = plan(parse_text(CUSTOM_FILE))
    first, last = p.hops[0], p.hops[-1]
    assert (first.kind, last.kind) == ("vale", "vale")
    assert first.attach == f"{first.switch}:eth1" and last.attach == f"{last.switch}:eth2"
    assert str(first.left_port) == "netmap:eth1" and str(last.right_port) == "netmap:eth2"
    assert p.ingress_port is None and p.egress_port is None
    assert p.regions[-1].kind == "global" and p.regions[-1].ports == ("netmap:eth1", "netmap:eth2")
    assert p.pipe_parent is None


def test_host_steps_make_the_parent_and_attach_the_nics():
    p = plan(parse_shorthand("fw,nat,ids:untrusted", "h", ingress="netmap:eth1"))
    sw0 = switch_name("h", 0)
    assert setup_commands(p) == [
        ("vale-ctl", "-n", "h", "-C", "1024,1024,1,1"),
        ("vale-ctl", "-a", f"{sw0}:eth1"),
    ]
    assert teardown_commands(p) == [("vale-ctl", "-d", f"{sw0}:eth1"), ("vale-ctl", "-r", "h")]
    untrusted = plan(parse_shorthand("ids:untrusted"))
    assert setup_commands(untrusted) == teardown_commands(untrusted) == []


def test_role_commands():
    p = plan(parse_text(CUSTOM_FILE))
    fw, nft, ids = (n.command for n in p.nfs)
    assert fw == (
        "nf-fw", "-i", "netmap:eth1", "-o", "netmap:eth2", "--stats", "/run/ptnet-nf/stats.json",
        "--rules", "/etc/ptnet/fw.rules", "--log",
    )  # fmt: skip
    assert nft == ("nft-start", "--in", "eth1", "--out", "eth2")
    assert ids[-6:] == ("--mode", "ips", "--signatures", "a.rules", "--signatures", "b.rules")
    assert role_command(parse_shorthand("nat").nfs[0])[0] == "nf-nat"


def test_names_fit_the_port_grammar_at_their_longest():
    spec = parse_shorthand("fw,ids:untrusted,nat", "a-long-chain")
    p = plan(spec)
    assert parent_name("a-long-chain") == "a_long_chain"
    assert {len(s) for s in p.switches} == {11}
    for nf in p.nfs:
        assert all(len(port.nr_name) <= 15 for port in nf.vm.ports)


def test_region_room_mirrors_the_kernel():
    # tests/lab/test_pipe_names.py: a parent of 1 ring of 1024 slots, 42369024 bytes: 12 if
    # objects, 20 rings, 20482 buffers, the first of each reserved (2 buffers); 4 pipes
    room = region_room(1, 1024)
    assert (room.ifs, room.rings, room.bufs) == (11, 19, 20480)
    assert room.pipes(1024) == 4
    assert region_room(2, 1024).pipes(1024) == 5 == MAX_PIPES
    assert region_room(16, 1024).pipes(1024) == 5


def test_the_parent_gets_the_fewest_rings_that_hold_the_pipes():
    small = plan(parse_shorthand("fw,nat")).pipe_parent
    assert small is not None and (small.rings, small.pipes, small.room) == (1, 3, 4)
    big = plan(parse_shorthand("fw,ids,nat,fw")).pipe_parent
    assert big is not None and (big.rings, big.pipes, big.room) == (2, 5, 5)


def test_too_many_pipes_fail_at_plan_time_naming_the_limit():
    with pytest.raises(UsageError) as exc:
        plan(parse_shorthand("fw,ids,nat,fw,ids", "five"))
    assert str(exc.value) == (
        "chain five: its 6 pipe hops would share one region, and a pipe parent's private region "
        "holds at most 5 pipes (its 11 usable netmap_if objects, one per bound pipe end); use "
        "at most 4 trusted NFs with host ends, or mark one untrusted"
    )
    # the same five NFs with one untrusted have 4 pipes
    assert plan(parse_shorthand("fw,ids,nat:untrusted,fw,ids", "five")).pipe_parent is not None


def test_too_many_switches_fail_at_plan_time():
    with pytest.raises(UsageError, match=r"its 9 VALE hops need a switch each, and a host has "):
        plan(parse_shorthand(",".join(["fw:untrusted"] * 8), "eight"))


def test_a_vm_that_cannot_be_resolved_names_its_nf():
    def refuse(vm):
        raise UsageError("unknown image 'fw'; the recipes are: default")

    p = plan(parse_shorthand("fw"))
    with pytest.raises(UsageError, match=r"^nfs\[0\] \(fw\): unknown image 'fw'"):
        render_vms(p, refuse, lab="/state", uid=0, gid=0)


def test_plan_without_vms_renders_too():
    p = plan(parse_shorthand("fw"))
    assert "qemu:" not in render_text(p)
    assert "vm_render" not in json.loads(to_json(p))["nfs"][0]
    assert isinstance(p.nfs[0], NfPlan)


def test_dry_run_vms_resolves_as_vm_up_dry_run(monkeypatch):
    seen = []

    def fake_plan(vm, *, dry_run):
        seen.append((vm.name, dry_run))
        return launch_of(vm), None

    import ptnet.vm.launch

    monkeypatch.setattr(ptnet.vm.launch, "plan", fake_plan)
    p = plan(parse_shorthand("fw,nat"))
    vms = chain_plan.dry_run_vms(p)
    assert seen == [("fw-nat-fw", True), ("fw-nat-nat", True)]
    assert vms["fw"].argv[0] == "/opt/qemu/bin/qemu-system-x86_64"


_items = st.sampled_from(["fw", "ids", "nat", "fw:untrusted", "nat:untrusted", "ids:trusted"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_items, min_size=1, max_size=8), st.sampled_from([None, "netmap:eth1"]))
def test_every_chain_plans_or_names_the_limit(items, ingress):
    try:
        p = plan(parse_shorthand(",".join(items), ingress=ingress))
    except UsageError as exc:
        assert "holds at most 5 pipes" in str(exc) or "VALE switches" in str(exc)
        return
    assert len(p.hops) == len(items) + 1
    for nf in p.nfs:
        if nf.nf.trust == "untrusted":
            # an untrusted NF has VALE ports only, each in a region of its own
            assert {port.kind for port in nf.vm.ports} == {"vale"}
            mine = [r for r in p.regions if nf.nf.name in r.users]
            assert len(mine) == 2 and all(r.users == (nf.nf.name,) for r in mine)
