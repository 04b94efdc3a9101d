"""Golden QEMU command lines, libvirt domain XML and QMP hot-plug commands for a matrix of VMs
and port specs.

The planners are pure, so a fixed launch gives byte-identical output. To accept a deliberate
change, run with PTNET_UPDATE_GOLDEN=1 and review the diff of tests/unit/golden/vm/.
"""

import json
import os
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ptnet.errors import UsageError
from ptnet.model.ports import parse_port
from ptnet.model.vm import VmSpec, parse_mem
from ptnet.plan import devices
from ptnet.plan.libvirt_xml import NS, domain_xml
from ptnet.plan.ports import port_mac, vm_port_nic
from ptnet.plan.qemu_argv import MGMT_MAC, Launch, qemu_argv

GOLDEN = Path(__file__).parent / "golden" / "vm"

MATRIX = {
    "mgmt-only": ([], "passthrough", 1, 512, "tcg"),
    "vale-passthrough": (["vale1:10"], "passthrough", 2, 1024, "tcg"),
    "two-vale-kvm": (["vale1:10", "vale2:a"], "passthrough", 1, 512, "kvm"),
    "pipe-ends": (["pipeA{3", "netmap:pipeB}0"], "passthrough", 1, 512, "tcg"),
    "nic-emulated": (["netmap:eth0"], "emulated", 1, 512, "tcg"),
    "nic-exclusive": (["netmap:eth1/x"], "passthrough", 1, 512, "tcg"),
    "vale-emulated-ring0": (["vale0:p-0"], "emulated", 1, 256, "tcg"),
}


