"""Hot-plug: netmap ports added to and removed from a running VM over QMP.

A port gets the number above the VM's highest, so its netdev id and MAC differ from every port
the VM has; the VM record's port list is the one source for list, validate and hot-plug.
The QMP commands are rendered from the same NIC description as `up`'s command line.
"""

import time

from ptnet.backend import base
from ptnet.errors import PtnetError, UsageError
from ptnet.model.ports import PortSpec
from ptnet.plan import devices
from ptnet.plan.ports import VmPort, check_port_for_mode, vm_port, vm_port_nic
from ptnet.vm.launch import check_ports_available
from ptnet.vm.lifecycle import backend_for, find, locked, ready_timeout, slowdown, wait_ports


def added_port(record: base.Record, port: PortSpec) -> VmPort:
    """`port` numbered for `record`: one above the highest it has."""
    if any(str(p.spec) == str(port) for p in record.ports):
        raise UsageError(f"VM {record.name} already has port '{port}'")
    check_port_for_mode(port, record.spec().port_mode)
    index = max((p.index for p in record.ports), default=-1) + 1
    return vm_port(record.name, port, index)


def port_add(name: str, spec: PortSpec) -> VmPort:
    with locked(name):
        record = find(name)
        port = added_port(record, spec)
        backend = backend_for(record.backend)
        if not backend.alive(record):
            raise PtnetError(f"VM {name} is not running; run: ptnet vm down {name}, then up")
        check_ports_available((port.spec,))
        (netdev_cmd, netdev_args), (device_cmd, device_args) = devices.qmp_add(
            vm_port_nic(port, record.spec().port_mode)
        )
        backend.qmp(record, netdev_cmd, netdev_args)
        try:
            backend.qmp(record, device_cmd, device_args)
        except PtnetError:
            backend.qmp(record, "netdev_del", {"id": port.id})
            raise
        record.ports.append(port)
        base.save_record(record)
        # Ready like `up`: the guest's driver registered the NIC, and it is up.
        deadline = time.monotonic() + ready_timeout(record.accel) / 3
        wait_ports(record, [port], deadline, bring_up=True)
        return port


def removed_port(record: base.Record, port: PortSpec) -> VmPort:
    for p in record.ports:
        if str(p.spec) == str(port):
            return p
    raise UsageError(f"VM {record.name} has no port '{port}'")


def port_del(name: str, spec: PortSpec) -> None:
    with locked(name):
        record = find(name)
        port = removed_port(record, spec)
        backend = backend_for(record.backend)
        (device_cmd, device_args), (netdev_cmd, netdev_args) = devices.qmp_del(
            vm_port_nic(port, record.spec().port_mode)
        )
        backend.qmp(record, device_cmd, device_args)
        release_within = 30 * slowdown(record.accel)
        deadline = time.monotonic() + release_within
        while any(
            d.get("name") == device_args["id"]
            for d in backend.qmp(record, "qom-list", {"path": "/machine/peripheral"})
        ):
            if time.monotonic() > deadline:
                raise PtnetError(
                    f"the guest of {name} did not release {port.spec} in {release_within:g} s"
                )
            time.sleep(0.2)
        backend.qmp(record, netdev_cmd, netdev_args)
        record.ports.remove(port)
        base.save_record(record)
