"""Ports as NICs, rendered as QEMU arguments and as QMP hot-plug commands: a golden matrix of
specs x modes x backends, and the rules behind it.

Regenerate the golden file after an intended change with
    PTNET_UPDATE_GOLDEN=1 .venv/bin/python -m pytest -q tests/unit/test_plan_ports.py
and review the diff.
"""

import json
import os
import re
from pathlib import Path

import pytest

from ptnet.errors import UsageError
from ptnet.model.ports import parse_port
from ptnet.plan.devices import argv, qmp_add, qmp_del
from ptnet.plan.ports import check_port_for_mode, libvirt_port_nic, port_mac, port_nic

GOLDEN = Path(__file__).parent / "golden" / "ports" / "argv.json"

MATRIX_SPECS = [
    "vale1:10",
    "netmap:vale1:11/x",
    "vale:x",
    "vale0:0{0",
    "vale2:a}7",
    "pipeA}1",
    "netmap:pipeA{1",
    "pipeB{2-0",
    "netmap:eth0",
    "eth0",
    "netmap:eth0-0",
    "netmap:eth0-2",
    "netmap:eth0^",
    "netmap:eth0^1",
    "netmap:eth0*",
    "netmap:eth0/x@2",
    "netmap:eth0/T",
    "netmap:eth0/R",
    "netmap:eth0/t",
    "netmap:eth0/rt",
    "pipeA{1/z",
    "vale1:10@conf:rings=2,slots=1024",
    "vale1:12@conf:tx-rings=4,host-rx-rings=1@3",
]
MODES = ["passthrough", "emulated"]


def qemu_port_args(port, netdev_id, mac, mode) -> list[str]:
    return argv(port_nic(port, netdev_id, mac, mode))


def libvirt_port_args(port, netdev_id, mac, mode) -> list[str]:
    return argv(libvirt_port_nic(port, netdev_id, mac, mode))


def render(spec: str, mode: str, index: int) -> dict:
    port = parse_port(spec)
    mac = port_mac("vm1", index)
    out: dict = {"spec": spec, "mode": mode}
    try:
        out["qemu"] = qemu_port_args(port, f"nm{index}", mac, mode)
        out["libvirt"] = libvirt_port_args(port, f"ptnet-nm{index}", mac, mode)
        nic = port_nic(port, f"nm{index}", mac, mode)
        out["qmp"] = {
            k: [list(c) for c in cmds] for k, cmds in (("add", qmp_add(nic)), ("del", qmp_del(nic)))
        }
    except UsageError as exc:
        out["error"] = str(exc)
    return out


def matrix() -> list[dict]:
    return [render(s, m, i) for i, s in enumerate(MATRIX_SPECS) for m in MODES]


