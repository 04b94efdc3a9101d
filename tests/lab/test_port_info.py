"""NETMAP_REQ_PORT_INFO_GET and its own 32-byte body (struct nmreq_port_info_get), and the legacy
NIOCGINFO built on it: a named port's geometry and region, with the request's counts as hints;
with an empty name, the size and id of a region. A tap stands in for the NIC."""

import ctypes
import errno
import os

import pytest
from nm import Port, Request, abi, counters, ctrl, dev_open, errno_of, ioctl, pools_info, port_info
from nm.netdev import Tap
from nm.vale import vale_ctl

SENTINEL = 0xA5


@pytest.fixture
def tap():
    with Tap() as t:
        yield t.name


def _raw_info(name: str, fill: dict[str, int] | None = None) -> tuple[int, bytes, bytes]:
    """PORT_INFO_GET with the body at the start of a 64-byte buffer of SENTINEL bytes, its
    hint fields 0 unless `fill` says otherwise (nr_memsize and pad stay SENTINEL).

    Returns (errno, the 32 body bytes, the 32 bytes after them)."""
    buf = (ctypes.c_uint8 * 64)(*([SENTINEL] * 64))
    body = abi.NmreqPortInfoGet.from_buffer(buf)
    hints = {f: 0 for f, *_ in body._fields_ if f not in ("nr_memsize", "pad")}
    for k, v in {**hints, **(fill or {})}.items():
        setattr(body, k, v)
    fd = dev_open()
    try:
        req = Request(abi.NETMAP_REQ_PORT_INFO_GET, name, body)
        err = errno_of(ctrl, fd, req)
    finally:
        os.close(fd)
    return err, bytes(buf[:32]), bytes(buf[32:])


# --------------------------------------------------------------------------------------------
# The body
# --------------------------------------------------------------------------------------------


def test_the_body_is_32_bytes_and_nothing_past_it_is_touched(pname):
    err, body, after = _raw_info(f"{pname}{{1")
    assert err == 0
    assert after == bytes([SENTINEL] * 32), "the kernel wrote past the 32-byte body"
    info = abi.NmreqPortInfoGet.from_buffer_copy(body)
    assert list(info.pad) == [SENTINEL * 0x101] * 3, "pad is untouched"


def test_fields_at_their_offsets_on_a_tap(tap):
    """Upstream on a tap: the global region, 1024/1024 slots, 1/1 rings, 1/1 host rings."""
    info = port_info(tap)
    with Port.open(tap) as p:
        reg = p.reg
    assert info.nr_memsize == reg.nr_memsize == pools_info(tap).nr_memsize
    assert info.nr_mem_id == 1
    slots = counters.read("generic_ringsize")
    assert (info.nr_tx_slots, info.nr_rx_slots) == (slots, slots)
    assert (info.nr_tx_rings, info.nr_rx_rings) == (1, 1)
    assert (info.nr_host_tx_rings, info.nr_host_rx_rings) == (1, 1)
    assert counters.read("port_count") == 0


def test_vale_port_is_created_for_the_request_and_reports_no_host_rings():
    name = "valepi1:a"
    info = port_info(name, tx_rings=2, rx_rings=3, tx_slots=256, rx_slots=512)
    assert (info.nr_tx_rings, info.nr_rx_rings) == (2, 3)
    assert (info.nr_tx_slots, info.nr_rx_slots) == (256, 512)
    assert (info.nr_host_tx_rings, info.nr_host_rx_rings) == (0, 0)
    assert info.nr_mem_id >= 2 and info.nr_memsize > 0
    assert counters.read("port_count") == 0, "the temporary port went with the request"


def test_pipe_reports_its_geometry_and_no_host_rings(pname):
    info = port_info(f"{pname}}}3", tx_rings=2, rx_rings=1)
    assert (info.nr_tx_rings, info.nr_rx_rings) == (2, 1)
    assert (info.nr_host_tx_rings, info.nr_host_rx_rings) == (0, 0)
    with Port.open(f"{pname}{{3") as m:
        info = port_info(f"{pname}}}3")
        assert info.nr_mem_id == m.reg.nr_mem_id and info.nr_memsize == m.reg.nr_memsize
        assert (info.nr_tx_slots, info.nr_rx_slots) == (m.reg.nr_rx_slots, m.reg.nr_tx_slots)
        assert (info.nr_host_tx_rings, info.nr_host_rx_rings) == (0, 0)


def test_unknown_nic_is_enxio_and_nothing_is_copied_back():
    fill = {"nr_tx_rings": 7, "nr_mem_id": 0}
    err, body, after = _raw_info("ptnosuchdev9", fill)
    assert err == errno.ENXIO
    info = abi.NmreqPortInfoGet.from_buffer_copy(body)
    assert info.nr_memsize == int.from_bytes(bytes([SENTINEL] * 8), "little")
    assert info.nr_tx_rings == 7 and info.nr_mem_id == 0
    assert after == bytes([SENTINEL] * 32)


def test_memory_id_hint_is_checked_like_register(tap):
    assert errno_of(port_info, tap, mem_id=7) == errno.EINVAL
    assert port_info(tap, mem_id=1).nr_mem_id == 1


