"""NETMAP_REQ_REGISTER on pipes and null ports: modes, ring selection, flags, extra buffers."""

import ctypes
import errno
import os

import pytest
from nm import Port, Request, abi, counters, ctrl, dev_open, errno_of, libc, pools_info, transfer
from nm.packets import mismatch
from nm.port import register_body


def _open_errno(name, mode=abi.NR_REG_ALL_NIC, **kw):
    def attempt():
        Port.open(name, mode, **kw).close()

    return errno_of(attempt)


# -- modes ---------------------------------------------------------------------------------


def test_all_nic_binds_every_hw_ring(pname):
    with Port.open(f"{pname}{{1", abi.NR_REG_ALL_NIC, tx_rings=2, rx_rings=2) as m:
        assert all(r is not None for r in m.tx_rings + m.rx_rings)
        assert len(m.tx_rings) == len(m.rx_rings) == 2


@pytest.mark.parametrize("ring", [0, 2])
def test_one_nic_binds_one_ring_pair(pname, ring):
    with Port.open(f"{pname}{{1", abi.NR_REG_ONE_NIC, ringid=ring, tx_rings=3, rx_rings=3) as m:
        assert m.tx_rings[ring] is not None and m.rx_rings[ring] is not None
        assert m.tx_rings[ring].hdr.ringid == ring and m.rx_rings[ring].hdr.ringid == ring
        for i in range(3):
            if i != ring:
                assert m.ring_ofs(i) == 0, f"tx ring {i} is not bound"
        # The other rings stay free for another descriptor, even exclusively.
        other = (ring + 1) % 3
        with Port.open(
            f"{pname}{{1", abi.NR_REG_ONE_NIC, ringid=other, flags=abi.NR_EXCLUSIVE
        ) as o:
            assert o.tx_rings[other] is not None


def test_one_nic_ring_out_of_range_is_einval(pname):
    assert _open_errno(f"{pname}{{1", abi.NR_REG_ONE_NIC, ringid=1) == errno.EINVAL
    assert _open_errno(f"{pname}{{1", abi.NR_REG_ONE_NIC, ringid=0xFFF) == errno.EINVAL


@pytest.mark.parametrize(
    "mode",
    [
        abi.NR_REG_DEFAULT,
        abi.NR_REG_SW,
        abi.NR_REG_NIC_SW,
        abi.NR_REG_PIPE_MASTER,
        abi.NR_REG_PIPE_SLAVE,
        abi.NR_REG_ONE_SW,
        9,
        0xFFFFFFFF,
    ],
)
def test_other_modes_on_a_pipe_are_einval(pname, mode):
    assert _open_errno(f"{pname}{{1", mode) == errno.EINVAL
    assert _open_errno(f"{pname}}}1", mode) == errno.EINVAL


@pytest.mark.parametrize("name", ["{1", "}1", "abc{", "abc}"])
def test_pipe_names_without_parent_or_id_are_einval(name):
    assert _open_errno(name) == errno.EINVAL


def test_pipe_parent_is_created_and_deleted_on_the_fly(pname):
    with Port.open(f"{pname}{{1"):
        assert counters.read("port_count") >= 2  # at least the two ends
    assert counters.read("port_count") == 0
    # the same name works again afterwards, from either end first
    with Port.open(f"{pname}}}1") as s, Port.open(f"{pname}{{1") as m:
        assert s.reg.nr_mem_id == m.reg.nr_mem_id


def test_two_pipes_of_one_parent_share_its_memory(pname):
    with Port.open(f"{pname}{{1") as a, Port.open(f"{pname}{{2") as b:
        assert a.reg.nr_mem_id == b.reg.nr_mem_id
        assert a.memsize == b.memsize


def test_pipes_of_different_parents_get_different_regions(pname):
    with Port.open(f"{pname}a{{1") as a, Port.open(f"{pname}b{{1") as b:
        assert a.reg.nr_mem_id != b.reg.nr_mem_id


# -- flags ---------------------------------------------------------------------------------


def test_exclusive_conflicts_are_ebusy(pname):
    name = f"{pname}{{1"
    with Port.open(name, flags=abi.NR_EXCLUSIVE):
        assert _open_errno(name) == errno.EBUSY
        assert _open_errno(name, flags=abi.NR_EXCLUSIVE) == errno.EBUSY
        assert _open_errno(name, abi.NR_REG_ONE_NIC, ringid=0) == errno.EBUSY
    with Port.open(name):
        assert _open_errno(name, flags=abi.NR_EXCLUSIVE) == errno.EBUSY
        # non-exclusive sharing of the same rings is allowed
        with Port.open(name) as again:
            assert again.tx is not None


