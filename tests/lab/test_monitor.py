"""Monitor ports: copy monitors (/t, /r, /rt) and zero-copy monitors (/z) on pipes, NIC ports
and VALE ports see exactly the packets that crossed the monitored rings, in order. When they see
them is test_monitor_exact.py's subject."""

import errno
import random
import select
import time

import pytest
from nm import Port, abi, errno_of, packets, port_info, transfer
from nm.netdev import RawSocket, is_test_frame, tframe, veth_pair
from nm.packets import mismatch

SEED = 20240612
TX, RX, Z = abi.NR_MONITOR_TX, abi.NR_MONITOR_RX, abi.NR_ZCOPY_MON


def _mon_take(mon: Port, want: int, timeout: float = 5.0) -> list[tuple[list[bytes], int]]:
    """Packets on the monitor's rx ring 0 with the flags of their first slot."""
    r = mon.rx
    out: list[tuple[list[bytes], int]] = []
    deadline = time.monotonic() + timeout
    while len(out) < want and time.monotonic() < deadline:
        mon.rxsync()
        cur, tail = r.cur, r.tail
        frags: list[bytes] = []
        first_flags = None
        while cur != tail:
            idx, length, flags = r.get(cur)
            if first_flags is None:
                first_flags = flags
            frags.append(r.read_buf(idx, length))
            cur = r.next(cur)
            if not flags & abi.NS_MOREFRAG:
                out.append((frags, first_flags))
                frags, first_flags = [], None
        r.head = r.cur = cur
        if len(out) < want:
            mon.poll(select.POLLIN, 20)
    return out


def _pkts(tag: str, n: int, lo: int = 60, hi: int = 2048):
    return packets.single(random.Random(f"{SEED}-{tag}"), n, lo, hi)


# ------------------------------------------------------------------------------------------------
# Copy monitors on pipes
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 700, 3000])
def test_tx_copy_monitor_sees_what_the_master_sent(pname, count):
    pkts = _pkts(f"t{count}", count)
    with Port.open(f"{pname}{{1") as m, Port.open(f"{pname}}}1") as s:
        with Port.open(f"{pname}{{1", flags=TX) as mon:
            got: list = []
            for k in range(0, count, 500):  # the monitor ring holds 1023 slots
                chunk = pkts[k : k + 500]
                assert mismatch(chunk, transfer(m, s, chunk)) is None
                got += _mon_take(mon, len(chunk))
        assert mismatch(pkts, [p for p, _ in got]) is None
        assert all(fl & abi.NS_TXMON for _, fl in got)


def test_rx_copy_monitor_sees_what_the_slave_received(pname):
    pkts = _pkts("r", 900)
    with Port.open(f"{pname}{{1") as m, Port.open(f"{pname}}}1") as s:
        with Port.open(f"{pname}}}1", flags=RX) as mon:
            assert mismatch(pkts, transfer(m, s, pkts)) is None
            got = _mon_take(mon, len(pkts))
        assert mismatch(pkts, [p for p, _ in got]) is None
        assert not any(fl & abi.NS_TXMON for _, fl in got)


def test_rt_monitor_sees_both_directions_marked(pname):
    out, back = _pkts("o", 300), _pkts("b", 200)
    with Port.open(f"{pname}{{1") as m, Port.open(f"{pname}}}1") as s:
        with Port.open(f"{pname}{{1", flags=TX | RX) as mon:
            assert mismatch(out, transfer(m, s, out)) is None
            assert mismatch(back, transfer(s, m, back)) is None
            got = _mon_take(mon, len(out) + len(back))
        assert mismatch(out, [p for p, fl in got if fl & abi.NS_TXMON]) is None
        assert mismatch(back, [p for p, fl in got if not fl & abi.NS_TXMON]) is None


def test_fragment_chains_are_monitored_whole(pname):
    pkts = packets.chains(random.Random(SEED), 40, max_frags=8)
    with (
        Port.open(f"{pname}{{1") as m,
        Port.open(f"{pname}}}1") as s,
        Port.open(f"{pname}{{1", flags=TX) as t,
        Port.open(f"{pname}}}1", flags=RX) as r,
    ):
        assert mismatch(pkts, transfer(m, s, pkts)) is None
        assert mismatch(pkts, [p for p, _ in _mon_take(t, len(pkts))]) is None
        assert mismatch(pkts, [p for p, _ in _mon_take(r, len(pkts))]) is None


def test_several_copy_monitors_and_ring_selection(pname):
    pkts = _pkts("multi", 50, 60, 200)
    with (
        Port.open(f"{pname}{{1", tx_rings=2, rx_rings=2) as m,
        Port.open(f"{pname}}}1") as s,
        Port.open(f"{pname}{{1", flags=TX) as a,
        Port.open(f"{pname}{{1", abi.NR_REG_ONE_NIC, ringid=1, flags=TX) as b,
    ):
        assert len(b.rx_rings) == 2 and b.rx_rings[0] is None
        assert mismatch(pkts, transfer(m, s, pkts, tx_ring=1, rx_ring=1)) is None
        for mon in (a, b):
            mon.rxsync()
            got = mon.rx_rings[1].take()
            assert mismatch(pkts, got) is None


