"""The OFFSETS option of REGISTER (abi-corrections.md §5.1, "Option notes: OFFSETS"): its
checks and errnos, what it writes (the option, ring->offset_mask, the slots' ptr), and traffic
whose frames start at per-slot offsets over VALE, pipes, the emulated adapter and monitors,
including hostile offsets."""

import contextlib
import errno
import itertools
import random
import select
from collections.abc import Iterator

import pytest
from nm import Option, Port, abi, errno_of
from nm.netdev import RawSocket, is_test_frame, tframe, veth_pair
from nm.packets import payload
from nm.port import Ring
from nm.vale import BCAST, frame, mac

EINVAL, EBUSY, EOPNOTSUPP = errno.EINVAL, errno.EBUSY, errno.EOPNOTSUPP
ALL = (1 << 64) - 1
BUF = 2048  # the default buffer size
_switches = itertools.count()


@pytest.fixture
def sw() -> str:
    return f"valo{next(_switches)}"


def offsets(max_offset: int, initial: int = 0, bits: int = 0, **more: int) -> Option:
    """An OFFSETS option; `more` sets the other body fields (nro_tx_align, nro_min_gap)."""
    body = abi.NmreqOptOffsets(
        nro_max_offset=max_offset,
        nro_initial_offset=initial,
        nro_offset_bits=bits,
        **more,
    )
    return Option.of(body, abi.NETMAP_REQ_OPT_OFFSETS)


def body(opt: Option) -> abi.NmreqOptOffsets:
    b = opt.body(abi.NmreqOptOffsets)
    assert isinstance(b, abi.NmreqOptOffsets)
    return b


def rings(p: Port) -> list[Ring]:
    return [r for r in [*p.tx_rings, *p.rx_rings] if r is not None]


def ofs_of(r: Ring, i: int) -> int:
    return r.slot(i).ptr & r.hdr.offset_mask


def put_at(p: Port, frames: list[bytes], offs: list[int]) -> None:
    """Each frame into the next tx slot at its offset (slot->ptr), then txsync."""
    r = p.tx
    assert r.space() >= len(frames)
    cur = r.cur
    for f, o in zip(frames, offs, strict=True):
        s = r.slot(cur)
        base = r.buf_offset(s.buf_idx) + o
        r.mv[base : base + len(f)] = f
        s.ptr = o
        s.len = len(f)
        s.flags = 0
        cur = r.next(cur)
    r.head = r.cur = cur
    p.txsync()


def take_at(
    p: Port, want: int, ring: Ring | None = None, tries: int = 50, clamp: int = ALL
) -> list[bytes]:
    """Up to `want` packets from the rx ring, each fragment read at its slot's offset (an
    offset beyond `clamp`, the ring's maximum, is where the kernel clamps it: at `clamp`)."""
    r = ring or p.rx
    out: list[bytes] = []
    frags: list[bytes] = []
    for _ in range(tries):
        p.rxsync()
        cur = r.cur
        while cur != r.tail:
            idx, ln, fl = r.get(cur)
            base = r.buf_offset(idx) + min(ofs_of(r, cur), clamp)
            frags.append(bytes(r.mv[base : base + ln]))
            cur = r.next(cur)
            if not fl & abi.NS_MOREFRAG:
                out.append(b"".join(frags))
                frags = []
        r.head = r.cur = cur
        if len(out) >= want:
            break
        p.poll(select.POLLIN, 20)
    return out


def set_rx_offsets(r: Ring, offs: list[int]) -> None:
    for i in range(r.num_slots):
        r.slot(i).ptr = offs[i % len(offs)]


def vframes(n: int, src: int, dst: bytes, rng: random.Random, lo: int = 60, hi: int = 1500):
    return [frame(dst, mac(src), k, rng.randint(lo, hi)) for k in range(n)]