def test_rx_only_and_tx_only_bind_disjoint_rings(pname):
    name = f"{pname}{{1"
    with Port.open(name, flags=abi.NR_RX_RINGS_ONLY | abi.NR_EXCLUSIVE) as r:
        assert r.rx_rings[0] is not None
        assert r.ring_ofs(0) == 0, "an rx-only binding has no tx ring"
        with Port.open(name, flags=abi.NR_TX_RINGS_ONLY | abi.NR_EXCLUSIVE) as t:
            assert t.tx_rings[0] is not None
            assert t.ring_ofs(t.nifp.ni_tx_rings + t.nifp.ni_host_tx_rings) == 0
            assert _open_errno(name, flags=abi.NR_EXCLUSIVE) == errno.EBUSY
            # traffic: tx through one descriptor, back through the slave into the rx-only one
            with Port.open(f"{pname}}}1") as s:
                t.tx.put([[b"a" * 60]])
                t.txsync()
                s.rxsync()
                got = s.rx.take()
                assert got == [[b"a" * 60]]
                s.tx.put([[b"b" * 61]])
                s.txsync()
                r.rxsync()
                assert r.rx.take() == [[b"b" * 61]]


# -- extra buffers -------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 7, 200])
def test_extra_buffers_list(pname, count):
    name = f"{pname}{{1"
    with Port.open(name, extra_bufs=count) as m:
        granted = m.reg.nr_extra_bufs
        assert granted == count
        bufs = m.extra_bufs()
        assert len(bufs) == granted
        assert len(set(bufs)) == granted
        info = pools_info(name)
        assert all(2 <= b < info.nr_buf_pool_objtotal for b in bufs)
        in_rings = {i for r in [*m.tx_rings, *m.rx_rings] for i in r.buf_indices()}
        assert not in_rings & set(bufs)
        before = counters.read("buf_in_use")
        with Port.open(f"{pname}}}1", extra_bufs=3) as s:
            assert not set(s.extra_bufs()) & set(bufs)
            assert counters.read("buf_in_use") >= before + 3
        # the buffers are writable shared memory like any other
        for b in bufs:
            m.tx.write_buf(b, b.to_bytes(4, "little") * 8)
        assert all(m.tx.read_buf(b, 32) == b.to_bytes(4, "little") * 8 for b in bufs)


def test_extra_buffers_huge_request_is_bounded(pname):
    with Port.open(f"{pname}{{1", extra_bufs=0xFFFFFFFF) as m:
        info = pools_info(f"{pname}{{1")
        assert m.reg.nr_extra_bufs < info.nr_buf_pool_objtotal
        assert len(m.extra_bufs(limit=info.nr_buf_pool_objtotal)) == m.reg.nr_extra_bufs


# -- null ports ----------------------------------------------------------------------------


def test_null_port_on_an_existing_region(pname):
    with Port.open(f"{pname}{{1") as m:
        mem_id = m.reg.nr_mem_id
        with Port.open(
            f"{pname}n",
            abi.NR_REG_NULL,
            mem_id=mem_id,
            tx_rings=2,
            rx_rings=1,
            tx_slots=64,
            rx_slots=32,
        ) as n:
            assert n.reg.nr_mem_id == mem_id
            assert n.memsize == m.memsize
            assert (n.nifp.ni_tx_rings, n.nifp.ni_rx_rings) == (2, 1)
            assert all(r is not None and r.num_slots == 64 for r in n.tx_rings)
            assert n.rx_rings[0].num_slots == 32
            assert n.tx_rings[0].hdr.dir == abi.NR_TX and n.rx_rings[0].hdr.dir == abi.NR_RX
            n.txsync()
            n.rxsync()


def test_null_port_needs_an_existing_region(pname):
    assert _open_errno(f"{pname}n", abi.NR_REG_NULL) == errno.EINVAL
    assert _open_errno(f"{pname}n", abi.NR_REG_NULL, mem_id=999) in (errno.EINVAL, errno.ENODEV)


# -- registration lifetime -----------------------------------------------------------------


def test_second_register_on_one_fd_is_ebusy(pname):
    with Port.open(f"{pname}{{1") as m:
        req = Request(abi.NETMAP_REQ_REGISTER, f"{pname}{{2", register_body())
        assert errno_of(ctrl, m.fd, req) == errno.EBUSY


def test_mmap_before_register_fails_and_mmap_twice_works(pname):
    fd = dev_open()
    try:
        assert errno_of(libc.mmap, fd, 4096) in (errno.EINVAL, errno.ENXIO, errno.ENODEV)
    finally:
        os.close(fd)
    with Port.open(f"{pname}{{1") as m:
        addr = libc.mmap(m.fd, m.memsize)
        try:
            idx = m.tx.get(0)[0]
            m.tx.write_buf(idx, b"twice")
            got = ctypes.string_at(addr + m.tx.buf_offset(idx), 5)
            assert got == b"twice"
        finally:
            libc.munmap(addr, m.memsize)
        too_big = errno_of(libc.mmap, m.fd, m.memsize + (1 << 20))
        assert too_big in (errno.EINVAL, errno.ENOMEM, errno.ENXIO)


