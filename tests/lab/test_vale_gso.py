"""Offloads VALE does in software (kernel/vale_gso.c): a frame whose virtio-net header asks for
segmentation (TSO, UFO, USO) or a checksum (NEEDS_CSUM), sent from a port with headers to a port
(or a NIC) without them. Every segment's IP and TCP/UDP checksums are computed here, and the
payload is compared byte for byte. Hostile headers are dropped and counted, never a crash."""

import itertools
import random
import socket
import struct

import pytest
from nm import Port
from nm.netdev import RawSocket, veth_pair
from nm.packets import cut, inet_csum, inet_sum, payload, split
from nm.vale import (
    GSO_ECN,
    GSO_TCPV4,
    GSO_TCPV6,
    GSO_UDP,
    GSO_UDP_L4,
    NEEDS_CSUM,
    attach,
    detach,
    hdr_ports,
    mac,
    offload_drops,
    recv,
    recv_frags,
    vhdr,
)

SEED = 20250611
_switches = itertools.count()

SRC4, DST4 = socket.inet_aton("10.9.0.1"), socket.inet_aton("10.9.0.2")
SRC6 = socket.inet_pton(socket.AF_INET6, "fd00:9::1")
DST6 = socket.inet_pton(socket.AF_INET6, "fd00:9::2")
DMAC, SMAC = mac(0x4242), mac(0x4343)
FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = (1 << i for i in range(8))
IP_DF, IP_MF = 0x4000, 0x2000


@pytest.fixture
def sw():
    return f"valeg{next(_switches)}"


# --------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------


def _ip(v6: bool, proto: int, l4: bytes, ip_id: int = 0x1234, opts: bytes = b"") -> bytes:
    """An IPv4 (with a correct header checksum, DF set) or IPv6 header carrying l4."""
    if v6:
        plen = len(l4) & 0xFFFF  # a hostile frame may be longer than IP can say
        return struct.pack("!IHBB16s16s", 0x60000000, plen, proto, 64, SRC6, DST6) + l4
    ihl = 5 + len(opts) // 4
    tot = (4 * ihl + len(l4)) & 0xFFFF
    ip = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, tot, ip_id, IP_DF, 64, proto, 0, SRC4, DST4)
    ip += opts
    return ip[:10] + struct.pack("!H", inet_csum(ip)) + ip[12:] + l4


def _pseudo(v6: bool, proto: int, length: int) -> bytes:
    if v6:
        return SRC6 + DST6 + struct.pack("!IxxxB", length, proto)
    return SRC4 + DST4 + struct.pack("!BBH", 0, proto, length)


def eth(v6: bool, vlan: int | None = None) -> bytes:
    head = DMAC + SMAC
    if vlan is not None:
        head += struct.pack("!HH", 0x8100, vlan)
    return head + (b"\x86\xdd" if v6 else b"\x08\x00")


def tcp_frame(
    v6: bool,
    data: bytes,
    *,
    seq: int = 0xFFFFF000,  # wraps during a large send
    flags: int = ACK | PSH,
    topts: bytes = b"",
    ipopts: bytes = b"",
    vlan: int | None = None,
) -> bytes:
    """Ethernet/IP/TCP; the TCP checksum holds the pseudo-header sum, as a GSO sender leaves it."""
    doff = (20 + len(topts)) // 4
    partial = inet_sum(_pseudo(v6, 6, 20 + len(topts) + len(data)))
    tcp = struct.pack("!HHIIBBHHH", 40000, 80, seq, 7, doff << 4, flags, 0xFFFF, partial, 0)
    return eth(v6, vlan) + _ip(v6, 6, tcp + topts + data, opts=ipopts)


def udp_frame(v6: bool, data: bytes) -> bytes:
    ulen = (8 + len(data)) & 0xFFFF
    partial = inet_sum(_pseudo(v6, 17, ulen))
    udp = struct.pack("!HHHH", 5000, 6000, ulen, partial)
    return eth(v6) + _ip(v6, 17, udp + data)


def offsets(frame: bytes) -> tuple[int, int, bool]:
    """(l3, l4, v6) of one of our frames."""
    l3 = 18 if frame[12:14] == b"\x81\x00" else 14
    v6 = frame[l3 - 2 : l3] == b"\x86\xdd"
    return l3, l3 + (40 if v6 else (frame[l3] & 0xF) * 4), v6


