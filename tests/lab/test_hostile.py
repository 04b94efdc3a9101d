"""Hostile input: malformed requests and options, corrupted shared rings, abrupt endings.

Everything here must fail cleanly with the documented errno (or be ignored where netmap ignores
it) and leave the module consistent: the leak fixture checks the counters after each test and
test_unload.py checks dmesg and rmmod at the end.
"""

import ctypes
import errno
import mmap as pymmap
import os
import random
import select
import signal
import time

import pytest
from nm import (
    Option,
    Port,
    Request,
    abi,
    counters,
    ctrl,
    dev_open,
    errno_of,
    ioctl,
    libc,
    pools_info,
    transfer,
)
from nm.packets import mismatch, single
from nm.port import register_body
from nm.proc import Child

EOPNOTSUPP = errno.EOPNOTSUPP


def _ctrl_errno(req: Request, fd: int | None = None) -> int:
    own = fd is None
    fd = dev_open() if fd is None else fd
    try:
        return errno_of(ctrl, fd, req)
    finally:
        if own:
            os.close(fd)


def _info_req(name="hostile{1", **kw) -> Request:
    return Request(abi.NETMAP_REQ_PORT_INFO_GET, name, abi.NmreqPortInfoGet(), **kw)


def _reg_req(name, options=(), **kw) -> Request:
    return Request(abi.NETMAP_REQ_REGISTER, name, register_body(), options, **kw)


class _Unmapped:
    """An address range whose first page is mapped and whose second is not."""

    def __init__(self) -> None:
        self.base = libc.anon_mmap(8192)
        libc.munmap(self.base + 4096, 4096)

    def tail_of_page(self, nbytes: int) -> int:
        """An address whose first nbytes are mapped, and whatever follows is not."""
        return self.base + 4096 - nbytes

    def close(self) -> None:
        libc.munmap(self.base, 4096)


@pytest.fixture
def unmapped():
    u = _Unmapped()
    yield u
    u.close()


# -- the request header ---------------------------------------------------------------------


def test_bad_header_pointers_are_efault(unmapped):
    fd = dev_open()
    try:
        assert errno_of(ioctl, fd, abi.NIOCCTRL, 8) == errno.EFAULT
        assert errno_of(ioctl, fd, abi.NIOCCTRL, 0) == errno.EFAULT
        assert errno_of(ioctl, fd, abi.NIOCCTRL, unmapped.tail_of_page(40)) == errno.EFAULT
    finally:
        os.close(fd)


def test_reserved_field_must_be_zero(pname):
    for req in (_info_req(f"{pname}{{1"), _reg_req(f"{pname}{{1")):
        req.hdr.nr_reserved = 1
        assert _ctrl_errno(req) == errno.EINVAL


@pytest.mark.parametrize("version", [0, 13, 16, 0xFFFF])
def test_bad_versions_are_einval(pname, version):
    assert _ctrl_errno(_info_req(f"{pname}{{1", version=version)) == errno.EINVAL
    assert _ctrl_errno(_reg_req(f"{pname}{{1", version=version)) == errno.EINVAL


def test_version_15_is_accepted(pname):
    assert _ctrl_errno(_info_req(f"{pname}{{1", version=15)) == 0
    with Port.open(f"{pname}{{1", version=15) as p:
        assert p.nifp.ni_version == abi.NETMAP_API


def test_unterminated_name_is_cut_to_63_bytes():
    for req in (_info_req(), _reg_req("x")):
        req.set_name(b"p" * 60 + b"{123")
        # the parent is no netdev, and too long to become an auto-delete VALE port
        assert _ctrl_errno(req) == errno.ENXIO
        assert req.hdr.nr_name == b"p" * 60 + b"{12"


@pytest.mark.parametrize("reqtype", [0, 16, 100, 0xFFFF])
def test_unknown_request_types_are_einval(reqtype):
    assert _ctrl_errno(Request(reqtype, "hostile{1", abi.NmreqRegister())) == errno.EINVAL


def test_missing_body_is_einval():
    assert _ctrl_errno(Request(abi.NETMAP_REQ_REGISTER, "hostile{1", None)) == errno.EINVAL
    assert _ctrl_errno(Request(abi.NETMAP_REQ_PORT_INFO_GET, "hostile{1", None)) == errno.EINVAL