# -- geometry, memory ids, header lengths ----------------------------------------------------


def test_huge_geometry_is_clamped_and_works(pname):
    with Port.open(f"{pname}{{1", tx_slots=1 << 30, rx_slots=3, tx_rings=1) as m:
        assert 2 <= m.tx.num_slots < 1 << 30
        assert m.rx.num_slots == 3
        with Port.open(f"{pname}}}1") as s:
            assert s.rx.num_slots == m.tx.num_slots and s.tx.num_slots == 3
            pkts = [[bytes([k % 256]) * 64] for k in range(50)]
            assert mismatch(pkts, transfer(m, s, pkts)) is None
            assert mismatch(pkts, transfer(s, m, pkts)) is None
    assert _open_errno(f"{pname}{{1", tx_rings=0xFFFF) in (0, errno.ENOMEM, errno.EINVAL)


def test_pipe_on_the_global_region(pname):
    with Port.open(f"{pname}{{1", mem_id=1) as m, Port.open(f"{pname}}}1") as s:
        assert m.reg.nr_mem_id == s.reg.nr_mem_id == 1
        assert m.nifp.ni_flags & abi.NI_PRIV_MEM == 0
        # the parent exists now, with region 1: another region id is refused
        assert _open_errno(f"{pname}{{2", mem_id=5) == errno.EINVAL
    with Port.open(f"{pname}x{{1") as p:
        assert p.reg.nr_mem_id > 1
        assert p.nifp.ni_flags & abi.NI_PRIV_MEM


def test_pipe_on_a_missing_region_is_einval(pname):
    assert _open_errno(f"{pname}{{1", mem_id=4321) == errno.EINVAL


@pytest.mark.parametrize(
    "length, expected", [(0, errno.ENXIO), (10, errno.ENXIO), (12, errno.ENXIO)]
)
def test_port_hdr_set_on_a_pipe(pname, length, expected):
    """Only VALE ports take PORT_HDR_SET."""
    with Port.open(f"{pname}{{1"):
        body = abi.NmreqPortHdr(nr_hdr_len=length)
        req = Request(abi.NETMAP_REQ_PORT_HDR_SET, f"{pname}{{1", body)
        fd = dev_open()
        try:
            assert errno_of(ctrl, fd, req) == expected
        finally:
            os.close(fd)


@pytest.mark.parametrize("length", [1, 11, 13, 0xFFFFFFFF])
def test_port_hdr_set_bad_lengths(pname, length):
    body = abi.NmreqPortHdr(nr_hdr_len=length)
    fd = dev_open()
    try:
        assert errno_of(ctrl, fd, Request(abi.NETMAP_REQ_PORT_HDR_SET, f"{pname}{{1", body)) == (
            errno.EINVAL
        )
    finally:
        os.close(fd)


def test_netmap_if_pool_exhaustion_is_enomem(pname):
    """Descriptors sharing one pipe end until the region has no netmap_if left."""
    ports = [Port.open(f"{pname}{{1")]
    if_num = pools_info(f"{pname}{{1").nr_if_pool_objtotal
    try:
        err = 0
        for _ in range(if_num):
            try:
                ports.append(Port.open(f"{pname}{{1"))
            except OSError as e:
                err = e.errno
                break
        assert err == errno.ENOMEM
        assert if_num - 2 <= len(ports) < if_num  # the pool may reserve an object
    finally:
        for p in ports:
            p.close()


def test_null_port_on_the_global_region():
    """Region 1 is made on demand for a null port, and goes away with it."""
    with Port.open(
        "nullg", abi.NR_REG_NULL, mem_id=1, tx_rings=1, rx_rings=1, tx_slots=16, rx_slots=16
    ) as n:
        assert n.reg.nr_mem_id == 1
        assert n.nifp.ni_flags & abi.NI_PRIV_MEM == 0
        assert counters.read("mem_count") == 1
        t = n.tx
        assert t.put([[b"into the void".ljust(60)]] * 10) == 10
        n.txsync()
        assert t.tail == (t.head - 1) % t.num_slots, "a null port consumes everything"
        n.rxsync()
        assert n.rx.tail == n.rx.head, "and receives nothing"
    assert counters.read("mem_count") == 0


@pytest.mark.parametrize("parent", ["a b", "a/b", "a:b", ".", "..", "\x01"])
def test_bad_parent_names_are_einval(parent):
    """Names no netdev can have (a parent of 16 or more bytes is ENXIO: test_pipe_names)."""
    assert _open_errno(f"{parent}{{1") == errno.EINVAL