def test_a_full_monitor_drops_without_error(pname):
    pkts = _pkts("full", 1500, 60, 100)
    with Port.open(f"{pname}{{1") as m, Port.open(f"{pname}}}1") as s:
        with Port.open(f"{pname}{{1", flags=TX) as mon:
            room = mon.rx.num_slots - 1
            assert mismatch(pkts, transfer(m, s, pkts)) is None
            got = _mon_take(mon, 2000, timeout=0.5)
        assert len(got) == room
        assert mismatch(pkts[:room], [p for p, _ in got]) is None


# ------------------------------------------------------------------------------------------------
# Zero-copy monitors on pipes
# ------------------------------------------------------------------------------------------------


def test_zcopy_rx_monitor_gets_released_buffers(pname):
    pkts = _pkts("zr", 800)
    with Port.open(f"{pname}{{1") as m, Port.open(f"{pname}}}1") as s:
        with Port.open(f"{pname}}}1", flags=Z | RX) as mon:
            assert mismatch(pkts, transfer(m, s, pkts)) is None
            s.rxsync()  # the last release
            got = _mon_take(mon, len(pkts))
        assert mismatch(pkts, [p for p, _ in got]) is None
        assert all(fl & abi.NS_BUF_CHANGED for _, fl in got)
        assert not any(fl & abi.NS_TXMON for _, fl in got)


def test_zcopy_tx_monitor_on_a_pipe_gets_what_the_peer_released(pname):
    pkts = _pkts("zt", 600)
    with Port.open(f"{pname}{{1") as m, Port.open(f"{pname}}}1") as s:
        with Port.open(f"{pname}{{1", flags=Z | TX) as mon:
            assert mismatch(pkts, transfer(m, s, pkts)) is None
            s.rxsync()
            m.txsync()  # the released slots show at the sender's next txsync
            got = _mon_take(mon, len(pkts))
        assert mismatch(pkts, [p for p, _ in got]) is None
        assert all(fl & abi.NS_TXMON for _, fl in got)


def test_zcopy_both_ways_keeps_the_traffic_intact(pname):
    """Buffers move to the monitor and back: nothing the endpoints see changes."""
    a, b = _pkts("za", 2500), _pkts("zb", 2500)
    with (
        Port.open(f"{pname}{{1") as m,
        Port.open(f"{pname}}}1") as s,
        Port.open(f"{pname}}}1", flags=Z) as mon,
    ):
        for k in range(0, 2500, 500):
            assert mismatch(a[k : k + 500], transfer(m, s, a[k : k + 500])) is None
            assert mismatch(b[k : k + 500], transfer(s, m, b[k : k + 500])) is None
            m.rxsync()
            s.rxsync()
            _mon_take(mon, 1000, timeout=0.2)


def test_second_zcopy_monitor_is_busy_copy_monitors_are_not(pname):
    with Port.open(f"{pname}{{1"), Port.open(f"{pname}}}1"):
        with Port.open(f"{pname}}}1", flags=Z | RX):
            assert errno_of(lambda: Port.open(f"{pname}}}1", flags=Z | RX)) == errno.EBUSY
            # the master's zero-copy tx monitor takes the same released slots
            assert errno_of(lambda: Port.open(f"{pname}{{1", flags=Z | TX)) == errno.EBUSY
            with Port.open(f"{pname}}}1", flags=RX), Port.open(f"{pname}}}1", flags=RX):
                pass
        with Port.open(f"{pname}}}1", flags=Z | RX):
            pass


# ------------------------------------------------------------------------------------------------
# Lifetime and hostile requests
# ------------------------------------------------------------------------------------------------


def test_monitor_of_an_unbound_port_is_einval(pname):
    assert errno_of(lambda: Port.open(f"{pname}{{1", flags=TX)) == errno.EINVAL
    assert errno_of(lambda: Port.open("ptnosuchdev9", flags=RX)) == errno.ENXIO


def test_monitor_bad_ring_selection(pname):
    with Port.open(f"{pname}{{1"), Port.open(f"{pname}}}1"):
        assert errno_of(lambda: Port.open(f"{pname}{{1", abi.NR_REG_SW, flags=TX)) == errno.EINVAL
        one = abi.NR_REG_ONE_NIC
        assert errno_of(lambda: Port.open(f"{pname}{{1", one, ringid=9, flags=TX)) == errno.EINVAL


def test_monitor_outlives_the_monitored_binding_but_fails_eio(pname):
    m = Port.open(f"{pname}{{1")
    s = Port.open(f"{pname}}}1")
    mon = Port.open(f"{pname}{{1", flags=TX | RX)
    pkts = _pkts("live", 20)
    assert mismatch(pkts, transfer(m, s, pkts)) is None
    assert len(_mon_take(mon, len(pkts))) == len(pkts)
    m.close()
    s.close()
    assert errno_of(mon.rxsync) == errno.EIO
    mon.close()


