"""Issue 16 against real hosts: two lab VMs joined by a virtual link (ptnet/lab/pair.py), a the
user's machine with netmap.ko, b a remote host with libvirtd and sshd but no netmap.ko. From a,
`ptnet chain create` of a chain with an NF on b, and of one with an NF on an address where
nobody answers: each is one clear error naming its host, exit code 2, and nothing started on
either side. Once b loads netmap.ko, the same preflight passes (so it was netmap.ko that
failed), and the chain of 2 NFs, fw here and nat on b (through b's qemu+ssh libvirt), is
created, shown with each NF's host, validated (pass), measured (`chain bench farb`) and
destroyed, with nothing left on either side: no domain, QEMU, VALE port or VXLAN device.
"""

import json
import sys
from pathlib import Path

import pytest

from ptnet.build import kbuild
from ptnet.errors import UsageError
from ptnet.lab import kernel as lab_kernel
from ptnet.lab import pair, runner

# In make test: two one-CPU lab VMs with nested KVM, about 5 minutes (317 s and 308 s here); it
# runs among the integration tests, before the lab plugin's VMs start, so it has both CPUs.
pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
GUEST = Path(__file__).with_name("chain_pair_guest.py")


@pytest.fixture(scope="module")
def seen(tmp_path_factory) -> dict:
    if pair.sshd_root() is None:
        pytest.skip("no sshd for the lab pair (see ptnet/lab/pair.py)")
    kernel = lab_kernel.find(None)
    try:
        netmap = kbuild.module_path(kernel, "netmap")
    except UsageError as exc:
        pytest.skip(str(exc))
    shared = tmp_path_factory.mktemp("pair")
    out = shared / "seen.json"
    a = runner.LabSpec(
        kernel=kernel,
        command=[sys.executable, str(GUEST), str(out)],
        modules=[netmap],
        timeout=5400,
        cwd=ROOT,
        # SSH and libvirt between two TCG guests on a busy machine: far slower than the
        # preflight's default bound
        env={"PAIR_NETMAP_KO": str(netmap), "PTNET_HOST_TIMEOUT": "240"},
        nested_kvm=True,  # each NF VM under KVM in its lab host (one CPU each)
    )
    b = runner.LabSpec(kernel=kernel, command=["true"], timeout=5460, cwd=ROOT, nested_kvm=True)
    a_result, b_result = pair.run(
        a, b, shared, a_output=shared / "a.log", b_output=shared / "b.log"
    )
    logs = {n: (shared / f"{n}.log").read_text(errors="replace")[-3000:] for n in "ab"}
    assert a_result.exit_code == 0, logs
    assert b_result is not None and b_result.exit_code == 0, logs
    return json.loads(out.read_text())


def one_line(result: dict) -> str:
    assert result["rc"] == 2, result
    lines = result["stderr"].strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ptnet: error: "), result
    return lines[0]


def test_the_link_joins_the_two_hosts(seen):
    assert seen["ssh_b"]["rc"] == 0 and "hello from" in seen["ssh_b"]["stdout"], seen["ssh_b"]


def test_a_host_without_netmap_is_one_error_naming_it(seen):
    line = one_line(seen["netmap_missing"])
    assert "chain farb: not started" in line
    assert "host b: netmap.ko is not loaded (no /sys/module/netmap)" in line


def test_an_unreachable_host_is_one_error_naming_it(seen):
    line = one_line(seen["unreachable"])
    assert "chain farc: not started" in line
    assert "host c: libvirt at qemu+ssh://root@10.16.0.9/system does not answer" in line
    assert "ssh root@10.16.0.9" in line


NOTHING_HERE = {"qemu": "", "records": [], "vxlan": "", "vale": ""}


def test_nothing_was_started_on_either_host(seen):
    assert seen["left_here"] == NOTHING_HERE
    assert seen["left_on_b"] == {"domains": [], "vxlan": "", "qemu": ""}


def test_with_netmap_loaded_on_b_the_preflight_passes(seen):
    assert seen["insmod_b"]["rc"] == 0, seen["insmod_b"]
    assert seen["preflight_ready"]["rc"] == 0, seen["preflight_ready"]
    assert seen["preflight_ready"]["stdout"] == "ready\n"


def test_a_chain_across_the_two_hosts_is_created_on_each(seen):
    result = seen["create"]
    assert result["rc"] == 0, result
    here, on_b = seen["running"]["here"], seen["running"]["on_b"]
    # fw's VM here, nat's domain on b; hop 1's switch with its VXLAN uplink on each side.
    assert "farb-fw" in here["qemu"] and on_b["domains"] == ["farb-nat"], seen["running"]
    assert "vxlan" in here["vxlan"] and "vxlan" in on_b["vxlan"], seen["running"]
    assert "vxlan" in here["vale"] and "vxlan" in on_b["vale"], seen["running"]


def test_show_and_list_name_each_nfs_host(seen):
    assert seen["show"]["rc"] == 0, seen["show"]
    status = json.loads(seen["show"]["stdout"])
    assert [(n["name"], n["host"], n["state"]) for n in status["nfs"]] == [
        ("fw", "local", "running"),
        ("nat", "b", "running"),
    ]
    assert "fw@local -> nat@b" in seen["show_table"]["stdout"], seen["show_table"]
    rows = json.loads(seen["list"]["stdout"])
    assert [(r["name"], r["state"]) for r in rows] == [("farb", "ready")], rows


def test_the_chain_across_hosts_validates(seen):
    result = seen["validate"]
    assert result["rc"] == 0, result
    report = json.loads(result["stdout"])
    assert report["verdict"] == "pass", report
    assert {(r["nf"], r["host"]) for r in report["hops"]} == {("fw", "local"), ("nat", "b")}


def test_the_chain_across_hosts_is_measured_ingress_to_egress_with_each_nfs_host(seen):
    """`chain bench farb`: pkt-gen's UDP frames pass fw's default rules and nat translates them,
    so what reaches the egress is what crossed both hosts; the per-hop table says where."""
    result = seen["bench"]
    assert result["rc"] == 0, result
    report = json.loads(result["stdout"])
    got = report["result"]
    assert report["chain"] == "farb" and got["mpps"] > 0, report
    assert 0 < got["rx_packets"] <= got["tx_packets"], report
    hops = {(r["nf"], r["host"], r["side"]): r for r in report["hops"]}
    assert sorted(hops) == [
        ("fw", "local", "in"), ("fw", "local", "out"), ("nat", "b", "in"), ("nat", "b", "out")
    ]  # fmt: skip
    # Every frame that reached the egress left nat's out port, which had it from fw.
    assert hops[("nat", "b", "out")]["tx"] >= got["rx_packets"], hops
    assert hops[("fw", "local", "in")]["rx"] >= hops[("nat", "b", "in")]["rx"] > 0, hops


def test_destroy_leaves_nothing_on_either_host(seen):
    assert seen["destroy"]["rc"] == 0, seen["destroy"]
    assert seen["left_after_destroy"] == {
        "here": NOTHING_HERE,
        "on_b": {"domains": [], "vxlan": "", "qemu": "", "vale": ""},
    }
    assert seen["rmmod_b"]["rc"] == 0, seen["rmmod_b"]
