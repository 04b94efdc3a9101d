"""The libvirt backend: a persistent domain per VM (define + start is far faster than a transient
createXML where /dev/kvm is unusable), found again through ptnet's domain metadata.

The connection is PTNET_LIBVIRT_URI, default qemu:///system; a VM of a chain across hosts is
defined on its host's libvirt (LibvirtBackend(uri)), and its record keeps that URI, which every
later call on it opens. QEMU runs as ptnet's own user
(a static DAC label, no relabelling), so it reads the cached image and binds sockets in ptnet's
private runtime directory exactly as the qemu backend's QEMU does.
"""

import json
import os
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ptnet import host, paths
from ptnet.backend import base
from ptnet.errors import PtnetError
from ptnet.model.ports import parse_port
from ptnet.model.vm import BackendName
from ptnet.plan.libvirt_xml import NS, domain_xml
from ptnet.plan.ports import VmPort
from ptnet.plan.qemu_argv import Launch

if TYPE_CHECKING:
    import libvirt


def uri() -> str:
    return os.environ.get("PTNET_LIBVIRT_URI", "qemu:///system")


def lab_id() -> str:
    """Which ptnet lab a domain belongs to: the state directory that started it."""
    return str(paths.state_dir().resolve())


def libvirt_uri(at: str) -> str:
    """`at` as ptnet opens it: qemu+ssh gets no_tty=1 (ssh never prompts)."""
    u = urllib.parse.urlsplit(at)
    if u.scheme != "qemu+ssh":
        return at
    if any(k == "no_tty" for k, _ in urllib.parse.parse_qsl(u.query)):
        return at
    return urllib.parse.urlunsplit(u._replace(query="&".join(filter(None, [u.query, "no_tty=1"]))))


@contextmanager
def connection(at: str | None = None) -> Iterator["libvirt.virConnect"]:
    """A connection to the libvirt at `at` (default: this host's, uri())."""
    import libvirt

    at = at or uri()
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # errors are raised, not printed
    try:
        conn = libvirt.open(libvirt_uri(at))
    except libvirt.libvirtError as exc:
        raise PtnetError(
            f"cannot connect to libvirt at {at}: {exc.get_error_message()} "
            "(is libvirtd running? start it with: virtlogd -d; libvirtd -d)"
        ) from exc
    try:
        yield conn
    finally:
        conn.close()


def _metadata(dom: "libvirt.virDomain") -> ET.Element | None:
    import libvirt

    try:
        text = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, NS)
    except libvirt.libvirtError:
        return None
    return ET.fromstring(text)


def _record(dom: "libvirt.virDomain", meta: ET.Element, at: str) -> base.Record:
    name = dom.name()
    ports = [
        VmPort(parse_port(p.get("spec", "")), int(p.get("index", "0")), p.get("mac", ""))
        for p in meta
        if p.tag.endswith("port")
    ]
    return base.Record(
        name=name,
        backend=BackendName.libvirt,
        settings={
            "name": name,
            "image": meta.get("image", ""),
            "cpus": int(meta.get("cpus", "1")),
            "mem_mb": int(meta.get("mem-mb", "0")),
            "backend": BackendName.libvirt.value,
            "port_mode": meta.get("port-mode", ""),
        },
        ports=ports,
        image={"name": meta.get("image", ""), "key": meta.get("image-key", "")},
        ssh_port=int(meta.get("ssh-port", "0")),
        run_dir=meta.get("run-dir", ""),
        console_log=meta.get("console-log", ""),
        known_hosts=str(base.known_hosts(name)),
        accel=meta.get("accel", ""),
        extra={"uri": at, "lab": meta.get("lab", "")},
    )


def record_uri(record: base.Record) -> str:
    """The libvirt that holds `record`'s domain: the one that defined it, else this host's."""
    at = record.extra.get("uri")
    return at if isinstance(at, str) and at else uri()


class LibvirtBackend(base.Backend):
    """Domains on the libvirt at `at` (default: this host's, uri())."""

    name = "libvirt"

    def __init__(self, at: str | None = None) -> None:
        self.uri = at or uri()

    def render(self, launch: Launch) -> str:
        return domain_xml(launch, lab=lab_id(), uid=os.getuid(), gid=os.getgid())

    def start(self, launch: Launch, record: base.Record) -> None:
        import libvirt

        xml = self.render(launch)
        Path(launch.run_dir, "domain.xml").write_text(xml)
        at = record.extra.get("uri") or self.uri
        host.log(f"defining and starting domain {launch.spec.name} on {at}")
        with connection(at) as conn:
            try:
                dom = conn.defineXML(xml)
            except libvirt.libvirtError as exc:
                raise PtnetError(f"libvirt refused {launch.spec.name}: {exc}") from exc
            try:
                dom.create()
            except libvirt.libvirtError as exc:
                dom.undefine()
                raise PtnetError(f"libvirt did not start {launch.spec.name}: {exc}") from exc
        record.extra["uri"] = at
        record.pid = _pid(launch.spec.name) if at == uri() else None

    def _domain(self, conn: "libvirt.virConnect", name: str) -> "libvirt.virDomain | None":
        import libvirt

        try:
            dom = conn.lookupByName(name)
        except libvirt.libvirtError:
            return None
        meta = _metadata(dom)
        return dom if meta is not None and meta.get("lab") == lab_id() else None

    def alive(self, record: base.Record) -> bool:
        with connection(record_uri(record)) as conn:
            dom = self._domain(conn, record.name)
            return bool(dom is not None and dom.isActive())

    def stop(self, record: base.Record) -> None:
        self.remove(record.name, record_uri(record))

    def remove(self, name: str, at: str | None = None) -> bool:
        """Stop and undefine this lab's domain `name` on the libvirt at `at` (default: the
        backend's); whether it was there. PtnetError when that libvirt cannot be reached."""
        import libvirt

        with connection(at or self.uri) as conn:
            dom = self._domain(conn, name)
            if dom is None:
                return False
            try:
                if dom.isActive():
                    dom.destroy()
                dom.undefine()
            except libvirt.libvirtError as exc:
                raise PtnetError(f"libvirt could not remove {name}: {exc}") from exc
        return True

    def discover(self) -> list[base.Record]:
        """This lab's domains, running or not; nothing when libvirtd is not there at all."""
        try:
            with connection(self.uri) as conn:
                found = []
                for dom in conn.listAllDomains():
                    meta = _metadata(dom)
                    if meta is not None and meta.get("lab") == lab_id():
                        found.append(_record(dom, meta, self.uri))
                return found
        except PtnetError:
            return []

    def qmp(self, record: base.Record, command: str, arguments: dict[str, Any]) -> Any:
        import libvirt
        import libvirt_qemu

        with connection(record_uri(record)) as conn:
            dom = self._domain(conn, record.name)
            if dom is None:
                raise PtnetError(f"libvirt has no domain {record.name}")
            message = {"execute": command, "arguments": arguments}
            try:
                reply = json.loads(libvirt_qemu.qemuMonitorCommand(dom, json.dumps(message), 0))
            except libvirt.libvirtError as exc:
                raise PtnetError(f"QMP {command} on {record.name} failed: {exc}") from exc
        return reply.get("return")


def _pid(name: str) -> int | None:
    try:
        return int(Path(f"/run/libvirt/qemu/{name}.pid").read_text().strip())
    except (OSError, ValueError):
        return None