def test_bad_body_pointers_are_efault(unmapped):
    req = _info_req()
    for bad in (8, 0xDEAD0000, unmapped.tail_of_page(ctypes.sizeof(abi.NmreqPortInfoGet) - 8)):
        req.hdr.nr_body = bad
        assert _ctrl_errno(req) == errno.EFAULT
    req = _reg_req("hostile{1")
    req.hdr.nr_body = 8
    assert _ctrl_errno(req) == errno.EFAULT


def test_body_at_the_end_of_a_page_is_read_exactly(unmapped, pname):
    """A body that ends exactly at an unmapped page is fine: the kernel reads only its size."""
    size = ctypes.sizeof(abi.NmreqPortInfoGet)
    addr = unmapped.tail_of_page(size)
    ctypes.memset(addr, 0, size)
    req = _info_req(f"{pname}{{1")
    req.hdr.nr_body = addr
    assert _ctrl_errno(req) == 0
    assert abi.NmreqPortInfoGet.from_address(addr).nr_tx_rings == 1


def test_nonexistent_port_is_enxio():
    assert _ctrl_errno(_reg_req("nosuchif0")) == errno.ENXIO
    assert _ctrl_errno(_info_req("nosuchif0")) == errno.ENXIO


def test_unknown_ioctl_is_rejected():
    fd = dev_open()
    try:
        for cmd in (0, 0x6990, 0xC0586998, 0x80086997):
            assert errno_of(ioctl, fd, cmd, 0) in (errno.ENOTTY, errno.ENXIO, errno.EINVAL)
    finally:
        os.close(fd)


# -- options --------------------------------------------------------------------------------


def test_bad_option_pointers_are_efault(unmapped, pname):
    req = _info_req(f"{pname}{{1")
    req.hdr.nr_options = 8
    assert _ctrl_errno(req) == errno.EFAULT
    req.hdr.nr_options = unmapped.tail_of_page(16)
    assert _ctrl_errno(req) == errno.EFAULT
    opt = Option(1000)
    opt.hdr.nro_next = 0xDEAD0000
    assert _ctrl_errno(_info_req(f"{pname}{{1", options=[opt])) == errno.EFAULT


def test_option_body_crossing_into_an_unmapped_page_is_efault(unmapped, pname):
    addr = unmapped.tail_of_page(24 + 8)
    ctypes.memset(addr, 0, 32)
    hdr = abi.NmreqOption.from_address(addr)
    hdr.nro_reqtype = abi.NETMAP_REQ_OPT_OFFSETS
    hdr.nro_size = ctypes.sizeof(abi.NmreqOptOffsets)  # 56: runs past the page
    req = _reg_req(f"{pname}{{1")
    req.hdr.nr_options = addr
    assert _ctrl_errno(req) == errno.EFAULT


def test_option_loop_is_emsgsize(pname):
    """A loop of unknown options overflows the copy budget; one through a known type is a
    duplicate (test_ctrl_exact.py has the details)."""
    a = Option(1000)
    a.hdr.nro_next = a.address
    assert _ctrl_errno(_info_req(f"{pname}{{1", options=[a])) == errno.EMSGSIZE
    b, c = Option(1001), Option(1002)
    b.hdr.nro_next = c.address
    c.hdr.nro_next = b.address
    assert _ctrl_errno(_info_req(f"{pname}{{1", options=[b], link=False)) == errno.EMSGSIZE
    assert _ctrl_errno(_reg_req(f"{pname}{{1", options=[b], link=False)) == errno.EMSGSIZE
    d = Option(abi.NETMAP_REQ_OPT_OFFSETS, bytes(32))
    d.hdr.nro_next = d.address
    assert _ctrl_errno(_reg_req(f"{pname}{{1", options=[d], link=False)) == errno.EINVAL


@pytest.mark.parametrize("opt_type", [abi.NETMAP_REQ_OPT_OFFSETS, abi.NETMAP_REQ_OPT_CSB])
def test_duplicate_option_type_is_einval(pname, opt_type):
    size = {
        abi.NETMAP_REQ_OPT_OFFSETS: ctypes.sizeof(abi.NmreqOptOffsets),
        abi.NETMAP_REQ_OPT_CSB: ctypes.sizeof(abi.NmreqOptCsb),
    }[opt_type]
    opts = [Option(opt_type, bytes(size - 24)), Option(opt_type, bytes(size - 24))]
    assert _ctrl_errno(_reg_req(f"{pname}{{1", options=opts)) == errno.EINVAL


