"""Pipes lock slot positions together (abi-corrections.md §11).

tx slot k of one end arrives, whole (buf_idx, len, flags, ptr), in rx slot k of the other end;
when the receiver releases it, the slot goes back whole to tx slot k, so the sender gets its
own buffer back at the same slot. The pipe clears NS_BUF_CHANGED and never sets it.
"""

import errno
import select
import time

import pytest
from nm import Port, abi, counters, errno_of, pools_info
from nm.port import Ring, pipe_pair_buffers
from nm.proc import Child


def _frame(tag: str, k: int) -> bytes:
    return f"{tag} frame {k}".encode().ljust(60 + k % 7, b".")


def _send(ring: Ring, frames: list[bytes], flags: int = 0) -> list[int]:
    """Write `frames` into the free slots from cur on, with `flags`; return the slots used."""
    used = []
    for f in frames:
        k = ring.cur
        ring.write_buf(ring.get(k)[0], f)
        ring.set_len_flags(k, len(f), flags)
        used.append(k)
        ring.advance(1)
    return used


def test_rx_slot_k_carries_tx_slot_k_and_the_buffer_comes_back(pname):
    with Port.open(f"{pname}{{1") as m, Port.open(f"{pname}}}1") as s:
        t, r = m.tx, s.rx
        # start away from slot 0, so positions are not equal by chance
        for _ in range(3):
            _send(t, [b"w" * 60])
            m.txsync()
            s.rxsync()
            r.advance(1)
            s.rxsync()
        m.txsync()
        before = {k: t.get(t.next(t.cur, k))[0] for k in range(5)}
        frames = [_frame("a", k) for k in range(5)]
        # NS_BUF_CHANGED set by the sender without a swap: the pipe clears it
        used = _send(t, frames, abi.NS_BUF_CHANGED)
        for j, k in enumerate(used):
            t.slot(k).ptr = 0x1000 + j
        assert used == [3, 4, 5, 6, 7]
        m.txsync()
        for k in used:
            assert not t.get(k)[2] & abi.NS_BUF_CHANGED, "cleared on the sender's side too"
        s.rxsync()
        assert (r.head, r.tail) == (3, 8)
        for j, k in enumerate(used):
            sl = r.slot(k)
            assert (sl.buf_idx, sl.len, sl.flags, sl.ptr) == (
                before[j],
                len(frames[j]),
                0,
                0x1000 + j,
            )
            assert r.read_buf(sl.buf_idx, sl.len) == frames[j]
        r.advance(5)
        s.rxsync()
        assert t.tail == 2, "nothing comes back before the sender's txsync"
        m.txsync()
        assert t.tail == 7, "tail = the receiver's hwcur - 1"
        for j, k in enumerate(used):
            idx, ln, fl = t.get(k)
            assert idx == before[j], "the sender's own buffer, at the same slot"
            assert ln == len(frames[j])
            assert not fl & abi.NS_BUF_CHANGED


def test_a_buffer_the_receiver_swaps_in_goes_to_the_sender(pname):
    with Port.open(f"{pname}{{1") as m, Port.open(f"{pname}}}1", extra_bufs=4) as s:
        t, r = m.tx, s.rx
        extra = s.extra_bufs()
        assert len(extra) == 4
        sent = [t.get(k)[0] for k in range(3)]
        _send(t, [_frame("b", k) for k in range(3)])
        m.txsync()
        s.rxsync()
        # slot 1 is forwarded zero-copy: the receiver keeps the buffer, gives one of its own
        mine = extra.pop()
        r.set(1, mine, 0, abi.NS_BUF_CHANGED)
        s.set_extra_bufs([*extra, sent[1]])
        r.advance(3)
        s.rxsync()
        m.txsync()
        assert t.get(0)[0] == sent[0] and not t.get(0)[2] & abi.NS_BUF_CHANGED
        assert t.get(1) == (mine, 0, abi.NS_BUF_CHANGED), "as the receiver left it"
        assert t.get(2)[0] == sent[2]
        assert t.tail == 2


