"""The legacy control API (struct nmreq, 60 bytes): NIOCGINFO, NIOCREGIF, NIOCTX/RXSYNC."""

import ctypes
import errno
import os
import random

import pytest
from nm import Port, abi, dev_open, errno_of, ioctl, port_info, transfer
from nm.packets import mismatch, single


def _nmreq(name: str | bytes, version: int = abi.NETMAP_API, **fields) -> abi.Nmreq:
    req = abi.Nmreq(nr_version=version)
    raw = name.encode() if isinstance(name, str) else name
    ctypes.memmove(ctypes.addressof(req), raw, len(raw))
    for k, v in fields.items():
        setattr(req, k, v)
    return req


def _call(cmd: int, req: abi.Nmreq) -> int:
    fd = dev_open()
    try:
        return errno_of(ioctl, fd, cmd, req)
    finally:
        os.close(fd)


def test_giinfo_on_a_pipe(pname):
    name = f"{pname}{{1"
    req = _nmreq(name)
    assert _call(abi.NIOCGINFO, req) == 0
    assert (req.nr_tx_rings, req.nr_rx_rings) == (1, 1)
    info = port_info(name)
    assert req.nr_memsize == info.nr_memsize
    assert (req.nr_tx_slots, req.nr_rx_slots) == (info.nr_tx_slots, info.nr_rx_slots)
    assert req.nr_version == abi.NETMAP_API


def test_regif_pipe_and_sync_ioctls(pname):
    rng = random.Random(7)
    pkts = single(rng, 3000, 60, 2048)
    with (
        Port.open_legacy(f"{pname}{{1") as m,
        Port.open_legacy(f"{pname}}}1") as s,
    ):
        for p in (m, s):
            req = p.legacy
            assert 0 < req.nr_offset < req.nr_memsize
            assert (req.nr_tx_rings, req.nr_rx_rings) == (1, 1)
            assert p.tx.num_slots == req.nr_tx_slots and p.rx.num_slots == req.nr_rx_slots
        assert m.legacy.nr_arg2 == s.legacy.nr_arg2 == port_info(f"{pname}{{1").nr_mem_id
        got = transfer(m, s, pkts)  # drives NIOCTXSYNC / NIOCRXSYNC
        assert mismatch(pkts, got) is None
        back = transfer(s, m, pkts[:100])
        assert mismatch(pkts[:100], back) is None


def test_legacy_and_new_api_ends_interoperate(pname):
    pkts = [[bytes([i % 256]) * (60 + i)] for i in range(500)]
    with Port.open_legacy(f"{pname}{{1") as m, Port.open(f"{pname}}}1") as s:
        assert mismatch(pkts, transfer(m, s, pkts)) is None


def test_regif_default_flags_mean_all_rings(pname):
    with Port.open_legacy(
        f"{pname}{{1", flags=abi.NR_REG_DEFAULT, nr_tx_rings=2, nr_rx_rings=2
    ) as m:
        assert all(r is not None for r in m.tx_rings + m.rx_rings)
        assert len(m.tx_rings) == 2


def test_regif_hw_ring_bit_binds_one_ring(pname):
    with Port.open_legacy(
        f"{pname}{{1",
        flags=abi.NR_REG_DEFAULT,
        ringid=abi.NETMAP_HW_RING | 1,
        nr_tx_rings=2,
        nr_rx_rings=2,
    ) as m:
        assert m.tx_rings[1] is not None and m.tx_rings[1].hdr.ringid == 1
        assert m.ring_ofs(0) == 0


@pytest.mark.parametrize("mode, ch", [(abi.NR_REG_PIPE_MASTER, "{"), (abi.NR_REG_PIPE_SLAVE, "}")])
def test_regif_deprecated_pipe_modes(pname, mode, ch):
    """Old programs name the parent and pass the pipe id in nr_ringid."""
    other = "}" if ch == "{" else "{"
    with Port.open_legacy(pname, flags=mode, ringid=3) as a, Port.open(f"{pname}{other}3") as b:
        assert a.nifp.ni_name == f"{pname}{ch}3".encode()
        pkts = [[b"old api".ljust(64, b"-")]] * 10
        assert mismatch(pkts, transfer(a, b, pkts)) is None


def test_regif_extra_buffers(pname):
    with Port.open_legacy(f"{pname}{{1", nr_arg3=5) as m:
        assert m.legacy.nr_arg3 == 5
        assert len(m.extra_bufs()) == 5


@pytest.mark.parametrize("version", [0, 11, 12, 13])
@pytest.mark.parametrize("cmd", [abi.NIOCGINFO, abi.NIOCREGIF], ids=["GINFO", "REGIF"])
def test_old_versions_are_einval(pname, cmd, version):
    assert _call(cmd, _nmreq(f"{pname}{{1", version=version)) == errno.EINVAL


@pytest.mark.parametrize("version", [15, 16, 0xFFFFFFFF])
@pytest.mark.parametrize("cmd", [abi.NIOCGINFO, abi.NIOCREGIF], ids=["GINFO", "REGIF"])
def test_newer_versions_are_accepted_and_kept(pname, cmd, version):
    req = _nmreq(f"{pname}{{1", version=version)
    assert _call(cmd, req) == 0
    assert req.nr_version == version


@pytest.mark.parametrize("cmd", [abi.NIOCGINFO, abi.NIOCREGIF], ids=["GINFO", "REGIF"])
def test_unterminated_name_is_cut_to_15_bytes(cmd):
    req = _nmreq(b"abcdefghijklm{12")
    assert _call(cmd, req) == 0
    assert req.nr_name == b"abcdefghijklm{1"


@pytest.mark.parametrize("cmd", [abi.NIOCGINFO, abi.NIOCREGIF], ids=["GINFO", "REGIF"])
def test_bad_pointer_is_efault(cmd):
    fd = dev_open()
    try:
        assert errno_of(ioctl, fd, cmd, 8) == errno.EFAULT
    finally:
        os.close(fd)


def test_regif_twice_is_ebusy(pname):
    with Port.open_legacy(f"{pname}{{1") as m:
        again = _nmreq(f"{pname}{{2", nr_flags=abi.NR_REG_ALL_NIC)
        assert errno_of(ioctl, m.fd, abi.NIOCREGIF, again) == errno.EBUSY


@pytest.mark.parametrize("cmd", [abi.NIOCTXSYNC, abi.NIOCRXSYNC], ids=["TX", "RX"])
def test_sync_before_register_is_enxio(cmd):
    fd = dev_open()
    try:
        assert errno_of(ioctl, fd, cmd) == errno.ENXIO
    finally:
        os.close(fd)
