"""The exact NIOCCTRL and legacy control-path rules of abi-corrections.md (issue 12).

Option lists (§5): the walk, unknown types, type 0, duplicates, self-loops, the EMSGSIZE rules
and what is written back. The request header (§5.2 step 1, §7): versions, nr_reserved, which
requests take a body, the name cut to 63 bytes and the header copied back on failure. The
legacy API (§7, §10): any version from 14 up, the name cut to 15 bytes, the struct copied back,
nr_cmd. POOLS_INFO_GET (§4). The rest of §10: ONE_NIC, null ports, header lengths (EIO,
PORT_HDR_SET), SYNC_KLOOP_START, CSB, NIOCCONFIG.
"""

import ctypes
import errno
import os
import struct
from collections.abc import Iterator

import pytest
from nm import Option, Port, Request, abi, counters, ctrl, dev_open, errno_of, ioctl, libc
from nm.kloop import Csb, Kloop, start_request
from nm.port import register_body
from nm.vale import hdr_get, hdr_set, legacy

EOPNOTSUPP, EINVAL, EMSGSIZE = errno.EOPNOTSUPP, errno.EINVAL, errno.EMSGSIZE
UNTOUCHED = 777  # a status the kernel never writes
PAGE = 4096

# Full size of each known option type (§5.1); EVENTFDS is variable.
OPT_SIZE = {
    abi.NETMAP_REQ_OPT_EXTMEM: 96,
    abi.NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS: 24,
    abi.NETMAP_REQ_OPT_CSB: 40,
    abi.NETMAP_REQ_OPT_SYNC_KLOOP_MODE: 32,
    abi.NETMAP_REQ_OPT_OFFSETS: 56,
}


def _errno(req: Request, fd: int | None = None) -> int:
    if fd is not None:
        return errno_of(ctrl, fd, req)
    own = dev_open()
    try:
        return errno_of(ctrl, own, req)
    finally:
        os.close(own)


def _reg(name: str, options=(), **kw) -> Request:
    return Request(abi.NETMAP_REQ_REGISTER, name, register_body(), options, **kw)


def _hdr_get(name: str, options=(), **kw) -> Request:
    return Request(
        abi.NETMAP_REQ_PORT_HDR_GET, name, abi.NmreqPortHdr(nr_hdr_len=99), options, **kw
    )


def _opt(reqtype: int, status: int = UNTOUCHED, **kw) -> Option:
    """An option of `reqtype` with its full body (zeros), status preset to UNTOUCHED."""
    o = Option(reqtype, bytes(OPT_SIZE.get(reqtype, 24) - 24), **kw)
    o.hdr.nro_status = status
    return o


def _bound(fd: int) -> bool:
    return errno_of(ioctl, fd, abi.NIOCTXSYNC) != errno.ENXIO


class _Pages:
    """Two pages, the second unmapped: for structs that end exactly at a hole."""

    def __init__(self) -> None:
        self.base = libc.anon_mmap(2 * PAGE)
        libc.munmap(self.base + PAGE, PAGE)

    def tail(self, nbytes: int) -> int:
        addr = self.base + PAGE - nbytes
        ctypes.memset(addr, 0, nbytes)
        return addr

    def close(self) -> None:
        libc.munmap(self.base, PAGE)


@pytest.fixture
def pages() -> Iterator[_Pages]:
    p = _Pages()
    yield p
    p.close()


# -- §5.2: the walk ---------------------------------------------------------------------------


@pytest.mark.parametrize("reqtype", [6, 7, 1234, 0xFFFFFFFF])
def test_unknown_option_fails_register_and_leaves_it_unbound(pname, reqtype):
    opt = _opt(reqtype)
    fd = dev_open()
    try:
        assert _errno(_reg(f"{pname}{{1", [opt]), fd) == EOPNOTSUPP
        assert opt.status == EOPNOTSUPP
        assert not _bound(fd)
        assert counters.read("port_count") == 0
        assert _errno(_reg(f"{pname}{{1"), fd) == 0
    finally:
        os.close(fd)