def test_golden_matrix():
    got = matrix()
    if os.environ.get("PTNET_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps(got, indent=2) + "\n")
    want = json.loads(GOLDEN.read_text())
    assert [(w["spec"], w["mode"]) for w in want] == [(g["spec"], g["mode"]) for g in got]
    for w, g in zip(want, got, strict=True):
        assert g == w


def test_the_matrix_has_both_outcomes_in_both_modes():
    rows = matrix()
    for mode in MODES:
        ok = [r for r in rows if r["mode"] == mode and "qemu" in r]
        bad = [r for r in rows if r["mode"] == mode and "error" in r]
        assert len(ok) >= 8 and len(bad) >= 5, mode


def test_passthrough_argv():
    port = parse_port("vale1:10")
    assert qemu_port_args(port, "nm0", "52:54:00:12:34:56", "passthrough") == [
        "-netdev",
        "netmap,id=nm0,ifname=vale1:10,passthrough=on",
        "-device",
        "ptnet-pci,netdev=nm0,mac=52:54:00:12:34:56,id=nm0-nic",
    ]


def test_emulated_argv():
    port = parse_port("pipeA}1")
    assert qemu_port_args(port, "nm0", "52:54:00:12:34:56", "emulated") == [
        "-netdev",
        "netmap,id=nm0,ifname=netmap:pipeA}1",
        "-device",
        "virtio-net-pci,netdev=nm0,mac=52:54:00:12:34:56,id=nm0-nic",
    ]


def test_commas_in_a_spec_are_doubled_for_qemu():
    port = parse_port("vale1:10@conf:rings=2,slots=1024")
    args = qemu_port_args(port, "n", "52:54:00:00:00:01", "emulated")
    assert args[1] == "netmap,id=n,ifname=vale1:10@conf:rings=2,,slots=1024"
    # Undoing QEMU's escaping gives the spec back, and it parses to the same port.
    value = re.sub(",,", ",", args[1].split("ifname=", 1)[1])
    assert parse_port(value) == port


def test_qmp_gets_the_spec_itself_and_typed_values():
    """QMP takes JSON: the spec's commas stay single, and passthrough is a boolean."""
    port = parse_port("vale1:10@conf:rings=2,slots=1024")
    nic = port_nic(port, "port3", "52:54:00:aa:bb:cc", "passthrough")
    assert qmp_add(nic) == [
        ("netdev_add", {"type": "netmap", "id": "port3", "ifname": str(port), "passthrough": True}),
        (
            "device_add",
            {
                "driver": "ptnet-pci",
                "id": "port3-nic",
                "netdev": "port3",
                "mac": "52:54:00:aa:bb:cc",
            },
        ),
    ]
    assert qmp_del(nic) == [("device_del", {"id": "port3-nic"}), ("netdev_del", {"id": "port3"})]


def test_argv_and_qmp_render_the_same_nic():
    """Parsing the argv options back gives the QMP arguments (QEMU's own equivalence)."""
    for spec, mode in [("vale1:a", "passthrough"), ("pipeA}1", "emulated")]:
        nic = port_nic(parse_port(spec), "p", "52:54:00:00:00:02", mode)
        args = argv(nic)
        for option, (_command, qmp) in zip((args[1], args[3]), qmp_add(nic), strict=True):
            head, *pairs = re.split(r"(?<!,),(?!,)", option)
            opts = {
                k: {"on": True}.get(v, v.replace(",,", ","))
                for k, v in (p.split("=", 1) for p in pairs)
            }
            assert qmp == {("type" if "type" in qmp else "driver"): head, **opts}


def test_libvirt_gets_the_same_argv():
    port = parse_port("vale1:10")
    mac = port_mac("vm", 0)
    for mode in MODES:
        assert libvirt_port_args(port, "ptnet0", mac, mode) == qemu_port_args(
            port, "ptnet0", mac, mode
        )


@pytest.mark.parametrize("bad", ["hostnet0", "net12"])
def test_libvirt_refuses_its_own_aliases(bad):
    with pytest.raises(UsageError, match=f"'{bad}': libvirt uses it"):
        libvirt_port_args(parse_port("vale1:10"), bad, port_mac("vm", 0), "passthrough")
    assert qemu_port_args(parse_port("vale1:10"), bad, port_mac("vm", 0), "passthrough")


@pytest.mark.parametrize("bad", ["", "0nm", "nm 0", "nm,0", "nm=0", "_x"])
def test_bad_netdev_ids(bad):
    with pytest.raises(UsageError, match="bad netdev id"):
        qemu_port_args(parse_port("vale1:10"), bad, "52:54:00:00:00:01", "emulated")


@pytest.mark.parametrize(
    ("mac", "why"),
    [
        ("52:54:00:00:00", "six hex pairs"),
        ("52-54-00-00-00-01", "six hex pairs"),
        ("52:54:00:00:00:0g", "six hex pairs"),
        ("53:54:00:00:00:01", "multicast"),
        ("01:00:5e:00:00:01", "multicast"),
    ],
)
def test_bad_macs(mac, why):
    with pytest.raises(UsageError, match=why):
        qemu_port_args(parse_port("vale1:10"), "nm0", mac, "emulated")


def test_port_macs_are_stable_unicast_local_and_distinct():
    macs = {port_mac(f"vm{v}", i) for v in range(50) for i in range(8)}
    assert len(macs) == 400
    assert port_mac("vm1", 0) == port_mac("vm1", 0)
    assert port_mac("vm1", 0) != port_mac("vm1", 1) != port_mac("vm2", 1)
    for m in macs:
        assert re.fullmatch(r"52:54(:[0-9a-f]{2}){4}", m)
        first = int(m[:2], 16)
        assert first & 0x02 and not first & 0x01  # locally administered, unicast


def test_port_mac_needs_a_name_and_an_index():
    with pytest.raises(UsageError, match="VM name"):
        port_mac("", 0)
    with pytest.raises(UsageError, match="port index -1"):
        port_mac("vm", -1)


@pytest.mark.parametrize(
    ("spec", "mode", "why"),
    [
        ("netmap:eth0/t", "passthrough", "/t makes a monitor"),
        ("netmap:eth0/rt", "emulated", "/tr makes a monitor"),
        ("pipeA{1/z", "emulated", "/z makes a monitor"),
        ("netmap:eth0/R", "emulated", "/R binds one direction only"),
        ("vale1:1/T", "passthrough", "/T binds one direction only"),
        ("netmap:eth0^", "passthrough", "never host rings"),
        ("netmap:eth0*", "passthrough", "never host rings"),
        ("netmap:eth0^2", "emulated", "not on host rings"),
        ("netmap:eth0*", "emulated", "not on host rings"),
        ("netmap:eth0-1", "passthrough", "-1 cannot select one"),
        ("netmap:eth0-3", "emulated", "-3 leaves it out"),
    ],
)
def test_specs_a_vm_cannot_use(spec, mode, why):
    with pytest.raises(UsageError) as exc:
        check_port_for_mode(parse_port(spec), mode)
    message = str(exc.value)
    assert message.startswith(f"port '{parse_port(spec)}' cannot be a VM's {mode} NIC: ")
    assert why in message


@pytest.mark.parametrize(
    ("spec", "mode"),
    [
        ("vale1:10", "passthrough"),
        ("vale1:10/x", "passthrough"),
        ("pipeA}1", "passthrough"),
        ("netmap:eth0@2", "passthrough"),
        ("netmap:eth0-0", "emulated"),
        ("vale1:10@conf:slots=256", "emulated"),
    ],
)
def test_specs_a_vm_can_use(spec, mode):
    check_port_for_mode(parse_port(spec), mode)


def test_unknown_mode():
    with pytest.raises(UsageError, match="unknown port mode 'tap'"):
        check_port_for_mode(parse_port("vale1:10"), "tap")  # type: ignore[arg-type]
