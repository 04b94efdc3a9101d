"""Hot-plug keeps the VM record's ports, (spec, number, MAC), as the one source: `port add`
numbers from it, `port del` removes from it, and `validate` and `list` read it. QMP is faked
(the commands sent are recorded); no VM is started."""

from typing import Any

import pytest

from ptnet.backend import base
from ptnet.errors import UsageError
from ptnet.model.ports import parse_port
from ptnet.model.vm import BackendName
from ptnet.plan.ports import port_mac, vm_port
from ptnet.vm import hotplug, lifecycle
from ptnet.vm import validate as vm_validate


class FakeBackend:
    """Answers QMP like a QEMU whose guest releases an unplugged NIC at once."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def alive(self, record: base.Record) -> bool:
        return True

    def qmp(self, record: base.Record, command: str, arguments: dict[str, Any]) -> Any:
        self.sent.append((command, arguments))
        return []


@pytest.fixture
def vm(tmp_path, monkeypatch):
    monkeypatch.setenv("PTNET_STATE_DIR", str(tmp_path / "state"))
    fake = FakeBackend()
    monkeypatch.setattr(hotplug, "backend_for", lambda _name: fake)
    monkeypatch.setattr(hotplug, "check_ports_available", lambda _ports: None)
    monkeypatch.setattr(hotplug, "wait_ports", lambda *_a, **_k: None)
    record = base.Record(
        name="vm1",
        backend=BackendName.qemu,
        settings={"name": "vm1", "image": "default", "cpus": 1, "mem_mb": 512,
                  "backend": "qemu", "port_mode": "passthrough"},
        ports=[vm_port("vm1", parse_port("vale1:10"), 0)],
        image={},
        ssh_port=40022,
        run_dir=str(tmp_path / "run"),
        console_log="",
        known_hosts="",
        accel="tcg",
    )  # fmt: skip
    base.save_record(record)
    return fake


def test_del_then_add_keeps_numbers_and_macs_apart(vm):
    hotplug.port_add("vm1", parse_port("vale1:11"))
    hotplug.port_del("vm1", parse_port("vale1:10"))
    added = hotplug.port_add("vm1", parse_port("vale1:12"))
    ports = base.load_record("vm1").ports
    assert [(str(p.spec), p.index, p.mac) for p in ports] == [
        ("vale1:11", 1, port_mac("vm1", 1)),
        ("vale1:12", 2, port_mac("vm1", 2)),
    ]
    assert added == ports[1]
    assert ("device_del", {"id": "port0-nic"}) in vm.sent
    assert ("netdev_del", {"id": "port0"}) in vm.sent
    assert vm.sent[-1] == (
        "device_add",
        {"driver": "ptnet-pci", "id": "port2-nic", "netdev": "port2", "mac": port_mac("vm1", 2)},
    )


def test_validate_looks_for_a_mac_the_vm_has_after_del_and_add(vm, monkeypatch):
    """The bug this replaces: validate looked for port 0's MAC, gone after `port del`."""
    hotplug.port_add("vm1", parse_port("vale1:11"))
    hotplug.port_del("vm1", parse_port("vale1:10"))
    seen = {}

    def fake_validate(vm_name, guest, port, mac, **_kw):
        seen.update(port=str(port), mac=mac)
        return {"verdict": "pass"}

    monkeypatch.setattr(vm_validate.pktgen, "validate", fake_validate)
    monkeypatch.setattr(vm_validate, "target", lambda _record: None)
    vm_validate.validate("vm1", peer=None, count=1, size=60, rate=0)
    assert seen == {"port": "vale1:11", "mac": port_mac("vm1", 1)}
    assert lifecycle.status(base.load_record("vm1"))["ports"] == ["vale1:11"]


def test_add_of_a_port_the_vm_has_and_del_of_one_it_has_not(vm):
    with pytest.raises(UsageError, match="VM vm1 already has port 'vale1:10'"):
        hotplug.port_add("vm1", parse_port("netmap:vale1:10"))
    with pytest.raises(UsageError, match="VM vm1 has no port 'vale1:9'"):
        hotplug.port_del("vm1", parse_port("vale1:9"))
    assert vm.sent == []