@pytest.mark.parametrize("reqtype", [6, 1234])
def test_unknown_option_is_ignored_by_other_requests(pname, reqtype):
    with Port.open(f"{pname}{{1") as p:
        opt = _opt(reqtype)
        req = _hdr_get(f"{pname}{{1", [opt])
        assert _errno(req) == 0
        assert req.body.nr_hdr_len == 0, "the request ran"
        assert opt.status == EOPNOTSUPP
        body = abi.NmreqPoolsInfo()
        opt = _opt(reqtype)
        assert _errno(Request(abi.NETMAP_REQ_POOLS_INFO_GET, p.name, body, [opt])) == 0
        assert body.nr_memsize == p.memsize and opt.status == EOPNOTSUPP


def test_every_known_option_reads_eopnotsupp_where_unused(pname):
    """Known types a request does not act on are ignored like unknown ones (but REGISTER)."""
    opts = [_opt(t) for t in OPT_SIZE]
    with Port.open(f"{pname}{{1"):
        assert _errno(_hdr_get(f"{pname}{{1", opts)) == 0
        assert [o.status for o in opts] == [EOPNOTSUPP] * len(opts)


def test_unknown_and_unused_options_do_not_stop_csb_enable(pname):
    unknown, mode = _opt(1234), _opt(abi.NETMAP_REQ_OPT_SYNC_KLOOP_MODE)
    with Port.open(f"{pname}{{1", flags=abi.NR_EXCLUSIVE) as p, Csb(2) as csb:
        opt = csb.option()
        req = Request(abi.NETMAP_REQ_CSB_ENABLE, p.name, None, [unknown, opt, mode])
        assert _errno(req, p.fd) == 0
        assert (unknown.status, opt.status, mode.status) == (EOPNOTSUPP, 0, EOPNOTSUPP)
        assert counters.read("csb_count") == 1


@pytest.mark.parametrize("request_type", ["register", "hdr_get"])
def test_type_0_fails_at_once_and_stops_the_walk(pname, request_type):
    zero, after = _opt(0), _opt(1234)
    with Port.open(f"{pname}{{1"):
        make = _reg if request_type == "register" else _hdr_get
        assert _errno(make(f"{pname}{{1", [zero, after])) == EINVAL
        assert zero.status == EINVAL
        assert after.status == UNTOUCHED, "the option after type 0 was read"


def test_options_before_a_type_0_read_back_status_0(pname):
    before, zero = _opt(1234), _opt(0)
    assert _errno(_reg(f"{pname}{{1", [before, zero])) == EINVAL
    assert (before.status, zero.status) == (0, EINVAL)


@pytest.mark.parametrize("reqtype", list(OPT_SIZE))
def test_duplicates_mark_both_einval(pname, reqtype):
    a, mid, b, after = _opt(reqtype), _opt(1234), _opt(reqtype), _opt(1235)
    fd = dev_open()
    try:
        assert _errno(_reg(f"{pname}{{1", [a, mid, b, after]), fd) == EINVAL
        assert (a.status, mid.status, b.status) == (EINVAL, 0, EINVAL)
        assert after.status == UNTOUCHED
        assert not _bound(fd)
    finally:
        os.close(fd)
    with Port.open(f"{pname}{{1"):
        a, b = _opt(reqtype), _opt(reqtype)
        assert _errno(_hdr_get(f"{pname}{{1", [a, b])) == EINVAL
        assert (a.status, b.status) == (EINVAL, EINVAL)


def test_duplicate_extmem_options(pname):
    """ctrl-api-test duplicate_extmem_options: EINVAL, status 22 on both."""
    a, b = _opt(abi.NETMAP_REQ_OPT_EXTMEM), _opt(abi.NETMAP_REQ_OPT_EXTMEM)
    assert _errno(_reg(f"{pname}{{1", [a, b])) == EINVAL
    assert (a.status, b.status) == (EINVAL, EINVAL)


def test_offsets_are_understood_by_register(pname):
    """REGISTER acts on OFFSETS (test_offsets.py has its rules): all zeros is valid."""
    opt = _opt(abi.NETMAP_REQ_OPT_OFFSETS)
    assert _errno(_reg(f"{pname}{{1", [opt])) == 0
    assert opt.status == 0


# -- §5.2: loops --------------------------------------------------------------------------------


