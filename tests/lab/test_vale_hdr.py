"""virtio-net headers on VALE ports: PORT_HDR_SET/GET (0, 10 or 12 bytes), and the switch
converting headers between ports whose lengths differ. Offloads (checksums, GSO) done for
ports without headers are in test_vale_gso.py."""

import errno
import itertools
import struct

import pytest
from nm import Port, abi
from nm.packets import inet_csum, inet_sum
from nm.vale import (
    BCAST,
    GSO_TCPV4,
    NEEDS_CSUM,
    frame,
    hdr_get,
    hdr_ports,
    hdr_set,
    legacy,
    mac,
    recv,
    recv_frags,
    send,
    vhdr,
)

_switches = itertools.count()

ONE = struct.pack("<H", 1)  # num_buffers of the headers the switch makes


@pytest.fixture
def sw():
    return f"valeh{next(_switches)}"


# --------------------------------------------------------------------------------------------
# PORT_HDR_SET / GET
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [1, 8, 11, 13, 14, 64, 0xFFFFFFFF])
def test_other_header_lengths_are_einval(sw, length):
    with Port.open(f"{sw}:a"):
        assert hdr_set(f"{sw}:a", length) == errno.EINVAL
        assert hdr_get(f"{sw}:a") == (0, 0)


def test_header_length_is_only_for_vale_ports(pname):
    with Port.open(f"{pname}{{1"):
        assert hdr_set(f"{pname}{{1", 0) == errno.ENXIO
        assert hdr_set(f"{pname}{{1", 10) == errno.ENXIO
        assert hdr_set(f"{pname}{{1", 11) == errno.EINVAL


def test_legacy_vnet_hdr_commands(sw):
    with Port.open_legacy(f"{sw}:q"):
        err, _ = legacy(abi.NETMAP_BDG_VNET_HDR, f"{sw}:q", nr_arg1=12)
        assert err == 0
        err, req = legacy(abi.NETMAP_VNET_HDR_GET, f"{sw}:q")
        assert (err, req.nr_arg1) == (0, 12)
        assert legacy(abi.NETMAP_BDG_VNET_HDR, f"{sw}:q", nr_arg1=11)[0] == errno.EINVAL


# --------------------------------------------------------------------------------------------
# Conversions
# --------------------------------------------------------------------------------------------


def test_headers_are_added(sw):
    f = frame(BCAST, mac(1), 1, 100)
    with hdr_ports(sw, 0, 10, 12) as (p0, p10, p12):
        send(p0, [f])
        assert recv(p10) == [bytes(10) + f]
        assert recv(p12) == [bytes(10) + ONE + f]


def test_headers_are_removed_or_converted(sw):
    f = frame(BCAST, mac(2), 2, 200)
    h = vhdr(hdr_len=54, gso_size=1448)  # no offload asked: only hints
    with hdr_ports(sw, 0, 10, 12, 10, 12) as (p0, p10, p12, q10, q12):
        send(p10, [h + f])
        assert recv(p0) == [f]
        assert recv(p12) == [h + ONE + f]
        assert recv(q10) == [h + f]  # same length: verbatim
        recv(q12)
        nb = struct.pack("<H", 7)
        send(p12, [h + nb + f])
        assert recv(p0) == [f]
        assert recv(p10) == [h + f]
        assert recv(q12) == [h + nb + f]  # same length: verbatim, num_buffers too
        recv(q10)


def _udp_frame(payload: bytes) -> tuple[bytes, int]:
    """An IPv4/UDP frame whose UDP checksum holds only the pseudo-header sum (what
    NEEDS_CSUM promises), and the checksum it must end up with."""
    src, dst = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    udp_len = 8 + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", inet_csum(ip)) + ip[12:]
    pseudo = src + dst + struct.pack("!BBH", 0, 17, udp_len)
    partial = inet_sum(pseudo)
    udp = struct.pack("!HHHH", 1234, 4321, udp_len, partial) + payload
    full = inet_csum(pseudo + struct.pack("!HHHH", 1234, 4321, udp_len, 0) + payload) or 0xFFFF
    eth = BCAST + mac(3) + b"\x08\x00"
    return eth + ip + udp, full


def test_checksum_is_computed_for_a_port_without_headers(sw):
    f, full = _udp_frame(bytes(range(200)))
    h = vhdr(flags=NEEDS_CSUM, csum_start=34, csum_offset=6)
    with hdr_ports(sw, 10, 0, 12) as (p10, p0, p12):
        send(p10, [h + f])
        (got,) = recv(p0)
        assert struct.unpack("!H", got[40:42])[0] == full
        assert got[:40] == f[:40] and got[42:] == f[42:]
        assert recv(p12) == [h + ONE + f]  # the header travels, checksum still partial


def test_bad_checksum_offsets_are_dropped(sw):
    f, _ = _udp_frame(bytes(20))
    with hdr_ports(sw, 10, 0) as (p10, p0):
        send(p10, [vhdr(flags=NEEDS_CSUM, csum_start=len(f), csum_offset=6) + f])
        send(p10, [vhdr(flags=NEEDS_CSUM, csum_start=34, csum_offset=0xFFFF) + f])
        assert recv(p0) == []
        send(p10, [vhdr() + f])
        assert recv(p0) == [f]


def test_gso_frames_that_are_not_tcp_or_udp_do_not_reach_a_port_without_headers(sw):
    f = frame(BCAST, mac(4), 4, 1000)  # not IP: nothing to segment it by
    h = vhdr(gso_type=GSO_TCPV4, gso_size=500, hdr_len=54)
    with hdr_ports(sw, 10, 0, 10) as (p10, p0, q10):
        send(p10, [h + f])
        assert recv(p0) == []
        assert recv(q10) == [h + f]


def test_a_header_that_no_longer_fits_takes_another_slot(sw):
    f = frame(BCAST, mac(5), 5, 2048)
    with hdr_ports(sw, 0, 12) as (p0, p12):
        send(p0, [f])
        (pkt,) = recv_frags(p12)
        assert [len(x) for x in pkt] == [2048, 12]
        assert b"".join(pkt) == bytes(10) + ONE + f
        send(p12, [b"".join(pkt)[:2048]])  # the other way: 12 bytes less
        assert recv(p0) == [f[:2036]]


def test_a_frame_shorter_than_its_header_is_dropped(sw):
    with hdr_ports(sw, 12, 0) as (p12, p0):
        send(p12, [bytes(8), bytes(12) + b"\x01" * 10])  # no room for an Ethernet header
        assert recv(p0) == []