def test_unknown_option_is_eopnotsupp_in_its_status(pname):
    opt = Option(1000, b"\xaa" * 16)
    req = _info_req(f"{pname}{{1", options=[opt])
    assert _ctrl_errno(req) == 0, "only REGISTER fails on an unknown option"
    assert opt.status == EOPNOTSUPP
    # a register with it fails and leaves the descriptor unregistered
    fd = dev_open()
    try:
        opt2 = Option(1000)
        assert _ctrl_errno(_reg_req(f"{pname}{{1", options=[opt2]), fd) == EOPNOTSUPP
        assert opt2.status == EOPNOTSUPP
        assert errno_of(ioctl, fd, abi.NIOCTXSYNC) == errno.ENXIO
        assert _ctrl_errno(_reg_req(f"{pname}{{1"), fd) == 0
    finally:
        os.close(fd)


def test_every_status_starts_as_eopnotsupp(pname):
    """Unknown options around a known one: the kernel sets every status before it looks."""
    opts = [Option(1000), Option(1001), Option(1002)]
    for o in opts:
        o.hdr.nro_status = 12345
    assert _ctrl_errno(_info_req(f"{pname}{{1", options=opts)) == 0
    assert [o.status for o in opts] == [EOPNOTSUPP] * 3


def test_unknown_option_sizes_are_ignored(pname):
    """Only the header of an unknown option is read: any nro_size goes."""
    for size in (0, 8, 23, abi.NETMAP_REQ_MAXSIZE + 24, 1 << 62):
        opt = Option(1000, bytes(abi.NETMAP_REQ_MAXSIZE), size=size)
        assert _ctrl_errno(_info_req(f"{pname}{{1", options=[opt])) == 0, size
        assert opt.status == EOPNOTSUPP
        opt = Option(1000, size=size)
        assert _ctrl_errno(_reg_req(f"{pname}{{1", options=[opt])) == EOPNOTSUPP, size


def test_oversized_options_are_emsgsize(pname):
    eventfds = Option(abi.NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS, bytes(8 * 600), size=24 + 8 * 600)
    assert _ctrl_errno(_reg_req(f"{pname}{{1", options=[eventfds])) == errno.EMSGSIZE
    lying = Option(abi.NETMAP_REQ_OPT_CSB, bytes(16), size=1 << 62)
    assert _ctrl_errno(_info_req(f"{pname}{{1", options=[lying])) == errno.EMSGSIZE
    # many options whose headers alone exceed the copy budget
    many = [Option(2000 + i) for i in range(130)]
    assert _ctrl_errno(_info_req(f"{pname}{{1", options=many)) == errno.EMSGSIZE