@pytest.mark.parametrize("reqtype", [7, 1234])
def test_unknown_self_loop_is_emsgsize_and_nothing_is_written(pname, reqtype):
    """ctrl-api-test infinite_options: the list overflows the copy buffer."""
    a = _opt(reqtype)
    a.hdr.nro_next = a.address
    assert _errno(_reg(f"{pname}{{1", [a], link=False)) == EMSGSIZE
    assert a.status == UNTOUCHED
    assert a.hdr.nro_next == a.address
    with Port.open(f"{pname}{{1"):
        assert _errno(_hdr_get(f"{pname}{{1", [a], link=False)) == EMSGSIZE
        assert a.status == UNTOUCHED


def test_unknown_two_option_loop_is_emsgsize(pname):
    b, c = _opt(1001), _opt(1002)
    b.hdr.nro_next, c.hdr.nro_next = c.address, b.address
    assert _errno(_reg(f"{pname}{{1", [b], link=False)) == EMSGSIZE
    assert (b.status, c.status) == (UNTOUCHED, UNTOUCHED)


@pytest.mark.parametrize("reqtype", list(OPT_SIZE))
def test_known_self_loop_is_a_duplicate(pname, reqtype):
    """ctrl-api-test infinite_options2 (OFFSETS): the second visit is a duplicate."""
    a = _opt(reqtype)
    a.hdr.nro_next = a.address
    assert _errno(_reg(f"{pname}{{1", [a], link=False)) == EINVAL
    assert a.status == EINVAL
    assert a.hdr.nro_next == a.address, "nro_next restored"


def test_unknown_options_looping_into_a_known_one(pname):
    """u1 -> CSB -> u2 -> CSB: the CSB is a duplicate at its second visit."""
    u1, csb, u2 = _opt(1001), _opt(abi.NETMAP_REQ_OPT_CSB), _opt(1002)
    u1.hdr.nro_next, csb.hdr.nro_next, u2.hdr.nro_next = csb.address, u2.address, csb.address
    assert _errno(_reg(f"{pname}{{1", [u1], link=False)) == EINVAL
    assert (u1.status, csb.status, u2.status) == (0, EINVAL, 0)


# -- §5.3: sizes --------------------------------------------------------------------------------


def test_invalid_valid_options3(pname):
    """99 options of type 6, then EVENTFDS of nro_size 1000: rule B (4232 > 4144)."""
    opts = [_opt(6) for _ in range(99)]
    efds = Option(abi.NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS, bytes(976))
    assert _errno(_reg(f"{pname}{{1", [*opts, efds])) == EMSGSIZE
    # one option fewer passes the size rules; REGISTER then fails on the unused options
    assert _errno(_reg(f"{pname}{{1", [*opts[:-1], efds])) == EMSGSIZE  # 4200 > 4144
    few = Option(abi.NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS, bytes(976))
    assert _errno(_reg(f"{pname}{{1", [*opts[:95], few])) == EOPNOTSUPP  # 4072


def test_rule_b_counts_unknown_options(pname):
    """REGISTER (56-byte body): 127 unknown options fit, 128 do not (56 + 128 * 32 > 4144)."""
    fd = dev_open()
    try:
        opts = [_opt(2000 + i) for i in range(128)]
        assert _errno(_reg(f"{pname}{{1", opts), fd) == EMSGSIZE
        assert all(o.status == UNTOUCHED for o in opts), "written back after an overflow"
        opts = [_opt(2000 + i) for i in range(127)]
        assert _errno(_reg(f"{pname}{{1", opts), fd) == EOPNOTSUPP
        assert all(o.status == EOPNOTSUPP for o in opts)
    finally:
        os.close(fd)


def test_rule_b_on_a_request_without_body(pname):
    """CSB_ENABLE has no body: 129 options fit, 130 do not."""
    with Port.open(f"{pname}{{1", flags=abi.NR_EXCLUSIVE) as p:
        for n, expected in ((129, EINVAL), (130, EMSGSIZE)):  # EINVAL: no CSB option
            opts = [_opt(3000 + i) for i in range(n)]
            assert _errno(Request(abi.NETMAP_REQ_CSB_ENABLE, p.name, None, opts), p.fd) == expected


@pytest.mark.parametrize("size, expected", [(4040, EOPNOTSUPP), (4041, EMSGSIZE)])
def test_rule_a_on_one_eventfds_option(pname, size, expected):
    """REGISTER: 56 + nro_size must not pass 4096."""
    efds = Option(abi.NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS, bytes(size - 24))
    assert _errno(_reg(f"{pname}{{1", [efds])) == expected