def test_the_receivers_backlog_is_a_full_tx_ring(pname):
    with Port.open(f"{pname}{{1", tx_slots=64, rx_slots=64) as m, Port.open(f"{pname}}}1") as s:
        t, r = m.tx, s.rx
        bufs = t.buf_indices()
        assert r.buf_indices() == bufs, "one set of buffers per pair of rings"
        _send(t, [_frame("c", k) for k in range(63)])
        m.txsync()
        assert (t.head, t.tail) == (63, 63)
        assert t.space() == 0, "nothing released: the ring is full"
        s.rxsync()
        assert (r.head, r.tail) == (0, 63)
        r.advance(10)
        s.rxsync()
        m.txsync()
        assert (t.head, t.tail) == (63, 9), "exactly the released slots are free"
        assert [t.get(k)[0] for k in [63, *range(9)]] == [bufs[63], *bufs[:9]]
        used = _send(t, [_frame("d", k) for k in range(10)])
        assert used == [63, *range(9)]
        m.txsync()
        assert t.space() == 0
        s.rxsync()
        assert (r.head, r.tail) == (10, 9)
        assert [r.get(k)[0] for k in used] == [bufs[63], *bufs[:9]]
        # the frames still in the backlog are the first ones, untouched
        assert [r.read_buf(r.get(k)[0], r.get(k)[1]) for k in range(10, 63)] == [
            _frame("c", k) for k in range(10, 63)
        ]
        assert sorted(pipe_pair_buffers(t, r)) == sorted(bufs)


def test_a_fragment_chain_is_published_when_its_last_slot_is_sent(pname):
    with Port.open(f"{pname}{{1") as m, Port.open(f"{pname}}}1") as s:
        t, r = m.tx, s.rx
        _send(t, [b"one".ljust(60)])
        _send(t, [b"f1", b"f2"], abi.NS_MOREFRAG)
        m.txsync()
        s.rxsync()
        assert r.tail == 1, "the chain is not complete: only the first packet"
        _send(t, [b"f3"])
        m.txsync()
        s.rxsync()
        assert r.tail == 4
        assert [r.get(k)[2] for k in range(1, 4)] == [abi.NS_MOREFRAG, abi.NS_MOREFRAG, 0]
        assert r.take() == [[b"one".ljust(60)], [b"f1", b"f2", b"f3"]]


# -- hostile slots ---------------------------------------------------------------------------


@pytest.mark.parametrize("what", ["buf_idx=objtotal", "buf_idx=1", "len=buf+1"])
def test_a_bad_tx_slot_reaches_nothing(pname, what):
    with Port.open(f"{pname}{{1") as m, Port.open(f"{pname}}}1") as s:
        t, r = m.tx, s.rx
        objtotal = pools_info(f"{pname}{{1").nr_buf_pool_objtotal
        good = t.get(2)[0]
        _send(t, [_frame("e", k) for k in range(4)])
        if what == "len=buf+1":
            t.set(2, good, t.buf_size + 1, 0)
        else:
            t.set(2, objtotal if what == "buf_idx=objtotal" else 1, 60, 0)
        assert errno_of(m.txsync) == errno.EINVAL
        s.rxsync()
        assert r.tail == 0, "the whole sync is refused"
        assert all(2 <= i < objtotal for i in r.buf_indices())
        assert (t.head, t.cur) == (0, 0), "the ring is reinit: nothing was handed over"
        t.set(2, good, 60, 0)
        t.advance(4)
        m.txsync()
        s.rxsync()
        assert r.tail == 4
        assert r.get(2)[0] == good


def test_a_bad_buffer_released_on_rx_never_reaches_the_sender(pname):
    with Port.open(f"{pname}{{1") as m, Port.open(f"{pname}}}1") as s:
        t, r = m.tx, s.rx
        objtotal = pools_info(f"{pname}{{1").nr_buf_pool_objtotal
        sent = [t.get(k)[0] for k in range(4)]
        _send(t, [_frame("f", k) for k in range(4)])
        m.txsync()
        s.rxsync()
        r.set(2, objtotal + 5, 60, 0)
        r.advance(4)
        assert errno_of(s.rxsync) == errno.EINVAL
        assert r.get(2)[0] == 0, "parked on the reserved buffer 0"
        m.txsync()
        assert t.tail == t.num_slots - 1, "nothing released: the sync was refused"
        assert [t.get(k)[0] for k in range(4)] == sent
        r.set(2, sent[2], 60, 0)
        r.advance(4)
        s.rxsync()
        m.txsync()
        assert t.tail == 3
        assert [t.get(k)[0] for k in range(4)] == sent


def test_a_released_length_goes_back_as_left_and_is_checked_when_sent(pname):
    with Port.open(f"{pname}{{1") as m, Port.open(f"{pname}}}1") as s:
        t, r = m.tx, s.rx
        _send(t, [b"g" * 60])
        m.txsync()
        s.rxsync()
        idx = r.get(0)[0]
        r.set(0, idx, 0xFFFF, abi.NS_MOREFRAG)
        r.advance(1)
        s.rxsync()
        m.txsync()
        assert t.get(0) == (idx, 0xFFFF, abi.NS_MOREFRAG)
        # sent again as it is, the slot is refused (see test_a_bad_tx_slot_reaches_nothing)


# -- both ends at once -----------------------------------------------------------------------

N_FRAMES = 20000


def _frames(tag: str) -> list[bytes]:
    return [
        f"{tag}{k:08d}".encode().ljust(60 + k % 64, bytes([65 + k % 26])) for k in range(N_FRAMES)
    ]