# ------------------------------------------------------------------------------------------------
# The option
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("bits", "mask"), [(0, ALL), (64, ALL), (12, 0xFFF), (8, 0xFF)])
def test_success_writes_mask_max_and_initial_offsets(sw, bits, mask):
    opt = offsets(200, initial=77, bits=bits, nro_tx_align=3, nro_min_gap=5)
    with Port.open(f"{sw}:a", options=[opt]) as p:
        assert opt.status == 0
        b = body(opt)
        assert (b.nro_max_offset, b.nro_initial_offset, b.nro_offset_bits) == (200, 77, bits)
        for r in rings(p):
            assert r.hdr.offset_mask == mask
            assert {r.slot(i).ptr for i in range(r.num_slots)} == {77}


def test_max_offset_may_be_the_buffer_size(sw):
    opt = offsets(BUF, initial=BUF)
    with Port.open(f"{sw}:a", options=[opt]) as p:
        assert opt.status == 0 and body(opt).nro_max_offset == BUF
        assert p.tx.hdr.offset_mask == ALL


def test_a_port_without_the_option_has_no_mask(sw):
    with Port.open(f"{sw}:a") as p:
        assert {r.hdr.offset_mask for r in rings(p)} == {0}


@pytest.mark.parametrize(
    ("max_offset", "initial", "bits"),
    [
        (100, 0, 65),  # more than 64 bits
        (100, 0, 0xFFFFFFFF),
        (BUF + 1, 0, 0),  # beyond the buffer
        (1 << 40, 0, 0),
        (256, 0, 8),  # does not fit in 8 bits
        (2, 0, 1),
        (100, 101, 0),  # initial beyond max
        (0, 1, 0),
    ],
)
def test_invalid_offsets_are_einval(sw, max_offset, initial, bits):
    opt = offsets(max_offset, initial, bits)
    assert errno_of(Port.open, f"{sw}:a", options=[opt]) == EINVAL
    assert opt.status == EINVAL
    assert body(opt).nro_max_offset == max_offset, "no body written back on failure"
    with Port.open(f"{sw}:a") as p:  # nothing was left bound, or with a mask
        assert p.tx.hdr.offset_mask == 0


def test_largest_fitting_values_are_accepted(sw):
    for mx, bits in [(255, 8), (1, 1), (BUF, 12)]:
        opt = offsets(mx, mx, bits)
        with Port.open(f"{sw}:a", options=[opt]) as p:
            assert opt.status == 0
            assert p.tx.slot(0).ptr == mx


def test_ebusy_when_a_ring_is_open_with_a_smaller_mask_or_maximum(sw):
    with Port.open(f"{sw}:a", options=[offsets(64, 4, 8)]) as p:
        for opt in [offsets(64, 0, 9), offsets(65, 0, 8), offsets(64, 0, 0)]:
            assert errno_of(Port.open, f"{sw}:a", options=[opt]) == EBUSY
            assert opt.status == EBUSY
        opt = offsets(32, 0, 8)  # covered: shares the rings, and learns their maximum
        with Port.open(f"{sw}:a", options=[opt]) as q:
            assert opt.status == 0 and body(opt).nro_max_offset == 64
            assert q.tx.hdr.offset_mask == 0xFF
            assert q.tx.slot(0).ptr == 4, "rings in use keep their slots"
        with Port.open(f"{sw}:a"):  # without the option: allowed
            pass
        assert p.tx.hdr.offset_mask == 0xFF
    with Port.open(f"{sw}:b") as p:  # open without offsets: mask 0 is smaller than any
        opt = offsets(0, 0, 1)
        assert errno_of(Port.open, f"{sw}:b", options=[opt]) == EBUSY
        assert opt.status == EBUSY


def test_offsets_go_with_the_last_binding(sw):
    with Port.open(f"{sw}:a", options=[offsets(64, 4, 8)]):
        pass
    with Port.open(f"{sw}:a") as p:
        assert p.tx.hdr.offset_mask == 0


