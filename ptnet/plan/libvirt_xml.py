"""A VM's libvirt domain XML, rendered with jinja2 from templates/domain.xml.j2. Pure.

libvirt knows nothing of netmap, so the netmap netdevs and their NICs (and the slirp management
NIC with its loopback-only SSH forward) go in through the `<qemu:commandline>` namespace. ptnet's
own data (image, SSH port, ports with their ids and MACs, lab) is kept in the domain's
`<metadata>`, so that `ptnet vm list` and `down --all` work from libvirt alone.
"""

from importlib import resources

import jinja2

from ptnet.plan import devices
from ptnet.plan.machine import kernel_cmdline
from ptnet.plan.ports import libvirt_port_nic
from ptnet.plan.qemu_argv import Launch, guest_flags, mgmt_nic

NS = "https://ptnet.invalid/xmlns/vm/1"


def domain_type(accel: str) -> str:
    return "kvm" if accel == "kvm" else "qemu"


def domain_xml(launch: Launch, *, lab: str, uid: int = 0, gid: int = 0) -> str:
    """The domain for `launch`; QEMU runs as uid:gid (no relabelling of ptnet's files)."""
    spec = launch.spec
    qemu_args: list[str] = []
    for d in launch.firmware_dirs:
        qemu_args += ["-L", d]
    qemu_args += devices.argv(mgmt_nic(launch.ssh_port))
    for p in launch.ports:
        qemu_args += devices.argv(libvirt_port_nic(p.spec, p.id, p.mac, spec.port_mode))
    text = resources.files("ptnet.plan").joinpath("templates/domain.xml.j2").read_text()
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined, autoescape=True, keep_trailing_newline=True
    )
    return env.from_string(text).render(
        domain_type=domain_type(launch.accel),
        spec=spec,
        launch=launch,
        ns=NS,
        lab=lab,
        image_name=launch.image_name,
        image_key=launch.image_key,
        cmdline=kernel_cmdline(guest_flags(spec)),
        ports=launch.ports,
        qemu_args=qemu_args,
        uid=uid,
        gid=gid,
    )
