"""VALE helpers for the lab tests: Ethernet frames, VALE control requests (NIOCCTRL and the
legacy nr_cmd forms), virtio-net headers and ports that use them, vale-ctl, and module
parameters changed for the length of a test.

    with param("vale_age", 1):
        ...
    assert attach("vale0:vp0") == (0, 0)
"""

import contextlib
import ctypes
import os
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

from nm import abi
from nm.libc import errno_of, ioctl
from nm.packets import payload
from nm.port import Port, Request, ctrl, dev_open

PARAMS = Path("/sys/module/netmap/parameters")
BCAST = b"\xff" * 6
ETH_TYPE = b"\x88\xb5"  # local experimental ethertype

# virtio-net header: flags and gso_type
NEEDS_CSUM = 1
GSO_NONE = 0
GSO_TCPV4 = 1
GSO_UDP = 3
GSO_TCPV6 = 4
GSO_UDP_L4 = 5
GSO_ECN = 0x80


def mac(i: int) -> bytes:
    """A locally administered unicast MAC address numbered i."""
    return bytes([0x02, 0x00, 0x5E, (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF])


def frame(dst: bytes, src: bytes, seq: int = 0, length: int = 60) -> bytes:
    """An Ethernet frame of `length` bytes whose payload is unique to `seq`."""
    return dst + src + ETH_TYPE + payload(seq, length - 14)


# --------------------------------------------------------------------------------------------
# NIOCCTRL requests; each returns the errno (0 on success) and keeps its body for results
# --------------------------------------------------------------------------------------------


def request(reqtype: int, name: str | bytes, body: ctypes.Structure | None = None) -> int:
    fd = dev_open()
    try:
        return errno_of(ctrl, fd, Request(reqtype, name, body))
    finally:
        os.close(fd)


def newif(name: str, **fields: int) -> int:
    return request(abi.NETMAP_REQ_VALE_NEWIF, name, abi.NmreqValeNewif(**fields))


def delif(name: str) -> int:
    return request(abi.NETMAP_REQ_VALE_DELIF, name)


def attach(name: str, host: bool = False) -> tuple[int, int]:
    """(errno, port_index) of VALE_ATTACH."""
    body = abi.NmreqValeAttach()
    body.reg.nr_mode = abi.NR_REG_NIC_SW if host else abi.NR_REG_ALL_NIC
    err = request(abi.NETMAP_REQ_VALE_ATTACH, name, body)
    return err, body.port_index


def detach(name: str) -> tuple[int, int]:
    body = abi.NmreqValeDetach()
    err = request(abi.NETMAP_REQ_VALE_DETACH, name, body)
    return err, body.port_index


def where(name: str) -> tuple[int, int, int]:
    """(errno, bridge, port) of VALE_LIST on one port."""
    body = abi.NmreqValeList()
    err = request(abi.NETMAP_REQ_VALE_LIST, name, body)
    return err, body.nr_bridge_idx, body.nr_port_idx


def vlist() -> list[tuple[int, int, str]]:
    """Every (bridge, port, name), iterating VALE_LIST until ENOENT."""
    out = []
    body = abi.NmreqValeList()
    fd = dev_open()
    try:
        while True:
            req = Request(abi.NETMAP_REQ_VALE_LIST, "", body)
            err = errno_of(ctrl, fd, req)
            if err:
                assert err == 2, f"VALE_LIST ended with errno {err}"
                return out
            name = req.hdr.nr_name.decode()
            out.append((body.nr_bridge_idx, body.nr_port_idx, name))
            body.nr_port_idx += 1
    finally:
        os.close(fd)


def hdr_set(name: str, length: int, fd: int | None = None) -> int:
    body = abi.NmreqPortHdr(nr_hdr_len=length)
    if fd is None:
        return request(abi.NETMAP_REQ_PORT_HDR_SET, name, body)
    return errno_of(ctrl, fd, Request(abi.NETMAP_REQ_PORT_HDR_SET, name, body))


def hdr_get(name: str) -> tuple[int, int]:
    body = abi.NmreqPortHdr()
    err = request(abi.NETMAP_REQ_PORT_HDR_GET, name, body)
    return err, body.nr_hdr_len


def polling(name: str, on: bool, mode: int = 1, first: int = 0, num: int = 1) -> int:
    if not on:  # the body is required, and unused
        return request(abi.NETMAP_REQ_VALE_POLLING_DISABLE, name, abi.NmreqValePolling())
    body = abi.NmreqValePolling(nr_mode=mode, nr_first_cpu_id=first, nr_num_polling_cpus=num)
    return request(abi.NETMAP_REQ_VALE_POLLING_ENABLE, name, body)


# --------------------------------------------------------------------------------------------
# The legacy API
# --------------------------------------------------------------------------------------------


def legacy(cmd: int, name: str, call: int = abi.NIOCREGIF, **fields: int) -> tuple[int, abi.Nmreq]:
    """(errno, request) of a legacy NIOCREGIF (or NIOCGINFO) with nr_cmd `cmd`."""
    req = abi.Nmreq(nr_version=abi.NETMAP_API, nr_cmd=cmd)
    raw = name.encode()
    ctypes.memmove(ctypes.addressof(req), raw, len(raw))
    for k, v in fields.items():
        setattr(req, k, v)
    fd = dev_open()
    try:
        return errno_of(ioctl, fd, call, req), req
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------
# Tools and parameters
# --------------------------------------------------------------------------------------------


def vale_ctl(*args: str) -> subprocess.CompletedProcess:
    from ptnet.build.tools import tool_path

    return subprocess.run(
        [str(tool_path("vale-ctl")), *args], capture_output=True, text=True, timeout=30
    )


@contextlib.contextmanager
def param(name: str, value: int) -> Iterator[None]:
    """Set a writable module parameter for the block, then restore it."""
    path = PARAMS / name
    old = path.read_text().strip()
    path.write_text(str(value))
    try:
        yield
    finally:
        path.write_text(old)


def netdev_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def send(p: Port, frames: list[bytes]) -> None:
    """Frames out of p's tx ring 0, one slot each, and a txsync."""
    assert p.tx.put([[f] for f in frames]) == len(frames)
    p.txsync()


def recv(p: Port) -> list[bytes]:
    """Whatever p's rx ring 0 holds, its slots handed back."""
    p.rxsync()
    out = [b"".join(x) for x in p.rx.take()]
    p.rxsync()
    return out


def recv_frags(p: Port) -> list[list[bytes]]:
    """Like recv(), each packet as its list of fragments."""
    p.rxsync()
    out = p.rx.take()
    p.rxsync()
    return out


# --------------------------------------------------------------------------------------------
# virtio-net headers
# --------------------------------------------------------------------------------------------


def vhdr(
    flags: int = 0,
    gso_type: int = GSO_NONE,
    hdr_len: int = 0,
    gso_size: int = 0,
    csum_start: int = 0,
    csum_offset: int = 0,
) -> bytes:
    """A 10-byte virtio-net header (little-endian fields)."""
    return struct.pack("<BBHHHH", flags, gso_type, hdr_len, gso_size, csum_start, csum_offset)


@contextlib.contextmanager
def hdr_ports(sw: str, *lengths: int, **reg: int) -> Iterator[list[Port]]:
    """One port of sw per length, named p0, p1...; each gets its header length."""
    with contextlib.ExitStack() as stack:
        ps = []
        for i, n in enumerate(lengths):
            p = stack.enter_context(Port.open(f"{sw}:p{i}", **reg))
            assert hdr_set(f"{sw}:p{i}", n) == 0
            assert hdr_get(f"{sw}:p{i}") == (0, n)
            ps.append(p)
        yield ps


def offload_drops() -> int:
    """The module's count of frames dropped for their virtio-net header (vale_offload_drops)."""
    return int((PARAMS / "vale_offload_drops").read_text())