def launch(case: str) -> Launch:
    ports, mode, cpus, mem, accel = MATRIX[case]
    spec = VmSpec(
        name="vm1",
        cpus=cpus,
        mem_mb=mem,
        port_mode=mode,
        ports=tuple(parse_port(p) for p in ports),
    )
    firmware = ("/usr/share/qemu", "/usr/share/seabios") if ports else ()
    return Launch(
        spec=spec,
        qemu="/opt/qemu/bin/qemu-system-x86_64" if ports else "/usr/bin/qemu-system-x86_64",
        accel=accel,
        vmlinux="/cache/kernels/6.1.0-56-amd64/vmlinux",
        initrd="/cache/images/default/0123456789abcdef/initrd.cpio",
        run_dir="/run/ptnet/vms/vm1",
        console_log="/state/vms/vm1.console.log",
        ssh_port=40022,
        firmware_dirs=firmware,
        image_name="default",
        image_key="0123456789abcdef",
    )


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("PTNET_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.is_file(), f"no golden file {path}; run with PTNET_UPDATE_GOLDEN=1"
    assert text == path.read_text()


@pytest.mark.parametrize("case", sorted(MATRIX))
def test_qemu_argv_golden(case):
    check_golden(f"{case}.argv", shlex.join(qemu_argv(launch(case))) + "\n")


@pytest.mark.parametrize("case", sorted(MATRIX))
def test_domain_xml_golden(case):
    check_golden(f"{case}.xml", domain_xml(launch(case), lab="/state", uid=0, gid=0))


@pytest.mark.parametrize("case", sorted(MATRIX))
def test_argv_and_xml_agree_on_every_port(case):
    """Both renderings carry the same netdevs and NICs: one per port, with the derived MACs."""
    lh = launch(case)
    argv = qemu_argv(lh)
    root = ET.fromstring(domain_xml(lh, lab="/state"))
    qargs = [a.get("value") for a in root.iter("{http://libvirt.org/schemas/domain/qemu/1.0}arg")]
    for i, port in enumerate(lh.spec.ports):
        mac = port_mac("vm1", i)
        dev = next(a for a in argv if f"netdev=port{i}," in a)
        assert f"mac={mac}" in dev and dev in qargs
        netdev = next(a for a in argv if a.startswith(f"netmap,id=port{i},"))
        assert f"ifname={port.ifname}" in netdev and netdev in qargs
        assert ("passthrough=on" in netdev) == (lh.spec.port_mode == "passthrough")
        assert dev.startswith("ptnet-pci," if lh.spec.port_mode == "passthrough" else "virtio-")
    meta = root.find(f"metadata/{{{NS}}}vm")
    assert meta is not None
    assert [p.get("spec") for p in meta] == [str(p) for p in lh.spec.ports]
    assert meta.get("ssh-port") == "40022" and meta.get("lab") == "/state"
    assert root.get("type") == ("kvm" if lh.accel == "kvm" else "qemu")


def test_management_nic_is_loopback_only_and_sockets_are_in_the_run_dir():
    argv = qemu_argv(launch("mgmt-only"))
    user = argv[argv.index("-netdev") + 1]
    assert user == "user,id=mgmt,net=10.0.2.0/24,hostfwd=tcp:127.0.0.1:40022-:22"
    assert f"mac={MGMT_MAC}" in argv[argv.index("-netdev") + 3]
    assert "chardev=qmp,mode=control" in argv
    assert "socket,id=qmp,path=/run/ptnet/vms/vm1/qmp.sock,server=on,wait=off" in argv
    assert argv[-3:] == ["-pidfile", "/run/ptnet/vms/vm1/qemu.pid", "-daemonize"]


def test_xml_escapes_what_it_interpolates():
    text = domain_xml(launch("mgmt-only"), lab="/st'ate&<x>")
    meta = ET.fromstring(text).find(f"metadata/{{{NS}}}vm")
    assert meta is not None and meta.get("lab") == "/st'ate&<x>"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Vm1"}, "bad VM name 'Vm1'"),
        ({"name": "1vm"}, "bad VM name '1vm'"),
        ({"name": "a" * 32}, "bad VM name"),
        ({"name": "vm", "cpus": 0}, "bad --cpus 0"),
        ({"name": "vm", "mem_mb": 64}, "bad --mem 64"),
        ({"name": "vm", "backend": "xen"}, "unknown backend 'xen'"),
        ({"name": "vm", "ports": (parse_port("vale1:1"), parse_port("netmap:vale1:1"))}, "twice"),
    ],
)
def test_bad_vm_specs_are_usage_errors(kwargs, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        VmSpec(**kwargs)


@pytest.mark.parametrize(
    ("text", "mb"), [("512", 512), ("512M", 512), ("1G", 1024), ("2GiB", 2048)]
)
def test_parse_mem(text, mb):
    assert parse_mem(text) == mb


@pytest.mark.parametrize("text", ["", "1T", "-5", "0.5G", "100"])
def test_parse_mem_rejects(text):
    with pytest.raises(UsageError, match="bad --mem"):
        parse_mem(text)


def test_spec_round_trips_through_its_record_form():
    spec = launch("pipe-ends").spec
    assert VmSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize("case", sorted(MATRIX))
def test_qmp_hotplug_golden(case):
    """What `port add` and `port del` send QMP for each of the VM's ports."""
    lh = launch(case)
    commands = [
        {"port": str(p.spec), "add": devices.qmp_add(nic), "del": devices.qmp_del(nic)}
        for p in lh.ports
        for nic in [vm_port_nic(p, lh.spec.port_mode)]
    ]
    check_golden(f"{case}.qmp.json", json.dumps(commands, indent=2) + "\n")


@pytest.mark.parametrize("case", sorted(MATRIX))
def test_hotplug_sends_what_the_command_line_holds(case):
    """Each port's netdev and NIC reach QMP with the ids and options of the argv."""
    lh = launch(case)
    argv = qemu_argv(lh)
    for p in lh.ports:
        nic = vm_port_nic(p, lh.spec.port_mode)
        args = devices.argv(nic)
        at = argv.index(args[1]) - 1
        assert argv[at : at + 4] == args
        (_, netdev), (_, device) = devices.qmp_add(nic)
        assert (netdev["id"], device["id"], device["mac"]) == (p.id, f"{p.id}-nic", p.mac)