def test_rule_a_counts_unknown_headers(pname):
    """Rule A counts 24 bytes per unknown option seen before the known one."""
    # 56 + 10 * 24 + (24 + 3776) = 4096: passes A; B: 56 + 11 * 32 + 3776 = 4184 > 4144
    opts = [_opt(4000 + i) for i in range(10)]
    efds = Option(abi.NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS, bytes(3776))
    assert _errno(_reg(f"{pname}{{1", [*opts, efds])) == EMSGSIZE
    # 56 + 2 * 24 + (24 + 3968) = 4096 passes A; B: 56 + 3 * 32 + 3968 = 4120 passes
    efds = Option(abi.NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS, bytes(3968))
    assert _errno(_reg(f"{pname}{{1", [*opts[:2], efds])) == EOPNOTSUPP
    efds = Option(abi.NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS, bytes(3969))
    assert _errno(_reg(f"{pname}{{1", [*opts[:2], efds])) == EMSGSIZE


@pytest.mark.parametrize("reqtype", [t for t in OPT_SIZE if t != 2])
def test_fixed_size_options_ignore_nro_size_up_to_4096(pname, reqtype):
    with Port.open(f"{pname}{{1"):
        for size in (0, 1, 23, 24, 4096):
            opt = _opt(reqtype, size=size)
            assert _errno(_hdr_get(f"{pname}{{1", [opt])) == 0, size
            assert opt.status == EOPNOTSUPP
        opt = _opt(reqtype, size=4097)
        assert _errno(_hdr_get(f"{pname}{{1", [opt])) == EMSGSIZE


def test_unknown_options_ignore_nro_size(pname):
    with Port.open(f"{pname}{{1"):
        for size in (0, 8, 23, 4097, 1 << 62):
            opt = _opt(1000, size=size)
            assert _errno(_hdr_get(f"{pname}{{1", [opt])) == 0, size
            assert opt.status == EOPNOTSUPP


@pytest.mark.parametrize("reqtype", [t for t in OPT_SIZE if t != 2])
def test_fixed_size_bodies_are_read_whole(pname, pages, reqtype):
    """A known option is read at its full size whatever nro_size says: short of it is EFAULT."""
    size = OPT_SIZE[reqtype]
    with Port.open(f"{pname}{{1"):
        for mapped, expected in ((size, 0), (size - 8, errno.EFAULT)):
            addr = pages.tail(mapped)
            hdr = abi.NmreqOption.from_address(addr)
            hdr.nro_reqtype, hdr.nro_size = reqtype, 24
            req = _hdr_get(f"{pname}{{1")
            req.hdr.nr_options = addr
            assert _errno(req) == expected, mapped


def test_eventfds_body_is_nro_size_minus_24(pname, pages):
    with Port.open(f"{pname}{{1"):
        for nro_size, mapped, expected in ((40, 40, 0), (48, 40, errno.EFAULT), (8, 24, 0)):
            addr = pages.tail(mapped)
            hdr = abi.NmreqOption.from_address(addr)
            hdr.nro_reqtype, hdr.nro_size = abi.NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS, nro_size
            req = _hdr_get(f"{pname}{{1")
            req.hdr.nr_options = addr
            assert _errno(req) == expected, (nro_size, mapped)


def test_csb_option_with_a_short_nro_size_works(pname):
    with Port.open(f"{pname}{{1", flags=abi.NR_EXCLUSIVE) as p, Csb(2) as csb:
        opt = csb.option(size=24)
        assert _errno(Request(abi.NETMAP_REQ_CSB_ENABLE, p.name, None, [opt]), p.fd) == 0
        assert opt.status == 0 and counters.read("csb_count") == 1


# -- §5.2 step 1 and §7: the header ---------------------------------------------------------------


@pytest.mark.parametrize(
    "reqtype",
    [abi.NETMAP_REQ_VALE_DELIF, abi.NETMAP_REQ_SYNC_KLOOP_STOP, abi.NETMAP_REQ_CSB_ENABLE],
)
def test_requests_without_body_refuse_one(pname, reqtype):
    with Port.open(f"{pname}{{1", flags=abi.NR_EXCLUSIVE) as p, Csb(2) as csb:
        opts = [csb.option()] if reqtype == abi.NETMAP_REQ_CSB_ENABLE else []
        req = Request(reqtype, p.name, abi.NmreqRegister(), opts)
        assert _errno(req, p.fd) == EINVAL
        assert counters.read("csb_count") == 0