# --------------------------------------------------------------------------------------------
# Empty name: a region
# --------------------------------------------------------------------------------------------


def test_empty_name_reports_the_global_region_for_id_0_and_1(tap):
    glob = pools_info(tap)  # a NIC: its region is the global one
    assert glob.nr_mem_id == 1
    given = {
        "nr_tx_slots": 11,
        "nr_rx_slots": 12,
        "nr_tx_rings": 13,
        "nr_rx_rings": 14,
        "nr_host_tx_rings": 15,
        "nr_host_rx_rings": 16,
    }
    for mem_id in (0, 1):
        err, body, after = _raw_info("", {**given, "nr_mem_id": mem_id})
        assert err == 0
        info = abi.NmreqPortInfoGet.from_buffer_copy(body)
        assert (info.nr_memsize, info.nr_mem_id) == (glob.nr_memsize, 1)
        for k, v in given.items():
            assert getattr(info, k) == v, f"{k} kept as the caller put it"
        assert list(info.pad) == [SENTINEL * 0x101] * 3
        assert after == bytes([SENTINEL] * 32)


def test_empty_name_reports_a_private_region():
    with Port.open("valepi2:a") as p:
        mid = p.reg.nr_mem_id
        assert mid >= 2
        info = port_info("", mem_id=mid)
        assert (info.nr_memsize, info.nr_mem_id) == (p.reg.nr_memsize, mid)
        assert info.nr_memsize == pools_info("valepi2:a").nr_memsize
    assert errno_of(port_info, "", mem_id=mid) == errno.EINVAL, "the region went with its port"


def test_empty_name_with_an_unknown_region_is_einval_and_nothing_is_copied_back():
    err, body, _ = _raw_info("", {"nr_mem_id": 4321, "nr_tx_rings": 3})
    assert err == errno.EINVAL
    info = abi.NmreqPortInfoGet.from_buffer_copy(body)
    assert info.nr_mem_id == 4321 and info.nr_tx_rings == 3
    assert info.nr_memsize == int.from_bytes(bytes([SENTINEL] * 8), "little")


# --------------------------------------------------------------------------------------------
# Host-ring hints (see test_host_rings.py for the rest)
# --------------------------------------------------------------------------------------------


def test_host_ring_hints_on_an_idle_tap_and_on_a_busy_one(tap):
    info = port_info(tap, host_tx_rings=5, host_rx_rings=4)
    assert (info.nr_host_tx_rings, info.nr_host_rx_rings) == (5, 4)
    info = port_info(tap)
    assert (info.nr_host_tx_rings, info.nr_host_rx_rings) == (1, 1), "idle again: 1/1"
    info = port_info(tap, host_tx_rings=3)
    assert (info.nr_host_tx_rings, info.nr_host_rx_rings) == (3, 1), "each count on its own"
    with Port.open(tap, abi.NR_REG_SW, host_tx_rings=2, host_rx_rings=3):
        info = port_info(tap, host_tx_rings=5, host_rx_rings=4)
        assert (info.nr_host_tx_rings, info.nr_host_rx_rings) == (2, 3), "in use: kept"
    assert counters.read("port_count") == 0


# --------------------------------------------------------------------------------------------
# Legacy NIOCGINFO and vale-ctl -g
# --------------------------------------------------------------------------------------------


def _niocginfo(name: str, **fields: int) -> tuple[int, abi.Nmreq]:
    req = abi.Nmreq(nr_name=name.encode(), nr_version=abi.NETMAP_API)
    for k, v in fields.items():
        setattr(req, k, v)
    fd = dev_open()
    try:
        return errno_of(ioctl, fd, abi.NIOCGINFO, req), req
    finally:
        os.close(fd)


def test_legacy_niocginfo_on_a_tap(tap):
    err, req = _niocginfo(tap, nr_offset=0x1234, nr_arg1=9, nr_arg3=8)
    assert err == 0
    with Port.open(tap) as p:
        assert req.nr_memsize == p.reg.nr_memsize
        assert (req.nr_tx_slots, req.nr_rx_slots) == (p.reg.nr_tx_slots, p.reg.nr_rx_slots)
        assert (req.nr_tx_rings, req.nr_rx_rings) == (1, 1)
    assert req.nr_arg2 == 1, "nr_arg2 is the mem_id"
    assert (req.nr_offset, req.nr_arg1, req.nr_arg3) == (0x1234, 9, 8), "untouched"


def test_legacy_niocginfo_with_an_empty_name_reports_a_region(tap):
    err, req = _niocginfo("", nr_arg2=0, nr_tx_rings=6)
    assert err == 0
    assert (req.nr_memsize, req.nr_arg2) == (pools_info(tap).nr_memsize, 1)
    assert req.nr_tx_rings == 6
    assert _niocginfo("", nr_arg2=4321)[0] == errno.EINVAL


def test_vale_ctl_g_reads_the_rx_rings():
    with Port.open("valepi3:a", rx_rings=3, tx_rings=2):
        r = vale_ctl("-g", "valepi3:a")
        assert (r.returncode, r.stdout) == (0, "valepi3:a: 3 queues.\n")