def test_null_and_pipe_ports_take_offsets(sw):
    opt = offsets(100, 10)
    with Port.open(f"{sw}:a") as a, Port.open(f"{sw}:a{{7", options=[opt]) as m:
        assert opt.status == 0 and m.tx.hdr.offset_mask == ALL
        assert a.tx.hdr.offset_mask == 0
        assert a.reg is not None
        opt = offsets(100, 10)
        with Port.open(
            "nulloffs",
            abi.NR_REG_NULL,
            options=[opt],
            mem_id=a.reg.nr_mem_id,
            tx_rings=1,
            rx_rings=1,
        ) as n:
            assert opt.status == 0 and n.rx.slot(3).ptr == 10
            assert n.tx.hdr.offset_mask == ALL


def test_zero_copy_monitor_is_eopnotsupp_copy_monitor_is_not(sw):
    with Port.open(f"{sw}:a"):
        opt = offsets(100)
        flags = abi.NR_MONITOR_TX | abi.NR_ZCOPY_MON
        assert errno_of(Port.open, f"{sw}:a", flags=flags, options=[opt]) == EOPNOTSUPP
        assert opt.status == EOPNOTSUPP
        opt = offsets(100, 3)
        with Port.open(f"{sw}:a", flags=abi.NR_MONITOR_TX, options=[opt]) as m:
            assert opt.status == 0 and m.rx.hdr.offset_mask == ALL and m.rx.slot(0).ptr == 3


# ------------------------------------------------------------------------------------------------
# VALE
# ------------------------------------------------------------------------------------------------


def test_vale_offset_port_to_plain_port(sw):
    rng = random.Random(1)
    with Port.open(f"{sw}:a", options=[offsets(300, bits=10)]) as a, Port.open(f"{sw}:b") as b:
        frames = vframes(200, 1, BCAST, rng)
        frames[7] = frame(BCAST, mac(1), 7, BUF - 300)  # fills the buffer behind the max
        offs = [rng.randint(0, 300) for _ in frames]
        offs[7] = 300
        got: list[bytes] = []
        for k in range(0, len(frames), 50):
            put_at(a, frames[k : k + 50], offs[k : k + 50])
            got += take_at(b, 50)
        assert got == frames


def test_vale_plain_port_to_offset_port(sw):
    rng = random.Random(2)
    with Port.open(f"{sw}:a", options=[offsets(300, 5)]) as a, Port.open(f"{sw}:b") as b:
        set_rx_offsets(a.rx, [rng.randint(0, 300) for _ in range(97)])
        frames = vframes(200, 2, BCAST, rng)
        frames[3] = frame(BCAST, mac(2), 3, BUF - 8)  # spans two slots (1748 + 292)
        got: list[bytes] = []
        for k in range(0, len(frames), 50):
            b.tx.put([[f] for f in frames[k : k + 50]])
            b.txsync()
            got += take_at(a, 50)
        assert got == frames


def test_vale_offset_port_to_offset_port_with_headers(sw):
    """Both ends with offsets, and a header conversion (the slow path) on the way."""
    from nm.vale import hdr_set

    rng = random.Random(3)
    with (
        Port.open(f"{sw}:a", options=[offsets(128)]) as a,
        Port.open(f"{sw}:b", options=[offsets(64, 9)]) as b,
    ):
        assert hdr_set(f"{sw}:b", 10) == 0
        frames = vframes(40, 3, BCAST, rng)
        put_at(a, frames, [rng.randint(0, 128) for _ in frames])
        got = take_at(b, len(frames))
        assert [g[10:] for g in got] == frames
        assert all(g[:10] == bytes(10) for g in got)


def test_vale_hostile_tx_offsets_fail_the_sync_and_leak_nothing(sw):
    with Port.open(f"{sw}:a", options=[offsets(100, bits=8)]) as a, Port.open(f"{sw}:b") as b:
        f = frame(BCAST, mac(4), 0, 200)
        r = a.tx
        for ptr, ln in [(101, 60), (100, BUF - 99), (0, BUF + 1)]:
            s = r.slot(r.cur)
            s.ptr, s.len = ptr, ln
            r.head = r.cur = r.next(r.cur)
            assert errno_of(a.txsync) == EINVAL
            assert take_at(b, 1, tries=2) == []
        # bits above the mask are not part of the offset: 0x332 is offset 0x32 under 8 bits
        s = r.slot(r.cur)
        base = r.buf_offset(s.buf_idx) + 0x32
        r.mv[base : base + len(f)] = f
        s.ptr, s.len, s.flags = 0x332, len(f), 0
        r.head = r.cur = r.next(r.cur)
        a.txsync()
        assert take_at(b, 1) == [f]


