"""`ptnet vm validate`: pkt-gen in the guest on the VM's first port, against a host peer."""

from typing import Any

from ptnet.errors import PtnetError
from ptnet.guest import pktgen
from ptnet.vm.lifecycle import find, slowdown, target


def validate(name: str, *, peer: str | None, count: int, size: int, rate: int) -> dict[str, Any]:
    record = find(name)
    if not record.ports:
        raise PtnetError(f"VM {name} has no netmap port to validate; up it with --port")
    port = record.ports[0]
    return pktgen.validate(
        name,
        target(record),
        port.spec,
        port.mac,
        slowdown=slowdown(record.accel),
        peer=peer,
        count=count,
        size=size,
        rate=rate,
    )
