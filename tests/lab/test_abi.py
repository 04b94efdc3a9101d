"""The ABI the running module exposes: device, parameters, netmap_if and ring layout, pools."""

import ctypes
import errno
import os
import stat

import pytest
from nm import Port, Request, abi, counters, ctrl, dev_open, errno_of, ioctl, pools_info, port_info
from nm.port import pipe_pair_buffers


def test_device_is_a_root_only_char_device():
    st = os.stat("/dev/netmap")
    assert stat.S_ISCHR(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0  # test_permissions.py


def test_leak_counters_exist_are_read_only_and_idle(idle_counters):
    missing = [n for n in counters.LEAK_COUNTERS if counters.read(n) is None]
    assert not missing, f"module parameters missing: {missing}"
    assert idle_counters == dict.fromkeys(counters.LEAK_COUNTERS, 0)
    for name in counters.LEAK_COUNTERS:
        path = counters.PARAMS / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o444, name
        with pytest.raises(OSError):
            path.write_text("5\n")
        assert counters.read(name) == 0


def test_size_parameters_exist():
    missing = [n for n in counters.SIZE_PARAMS if counters.read(n) is None]
    assert not missing, f"module parameters missing: {missing}"
    assert counters.read("buf_size") == abi.NETMAP_BUF_SIZE_DEFAULT
    for name in counters.SIZE_PARAMS:
        assert counters.read(name) > 0, name


def test_open_close_counts_descriptors():
    fds = [dev_open() for _ in range(3)]
    try:
        assert counters.read("priv_count") == 3
    finally:
        for fd in fds:
            os.close(fd)
    assert counters.read("priv_count") == 0


def test_niocctrl_number_is_the_api14_one():
    """0xC0586997 is recognised; the same request number with another size is not."""
    body = abi.NmreqPortInfoGet()
    fd = dev_open()
    try:
        req = Request(abi.NETMAP_REQ_PORT_INFO_GET, "abiA{1", body)
        ioctl(fd, 0xC0586997, req.hdr)
        assert body.nr_tx_rings == 1
        wrong = (0xC0586997 & ~(0x3FFF << 16)) | (80 << 16)
        assert errno_of(ioctl, fd, wrong, req.hdr) in (errno.ENOTTY, errno.ENXIO, errno.EINVAL)
    finally:
        os.close(fd)


def _check_ring(port: Port, k: int, direction: int, ringid: int, num_slots: int):
    ofs = port.ring_ofs(k)
    assert ofs > 0, f"ring_ofs[{k}] is {ofs}"
    assert 0 < port.offset + ofs < port.memsize
    r = abi.NetmapRing.from_address(port.mem + port.offset + ofs)
    assert r.dir == direction, f"ring_ofs[{k}]: dir {r.dir}"
    assert r.ringid == ringid, f"ring_ofs[{k}]: ringid {r.ringid}"
    assert r.num_slots == num_slots
    assert r.nr_buf_size == abi.NETMAP_BUF_SIZE_DEFAULT
    assert r.head == r.cur == 0
    if direction == abi.NR_TX:
        assert r.tail == num_slots - 1, "a fresh tx ring offers num_slots - 1 slots"
    else:
        assert r.tail == 0, "a fresh rx ring is empty"
    return r


def test_register_pipe_netmap_if_and_rings(pname):
    with Port.open(f"{pname}{{1") as m:
        reg = m.reg
        assert reg.nr_memsize > 0 and 0 < reg.nr_offset < reg.nr_memsize
        assert reg.nr_mem_id > 0
        assert (reg.nr_tx_rings, reg.nr_rx_rings) == (1, 1)
        assert reg.nr_tx_slots > 0 and reg.nr_rx_slots > 0
        n = m.nifp
        assert n.ni_name == f"{pname}{{1".encode()
        assert n.ni_version == abi.NETMAP_API
        assert (n.ni_tx_rings, n.ni_rx_rings) == (1, 1)
        assert (n.ni_host_tx_rings, n.ni_host_rx_rings) == (1, 1)
        # a pipe has no host rings: REGISTER says 0/0, while its netmap_if says 1/1
        assert (reg.nr_host_tx_rings, reg.nr_host_rx_rings) == (0, 0)
        assert n.ni_bufs_head == 0
        _check_ring(m, 0, abi.NR_TX, 0, reg.nr_tx_slots)
        _check_ring(m, 2, abi.NR_RX, 0, reg.nr_rx_slots)


def test_ring_ofs_order_with_several_rings(pname):
    """ring_ofs: hw tx, host tx, hw rx, host rx; the slave end has the rings crossed."""
    with Port.open(f"{pname}{{1", tx_rings=2, rx_rings=3, tx_slots=64, rx_slots=128) as m:
        n = m.nifp
        assert (n.ni_tx_rings, n.ni_rx_rings) == (2, 3)
        assert (m.reg.nr_tx_slots, m.reg.nr_rx_slots) == (64, 128)
        for i in range(2):
            _check_ring(m, i, abi.NR_TX, i, 64)
        rx0 = n.ni_tx_rings + n.ni_host_tx_rings
        for i in range(3):
            _check_ring(m, rx0 + i, abi.NR_RX, i, 128)
        with Port.open(f"{pname}}}1") as s:
            assert (s.nifp.ni_tx_rings, s.nifp.ni_rx_rings) == (3, 2)
            assert (s.reg.nr_tx_rings, s.reg.nr_rx_rings) == (3, 2)
            assert len(s.tx_rings) == 3 and all(r is not None for r in s.tx_rings)
            assert len(s.rx_rings) == 2 and all(r is not None for r in s.rx_rings)
            for i, r in enumerate(s.tx_rings):
                assert (r.hdr.dir, r.hdr.ringid) == (abi.NR_TX, i)
            for i, r in enumerate(s.rx_rings):
                assert (r.hdr.dir, r.hdr.ringid) == (abi.NR_RX, i)


def test_pools_info_matches_the_mapping(pname):
    with Port.open(f"{pname}{{1") as m, Port.open(f"{pname}}}1") as s:
        info = pools_info(f"{pname}{{1")
        assert info.nr_mem_id == m.reg.nr_mem_id == s.reg.nr_mem_id
        assert info.nr_memsize == m.memsize == s.memsize
        assert info.nr_if_pool_offset < info.nr_ring_pool_offset < info.nr_buf_pool_offset
        assert info.nr_buf_pool_objsize == abi.NETMAP_BUF_SIZE_DEFAULT
        end = info.nr_buf_pool_offset + info.nr_buf_pool_objtotal * info.nr_buf_pool_objsize
        assert end <= info.nr_memsize
        if_end = info.nr_if_pool_offset + info.nr_if_pool_objtotal * info.nr_if_pool_objsize
        ring_end = info.nr_ring_pool_offset + info.nr_ring_pool_objtotal * info.nr_ring_pool_objsize
        for p in (m, s):
            assert info.nr_if_pool_offset <= p.offset < if_end
            for r in [*p.tx_rings, *p.rx_rings]:
                assert info.nr_ring_pool_offset <= r.offset < ring_end
                # buffer 0 is the start of the buffer pool, seen from every ring
                assert r.buf_base == info.nr_buf_pool_offset
        # a tx ring and the rx ring it feeds share one set of buffers, slot by slot
        # (abi-corrections.md §11); the two sets are distinct; 0 and 1 are never handed out
        assert m.tx.buf_indices() == s.rx.buf_indices()
        assert s.tx.buf_indices() == m.rx.buf_indices()
        bufs = pipe_pair_buffers(m.tx, s.rx) + pipe_pair_buffers(s.tx, m.rx)
        assert len(set(bufs)) == len(bufs) == m.tx.num_slots + s.tx.num_slots
        assert min(bufs) >= 2 and max(bufs) < info.nr_buf_pool_objtotal


def test_pipe_ends_share_memory(pname):
    """Bytes written in a buffer through one end's mapping are visible through the other's."""
    with Port.open(f"{pname}{{1") as m, Port.open(f"{pname}}}1") as s:
        assert m.memsize == s.memsize
        idx = m.tx.get(0)[0]
        m.tx.write_buf(idx, b"shared memory!")
        assert s.tx.read_buf(idx, 14) == b"shared memory!"


def test_port_info_get_matches_register(pname):
    with Port.open(f"{pname}{{1", tx_rings=2, rx_rings=2) as m:
        info = port_info(f"{pname}{{1")
        for f in ("nr_memsize", "nr_tx_slots", "nr_rx_slots", "nr_tx_rings", "nr_rx_rings"):
            assert getattr(info, f) == getattr(m.reg, f), f
        assert info.nr_mem_id == m.reg.nr_mem_id


def test_port_info_get_on_unopened_pipe_leaves_nothing(pname):
    info = port_info(f"{pname}{{7")
    assert (info.nr_tx_rings, info.nr_rx_rings) == (1, 1)
    assert info.nr_tx_slots > 0 and info.nr_memsize > 0
    assert counters.read("port_count") == 0


def test_port_hdr_get_on_pipe_is_zero(pname):
    with Port.open(f"{pname}{{1"):
        body = abi.NmreqPortHdr(nr_hdr_len=77)
        fd = dev_open()
        try:
            ctrl(fd, Request(abi.NETMAP_REQ_PORT_HDR_GET, f"{pname}{{1", body))
        finally:
            os.close(fd)
        assert body.nr_hdr_len == 0


def test_request_header_is_88_bytes_and_version_is_checked(pname):
    """The kernel reads exactly the 88-byte header: the body pointer sits at offset 80."""
    raw = (ctypes.c_uint8 * 88)()
    body = abi.NmreqPortInfoGet()
    hdr = abi.NmreqHeader.from_buffer(raw)
    hdr.nr_version = abi.NETMAP_API
    hdr.nr_reqtype = abi.NETMAP_REQ_PORT_INFO_GET
    hdr.nr_name = f"{pname}{{1".encode()
    ctypes.c_uint64.from_buffer(raw, 80).value = ctypes.addressof(body)
    fd = dev_open()
    try:
        ioctl(fd, abi.NIOCCTRL, raw)
        assert body.nr_tx_rings == 1
    finally:
        os.close(fd)


def test_pools_info_needs_a_port_name(pname):
    """An empty name names no port (ENXIO), whatever the memory id; a missing id is EINVAL."""
    with Port.open(f"{pname}{{1") as m:
        by_name = pools_info(f"{pname}{{1", mem_id=m.reg.nr_mem_id)
        assert by_name.nr_mem_id == m.reg.nr_mem_id
        assert errno_of(pools_info, "", mem_id=m.reg.nr_mem_id) == errno.ENXIO
        assert errno_of(pools_info, "") == errno.ENXIO
    assert errno_of(pools_info, "", 4321) == errno.EINVAL