def test_vale_hostile_rx_offset_is_clamped_to_the_maximum(sw):
    with Port.open(f"{sw}:a", options=[offsets(200)]) as a, Port.open(f"{sw}:b") as b:
        set_rx_offsets(a.rx, [ALL, 1 << 40, 201])
        frames = [frame(BCAST, mac(5), k, 100 + k) for k in range(6)] + [
            frame(BCAST, mac(5), 9, BUF - 10)
        ]
        b.tx.put([[f] for f in frames])
        b.txsync()
        a.rxsync()
        r = a.rx
        got: list[bytes] = []
        cur = r.cur
        while cur != r.tail:
            idx, ln, fl = r.get(cur)
            assert ln <= BUF - 200
            got.append(r.read_buf(idx, 200 + ln)[200:])
            cur = r.next(cur)
        assert b"".join(got) == b"".join(frames)


# ------------------------------------------------------------------------------------------------
# Pipes, the emulated adapter, monitors
# ------------------------------------------------------------------------------------------------


def test_pipe_carries_the_offsets(sw):
    rng = random.Random(6)
    with (
        Port.open(f"{sw}:p") as _,
        Port.open(f"{sw}:p{{1", options=[offsets(500)]) as m,
        Port.open(f"{sw}:p}}1", options=[offsets(500)]) as s,
    ):
        frames = [payload(k, rng.randint(1, BUF - 500)) for k in range(300)]
        offs = [rng.randint(0, 500) for _ in frames]
        got: list[bytes] = []
        for k in range(0, len(frames), 100):
            put_at(m, frames[k : k + 100], offs[k : k + 100])
            got += take_at(s, 100)
        assert got == frames
        r = m.tx  # offset + len beyond the buffer: EINVAL, nothing crosses
        sl = r.slot(r.cur)
        sl.ptr, sl.len = 500, BUF - 499
        r.head = r.cur = r.next(r.cur)
        assert errno_of(m.txsync) == EINVAL
        assert take_at(s, 1, tries=2) == []


@contextlib.contextmanager
def _veth() -> Iterator[tuple[str, str]]:
    with veth_pair() as pair:
        yield pair


def test_emulated_adapter_tx_and_rx_at_offsets():
    rng = random.Random(7)
    with (
        _veth() as (va, vb),
        Port.open(va, options=[offsets(600, 11)]) as p,
        RawSocket(vb) as sock,
    ):
        frames = [tframe(k, rng.randint(60, BUF - 600)) for k in range(100)]
        offs = [rng.randint(0, 600) for _ in frames]
        put_at(p, frames[:50], offs[:50])
        put_at(p, frames[50:], offs[50:])
        assert sock.recv_test_frames(len(frames)) == frames
        set_rx_offsets(p.rx, [rng.randint(0, 600) for _ in range(31)] + [ALL])
        back = [tframe(1000 + k, rng.randint(60, 1514)) for k in range(60)]
        for f in back:
            sock.send(f)
        got = [g for g in take_at(p, len(back), tries=200, clamp=600) if is_test_frame(g)]
        assert got == back


def test_copy_monitor_reads_from_the_offset_and_writes_at_its_own(sw):
    rng = random.Random(8)
    with (
        Port.open(f"{sw}:a", options=[offsets(256)]) as a,
        Port.open(f"{sw}:a", flags=abi.NR_MONITOR_TX, options=[offsets(128, 17)]) as mon,
        Port.open(f"{sw}:a", flags=abi.NR_MONITOR_TX) as plain,
        Port.open(f"{sw}:b") as b,
    ):
        set_rx_offsets(mon.rx, [rng.randint(0, 128) for _ in range(13)] + [ALL])
        frames = vframes(60, 8, BCAST, rng)
        frames[0] = frame(BCAST, mac(8), 0, BUF - 256)
        put_at(a, frames, [rng.randint(0, 256) for _ in frames[:-1]] + [256])
        assert take_at(b, len(frames)) == frames
        assert take_at(plain, len(frames)) == frames
        assert take_at(mon, len(frames), clamp=128) == frames