def _run_end(p: Port, out_tag: str, deadline: float) -> list[bytes]:
    """Send N_FRAMES and receive N_FRAMES on `p`, both at once; return what arrived."""
    t, r = p.tx, p.rx
    out = _frames(out_tag)
    sent = 0
    got: list[bytes] = []
    while (sent < N_FRAMES or len(got) < N_FRAMES) and time.monotonic() < deadline:
        if sent < N_FRAMES:
            n = min(t.space(), N_FRAMES - sent)
            _send(t, out[sent : sent + n])
            sent += n
        p.poll(select.POLLIN | (select.POLLOUT if sent < N_FRAMES else 0), 100)
        for k in range(r.space()):
            idx, ln, _ = r.get(r.next(r.cur, k))
            got.append(r.read_buf(idx, ln))
        r.advance(r.space())
        p.rxsync()
    return got


def _slave(ctl, name: str) -> list[bytes]:
    with Port.open(name) as s:
        ctl.send(b"R")
        ctl.recv()
        return _run_end(s, "S", time.monotonic() + 100)


@pytest.mark.lab(smp=2)
@pytest.mark.timeout(240)
def test_both_ends_at_once_from_two_processes(pname):
    with Port.open(f"{pname}{{1", tx_slots=256, rx_slots=256) as m:
        child = Child(_slave, f"{pname}}}1")
        assert child.ctl.recv() == b"R"
        child.ctl.send(b"G")
        got_m = _run_end(m, "M", time.monotonic() + 100)
        got_s = child.join(timeout=120)
    assert len(got_s) == N_FRAMES
    assert got_s == _frames("M")
    assert len(got_m) == N_FRAMES
    assert got_m == _frames("S")


# -- lifetime ------------------------------------------------------------------------------


def _bufs_in_use() -> int:
    v = counters.read("buf_in_use")
    assert v is not None
    return v


def test_a_pipe_holds_one_buffer_set_per_pair_of_rings(pname):
    base = _bufs_in_use()
    with Port.open(f"{pname}{{1", tx_slots=64, rx_slots=128, extra_bufs=0):
        assert _bufs_in_use() - base == 64 + 128
    assert counters.wait_idle({"buf_in_use": base})["buf_in_use"] == base


@pytest.mark.parametrize("order", ["sender first", "receiver first", "sender only"])
def test_closing_with_frames_in_flight_frees_every_buffer_once(pname, order):
    base = _bufs_in_use()
    m = Port.open(f"{pname}{{1", tx_slots=64, rx_slots=64)
    s = None if order == "sender only" else Port.open(f"{pname}}}1", extra_bufs=2)
    _send(m.tx, [_frame("h", k) for k in range(40)])
    m.txsync()
    if s is not None:
        s.rxsync()
        r = s.rx
        # the receiver takes some, swaps a buffer of its own into one, keeps the rest
        extra = s.extra_bufs()
        kept = r.get(3)[0]
        r.set(3, extra[0], 0, abi.NS_BUF_CHANGED)
        s.set_extra_bufs([kept, extra[1]])
        r.advance(5)
        s.rxsync()
    first, second = (s, m) if order == "receiver first" else (m, s)
    first.close()
    if second is not None:
        second.close()
    assert counters.wait_idle({"buf_in_use": base})["buf_in_use"] == base


def test_a_scribbled_in_flight_slot_is_not_freed_twice(pname):
    """The receiver puts the buffer of another in-flight slot into a slot: at close the kernel
    frees each buffer once and skips the duplicate."""
    base = _bufs_in_use()
    with Port.open(f"{pname}{{1") as m, Port.open(f"{pname}}}1") as s:
        _send(m.tx, [_frame("i", k) for k in range(4)])
        m.txsync()
        s.rxsync()
        lost = s.rx.get(1)[0]
        s.rx.set(1, s.rx.get(2)[0], 60, 0)
    # buffer `lost` is nobody's any more: userspace dropped it, so it leaks to the region,
    # which frees it with the region (the pipe's parent goes with the pipe)
    assert lost >= 2
    assert counters.wait_idle({"buf_in_use": base})["buf_in_use"] == base


def test_unbound_end_rebinds_and_finds_its_frames(pname):
    with Port.open(f"{pname}{{1") as m:
        _send(m.tx, [_frame("j", k) for k in range(3)])
        m.txsync()
        with Port.open(f"{pname}}}1") as s:
            s.rxsync()
            assert s.rx.tail == 3
        with Port.open(f"{pname}}}1") as s:
            s.rxsync()
            assert [s.rx.read_buf(*s.rx.get(k)[:2]) for k in range(3)] == [
                _frame("j", k) for k in range(3)
            ]
