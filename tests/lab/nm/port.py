"""Requests, ports and rings over /dev/netmap, for tests.

    with Port.open("pipeA{1") as m, Port.open("pipeA}1") as s:
        ring = m.tx_rings[0]
        ...
        m.txsync()

A Port owns one /dev/netmap file descriptor, its registration and its mapping. Rings are
views into the mapping: they are valid until the port is closed.
"""

import contextlib
import ctypes
import os
import select
import struct
import weakref
from collections.abc import Iterable, Sequence
from typing import Self

from nm import abi
from nm import libc as nsys

DEV = "/dev/netmap"
_SLOT = struct.Struct("<IHH")  # buf_idx, len, flags
_U32 = struct.Struct("<I")


def dev_open() -> int:
    return os.open(DEV, os.O_RDWR | os.O_CLOEXEC)


# --------------------------------------------------------------------------------------------
# Control requests (NIOCCTRL)
# --------------------------------------------------------------------------------------------


class Option:
    """One request option: the 24-byte nmreq_option header followed by `body`.

    `size` overrides nro_size (to lie to the kernel); the buffer always holds the real bytes.
    """

    def __init__(self, reqtype: int, body: bytes = b"", *, size: int | None = None) -> None:
        real = ctypes.sizeof(abi.NmreqOption) + len(body)
        self._buf = (ctypes.c_uint64 * ((real + 7) // 8))()
        self.hdr = abi.NmreqOption.from_buffer(self._buf)
        self.hdr.nro_reqtype = reqtype
        self.hdr.nro_size = real if size is None else size
        ctypes.memmove(self.address + ctypes.sizeof(abi.NmreqOption), body, len(body))

    @classmethod
    def of(cls, struct_obj: ctypes.Structure, reqtype: int) -> "Option":
        """An option built from a typed option struct (whose first field is nro_opt)."""
        raw = bytes(struct_obj)[ctypes.sizeof(abi.NmreqOption) :]
        return cls(reqtype, raw)

    @property
    def address(self) -> int:
        return ctypes.addressof(self._buf)

    @property
    def status(self) -> int:
        return self.hdr.nro_status

    def body(self, ctype: type[ctypes.Structure]) -> ctypes.Structure:
        """The option's body, read back as `ctype` (a typed option struct)."""
        return ctype.from_address(self.address)


class Request:
    """An nmreq_header with its body and option list, kept alive together."""

    def __init__(
        self,
        reqtype: int,
        name: str | bytes = b"",
        body: ctypes.Structure | None = None,
        options: Sequence[Option] = (),
        *,
        version: int = abi.NETMAP_API,
        link: bool = True,
    ) -> None:
        self.hdr = abi.NmreqHeader(nr_version=version, nr_reqtype=reqtype)
        self.set_name(name)
        self.body = body
        self.hdr.nr_body = nsys.ptr(body)
        self.options = list(options)
        if link:  # else the caller chained nro_next itself
            for a, b in zip(self.options, self.options[1:], strict=False):
                a.hdr.nro_next = b.address
        self.hdr.nr_options = self.options[0].address if self.options else 0

    def set_name(self, name: str | bytes) -> None:
        """Write the raw name bytes; exactly 64 bytes leaves it without a NUL."""
        raw = name.encode() if isinstance(name, str) else name
        assert len(raw) <= abi.NETMAP_REQ_IFNAMSIZ
        ctypes.memset(ctypes.addressof(self.hdr) + 8, 0, abi.NETMAP_REQ_IFNAMSIZ)
        ctypes.memmove(ctypes.addressof(self.hdr) + 8, raw, len(raw))


def ctrl(fd: int, req: Request) -> None:
    """NIOCCTRL; raises OSError with the kernel's errno."""
    nsys.ioctl(fd, abi.NIOCCTRL, req.hdr)


def register_body(
    mode: int = abi.NR_REG_ALL_NIC,
    *,
    ringid: int = 0,
    flags: int = 0,
    tx_slots: int = 0,
    rx_slots: int = 0,
    tx_rings: int = 0,
    rx_rings: int = 0,
    host_tx_rings: int = 0,
    host_rx_rings: int = 0,
    mem_id: int = 0,
    extra_bufs: int = 0,
) -> abi.NmreqRegister:
    return abi.NmreqRegister(
        nr_mode=mode,
        nr_ringid=ringid,
        nr_flags=flags,
        nr_tx_slots=tx_slots,
        nr_rx_slots=rx_slots,
        nr_tx_rings=tx_rings,
        nr_rx_rings=rx_rings,
        nr_host_tx_rings=host_tx_rings,
        nr_host_rx_rings=host_rx_rings,
        nr_mem_id=mem_id,
        nr_extra_bufs=extra_bufs,
    )


def port_info(name: str, fd: int | None = None, **hints: int) -> abi.NmreqPortInfoGet:
    """NETMAP_REQ_PORT_INFO_GET on `name` (an empty name asks about region `mem_id`).

    `hints` are body fields without their nr_ prefix: tx_slots, rx_slots, tx_rings, rx_rings,
    host_tx_rings, host_rx_rings, mem_id."""
    body = abi.NmreqPortInfoGet(**{f"nr_{k}": v for k, v in hints.items()})
    _simple(fd, Request(abi.NETMAP_REQ_PORT_INFO_GET, name, body))
    return body


def pools_info(name: str, mem_id: int = 0, fd: int | None = None) -> abi.NmreqPoolsInfo:
    """NETMAP_REQ_POOLS_INFO_GET on `name` (or on mem_id)."""
    body = abi.NmreqPoolsInfo(nr_mem_id=mem_id)
    _simple(fd, Request(abi.NETMAP_REQ_POOLS_INFO_GET, name, body))
    return body


def port_hdr_get(name: str, fd: int | None = None) -> int:
    body = abi.NmreqPortHdr()
    _simple(fd, Request(abi.NETMAP_REQ_PORT_HDR_GET, name, body))
    return body.nr_hdr_len


def _simple(fd: int | None, req: Request) -> None:
    if fd is not None:
        ctrl(fd, req)
        return
    own = dev_open()
    try:
        ctrl(own, req)
    finally:
        os.close(own)


# --------------------------------------------------------------------------------------------
# Rings
# --------------------------------------------------------------------------------------------


class Ring:
    """A netmap_ring inside a port's mapping.

    `hdr` is the ctypes header (head/cur/tail/...); slots and buffers go through the mapping's
    memoryview with struct, which is several times faster than ctypes attribute access.
    """

    def __init__(self, port: "Port", offset: int) -> None:
        self.port = port
        self.offset = offset  # from the start of the mapping
        self.hdr = abi.NetmapRing.from_address(port.mem + offset)
        self.num_slots: int = self.hdr.num_slots
        self.buf_size: int = self.hdr.nr_buf_size
        self.buf_base = offset + self.hdr.buf_ofs  # offset of buffer 0 in the mapping
        self._slot0 = offset + abi.NETMAP_RING_SLOT_OFS
        self.mv = port.mv

    # -- pointers ---------------------------------------------------------------------------
    @property
    def head(self) -> int:
        return self.hdr.head

    @head.setter
    def head(self, v: int) -> None:
        self.hdr.head = v

    @property
    def cur(self) -> int:
        return self.hdr.cur

    @cur.setter
    def cur(self, v: int) -> None:
        self.hdr.cur = v

    @property
    def tail(self) -> int:
        return self.hdr.tail

    def next(self, i: int, n: int = 1) -> int:
        return (i + n) % self.num_slots

    def space(self) -> int:
        """nm_ring_space: free slots on tx, filled slots on rx (from cur to tail)."""
        d = self.hdr.tail - self.hdr.cur
        return d + self.num_slots if d < 0 else d

    def advance(self, n: int) -> None:
        """Move head and cur together by n slots."""
        v = (self.hdr.cur + n) % self.num_slots
        self.hdr.head = v
        self.hdr.cur = v

    # -- slots ------------------------------------------------------------------------------
    def slot(self, i: int) -> abi.NetmapSlot:
        """Slot i as a ctypes struct (readable, slower)."""
        assert 0 <= i < self.num_slots
        return abi.NetmapSlot.from_address(self.port.mem + self._slot0 + 16 * i)

    def get(self, i: int) -> tuple[int, int, int]:
        """(buf_idx, len, flags) of slot i."""
        return _SLOT.unpack_from(self.mv, self._slot0 + 16 * i)

    def set(self, i: int, buf_idx: int, length: int, flags: int) -> None:
        _SLOT.pack_into(self.mv, self._slot0 + 16 * i, buf_idx, length, flags)

    def set_len_flags(self, i: int, length: int, flags: int) -> None:
        struct.pack_into("<HH", self.mv, self._slot0 + 16 * i + 4, length, flags)

    def buf_indices(self) -> list[int]:
        return [self.get(i)[0] for i in range(self.num_slots)]

    # -- buffers ----------------------------------------------------------------------------
    def buf_offset(self, idx: int) -> int:
        return self.buf_base + idx * self.buf_size

    def write_buf(self, idx: int, data: bytes) -> None:
        o = self.buf_base + idx * self.buf_size
        self.mv[o : o + len(data)] = data

    def read_buf(self, idx: int, length: int) -> bytes:
        o = self.buf_base + idx * self.buf_size
        return bytes(self.mv[o : o + length])

    # -- packets ----------------------------------------------------------------------------
    def put(self, packets: Sequence[Sequence[bytes]], start: int = 0) -> int:
        """Fill tx slots from cur with whole packets (lists of fragments) while they fit.

        Sets NS_MOREFRAG on every fragment but the last, advances head and cur, and returns
        how many packets were placed. Never writes past tail.
        """
        free = self.space()
        cur = self.hdr.cur
        n = 0
        for pkt in packets[start:]:
            if len(pkt) > free:
                break
            last = len(pkt) - 1
            for k, frag in enumerate(pkt):
                idx = self.get(cur)[0]
                self.write_buf(idx, frag)
                self.set_len_flags(cur, len(frag), abi.NS_MOREFRAG if k < last else 0)
                cur = cur + 1 if cur + 1 < self.num_slots else 0
            free -= len(pkt)
            n += 1
        self.hdr.head = cur
        self.hdr.cur = cur
        return n

    def take(self, limit: int | None = None) -> list[list[bytes]]:
        """Read whole packets from cur up to tail and release them (advance head and cur)."""
        out: list[list[bytes]] = []
        cur = self.hdr.cur
        tail = self.hdr.tail
        frags: list[bytes] = []
        pkt_start = cur
        while cur != tail and (limit is None or len(out) < limit):
            idx, length, flags = self.get(cur)
            frags.append(self.read_buf(idx, length))
            cur = cur + 1 if cur + 1 < self.num_slots else 0
            if not flags & abi.NS_MOREFRAG:
                out.append(frags)
                frags = []
                pkt_start = cur
        # An incomplete packet at the end stays in the ring for the next call.
        self.hdr.head = pkt_start
        self.hdr.cur = pkt_start
        return out


# --------------------------------------------------------------------------------------------
# Ports
# --------------------------------------------------------------------------------------------


def _cleanup(fd: int, mem: int, size: int) -> None:
    if mem:
        with contextlib.suppress(OSError):
            nsys.munmap(mem, size)
    if fd >= 0:
        with contextlib.suppress(OSError):
            os.close(fd)


class Port:
    """A registered /dev/netmap descriptor and its mapping."""

    def __init__(self, fd: int, name: str, offset: int, memsize: int, *, map: bool = True) -> None:
        self.fd = fd
        self.name = name
        self.offset = offset
        self.memsize = memsize
        self.mem = 0
        self.reg: abi.NmreqRegister | None = None
        self.legacy: abi.Nmreq | None = None
        self.request: Request | None = None
        self._finalizer = weakref.finalize(self, _cleanup, fd, 0, 0)
        if map:
            self.map()

    # -- constructors -----------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        name: str,
        mode: int = abi.NR_REG_ALL_NIC,
        *,
        options: Sequence[Option] = (),
        map: bool = True,
        version: int = abi.NETMAP_API,
        **reg: int,
    ) -> Self:
        """Open /dev/netmap and NETMAP_REQ_REGISTER `name` (new API), then mmap."""
        fd = dev_open()
        try:
            body = register_body(mode, **reg)
            req = Request(abi.NETMAP_REQ_REGISTER, name, body, options, version=version)
            ctrl(fd, req)
        except BaseException:
            os.close(fd)
            raise
        port = cls(fd, name, body.nr_offset, body.nr_memsize, map=False)
        port.reg = body
        port.request = req
        if map:
            port.map()
        return port

    @classmethod
    def open_legacy(
        cls, name: str, *, flags: int = abi.NR_REG_ALL_NIC, ringid: int = 0, **fields: int
    ) -> Self:
        """Open /dev/netmap and NIOCREGIF `name` (legacy API), then mmap."""
        fd = dev_open()
        try:
            req = abi.Nmreq(nr_name=name.encode(), nr_version=abi.NETMAP_API)
            req.nr_flags = flags
            req.nr_ringid = ringid
            for k, v in fields.items():
                setattr(req, k, v)
            nsys.ioctl(fd, abi.NIOCREGIF, req)
        except BaseException:
            os.close(fd)
            raise
        port = cls(fd, name, req.nr_offset, req.nr_memsize)
        port.legacy = req
        return port

    # -- mapping ----------------------------------------------------------------------------
    def map(self) -> None:
        assert not self.mem
        self.mem = nsys.mmap(self.fd, self.memsize)
        self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _cleanup, self.fd, self.mem, self.memsize)
        arr = (ctypes.c_ubyte * self.memsize).from_address(self.mem)
        self.mv = memoryview(arr).cast("B")
        self.nifp = abi.NetmapIf.from_address(self.mem + self.offset)
        ntx, nrx = self.nifp.ni_tx_rings, self.nifp.ni_rx_rings
        nhtx, nhrx = self.nifp.ni_host_tx_rings, self.nifp.ni_host_rx_rings
        self.tx_rings = [self._ring(i) for i in range(ntx)]
        self.host_tx_rings = [self._ring(ntx + i) for i in range(nhtx)]
        self.rx_rings = [self._ring(ntx + nhtx + i) for i in range(nrx)]
        self.host_rx_rings = [self._ring(ntx + nhtx + nrx + i) for i in range(nhrx)]

    def ring_ofs(self, k: int) -> int:
        """ring_ofs[k] of the netmap_if (relative to the netmap_if)."""
        return ctypes.c_int64.from_address(
            self.mem + self.offset + abi.NETMAP_IF_RING_OFS + 8 * k
        ).value

    @property
    def n_ring_ofs(self) -> int:
        n = self.nifp
        return n.ni_tx_rings + n.ni_host_tx_rings + n.ni_rx_rings + n.ni_host_rx_rings

    def _ring(self, k: int) -> Ring | None:
        ofs = self.ring_ofs(k)
        return Ring(self, self.offset + ofs) if ofs else None

    @property
    def tx(self) -> Ring:
        """The first bound tx ring."""
        r = next((r for r in self.tx_rings if r is not None), None)
        assert r is not None, f"{self.name}: no tx ring bound"
        return r

    @property
    def rx(self) -> Ring:
        """The first bound rx ring."""
        r = next((r for r in self.rx_rings if r is not None), None)
        assert r is not None, f"{self.name}: no rx ring bound"
        return r

    def buf_base(self) -> int:
        """Offset of buffer 0 in the mapping (from any bound ring)."""
        for r in [*self.tx_rings, *self.rx_rings, *self.host_tx_rings, *self.host_rx_rings]:
            if r is not None:
                return r.buf_base
        raise AssertionError(f"{self.name}: no ring bound")

    # -- extra buffers ----------------------------------------------------------------------
    def extra_bufs(self, limit: int = 1 << 20) -> list[int]:
        """Walk the ni_bufs_head list (first u32 of each buffer is the next index; 0 ends)."""
        base, size = self.buf_base(), self.tx.buf_size if self.tx_rings else self.rx.buf_size
        out: list[int] = []
        idx = self.nifp.ni_bufs_head
        while idx and len(out) <= limit:
            out.append(idx)
            idx = _U32.unpack_from(self.mv, base + idx * size)[0]
        return out

    def set_extra_bufs(self, indices: Sequence[int]) -> None:
        """Rewrite the ni_bufs_head list to hold exactly `indices`."""
        base, size = self.buf_base(), self.tx.buf_size
        for a, b in zip(indices, [*indices[1:], 0], strict=True):
            _U32.pack_into(self.mv, base + a * size, b)
        self.nifp.ni_bufs_head = indices[0] if indices else 0

    # -- syncs ------------------------------------------------------------------------------
    def txsync(self) -> None:
        nsys.ioctl(self.fd, abi.NIOCTXSYNC)

    def rxsync(self) -> None:
        nsys.ioctl(self.fd, abi.NIOCRXSYNC)

    def poll(self, events: int, timeout_ms: int) -> int:
        """poll() this port's fd; returns revents (0 on timeout)."""
        p = select.poll()
        p.register(self.fd, events)
        got = p.poll(timeout_ms)
        return got[0][1] if got else 0

    # -- lifetime ---------------------------------------------------------------------------
    def unmap(self) -> None:
        if self.mem:
            self.tx_rings = self.rx_rings = self.host_tx_rings = self.host_rx_rings = []
            self.mv.release()
            nsys.munmap(self.mem, self.memsize)
            self.mem = 0
            self._finalizer.detach()
            self._finalizer = weakref.finalize(self, _cleanup, self.fd, 0, 0)

    def close_fd_keep_mapping(self) -> None:
        """close() the descriptor but keep the mapping (which keeps the file alive)."""
        os.close(self.fd)
        self.fd = -1
        self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _cleanup, -1, self.mem, self.memsize)

    def close(self) -> None:
        self.unmap()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self._finalizer.detach()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------------------------