def test_vale_no_room_behind_the_maximum_drops_and_never_overflows(sw):
    """A destination slot with no room behind its offset takes no frame; a header conversion
    into slots with less room than the header is dropped too. Neither writes past a buffer."""
    from nm.vale import hdr_set

    f = frame(BCAST, mac(9), 0, 60)
    with (
        Port.open(f"{sw}:a") as a,
        Port.open(f"{sw}:b", options=[offsets(BUF, BUF)]) as b,
        Port.open(f"{sw}:c", options=[offsets(BUF - 4, BUF - 4)]) as c,
    ):
        assert hdr_set(f"{sw}:c", 10) == 0
        a.tx.put([[f]])
        a.txsync()
        assert take_at(b, 1, tries=2) == []
        assert take_at(c, 1, tries=2) == []
        set_rx_offsets(b.rx, [0])  # room again: the frame fits behind offset 0
        set_rx_offsets(c.rx, [0])  # a conversion still plans for the maximum: dropped
        a.tx.put([[f]])
        a.txsync()
        assert take_at(b, 1) == [f]
        assert take_at(c, 1, tries=2) == []


def put_chain_at(p: Port, frags: list[bytes], offs: list[int]) -> None:
    """One packet as an NS_MOREFRAG chain, each fragment at its offset, then txsync."""
    r = p.tx
    cur = r.cur
    for k, (f, o) in enumerate(zip(frags, offs, strict=True)):
        s = r.slot(cur)
        base = r.buf_offset(s.buf_idx) + o
        r.mv[base : base + len(f)] = f
        s.ptr, s.len = o, len(f)
        s.flags = abi.NS_MOREFRAG if k + 1 < len(frags) else 0
        cur = r.next(cur)
    r.head = r.cur = cur
    p.txsync()


def test_vale_gso_from_offsets_and_not_into_them(sw):
    """A TSO frame sent at offsets is segmented from there; segments (built at offset 0) go
    only to rings whose maximum offset is 0."""
    from nm.vale import hdr_set, recv_frags
    from test_vale_gso import check_tso, tcp_frame, tso_hdr

    f = tcp_frame(False, payload(11, 4000))
    pkt = tso_hdr(f, 1000) + f
    room = BUF - 256
    frags = [pkt[i : i + room] for i in range(0, len(pkt), room)]
    with (
        Port.open(f"{sw}:s", options=[offsets(256)]) as s,
        Port.open(f"{sw}:plain") as plain,
        Port.open(f"{sw}:zero", options=[offsets(0, 0, 8)]) as zero,
        Port.open(f"{sw}:far", options=[offsets(64)]) as far,
    ):
        assert hdr_set(f"{sw}:s", 10) == 0
        put_chain_at(s, frags, [256, 3, 100][: len(frags)])
        segs = [b"".join(x) for x in recv_frags(plain)]
        check_tso(f, segs, 1000)
        assert take_at(zero, len(segs)) == segs
        assert take_at(far, 1, tries=2) == []


def test_offsets_with_a_csb_and_after_it(pname):
    """OFFSETS and CSB in one REGISTER both act; taking the rings off the CSB again (which
    resets their shared pointers) keeps the offsets."""
    from nm import Request, ctrl
    from nm.kloop import Csb

    with Csb(2) as csb:
        opt = offsets(100, 7)
        with Port.open(f"{pname}{{1", flags=abi.NR_EXCLUSIVE, options=[opt, csb.option()]) as p:
            assert opt.status == 0
            off = Option(abi.NETMAP_REQ_OPT_CSB, bytes(16))
            ctrl(p.fd, Request(abi.NETMAP_REQ_CSB_ENABLE, p.name, None, [off]))
            assert off.status == 0
            for r in rings(p):
                assert r.hdr.offset_mask == ALL and r.slot(1).ptr == 7