@pytest.mark.parametrize(
    "reqtype, size",
    [
        (abi.NETMAP_REQ_VALE_DETACH, 8),
        (abi.NETMAP_REQ_VALE_NEWIF, 16),
        (abi.NETMAP_REQ_VALE_POLLING_ENABLE, 16),
        (abi.NETMAP_REQ_VALE_POLLING_DISABLE, 16),
        (abi.NETMAP_REQ_POOLS_INFO_GET, 64),
        (abi.NETMAP_REQ_PORT_HDR_GET, 8),
        (abi.NETMAP_REQ_SYNC_KLOOP_START, 8),
    ],
)
def test_body_sizes(pages, reqtype, size):
    """A body is required and read at exactly its size: NULL is EINVAL, one byte short EFAULT."""
    req = Request(reqtype, "valeq0:nosuch")
    assert _errno(req) == EINVAL
    req.hdr.nr_body = pages.tail(size)
    assert _errno(req) != errno.EFAULT
    req.hdr.nr_body = pages.tail(size - 1)
    assert _errno(req) == errno.EFAULT


@pytest.mark.parametrize("version", [14, 15])
def test_version_is_never_modified(pname, version):
    with Port.open(f"{pname}{{1", version=version) as p:
        assert p.request.hdr.nr_version == version
        req = _hdr_get(p.name, version=version)
        assert _errno(req) == 0 and req.hdr.nr_version == version


def test_name_is_cut_to_63_bytes_and_the_header_comes_back(pname):
    """Byte 63 becomes NUL; the header goes back to userspace even when the request fails."""
    req = _hdr_get("x")
    req.set_name(b"p" * 60 + b"{123")
    err = _errno(req)
    assert err != 0
    raw = ctypes.string_at(ctypes.addressof(req.hdr) + 8, 64)
    assert raw == b"p" * 60 + b"{12\0"
    assert req.hdr.nr_version == abi.NETMAP_API and req.hdr.nr_body == ctypes.addressof(req.body)


def test_bad_version_leaves_the_header_alone():
    req = _hdr_get("x", version=13)
    req.set_name(b"q" * 64)
    assert _errno(req) == EINVAL
    assert ctypes.string_at(ctypes.addressof(req.hdr) + 8, 64) == b"q" * 64


# -- §7 and §10: the legacy API ------------------------------------------------------------------


def _nmreq(name: bytes, version: int = abi.NETMAP_API, **fields: int) -> abi.Nmreq:
    req = abi.Nmreq(nr_version=version)
    ctypes.memmove(ctypes.addressof(req), name, len(name))
    for k, v in fields.items():
        setattr(req, k, v)
    return req


@pytest.mark.parametrize("version", [16, 17, 0xFFFF, 0xFFFFFFFF])
def test_legacy_regif_future_version(pname, version):
    """ctrl-api-test legacy_regif_future: accepted as API 14, nr_version left as it was."""
    req = _nmreq(f"{pname}{{1".encode(), version, nr_flags=abi.NR_REG_ALL_NIC)
    fd = dev_open()
    try:
        ioctl(fd, abi.NIOCREGIF, req)
        assert req.nr_version == version
        assert req.nr_memsize > 0 and (req.nr_tx_rings, req.nr_rx_rings) == (1, 1)
        info = _nmreq(f"{pname}{{1".encode(), version)
        ioctl(fd, abi.NIOCGINFO, info)
        assert info.nr_version == version and info.nr_memsize == req.nr_memsize
    finally:
        os.close(fd)


@pytest.mark.parametrize("version", [0, 13])
@pytest.mark.parametrize("cmd", [abi.NIOCGINFO, abi.NIOCREGIF], ids=["GINFO", "REGIF"])
def test_legacy_old_versions_are_einval(pname, cmd, version):
    req = _nmreq(f"{pname}{{1".encode(), version)
    fd = dev_open()
    try:
        assert errno_of(ioctl, fd, cmd, req) == EINVAL
    finally:
        os.close(fd)