# Traffic
# --------------------------------------------------------------------------------------------


def transfer(
    tx: Port,
    rx: Port,
    packets: Sequence[Sequence[bytes]],
    *,
    tx_ring: int = 0,
    rx_ring: int = 0,
    timeout: float = 30.0,
) -> list[list[bytes]]:
    """Send `packets` from tx's ring to rx's ring, pacing by ring space; return what arrived.

    Stops when as many packets as were sent have arrived, or after `timeout` seconds without
    progress.
    """
    import time

    t = tx.tx_rings[tx_ring]
    r = rx.rx_rings[rx_ring]
    assert t is not None and r is not None
    sent = 0
    got: list[list[bytes]] = []
    last = time.monotonic()
    while len(got) < len(packets):
        progress = False
        if sent < len(packets):
            n = t.put(packets, sent)
            sent += n
            progress |= n > 0
            tx.txsync()
        rx.rxsync()
        new = r.take()
        if new:
            got += new
            progress = True
        now = time.monotonic()
        if progress:
            last = now
        elif now - last > timeout:
            break
        else:
            rx.poll(select.POLLIN, 10)
    return got


def pipe_pair_buffers(tx: Ring, rx: Ring) -> list[int]:
    """The buffers a pipe's tx ring and the rx ring it feeds hold between them, each once.

    The two rings share one set of buffers slot by slot: rx slots head..tail-1 (in flight, the
    receiver's) hold theirs, the tx ring's other slots hold the rest. Both ends synced last.
    """
    in_flight = {rx.next(rx.head, k) for k in range((rx.tail - rx.head) % rx.num_slots)}
    return [(rx if k in in_flight else tx).get(k)[0] for k in range(tx.num_slots)]


def frames_of(packets: Iterable[Sequence[bytes]]) -> list[bytes]:
    return [b"".join(p) for p in packets]