def test_many_options_below_the_limit_are_walked(pname):
    opts = [Option(3000 + i) for i in range(abi.NETMAP_REQ_MAXSIZE // 24 // 2)]
    assert _ctrl_errno(_info_req(f"{pname}{{1", options=opts)) == 0
    assert all(o.status == EOPNOTSUPP for o in opts)


# -- corrupted rings -------------------------------------------------------------------------


def _assert_reinit(ring, hwcur: int, tail: int):
    assert ring.head == hwcur and ring.cur == hwcur, (ring.head, ring.cur, hwcur)
    assert ring.tail == tail, (ring.tail, tail)


def _still_works(m: Port, s: Port):
    """Traffic flows again; what an earlier step left in s's rx ring is dropped first."""
    s.rxsync()
    s.rx.take()
    s.rxsync()
    pkts = [[f"after {i}".encode().ljust(60, b"~")] for i in range(20)]
    assert mismatch(pkts, transfer(m, s, pkts)) is None


def _to_rx(m: Port, s: Port, n: int, fill: bytes) -> None:
    """n frames of 60 `fill` bytes from m's tx ring into s's rx ring, both synced."""
    m.tx.put([[fill * 60]] * n)
    m.txsync()
    s.rxsync()


@pytest.fixture
def pipe(pname):
    with Port.open(f"{pname}{{1", tx_slots=64, rx_slots=64) as m, Port.open(f"{pname}}}1") as s:
        yield m, s


TX_POINTER_CASES = {
    "head=num_slots": lambda r: setattr(r, "head", r.num_slots),
    "head=~0": lambda r: setattr(r, "head", 0xFFFFFFFF),
    "cur=num_slots+1": lambda r: setattr(r, "cur", r.num_slots + 1),
    "cur=~0": lambda r: setattr(r, "cur", 0xFFFFFFFF),
}


@pytest.mark.parametrize("case", sorted(TX_POINTER_CASES))
@pytest.mark.parametrize("sync", ["ioctl", "poll"])
def test_bad_tx_pointers_reinit_the_ring(pipe, case, sync):
    m, s = pipe
    t = m.tx
    _to_rx(m, s, 5, b"x")  # hwcur = 5
    s.rx.take()
    s.rxsync()
    m.txsync()
    tail = t.tail
    TX_POINTER_CASES[case](t)
    if sync == "ioctl":
        assert errno_of(m.txsync) == errno.EINVAL
    else:
        assert m.poll(select.POLLOUT, 100) & select.POLLERR
    _assert_reinit(t, 5, tail)
    _still_works(m, s)


def test_tx_head_moving_backwards_is_einval(pipe):
    m, s = pipe
    t = m.tx
    t.put([[b"x" * 60]] * 5)
    m.txsync()
    tail = t.tail
    t.head = t.cur = 2
    assert errno_of(m.txsync) == errno.EINVAL
    _assert_reinit(t, 5, tail)
    t.cur = 3  # cur behind head (5)
    assert errno_of(m.txsync) == errno.EINVAL
    _assert_reinit(t, 5, tail)
    t.head = t.cur = tail + 1 if tail + 1 < t.num_slots else 0  # head past tail
    if t.head != 5:
        assert errno_of(m.txsync) == errno.EINVAL
        _assert_reinit(t, 5, tail)
    _still_works(m, s)


@pytest.mark.parametrize("what", ["buf_idx=objtotal", "buf_idx=~0", "len=buf+1", "len=~0"])
def test_bad_tx_slots_are_einval(pipe, what, pname):
    m, s = pipe
    t = m.tx
    objtotal = pools_info(f"{pname}{{1").nr_buf_pool_objtotal
    idx = t.get(0)[0]
    if what == "buf_idx=objtotal":
        t.set(0, objtotal, 60, 0)
    elif what == "buf_idx=~0":
        t.set(0, 0xFFFFFFFF, 60, abi.NS_BUF_CHANGED)
    elif what == "len=buf+1":
        t.set(0, idx, t.buf_size + 1, 0)
    else:
        t.set(0, idx, 0xFFFF, 0)
    t.advance(1)
    assert errno_of(m.txsync) == errno.EINVAL
    _assert_reinit(t, 0, t.num_slots - 1)
    s.rxsync()
    assert s.rx.space() == 0, "nothing from a rejected sync reaches the peer"
    # whatever the kernel left in the slot, it is a valid buffer again
    assert 2 <= t.get(0)[0] < objtotal or t.get(0)[0] == 0
    if t.get(0)[0] == 0:
        t.set(0, idx, 0, 0)  # upstream netmap parks bad slots on buffer 0; take ours back
    _still_works(m, s)


RX_CASES = {
    "head past tail": lambda r: setattr(r, "head", r.next(r.tail, 1)),
    "cur past tail": lambda r: setattr(r, "cur", r.next(r.tail, 2)),
    "head=num_slots": lambda r: setattr(r, "head", r.num_slots),
    "cur=~0": lambda r: setattr(r, "cur", 0xFFFFFFFF),
}


@pytest.mark.parametrize("case", sorted(RX_CASES))
@pytest.mark.parametrize("sync", ["ioctl", "poll"])
def test_bad_rx_pointers_reinit_the_ring(pipe, case, sync):
    m, s = pipe
    _to_rx(m, s, 10, b"r")
    r = s.rx
    assert (r.head, r.tail) == (0, 10)
    RX_CASES[case](r)
    if sync == "ioctl":
        assert errno_of(s.rxsync) == errno.EINVAL
    else:
        assert s.poll(select.POLLIN, 100) & select.POLLERR
    _assert_reinit(r, 0, 10)
    assert len(r.take()) == 10, "the packets are still there after the reinit"
    s.rxsync()
    _still_works(m, s)


def test_bad_buffer_returned_on_rx_is_einval(pipe, pname):
    m, s = pipe
    objtotal = pools_info(f"{pname}{{1").nr_buf_pool_objtotal
    _to_rx(m, s, 3, b"q")
    r = s.rx
    good = r.get(0)[0]
    r.set(0, objtotal + 5, 0, abi.NS_BUF_CHANGED)
    r.advance(3)
    assert errno_of(s.rxsync) == errno.EINVAL
    _assert_reinit(r, 0, 3)
    if r.get(0)[0] != good:
        r.set(0, good, 60, abi.NS_BUF_CHANGED)
    r.take()
    s.rxsync()
    _still_works(m, s)


def test_tail_written_by_the_app_is_restored(pipe):
    m, s = pipe
    t = m.tx
    t.hdr.tail = 12345
    assert errno_of(m.txsync) in (0, errno.EINVAL)
    assert t.tail == t.num_slots - 1
    r = s.rx
    r.hdr.tail = 40
    assert errno_of(s.rxsync) in (0, errno.EINVAL)
    assert r.tail == 0
    _still_works(m, s)


def test_kernel_ignores_read_only_ring_fields(pipe):
    """num_slots, nr_buf_size, buf_ofs, dir and ringid in shared memory are the kernel's to
    write; garbage there changes nothing (Ring caches the true values)."""
    m, s = pipe
    t = m.tx
    h = t.hdr
    h.num_slots, h.nr_buf_size, h.buf_ofs = 0xFFFFFFFF, 1, -(1 << 40)
    h.dir, h.ringid = 7, 99
    m.nifp.ni_tx_rings = 1000
    ctypes.c_int64.from_address(m.mem + m.offset + abi.NETMAP_IF_RING_OFS).value = -(1 << 50)
    pkts = single(random.Random(3), 200, 60, 2048)
    assert mismatch(pkts, transfer(m, s, pkts)) is None


def test_corrupt_extra_buffer_list_is_survived(pname):
    with Port.open(f"{pname}{{1", extra_bufs=8) as m:
        bufs = m.extra_bufs()
        # a loop, then an out-of-range index in the middle of the list
        m.set_extra_bufs(bufs)
        base, size = m.buf_base(), m.tx.buf_size
        ctypes.c_uint32.from_address(m.mem + base + bufs[-1] * size).value = bufs[2]
        ctypes.c_uint32.from_address(m.mem + base + bufs[1] * size).value = 0xFFFFFFF0
    with Port.open(f"{pname}{{1", extra_bufs=8) as m:
        m.nifp.ni_bufs_head = 1  # a reserved buffer
    with Port.open(f"{pname}{{1", extra_bufs=8) as m:
        bufs = m.extra_bufs()
        # give the same buffer twice
        m.set_extra_bufs(bufs[:4] + bufs[:4])


# -- abrupt endings -------------------------------------------------------------------------


def test_slave_closes_mid_transfer(pname):
    m = Port.open(f"{pname}{{1", tx_slots=64, rx_slots=64)
    with m:
        s = Port.open(f"{pname}}}1")
        m.tx.put([[b"m" * 100]] * 200)
        m.txsync()
        s.close()
        for _ in range(5):
            m.tx.put([[b"n" * 100]] * 200)
            assert errno_of(m.txsync) in (0, errno.ENXIO, errno.EINVAL)
            m.poll(select.POLLOUT, 20)
            m.rxsync()


def test_master_closes_with_packets_pending_on_the_slave(pname):
    with Port.open(f"{pname}}}1") as s:
        m = Port.open(f"{pname}{{1")
        sent = [[bytes([i]) * 64] for i in range(30)]
        m.tx.put(sent)
        m.txsync()
        m.close()
        s.rxsync()
        got = s.rx.take()
        assert got == sent[: len(got)]
        s.rxsync()
        # a new master on the same pipe talks to the same slave
        with Port.open(f"{pname}{{1") as m2:
            s.rx.take()
            s.rxsync()
            _still_works(m2, s)


def _busy_pipe(ctl, name):
    with Port.open(f"{name}{{1") as m, Port.open(f"{name}}}1") as s:
        pkts = [[b"k" * 1000]] * 64
        ctl.send(b"R")
        while True:
            m.tx.put(pkts)
            m.txsync()
            s.rxsync()
            s.rx.take()


def _poll_forever(ctl, name):
    with Port.open(f"{name}}}1") as s:
        ctl.send(b"R")
        s.poll(select.POLLIN, -1)


def _map_only(ctl, name):
    p = Port.open(f"{name}{{1", extra_bufs=4)
    p.close_fd_keep_mapping()  # the mapping alone keeps the file
    p.tx.write_buf(p.tx.get(0)[0], b"still here")
    ctl.send(b"R")
    while True:
        time.sleep(1)


@pytest.mark.parametrize("body", [_busy_pipe, _poll_forever, _map_only])
def test_kill_9_of_a_process_holding_rings(pname, body):
    child = Child(body, pname)
    assert child.ctl.recv() == b"R"
    time.sleep(0.2)
    assert counters.read("priv_count") >= 1
    child.kill(signal.SIGKILL)
    assert os.WIFSIGNALED(child.status)
    idle = dict.fromkeys(counters.snapshot(), 0)
    assert counters.wait_idle(idle) == idle
    with Port.open(f"{pname}{{1") as m, Port.open(f"{pname}}}1") as s:
        _still_works(m, s)


def test_mapping_outlives_the_descriptor(pname):
    m = Port.open(f"{pname}{{1")
    s = Port.open(f"{pname}}}1")
    m.close_fd_keep_mapping()
    assert counters.read("priv_count") == 2, "the mapping still holds the file"
    idx = m.tx.get(0)[0]
    m.tx.write_buf(idx, b"after close")
    assert s.tx.read_buf(idx, 11) == b"after close"
    m.close()
    s.close()


def test_fork_shares_the_mapping(pname):
    with Port.open(f"{pname}{{1") as m, Port.open(f"{pname}}}1") as s:

        def child_send(ctl):
            m.tx.put([[b"from the child".ljust(60)]])
            m.txsync()
            return True

        assert Child(child_send).join()
        s.rxsync()
        assert s.rx.take() == [[b"from the child".ljust(60)]]


# -- failed requests leave no trace ----------------------------------------------------------


@pytest.fixture
def read_only_page():
    """A page the kernel can read from but not write to."""
    addr = libc.anon_mmap(4096)
    yield addr
    libc.munmap(addr, 4096)


def _protect_read_only(addr: int) -> None:
    libc.mprotect(addr, 4096, 1)  # PROT_READ


def test_register_with_a_read_only_body_fails_without_binding(pname, read_only_page):
    """The kernel can read the body but not write the answer: the request fails with EFAULT,
    and a failed request must not leave the descriptor registered."""
    ctypes.memmove(read_only_page, bytes(register_body()), ctypes.sizeof(abi.NmreqRegister))
    _protect_read_only(read_only_page)
    req = _reg_req(f"{pname}{{1")
    req.hdr.nr_body = read_only_page
    fd = dev_open()
    try:
        assert _ctrl_errno(req, fd) == errno.EFAULT
        assert errno_of(ioctl, fd, abi.NIOCTXSYNC) == errno.ENXIO, "the descriptor got bound"
        assert _ctrl_errno(_reg_req(f"{pname}{{1"), fd) == 0
    finally:
        os.close(fd)


def test_legacy_regif_with_a_read_only_nmreq_fails_without_binding(pname, read_only_page):
    nmr = abi.Nmreq(nr_name=f"{pname}{{1".encode(), nr_version=abi.NETMAP_API)
    nmr.nr_flags = abi.NR_REG_ALL_NIC
    ctypes.memmove(read_only_page, bytes(nmr), ctypes.sizeof(nmr))
    _protect_read_only(read_only_page)
    fd = dev_open()
    try:
        assert errno_of(ioctl, fd, abi.NIOCREGIF, read_only_page) == errno.EFAULT
        assert errno_of(ioctl, fd, abi.NIOCTXSYNC) == errno.ENXIO, "the descriptor got bound"
    finally:
        os.close(fd)


def test_poll_on_an_unbound_descriptor_is_pollerr():
    fd = dev_open()
    try:
        p = select.poll()
        p.register(fd, select.POLLIN | select.POLLOUT)
        got = p.poll(100)
        assert got and got[0][1] & select.POLLERR
    finally:
        os.close(fd)


def test_opening_a_pipe_parent_directly_opens_it(pname):
    """The parent made for a pipe is an auto-delete VALE port, which opens like any other."""
    with Port.open(f"{pname}{{1") as m:
        assert _ctrl_errno(_reg_req(pname)) == 0
        assert _ctrl_errno(_info_req(pname)) == 0
        with Port.open(pname) as parent:
            assert parent.reg.nr_mem_id == m.reg.nr_mem_id


@pytest.mark.parametrize("pipe_id", ["4294967296", "-1", "1a", "0x1", " 1", "\x01~"])
def test_pipe_ids_are_any_text(pname, pipe_id):
    with Port.open(f"{pname}{{{pipe_id}") as m:
        assert m.nifp.ni_name == f"{pname}{{{pipe_id}".encode()[:15]


@pytest.mark.parametrize("name", ["{1", "}1", "abc{", "abc}{"])
def test_pipe_names_without_parent_or_id_are_einval(name):
    assert _ctrl_errno(_reg_req(name)) == errno.EINVAL


# -- mappings --------------------------------------------------------------------------------


def test_private_mapping_is_refused(pname):
    with Port.open(f"{pname}{{1", map=False) as m:
        got = errno_of(libc.mmap, m.fd, m.memsize, 0, libc.PROT_RW, pymmap.MAP_PRIVATE)
        assert got == errno.EINVAL


def test_partial_split_and_moved_mappings(pname):
    """Map a window at an offset, split a mapping with munmap, move one with mremap: every piece
    keeps the region alive, and all of it is released at the end (the leak fixture checks)."""
    m = Port.open(f"{pname}{{1")
    s = Port.open(f"{pname}}}1")
    page = 4096
    ring_page = m.tx.offset // page * page
    win = libc.mmap(m.fd, 2 * page, offset=ring_page)
    assert ctypes.string_at(win + m.tx.offset - ring_page, 8) == bytes(m.tx.hdr)[:8]
    assert errno_of(libc.mmap, m.fd, page, m.memsize) == errno.EINVAL
    assert errno_of(libc.mmap, m.fd, 2 * page, m.memsize - page) == errno.EINVAL
    # split the main mapping by unmapping a page in the middle of the buffer pool
    hole = m.mem + (m.buf_base() // page + 10) * page
    libc.munmap(hole, page)
    moved = libc.mremap(win, 2 * page, 2 * page, libc.MREMAP_MAYMOVE)
    assert errno_of(libc.mremap, moved, 2 * page, 4 * page) != 0, "a netmap mapping cannot grow"
    m.close_fd_keep_mapping()
    s.close()
    libc.munmap(moved, 2 * page)
    libc.munmap(m.mem, hole - m.mem)
    libc.munmap(hole + page, m.mem + m.memsize - hole - page)
    m.mem = 0  # every piece is gone
    m.close()


def test_a_bad_buffer_in_a_free_rx_slot_never_reaches_the_sender(pipe, pname):
    """The receiver writes into rx slots the kernel owns: the next frames land there over what it
    wrote, slot k of tx into slot k of rx (abi-corrections.md §11), and the sender keeps its
    own buffers."""
    m, s = pipe
    objtotal = pools_info(f"{pname}{{1").nr_buf_pool_objtotal
    _to_rx(m, s, 4, b"a")
    assert len(s.rx.take()) == 4
    s.rxsync()  # every rx slot from tail on is the kernel's; the next frames land there
    free = [s.rx.next(s.rx.tail, i) for i in range(4)]
    for k, i in enumerate(free):
        s.rx.set(i, objtotal + k, 0, 0)  # not the receiver's to write
    sent = [m.tx.get(i)[0] for i in free]
    assert m.tx.put([[f"b{i}".encode().ljust(60, b"-")] for i in range(4)]) == 4
    m.txsync()
    assert [m.tx.get(i)[0] for i in free] == sent
    s.rxsync()
    assert [s.rx.get(i)[0] for i in free] == sent
    assert [p[0][:2] for p in s.rx.take()] == [b"b0", b"b1", b"b2", b"b3"]
    s.rxsync()
    m.txsync()
    got = [m.tx.get(i)[0] for i in free]
    assert got == sent, f"the sender was handed {got}"
