"""Network backends and guest devices as data, and their two renderings. Pure.

A plan describes each NIC once, as a Netdev (QEMU's `-netdev`) and a Device (its `-device`).
The QEMU command line and QMP hot-plug are two renderers of the same description, so a port
added with `ptnet vm port add` is exactly the port `ptnet vm up --port` would have given.
"""

from dataclasses import dataclass
from typing import Any

Value = str | bool
Options = tuple[tuple[str, Value], ...]


@dataclass(frozen=True)
class Netdev:
    """A network backend: `-netdev TYPE,id=ID,KEY=VALUE...`, or QMP netdev_add."""

    type: str
    id: str
    options: Options = ()


@dataclass(frozen=True)
class Device:
    """A guest NIC on a netdev: `-device DRIVER,KEY=VALUE...,id=ID`, or QMP device_add."""

    driver: str
    id: str
    options: Options = ()


@dataclass(frozen=True)
class Nic:
    netdev: Netdev
    device: Device


def _option_value(value: Value) -> str:
    """A value inside a QEMU `key=value,...` option: on/off for booleans, commas doubled."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return value.replace(",", ",,")


def _options(options: Options) -> list[str]:
    return [f"{key}={_option_value(value)}" for key, value in options]


def argv(nic: Nic) -> list[str]:
    """`-netdev ... -device ...` for a QEMU command line."""
    netdev, device = nic.netdev, nic.device
    return [
        "-netdev", ",".join([netdev.type, f"id={netdev.id}", *_options(netdev.options)]),
        "-device", ",".join([device.driver, *_options(device.options), f"id={device.id}"]),
    ]  # fmt: skip


def qmp_add(nic: Nic) -> list[tuple[str, dict[str, Any]]]:
    """The QMP commands that hot-plug `nic`: netdev_add, then device_add."""
    netdev, device = nic.netdev, nic.device
    return [
        ("netdev_add", {"type": netdev.type, "id": netdev.id, **dict(netdev.options)}),
        ("device_add", {"driver": device.driver, "id": device.id, **dict(device.options)}),
    ]


def qmp_del(nic: Nic) -> list[tuple[str, dict[str, Any]]]:
    """The QMP commands that unplug `nic`: device_del (the guest must release it), netdev_del."""
    return [("device_del", {"id": nic.device.id}), ("netdev_del", {"id": nic.netdev.id})]