def test_monitor_port_info(pname):
    with Port.open(f"{pname}{{1", tx_rings=3, rx_rings=1), Port.open(f"{pname}}}1"):
        info = port_info(f"{pname}{{1")
        assert (info.nr_tx_rings, info.nr_rx_rings) == (3, 1)
        with Port.open(f"{pname}{{1", flags=TX) as mon:
            assert (mon.reg.nr_tx_rings, mon.reg.nr_rx_rings) == (1, 3)
            assert mon.reg.nr_mem_id != info.nr_mem_id  # a private region of its own
        with Port.open(f"{pname}{{1", flags=Z) as mon:
            assert (mon.reg.nr_tx_rings, mon.reg.nr_rx_rings) == (1, 3)
            assert mon.reg.nr_mem_id == info.nr_mem_id  # trades buffers with the parent


# ------------------------------------------------------------------------------------------------
# NIC ports
# ------------------------------------------------------------------------------------------------


def test_copy_monitors_on_a_nic_port():
    rng = random.Random(SEED)
    frames_in = [tframe(i, rng.randint(60, 1514)) for i in range(300)]
    frames_out = [tframe(1000 + i, rng.randint(60, 1514)) for i in range(300)]
    with (
        veth_pair() as (a, b),
        Port.open(a) as p,
        RawSocket(b) as raw,
        Port.open(a, flags=RX) as mr,
        Port.open(a, flags=TX) as mt,
    ):
        got: list[bytes] = []
        for f in frames_in:
            raw.send(f)
        deadline = time.monotonic() + 10
        while len(got) < len(frames_in) and time.monotonic() < deadline:
            p.rxsync()
            got += [b"".join(x) for x in p.rx.take()]
            p.poll(select.POLLIN, 20)
        got = [f for f in got if is_test_frame(f)]
        assert got == frames_in
        seen = [b"".join(x) for x, _ in _mon_take(mr, len(got))]
        assert [f for f in seen if is_test_frame(f)] == frames_in
        sent = 0
        while sent < len(frames_out):
            sent += p.tx.put([[f] for f in frames_out], sent)
            p.txsync()
            p.poll(select.POLLOUT, 20)
        out = _mon_take(mt, len(frames_out))
        assert [b"".join(x) for x, _ in out] == frames_out
        assert all(fl & abi.NS_TXMON for _, fl in out)


def test_zcopy_monitor_on_a_nic_port_rx():
    frames = [tframe(i, 100 + i) for i in range(100)]
    with (
        veth_pair() as (a, b),
        Port.open(a) as p,
        RawSocket(b) as raw,
        Port.open(a, flags=Z | RX) as mon,
    ):
        for f in frames:
            raw.send(f)
        got: list[bytes] = []
        deadline = time.monotonic() + 10
        while len(got) < len(frames) and time.monotonic() < deadline:
            p.rxsync()
            got += [b"".join(x) for x in p.rx.take()]
            p.poll(select.POLLIN, 20)
        p.rxsync()  # release the last ones
        seen = [b"".join(x) for x, _ in _mon_take(mon, len(got))]
        assert [f for f in seen if is_test_frame(f)] == frames


# ------------------------------------------------------------------------------------------------
# Monitors on VALE ports
# ------------------------------------------------------------------------------------------------


def _vale_frames(tag: str, n: int) -> list[list[bytes]]:
    """Broadcast frames (every VALE port gets them) with random payloads."""
    rng = random.Random(f"{SEED}-{tag}")
    head = b"\xff" * 6 + bytes([2, 0, 0, 0, 0, 1]) + b"\x08\x00"
    return [[head + rng.randbytes(rng.randrange(46, 1400))] for _ in range(n)]


def _vale_send(a: Port, b: Port, pkts: list[list[bytes]]) -> list[list[bytes]]:
    """a sends in rounds that fit b's rx ring (VALE drops what does not fit); b's packets."""
    got: list = []
    for k in range(0, len(pkts), 200):
        chunk = pkts[k : k + 200]
        assert a.tx.put(chunk) == len(chunk)
        a.txsync()
        b.rxsync()
        got += b.rx.take()
        b.rxsync()
    return got


@pytest.mark.parametrize(("watched", "flags"), [("a", TX), ("b", RX), ("b", Z | RX)])
def test_monitors_on_vale_ports(pname, watched, flags):
    sw = f"vale{pname[1:]}"
    pkts = _vale_frames(f"v{watched}{flags}", 600)
    with Port.open(f"{sw}:a") as a, Port.open(f"{sw}:b") as b:
        with Port.open(f"{sw}:{watched}", flags=flags) as mon:
            got = _vale_send(a, b, pkts)
            assert mismatch(pkts, got) is None
            b.rxsync()  # the last release, for the zero-copy monitor
            seen = _mon_take(mon, len(pkts))
            assert _mon_take(mon, 1, timeout=0.2) == [], "more than what crossed the port"
        assert mismatch(pkts, [p for p, _ in seen]) is None
        assert all(bool(fl & abi.NS_TXMON) == bool(flags & TX) for _, fl in seen)