def tso_hdr(frame: bytes, mss: int, csum: bool = True, ecn: bool = False) -> bytes:
    """The virtio-net header Linux gives a TSO frame: NEEDS_CSUM at the TCP checksum."""
    l3, l4, v6 = offsets(frame)
    hlen = l4 + (frame[l4 + 12] >> 4) * 4
    gso = (GSO_TCPV6 if v6 else GSO_TCPV4) | (GSO_ECN if ecn else 0)
    return vhdr(NEEDS_CSUM if csum else 0, gso, hlen, mss, l4 if csum else 0, 16 if csum else 0)


def udp_hdr(frame: bytes, mss: int, gso: int = GSO_UDP) -> bytes:
    _, l4, _ = offsets(frame)
    return vhdr(NEEDS_CSUM, gso, l4 + 8, mss, l4, 6)


def xmit(p: Port, frags: list[bytes]) -> None:
    """One packet out of p's tx ring, as the given fragments (NS_MOREFRAG chain)."""
    assert p.tx.put([frags]) == 1
    p.txsync()


def fragments(rng: random.Random, data: bytes, how: str) -> list[bytes]:
    if how == "one":
        assert len(data) <= 2048
        return [data]
    if how == "full":
        return cut(data)
    return split(rng, data, hi=64 if len(data) <= 64 * 64 else 2048)


def segments(p: Port) -> list[bytes]:
    """What p received, each frame in one slot."""
    got = recv_frags(p)
    assert all(len(f) == 1 for f in got), [len(f) for f in got]
    return [f[0] for f in got]


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def check_ip(seg: bytes, orig: bytes, l3: int, l4: int, v6: bool, ip_id: int | None) -> None:
    """seg's IP header: orig's, with the length of seg (and ip_id), and a valid checksum."""
    assert seg[:l3] == orig[:l3]
    if v6:
        assert struct.unpack_from("!H", seg, l3 + 4)[0] == len(seg) - l4
        assert seg[l3 : l3 + 4] + seg[l3 + 6 : l4] == orig[l3 : l3 + 4] + orig[l3 + 6 : l4]
        return
    assert inet_csum(seg[l3:l4]) == 0, "IPv4 header checksum"
    tot, ident = struct.unpack_from("!HH", seg, l3 + 2)
    assert tot == len(seg) - l3
    if ip_id is not None:
        assert ident == ip_id
    same = [(0, 2), (6, 10), (12, l4 - l3)]  # version/tos, frag/ttl/proto, addresses/options
    for a, b in same:
        assert seg[l3 + a : l3 + b] == orig[l3 + a : l3 + b]


def l4_ok(seg: bytes, l4: int, v6: bool, proto: int) -> bool:
    return inet_csum(_pseudo(v6, proto, len(seg) - l4) + seg[l4:]) == 0