def test_legacy_name_is_cut_to_15_bytes(pname):
    """A 16-byte name loses its last byte: "t0ab{pipeidX" style truncation is accepted."""
    name = (pname + "abcdefghijklmnop")[:13].encode() + b"{12"
    assert len(name) == 16
    req = _nmreq(name, nr_flags=abi.NR_REG_ALL_NIC)
    fd = dev_open()
    try:
        ioctl(fd, abi.NIOCREGIF, req)
        assert req.nr_name == name[:15]
        with Port.open(name[:13].decode() + "}1") as peer:
            assert peer.reg.nr_mem_id == req.nr_arg2
    finally:
        os.close(fd)


def test_legacy_request_comes_back_on_failure_without_results():
    req = _nmreq(b"nosuchdev0123456", nr_flags=abi.NR_REG_ALL_NIC, nr_offset=0x1234)
    req.nr_memsize = 0x5678
    fd = dev_open()
    try:
        assert errno_of(ioctl, fd, abi.NIOCREGIF, req) != 0
        assert req.nr_name == b"nosuchdev012345"
        assert (req.nr_offset, req.nr_memsize) == (0x1234, 0x5678)
        assert req.nr_flags == abi.NR_REG_ALL_NIC
    finally:
        os.close(fd)


@pytest.mark.parametrize("cmd", [abi.NETMAP_BDG_REGOPS, 8, 9, 13, 0xFFFF])
def test_legacy_unsupported_commands_are_einval(pname, cmd):
    req = _nmreq(f"{pname}{{1".encode(), nr_cmd=cmd)
    fd = dev_open()
    try:
        assert errno_of(ioctl, fd, abi.NIOCREGIF, req) == EINVAL
        assert not _bound(fd)
    finally:
        os.close(fd)


def test_legacy_bdg_list_only_through_nioc_ginfo():
    req = _nmreq(b"", nr_cmd=abi.NETMAP_BDG_LIST)
    fd = dev_open()
    try:
        assert errno_of(ioctl, fd, abi.NIOCREGIF, req) == EINVAL
        assert errno_of(ioctl, fd, abi.NIOCGINFO, _nmreq(b"", nr_cmd=abi.NETMAP_BDG_LIST)) in (
            0,
            errno.ENOENT,
        )
    finally:
        os.close(fd)


# -- §4: POOLS_INFO_GET ---------------------------------------------------------------------------


def _pools(name: str, mem_id: int = 0) -> tuple[int, abi.NmreqPoolsInfo]:
    body = abi.NmreqPoolsInfo(nr_mem_id=mem_id)
    return _errno(Request(abi.NETMAP_REQ_POOLS_INFO_GET, name, body)), body


def test_pools_info_with_an_empty_name_is_enxio(pname):
    with Port.open(f"{pname}{{1") as p:
        assert _pools("")[0] == errno.ENXIO
        assert _pools("", p.reg.nr_mem_id)[0] == errno.ENXIO
        assert _pools("", 4321)[0] == EINVAL, "a missing region is checked first"
        assert _pools(p.name, 4321)[0] == EINVAL


