"""A VM's netmap ports as NICs (ptnet/plan/devices.py). Pure: specs in, descriptions out.

Each port becomes one `-netdev netmap` backend and one guest NIC:

- passthrough: `-netdev netmap,id=ID,ifname=SPEC,passthrough=on -device ptnet-pci,...`; the
  guest's ptnet driver sees the host port's own rings and buffers (ptnetmap).
- emulated: stock `-netdev netmap,id=ID,ifname=SPEC` with a `virtio-net-pci` NIC; QEMU copies
  every frame between the port's ring 0 and the virtio queues.

QEMU's netmap backend hands `ifname` to nm_open(), so it is the whole canonical spec.
"""

import hashlib
import re
from dataclasses import dataclass

from ptnet.errors import UsageError
from ptnet.model.ports import PortSpec
from ptnet.model.vm import PortMode
from ptnet.plan.devices import Device, Netdev, Nic

_QEMU_ID = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")  # QEMU's rule for -netdev/-device ids
_LIBVIRT_ALIAS = re.compile(r"(hostnet|net)[0-9]+")  # the ids libvirt gives its own NICs
_MAC = re.compile(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}")


def check_port_for_mode(port: PortSpec, mode: PortMode) -> None:
    """Refuse, with the reason, a spec that QEMU cannot use as a VM's NIC in this mode."""
    if mode not in list(PortMode):
        raise UsageError(f"unknown port mode '{mode}' (passthrough or emulated)")
    why = _unusable(port, mode)
    if why:
        raise UsageError(f"port '{port}' cannot be a VM's {mode} NIC: {why}")


def _unusable(port: PortSpec, mode: PortMode) -> str | None:
    letters = {"zcopy-monitor": "z", "tx-monitor": "t", "rx-monitor": "r"}
    if port.monitor:
        which = "".join(v for k, v in letters.items() if k in port.flags)
        return f"/{which} makes a monitor, which only watches another port's traffic"
    if "rx-only" in port.flags or "tx-only" in port.flags:
        which = "/R" if "rx-only" in port.flags else "/T"
        return f"{which} binds one direction only, and a NIC needs both"
    if mode == "passthrough":
        if port.rings in ("sw", "one-sw", "nic-sw"):
            return "passthrough maps hardware rings into the guest, never host rings ('^', '*')"
        if port.rings == "one-nic":
            return (
                f"passthrough hands all of the port's rings to the guest, so -{port.ring} "
                "cannot select one; select rings inside the guest"
            )
        return None
    if port.rings in ("sw", "one-sw", "nic-sw"):
        return "QEMU's netmap backend moves frames on hardware ring 0 only, not on host rings"
    if port.rings == "one-nic" and port.ring != 0:
        return f"QEMU's netmap backend moves frames on ring 0 only, and -{port.ring} leaves it out"
    return None


def _check_id(netdev_id: str) -> None:
    if not _QEMU_ID.fullmatch(netdev_id):
        raise UsageError(
            f"bad netdev id '{netdev_id}': QEMU ids are a letter, then letters, digits, '-._'"
        )


def _check_mac(mac: str) -> None:
    if not _MAC.fullmatch(mac):
        raise UsageError(f"bad MAC address '{mac}': six hex pairs separated by ':'")
    if int(mac[:2], 16) & 1:
        raise UsageError(f"bad MAC address '{mac}': a multicast address cannot be a NIC's")


@dataclass(frozen=True)
class VmPort:
    """One port of a VM: its spec, its number (never reused while the VM runs) and its MAC."""

    spec: PortSpec
    index: int
    mac: str

    @property
    def id(self) -> str:
        """The id of the port's netdev (its NIC's id adds -nic)."""
        return f"port{self.index}"


def vm_port(vm_name: str, spec: PortSpec, index: int) -> VmPort:
    return VmPort(spec, index, port_mac(vm_name, index))


def vm_port_nic(port: VmPort, mode: PortMode) -> Nic:
    return port_nic(port.spec, port.id, port.mac, mode)


def port_nic(port: PortSpec, netdev_id: str, mac: str, mode: PortMode) -> Nic:
    """The netmap netdev and the guest NIC that give a VM this port."""
    check_port_for_mode(port, mode)
    _check_id(netdev_id)
    _check_mac(mac)
    passthrough = mode == PortMode.passthrough
    netdev = Netdev(
        "netmap",
        netdev_id,
        (("ifname", port.ifname), ("passthrough", True))
        if passthrough
        else (("ifname", port.ifname),),
    )
    driver = "ptnet-pci" if passthrough else "virtio-net-pci"
    return Nic(netdev, Device(driver, f"{netdev_id}-nic", (("netdev", netdev_id), ("mac", mac))))


def libvirt_port_nic(port: PortSpec, netdev_id: str, mac: str, mode: PortMode) -> Nic:
    """The same NIC, for a libvirt domain's `<qemu:commandline>`.

    libvirt names its own NICs' backends and devices `hostnetN` and `netN`, so those ids
    would collide with the domain's own and are refused.
    """
    if _LIBVIRT_ALIAS.fullmatch(netdev_id):
        raise UsageError(f"bad netdev id '{netdev_id}': libvirt uses it for its own NICs")
    return port_nic(port, netdev_id, mac, mode)


def port_mac(vm_name: str, index: int) -> str:
    """A stable MAC for port `index` of VM `vm_name`: 52:54 (unicast, locally administered,
    QEMU's usual prefix) then four bytes of a hash of both."""
    if not vm_name:
        raise UsageError("a VM name is needed to derive a port's MAC address")
    if index < 0:
        raise UsageError(f"bad port index {index}: ports are numbered from 0")
    digest = hashlib.sha256(f"ptnet-port\0{vm_name}\0{index}".encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x52, 0x54, *digest[:4]))