def check_tso(orig: bytes, segs: list[bytes], mss: int) -> None:
    l3, l4, v6 = offsets(orig)
    hlen = l4 + (orig[l4 + 12] >> 4) * 4
    data = orig[hlen:]
    n = max(1, -(-len(data) // mss))
    assert len(segs) == n, f"{len(data)} bytes by {mss}: {n} segments expected, got {len(segs)}"
    seq0 = struct.unpack_from("!I", orig, l4 + 4)[0]
    id0 = struct.unpack_from("!H", orig, l3 + 4)[0]
    flags0 = orig[l4 + 13]
    got = b""
    for k, s in enumerate(segs):
        assert len(s) == hlen + min(mss, len(data) - k * mss), f"segment {k}"
        check_ip(s, orig, l3, l4, v6, (id0 + k) & 0xFFFF)
        assert struct.unpack_from("!I", s, l4 + 4)[0] == (seq0 + k * mss) & 0xFFFFFFFF
        want = flags0
        if k < n - 1:
            want &= ~(FIN | PSH)
        if k:
            want &= ~CWR
        assert s[l4 + 13] == want, f"segment {k}: flags {s[l4 + 13]:#x}, want {want:#x}"
        assert s[l4 : l4 + 4] + s[l4 + 8 : l4 + 13] == orig[l4 : l4 + 4] + orig[l4 + 8 : l4 + 13]
        assert (
            s[l4 + 14 : l4 + 16] + s[l4 + 18 : hlen]
            == orig[l4 + 14 : l4 + 16] + orig[l4 + 18 : hlen]
        )
        assert l4_ok(s, l4, v6, 6), f"segment {k}: TCP checksum"
        got += s[hlen:]
    assert got == data


def check_uso(orig: bytes, segs: list[bytes], mss: int) -> None:
    l3, l4, v6 = offsets(orig)
    data = orig[l4 + 8 :]
    n = max(1, -(-len(data) // mss))
    assert len(segs) == n
    id0 = struct.unpack_from("!H", orig, l3 + 4)[0]
    got = b""
    for k, s in enumerate(segs):
        assert len(s) == l4 + 8 + min(mss, len(data) - k * mss)
        check_ip(s, orig, l3, l4, v6, (id0 + k) & 0xFFFF)
        assert s[l4 : l4 + 4] == orig[l4 : l4 + 4]
        assert struct.unpack_from("!H", s, l4 + 4)[0] == len(s) - l4
        assert l4_ok(s, l4, v6, 17) and s[l4 + 6 : l4 + 8] != b"\0\0"
        got += s[l4 + 8 :]
    assert got == data


def reassemble(orig: bytes, frags: list[bytes], fs: int) -> bytes:
    """Check IP fragments of orig's datagram (fs bytes of IP payload each, but the last);
    return the datagram's IP payload."""
    l3, l4, v6 = offsets(orig)
    total = len(orig) - l4
    n = -(-total // fs)
    assert len(frags) == n
    out, ident = b"", None
    for k, f in enumerate(frags):
        more = k < n - 1
        flen = min(fs, total - k * fs)
        if v6:
            assert len(f) == l4 + 8 + flen
            assert f[l3 + 6] == 44  # a fragment header follows
            assert struct.unpack_from("!H", f, l3 + 4)[0] == 8 + flen
            assert f[:l3] == orig[:l3] and f[l3 + 7 : l4] == orig[l3 + 7 : l4]
            nxt, _, off, fid = struct.unpack_from("!BBHI", f, l4)
            assert nxt == 17 and off == k * fs | more
            body = f[l4 + 8 :]
        else:
            assert len(f) == l4 + flen
            assert f[:l3] == orig[:l3] and inet_csum(f[l3:l4]) == 0
            tot, fid, frag = struct.unpack_from("!HHH", f, l3 + 2)
            assert tot == len(f) - l3 and fid == struct.unpack_from("!H", orig, l3 + 4)[0]
            assert frag == (k * fs) >> 3 | (IP_MF if more else 0)  # DF cleared
            assert (
                f[l3 : l3 + 2] + f[l3 + 8 : l3 + 10] == orig[l3 : l3 + 2] + orig[l3 + 8 : l3 + 10]
            )
            assert f[l3 + 12 : l4] == orig[l3 + 12 : l4]
            body = f[l4:]
        assert ident is None or fid == ident
        ident = fid
        out += body
    return out


def check_udp_datagram(orig: bytes, dgram: bytes) -> None:
    """dgram (UDP header and data) is orig's, its length right and its checksum complete."""
    _, l4, v6 = offsets(orig)
    assert len(dgram) == len(orig) - l4
    assert dgram[:4] == orig[l4 : l4 + 4]
    assert struct.unpack_from("!H", dgram, 4)[0] == len(dgram)
    assert inet_csum(_pseudo(v6, 17, len(dgram)) + dgram) == 0
    assert dgram[8:] == orig[l4 + 8 :]


# --------------------------------------------------------------------------------------------
# TSO
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("v6", [False, True], ids=["v4", "v6"])
@pytest.mark.parametrize(
    "size,how",
    [
        (0, "one"),
        (100, "one"),
        (1448, "one"),
        (1448 * 3, "full"),
        (5000, "full"),
        (5000, "random"),
        (20001, "random"),
        (64000, "full"),
        (64000, "random"),
    ],
)
def test_tso_frames_are_segmented(sw, v6, size, how):
    rng = random.Random(SEED + size)
    mss = 1428 if v6 else 1448
    f = tcp_frame(v6, payload(size, size))
    drops = offload_drops()
    with hdr_ports(sw, 10, 0) as (p10, p0):
        xmit(p10, fragments(rng, tso_hdr(f, mss) + f, how))
        check_tso(f, segments(p0), mss)
    assert offload_drops() == drops


@pytest.mark.parametrize("v6", [False, True], ids=["v4", "v6"])
def test_tso_from_a_12_byte_header_with_options_and_odd_mss(sw, v6):
    rng = random.Random(SEED)
    topts = b"\x01\x01\x08\x0a" + struct.pack("!II", 123456, 654321)  # NOP NOP timestamps
    ipopts = b"" if v6 else b"\x94\x04\x00\x00"  # router alert
    for size, mss in ((10000, 1000), (3333, 536), (9000, 1)):
        f = tcp_frame(v6, payload(size, size), topts=topts, ipopts=ipopts)
        with hdr_ports(sw, 12, 0) as (p12, p0):
            h = tso_hdr(f, mss) + b"\x01\x00"
            xmit(p12, split(rng, h + f))
            if mss == 1:  # 9000 one-byte segments do not fit in a ring of 1024: dropped
                assert recv(p0) == []
            else:
                check_tso(f, segments(p0), mss)


def test_tcp_flags_of_the_segments(sw):
    f = tcp_frame(False, payload(7, 4000), flags=ACK | PSH | FIN | CWR | ECE | URG)
    with hdr_ports(sw, 10, 0) as (p10, p0):
        xmit(p10, cut(tso_hdr(f, 1000, ecn=True) + f))
        segs = segments(p0)
        check_tso(f, segs, 1000)
        l4 = 34
        assert [s[l4 + 13] for s in segs] == [ACK | CWR | ECE | URG] + [ACK | ECE | URG] * 2 + [
            ACK | PSH | FIN | ECE | URG
        ]


def test_tso_without_needs_csum_and_behind_a_vlan_tag(sw):
    rng = random.Random(SEED)
    for v6 in (False, True):
        f = tcp_frame(v6, payload(3, 6000), vlan=42)
        with hdr_ports(sw, 10, 0) as (p10, p0):
            xmit(p10, split(rng, tso_hdr(f, 1400, csum=False) + f))
            check_tso(f, segments(p0), 1400)


def test_every_port_without_headers_gets_its_own_segments(sw):
    """Flooded: two ports without headers segment independently; ports with headers get the
    GSO frame itself, header converted."""
    f = tcp_frame(False, payload(9, 9000))
    h = tso_hdr(f, 1448)
    with hdr_ports(sw, 10, 0, 0, 12, 10) as (p10, a0, b0, p12, q10):
        xmit(p10, cut(h + f))
        check_tso(f, segments(a0), 1448)
        check_tso(f, segments(b0), 1448)
        assert recv(p12) == [h + b"\x01\x00" + f]
        assert recv(q10) == [h + f]


def test_tso_reaches_the_wire_of_an_attached_nic(sw):
    """A TSO frame from a port with headers, out of a veth in the switch: the peer sees
    MSS-sized TCP segments with valid checksums."""
    f = tcp_frame(False, payload(11, 8000))
    with veth_pair() as (a, b):
        assert attach(f"{sw}:{a}")[0] == 0
        try:
            with hdr_ports(sw, 10) as (p10,), RawSocket(b, 0x0800) as wire:
                xmit(p10, cut(tso_hdr(f, 1448) + f))
                segs = wire.recv_frames(6, lambda fr: fr[:12] == f[:12])
                check_tso(f, segs, 1448)
        finally:
            assert detach(f"{sw}:{a}")[0] == 0


# --------------------------------------------------------------------------------------------
# UFO and USO
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("v6", [False, True], ids=["v4", "v6"])
@pytest.mark.parametrize("size,mss", [(4000, 1480), (4000, 1450), (9000, 1232), (30000, 1400)])
def test_ufo_datagrams_become_ip_fragments(sw, v6, size, mss):
    rng = random.Random(SEED + size)
    f = udp_frame(v6, payload(size, size))
    with hdr_ports(sw, 10, 0) as (p10, p0):
        xmit(p10, split(rng, udp_hdr(f, mss) + f))
        frags = segments(p0)
        check_udp_datagram(f, reassemble(f, frags, mss - mss % 8))


@pytest.mark.parametrize("v6", [False, True], ids=["v4", "v6"])
def test_a_ufo_datagram_that_fits_stays_whole(sw, v6):
    f = udp_frame(v6, payload(5, 1000))
    with hdr_ports(sw, 10, 0) as (p10, p0):
        xmit(p10, [udp_hdr(f, 1400) + f])
        (got,) = segments(p0)
        _, l4, _ = offsets(f)
        assert got[:l4] == f[:l4]  # DF and all
        check_udp_datagram(f, got[l4:])


@pytest.mark.parametrize("v6", [False, True], ids=["v4", "v6"])
def test_uso_datagrams_are_segmented(sw, v6):
    rng = random.Random(SEED)
    for size, mss in ((6000, 1400), (1000, 1400), (2801, 1400)):
        f = udp_frame(v6, payload(size, size))
        with hdr_ports(sw, 10, 0) as (p10, p0):
            xmit(p10, split(rng, udp_hdr(f, mss, GSO_UDP_L4) + f))
            check_uso(f, segments(p0), mss)


# --------------------------------------------------------------------------------------------
# NEEDS_CSUM without GSO
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("v6", [False, True], ids=["v4", "v6"])
@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_needs_csum_frames_get_their_checksum_in_any_fragment_layout(sw, v6, proto):
    rng = random.Random(SEED)
    for size in (10, 1000, 3000):
        if proto == "tcp":
            # without GSO Linux leaves the pseudo-header sum with the length in the field
            f = tcp_frame(v6, payload(size, size))
        else:
            f = udp_frame(v6, payload(size, size))
        _, l4, _ = offsets(f)
        field = l4 + (16 if proto == "tcp" else 6)
        h = vhdr(NEEDS_CSUM, csum_start=l4, csum_offset=field - l4)
        layouts = [[h + f[: field + 1], *cut(f[field + 1 :])], split(rng, h + f, hi=300)]
        if len(h + f) <= 2048:
            layouts.append([h + f])
        for frags in layouts:
            with hdr_ports(sw, 10, 0) as (p10, p0):
                xmit(p10, frags)
                (got,) = recv(p0)
                assert len(got) == len(f)
                assert got[:field] == f[:field] and got[field + 2 :] == f[field + 2 :]
                assert l4_ok(got, l4, v6, 6 if proto == "tcp" else 17)


# --------------------------------------------------------------------------------------------
# Hostile headers
# --------------------------------------------------------------------------------------------


def _hostile() -> list[tuple[str, bytes]]:
    """(what, header + frame) pairs the switch must drop and count."""
    f4 = tcp_frame(False, payload(1, 3000))
    f6 = tcp_frame(True, payload(2, 3000))
    u4 = udp_frame(False, payload(3, 3000))
    good = tso_hdr(f4, 1448)
    out = [
        ("hdr_len past the frame", vhdr(NEEDS_CSUM, GSO_TCPV4, len(f4) + 1, 1448, 34, 16) + f4),
        ("csum_start past the frame", vhdr(NEEDS_CSUM, GSO_TCPV4, 54, 1448, 4000, 16) + f4),
        ("csum_start not at TCP", vhdr(NEEDS_CSUM, GSO_TCPV4, 54, 1448, 14, 16) + f4),
        ("csum_offset not the TCP checksum", vhdr(NEEDS_CSUM, GSO_TCPV4, 54, 1448, 34, 6) + f4),
        ("gso_size 0", vhdr(NEEDS_CSUM, GSO_TCPV4, 54, 0, 34, 16) + f4),
        ("huge gso_size", vhdr(NEEDS_CSUM, GSO_TCPV4, 54, 0xFFFF, 34, 16) + f4),
        ("gso_size just over the buffer", vhdr(0, GSO_TCPV4, 54, 2048 - 54 + 1) + f4),
        ("TCPV6 on IPv4", vhdr(0, GSO_TCPV6, 54, 1448) + f4),
        ("TCPV4 on IPv6", vhdr(0, GSO_TCPV4, 74, 1428) + f6),
        ("TCPV4 on UDP", vhdr(0, GSO_TCPV4, 42, 1448) + u4),
        ("UDP on TCP", vhdr(0, GSO_UDP, 42, 1448) + f4),
        ("UFO gso_size under 8", vhdr(0, GSO_UDP, 42, 7) + u4),
        ("not IP", vhdr(0, GSO_TCPV4, 54, 1448) + f4[:12] + b"\x88\xb5" + f4[14:]),
        ("IPv4 ihl 4", good + f4[:14] + b"\x44" + f4[15:]),
        ("IP version 6 in IPv4", good + f4[:14] + b"\x65" + f4[15:]),
        ("TCP doff 4", good + f4[:46] + b"\x40" + f4[47:]),
        ("TCP doff past the frame", good + f4[:46] + b"\xf0" + f4[47:54]),
        ("IPv4 fragment", good + f4[:20] + b"\x20\x00" + f4[22:]),
        ("truncated in TCP", vhdr(0, GSO_TCPV4, 0, 1448) + f4[:40]),
        ("truncated in IPv6", vhdr(0, GSO_TCPV6, 0, 1448) + f6[:50]),
        ("UFO over 65535", vhdr(0, GSO_UDP, 42, 1480) + udp_frame(False, bytes(65530))),
        ("NEEDS_CSUM start past the end", vhdr(NEEDS_CSUM, 0, 0, 0, len(f4), 0) + f4),
        ("NEEDS_CSUM field past the end", vhdr(NEEDS_CSUM, 0, 0, 0, 34, 0xFFFF) + f4),
        ("NEEDS_CSUM field on the last byte", vhdr(NEEDS_CSUM, 0, 0, 0, 34, len(f4) - 35) + f4),
    ]
    out += [(f"gso_type {t:#x}", vhdr(0, t, 54, 1448) + f4) for t in (2, 6, 0x7F, 0x82, 0xFF)]
    return out


HOSTILE = _hostile()


@pytest.mark.parametrize("what,pkt", HOSTILE, ids=[w for w, _ in HOSTILE])
def test_hostile_headers_are_dropped_and_counted(sw, what, pkt):
    good = tcp_frame(False, payload(99, 3000))
    with hdr_ports(sw, 10, 0, 10) as (p10, p0, q10):
        drops = offload_drops()
        xmit(p10, cut(pkt))
        assert recv(p0) == [], what
        assert offload_drops() == drops + 1
        assert recv(q10) == [pkt]  # a port with headers gets it as it is
        xmit(p10, cut(tso_hdr(good, 1448) + good))  # the switch goes on
        check_tso(good, segments(p0), 1448)


def test_random_headers_never_hurt_the_switch(sw):
    """Fuzz: TSO/UFO frames with random bytes in their virtio-net and packet headers, or cut
    short. Nothing oopses or warns, and the switch still segments a good frame afterwards."""
    rng = random.Random(SEED)
    base = [tcp_frame(False, payload(1, 5000)), tcp_frame(True, payload(2, 5000))]
    base += [udp_frame(False, payload(3, 5000)), udp_frame(True, payload(4, 5000))]
    with hdr_ports(sw, 10, 0) as (p10, p0):
        for _ in range(400):
            f = bytearray(rng.choice(base))
            _, l4, v6 = offsets(f)
            udp = f[14 + (6 if v6 else 9)] == 17
            h = bytearray(udp_hdr(f, 1400) if udp else tso_hdr(f, 1400))
            for _ in range(rng.randint(1, 4)):
                pos = rng.randrange(len(h) + l4 + 20)
                if pos < len(h):
                    h[pos] = rng.randrange(256)
                else:
                    f[pos - len(h)] = rng.randrange(256)
            if rng.random() < 0.2:
                f = f[: rng.randrange(len(f))]
            xmit(p10, split(rng, bytes(h + f), hi=rng.choice([64, 2048])))
            recv(p0)
        good = tcp_frame(True, payload(5, 9000))
        xmit(p10, cut(tso_hdr(good, 1428) + good))
        check_tso(good, segments(p0), 1428)


def test_segments_that_do_not_fit_the_ring_are_a_full_ring_drop(sw):
    f = tcp_frame(False, payload(6, 20000))
    with hdr_ports(sw, 10, 0, rx_slots=16) as (p10, p0):
        drops = offload_drops()
        xmit(p10, cut(tso_hdr(f, 1000) + f))  # 20 segments, 15 free slots
        assert recv(p0) == []
        assert offload_drops() == drops
        xmit(p10, cut(tso_hdr(f, 1448) + f))  # 14 segments
        check_tso(f, segments(p0), 1448)