def test_pools_info_layout(pname):
    with Port.open(f"{pname}{{1") as p:
        err, info = _pools(p.name)
        assert err == 0
        assert info.nr_mem_id == p.reg.nr_mem_id and info.nr_memsize == p.memsize
        if_size = info.nr_if_pool_objtotal * info.nr_if_pool_objsize
        ring_size = info.nr_ring_pool_objtotal * info.nr_ring_pool_objsize
        assert info.nr_if_pool_offset == 0
        assert info.nr_ring_pool_offset == -(-if_size // PAGE) * PAGE
        assert info.nr_buf_pool_offset == info.nr_ring_pool_offset + -(-ring_size // PAGE) * PAGE


def test_pools_info_creates_a_pipe_for_the_request(pname):
    err, info = _pools(f"{pname}{{3")
    assert err == 0 and info.nr_memsize > 0 and info.nr_buf_pool_objtotal > 0
    assert counters.read("port_count") == 0


# -- §10: modes and rings ----------------------------------------------------------------------


def test_one_nic_falls_back_to_ring_0_in_a_direction_with_fewer_rings(pname):
    with Port.open(f"{pname}{{1", abi.NR_REG_ONE_NIC, ringid=2, tx_rings=1, rx_rings=3) as m:
        assert m.tx_rings[0] is not None, "tx has no ring 2: ring 0 is bound"
        assert m.rx_rings[2] is not None and m.rx_rings[2].hdr.ringid == 2
        assert m.rx_rings[0] is None and m.rx_rings[1] is None
    with Port.open(f"{pname}{{1", abi.NR_REG_ONE_NIC, ringid=1, tx_rings=3, rx_rings=1) as m:
        assert m.tx_rings[1] is not None and m.rx_rings[0] is not None


def test_mode_0_over_niocctrl_is_einval(pname):
    fd = dev_open()
    try:
        assert (
            _errno(Request(abi.NETMAP_REQ_REGISTER, f"{pname}{{1", register_body(0)), fd) == EINVAL
        )
        assert not _bound(fd)
    finally:
        os.close(fd)


def test_null_port_geometry_is_taken_as_given(pname):
    with Port.open(f"{pname}{{1") as p:
        mem = p.reg.nr_mem_id
        with Port.open(
            "nullx",
            abi.NR_REG_NULL,
            mem_id=mem,
            tx_rings=10,
            rx_rings=5,
            tx_slots=256,
            rx_slots=100,
        ) as n:
            r = n.reg
            assert (r.nr_tx_rings, r.nr_rx_rings, r.nr_tx_slots, r.nr_rx_slots) == (10, 5, 256, 100)
        with Port.open("nullz", abi.NR_REG_NULL, mem_id=mem, flags=abi.NR_EXCLUSIVE) as z:
            r = z.reg
            assert (r.nr_tx_rings, r.nr_rx_rings, r.nr_tx_slots, r.nr_rx_slots) == (0, 0, 0, 0)
            assert (z.nifp.ni_tx_rings, z.nifp.ni_rx_rings) == (0, 0)
            z.txsync()
            z.rxsync()
            # CSB on a binding without rings is accepted and does nothing
            with Csb(1) as csb:
                opt = csb.option()
                assert _errno(Request(abi.NETMAP_REQ_CSB_ENABLE, "", None, [opt]), z.fd) == 0
                assert opt.status == 0 and counters.read("csb_count") == 0


def test_null_port_needs_an_existing_region():
    assert (
        _errno(Request(abi.NETMAP_REQ_REGISTER, "nullm", register_body(abi.NR_REG_NULL))) == EINVAL
    )
    req = Request(abi.NETMAP_REQ_REGISTER, "nullm", register_body(abi.NR_REG_NULL, mem_id=999))
    assert _errno(req) == EINVAL


# -- §10: virtio-net header lengths -------------------------------------------------------------


@pytest.mark.parametrize("length", [10, 12])
def test_register_on_a_port_with_a_header_needs_accept_vnet_hdr(pname, length):
    sw = f"valec{pname[1:]}"
    with Port.open(f"{sw}:a") as a:
        assert hdr_set(f"{sw}:a", length) == 0
        fd = dev_open()
        try:
            assert _errno(_reg(f"{sw}:a"), fd) == errno.EIO
            assert not _bound(fd)
            req = Request(
                abi.NETMAP_REQ_REGISTER, f"{sw}:a", register_body(flags=abi.NR_ACCEPT_VNET_HDR)
            )
            assert _errno(req, fd) == 0 and _bound(fd)
        finally:
            os.close(fd)
        legacy_req = _nmreq(f"{sw}:a".encode(), nr_flags=abi.NR_REG_ALL_NIC)
        fd = dev_open()
        try:
            assert errno_of(ioctl, fd, abi.NIOCREGIF, legacy_req) == errno.EIO
            assert not _bound(fd)
        finally:
            os.close(fd)
        assert hdr_set(f"{sw}:a", 0) == 0
        with Port.open(f"{sw}:a"):
            pass
        assert a.reg.nr_mem_id > 0


@pytest.mark.parametrize("length", [0, 10, 12])
def test_port_hdr_set_only_on_vale_ports(pname, length):
    with Port.open(f"{pname}{{1"):
        assert hdr_set(f"{pname}{{1", length) == errno.ENXIO
        assert hdr_get(f"{pname}{{1") == (0, 0), "PORT_HDR_GET works on any port"
    assert hdr_set(f"valen{pname[1:]}:nosuch", length) == errno.ENXIO
    err, _ = legacy(abi.NETMAP_BDG_VNET_HDR, f"{pname}{{1", nr_arg1=length)
    assert err == errno.ENXIO


@pytest.mark.parametrize("length", [1, 11, 13, 0xFFFFFFFF])
def test_port_hdr_set_bad_lengths_come_first(pname, length):
    assert hdr_set(f"{pname}{{1", length) == EINVAL
    assert hdr_set(f"valeb{pname[1:]}:x", length) == EINVAL


# -- §10: sync ioctls, kloop, CSB -----------------------------------------------------------------


def test_sync_kloop_start_sleep_limit(pname):
    with Port.open(f"{pname}{{1", flags=abi.NR_EXCLUSIVE) as p, Csb(2) as csb:
        csb.enable(p)
        assert _errno(start_request(p.name, 1_000_001), p.fd) == EINVAL
        assert _errno(start_request(p.name, 0xFFFFFFFF), p.fd) == EINVAL
        assert counters.read("kloop_count") == 0
        with Kloop(p, sleep_us=1_000_000) as kl:
            pass
        assert kl.errno == 0


def test_sync_kloop_start_unbound_is_enxio():
    fd = dev_open()
    try:
        assert _errno(start_request("", 5_000_000), fd) in (errno.ENXIO, EINVAL)
        assert _errno(start_request(""), fd) == errno.ENXIO
    finally:
        os.close(fd)


# -- §10: NIOCCONFIG ------------------------------------------------------------------------------


def test_niocconfig_number():
    assert ctypes.sizeof(abi.NmIfreq) == 272
    assert abi.NIOCCONFIG == 0xC1106996
    assert abi.NIOCCTRL == 0xC0586997
    assert (abi.NIOCGINFO, abi.NIOCREGIF) == (0xC03C6991, 0xC03C6992)


def test_kloop_mode_body_is_8_bytes():
    assert ctypes.sizeof(abi.NmreqOptSyncKloopMode) == OPT_SIZE[abi.NETMAP_REQ_OPT_SYNC_KLOOP_MODE]
    assert struct.calcsize("<QIIQ") == 24


# -- §5.2 step 3 and §10: the CSB option of REGISTER ---------------------------------------------


def _reg_fd(name: str, options, flags: int = abi.NR_EXCLUSIVE) -> tuple[int, int]:
    """(errno, fd) of a REGISTER with options; the caller closes fd."""
    fd = dev_open()
    req = Request(abi.NETMAP_REQ_REGISTER, name, register_body(flags=flags), options)
    return _errno(req, fd), fd


def test_register_with_a_csb_starts_in_csb_mode(pname):
    with Csb(2) as csb:
        opt = csb.option()
        with Port.open(f"{pname}{{1", flags=abi.NR_EXCLUSIVE, options=[opt]) as p:
            assert opt.status == 0
            assert counters.read("csb_count") == 1
            assert csb.read(0) == (0, p.tx.num_slots - 1)
            assert errno_of(ioctl, p.fd, abi.NIOCTXSYNC) == errno.EBUSY
            assert errno_of(ioctl, p.fd, abi.NIOCRXSYNC) == errno.EBUSY
        assert counters.read("csb_count") == 0


def test_register_with_a_null_csb_is_not_in_csb_mode(pname):
    with Csb(2) as csb:
        opt = csb.option(atok=0, ktoa=0)
        with Port.open(f"{pname}{{1", flags=abi.NR_EXCLUSIVE, options=[opt]) as p:
            assert opt.status == 0 and counters.read("csb_count") == 0
            p.txsync()


@pytest.mark.parametrize("case", ["misaligned", "unmapped", "not exclusive", "and unknown"])
def test_register_with_a_bad_csb_is_undone(pname, case):
    with Csb(2) as csb:
        opt, flags, extra, want = csb.option(atok=csb.atok_addr + 8), abi.NR_EXCLUSIVE, [], EINVAL
        if case == "unmapped":
            hole = libc.anon_mmap(PAGE)
            libc.munmap(hole, PAGE)
            opt, want = csb.option(ktoa=hole), errno.EFAULT
        elif case == "not exclusive":
            opt, flags = csb.option(), 0
        elif case == "and unknown":
            opt, extra, want = csb.option(), [_opt(1234)], EOPNOTSUPP
        err, fd = _reg_fd(f"{pname}{{1", [opt, *extra], flags)
        try:
            assert err == want
            assert opt.status == (0 if case == "and unknown" else want)
            assert not _bound(fd)
            assert counters.read("csb_count") == 0
        finally:
            os.close(fd)
