"""Monitors as netmap's functional scripts 012-016 and 025-027 see them (abi-corrections.md §9):
when /r, /t and /z see a frame on VALE ports, persistent VALE ports and pipes, and the monitor's
own rules (a parent in netmap mode, ring counts, regions, a full ring, a parent that leaves)."""

import contextlib
import errno
import itertools
import select
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from nm import Port, abi, errno_of
from nm.vale import attach, delif, detach, newif

TX, RX, Z = abi.NR_MONITOR_TX, abi.NR_MONITOR_RX, abi.NR_ZCOPY_MON
_names = itertools.count()


@pytest.fixture
def sw() -> str:
    return f"valem{next(_names)}"


@pytest.fixture
def vp(sw: str) -> Iterator[str]:
    """A persistent port attached to `sw`, detached and deleted after the test."""
    name = f"vpm{next(_names)}"
    assert newif(name) == 0
    assert attach(f"{sw}:{name}") == (0, 0)
    yield name
    detach(f"{sw}:{name}")
    delif(name)


def script_frame(fill: bytes = b"d", length: int = 150) -> bytes:
    """The scripts' frame: broadcast from 00:00:00:00:00:00, filled with one byte."""
    return b"\xff" * 6 + b"\x00" * 6 + fill * (length - 12)


def send(p: Port, frame: bytes) -> None:
    assert p.tx.put([[frame]]) == 1
    p.txsync()


def receive(p: Port, timeout: float = 1.0) -> list[tuple[bytes, int]]:
    """The scripts' receiver: NIOCRXSYNC every 100 ms until something arrives or `timeout`
    passes; the frames (with the flags of their slot) are consumed (head moves) but not yet
    released to the kernel (that takes the next rxsync)."""
    r = p.rx
    deadline = time.monotonic() + timeout
    while True:
        p.rxsync()
        out = []
        cur = r.cur
        while cur != r.tail:
            idx, length, flags = r.get(cur)
            out.append((r.read_buf(idx, length), flags))
            cur = r.next(cur)
        if out:
            r.head = r.cur = cur
            return out
        if time.monotonic() >= deadline:
            return []
        time.sleep(0.1)


def frames(got: list[tuple[bytes, int]]) -> list[bytes]:
    """The frames alone: what a pipe leaves in the flags of its receiver's slots is not the
    monitors' business."""
    return [f for f, _ in got]


# ------------------------------------------------------------------------------------------------
# /r: at the moment a frame lands in the parent's rx ring (012, 013, 014)
# ------------------------------------------------------------------------------------------------


def test_012_rx_monitor_of_a_vale_port_sees_what_it_is_sent_unread(sw):
    f = script_frame()
    with (
        Port.open(f"{sw}:v0") as v0,
        Port.open(f"{sw}:v0", flags=RX) as mon,
        Port.open(f"{sw}:v1") as v1,
    ):
        send(v1, f)
        assert receive(mon) == [(f, 0)]  # nobody has read v0
        assert receive(v0) == [(f, 0)]  # v0 still gets its frame


def test_013_rx_monitor_of_a_persistent_port_by_its_own_name(sw, vp):
    f = script_frame(b"e")
    with (
        Port.open(f"{sw}:{vp}") as v0,
        Port.open(vp, flags=RX) as mon,
        Port.open(f"{sw}:v1") as v1,
    ):
        send(v1, f)
        assert receive(mon) == [(f, 0)]
        assert receive(v0) == [(f, 0)]


def test_rx_monitor_of_a_persistent_port_sees_what_its_netdev_sends():
    """The stack sending on a persistent port's netdev lands in the port's rx ring too."""
    name = f"vpm{next(_names)}"
    assert newif(name) == 0
    try:
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        with (
            Port.open(name) as v0,
            Port.open(name, flags=RX) as mon,
            socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88B5)) as raw,
        ):
            raw.bind((name, 0))
            f = b"\xff" * 6 + b"\x02" * 6 + b"\x88\xb5" + b"n" * 100
            raw.send(f)
            ours = [x for x in receive(mon, 5.0) if x[0][12:14] == b"\x88\xb5"]
            while not ours:  # the stack may have sent something of its own first
                got = receive(mon, 5.0)
                assert got, "nothing reached the monitor"
                ours = [x for x in got if x[0][12:14] == b"\x88\xb5"]
            assert ours == [(f, 0)]
            assert f in frames(receive(v0))
    finally:
        delif(name)


def test_014_rx_monitor_of_a_pipe_end_sees_what_its_peer_sent(pname):
    f = script_frame(b"p")
    with (
        Port.open(f"{pname}{{1") as m,
        Port.open(f"{pname}{{1", flags=RX) as mon,
        Port.open(f"{pname}}}1") as s,
    ):
        send(s, f)
        assert receive(mon) == [(f, 0)]  # before anyone reads pipe{1
        assert frames(receive(m)) == [f]


def test_rx_monitor_sees_the_parents_copy_untouched(pname):
    """The monitor's copy is its own: rewriting it changes nothing the parent's reader sees."""
    f = script_frame(b"q")
    with (
        Port.open(f"{pname}{{1") as m,
        Port.open(f"{pname}{{1", flags=RX) as mon,
        Port.open(f"{pname}}}1") as s,
    ):
        send(s, f)
        mon.rxsync()
        idx = mon.rx.get(mon.rx.cur)[0]
        mon.rx.write_buf(idx, b"\x00" * len(f))
        assert frames(receive(m)) == [f]


def test_tx_monitor_copies_at_the_parents_txsync(sw):
    f = script_frame(b"t")
    with (
        Port.open(f"{sw}:v0") as v0,
        Port.open(f"{sw}:v0", flags=TX) as mon,
        Port.open(f"{sw}:v1") as v1,
    ):
        r = v0.tx
        assert r.put([[f]]) == 1
        mon.rxsync()
        assert mon.rx.tail == mon.rx.head  # not before the txsync
        v0.txsync()
        mon.rxsync()
        assert mon.rx.tail == mon.rx.next(mon.rx.head)  # at once, without a wait
        assert receive(mon, 0) == [(f, abi.NS_TXMON)]
        assert receive(v1) == [(f, 0)]


# ------------------------------------------------------------------------------------------------
# /z on the tx side: VALE completes at once (025, 026), a pipe once the peer released (027)
# ------------------------------------------------------------------------------------------------


def _zcopy_tx_vale(sender: Port, mon: Port, other: Port, fill: bytes) -> None:
    f = script_frame(fill)
    r = sender.tx
    slot = r.cur
    before = r.get(slot)[0]
    send(sender, f)
    got = receive(mon)
    assert got == [(f, abi.NS_TXMON | abi.NS_BUF_CHANGED)]
    mon_idx = mon.rx.get(mon.rx.next(mon.rx.cur, -1))[0]
    assert mon_idx == before  # the sender's buffer itself moved to the monitor
    idx, _, flags = r.get(slot)
    assert idx != before and flags & abi.NS_BUF_CHANGED
    assert receive(other) == [(f, 0)]  # the switch made its copy first


def test_025_zcopy_monitor_of_a_vale_sender(sw):
    with (
        Port.open(f"{sw}:v0") as v0,
        Port.open(f"{sw}:v0", flags=Z) as mon,
        Port.open(f"{sw}:v1") as v1,
    ):
        assert mon.reg.nr_mem_id == v0.reg.nr_mem_id  # it trades buffers with v0
        _zcopy_tx_vale(v0, mon, v1, b"z")


def test_026_zcopy_monitor_of_a_persistent_sender(sw, vp):
    with (
        Port.open(vp) as v0,
        Port.open(vp, flags=Z) as mon,
        Port.open(f"{sw}:v1") as v1,
    ):
        _zcopy_tx_vale(v0, mon, v1, b"y")


def test_027_zcopy_monitor_of_a_pipe_sender_sees_consumed_frames(pname):
    a, b = script_frame(b"a"), script_frame(b"b")
    with (
        Port.open(f"{pname}{{1") as m,
        Port.open(f"{pname}{{1", flags=Z) as mon,
        Port.open(f"{pname}}}1") as s,
    ):
        send(m, a)
        assert receive(mon) == []  # not consumed yet
        assert frames(receive(s)) == [a]
        s.rxsync()  # released
        assert receive(mon, 0.3) == []  # shown at the sender's next txsync, not before
        send(m, b)
        assert receive(mon) == [(a, abi.NS_TXMON | abi.NS_BUF_CHANGED)]
        assert receive(mon, 0.3) == []  # b is not consumed yet
        assert frames(receive(s)) == [b]


# ------------------------------------------------------------------------------------------------
# /z on the rx side: slots the reader released, before the parent's rxsync (015, 016)
# ------------------------------------------------------------------------------------------------


def _zcopy_rx(reader: Port, mon: Port, sender: Port, fill: bytes) -> None:
    f = script_frame(fill)
    send(sender, f)
    assert receive(mon) == []  # nobody consumed it: a timeout is the success
    r = reader.rx
    slot = r.cur
    assert receive(reader) == [(f, 0)]
    before = r.get(slot)[0]
    assert receive(mon, 0.3) == []  # consumed, not yet released
    reader.rxsync()  # releases it
    assert receive(mon) == [(f, abi.NS_BUF_CHANGED)]
    assert mon.rx.get(mon.rx.next(mon.rx.cur, -1))[0] == before
    idx, _, flags = r.get(slot)
    assert idx != before and flags & abi.NS_BUF_CHANGED


def test_015_zcopy_monitor_of_a_vale_receiver(sw):
    with (
        Port.open(f"{sw}:v0") as v0,
        Port.open(f"{sw}:v0", flags=Z) as mon,
        Port.open(f"{sw}:v1") as v1,
    ):
        _zcopy_rx(v0, mon, v1, b"r")


def test_016_zcopy_monitor_of_a_persistent_receiver(sw, vp):
    with (
        Port.open(vp) as v0,
        Port.open(vp, flags=Z) as mon,
        Port.open(f"{sw}:v1") as v1,
    ):
        _zcopy_rx(v0, mon, v1, b"s")


def test_zcopy_monitors_are_exclusive_on_the_buffers_they_take(pname, sw):
    with (
        Port.open(f"{pname}{{1"),
        Port.open(f"{pname}}}1"),
        Port.open(f"{pname}{{1", flags=Z | TX),
    ):
        # pipe{1's tx ring and pipe}1's rx ring share their buffers
        assert errno_of(lambda: Port.open(f"{pname}}}1", flags=Z | RX)) == errno.EBUSY
        assert errno_of(lambda: Port.open(f"{pname}{{1", flags=Z | TX)) == errno.EBUSY
        with Port.open(f"{pname}}}1", flags=Z | TX), Port.open(f"{pname}{{1", flags=RX):
            pass
    with Port.open(f"{sw}:v0"), Port.open(f"{sw}:v0", flags=Z):
        assert errno_of(lambda: Port.open(f"{sw}:v0", flags=Z | TX)) == errno.EBUSY
        with Port.open(f"{sw}:v0", flags=TX | RX):
            pass


def test_zcopy_pipe_monitor_is_not_fooled_by_the_peer_rewriting_a_released_slot(pname):
    """The peer's reader may rewrite a slot after releasing it: the release already handed the
    slot back to the sender's tx ring (abi-corrections.md §11), where the monitor takes it."""
    a, b = script_frame(b"h"), script_frame(b"i")
    with (
        Port.open(f"{pname}{{1") as m,
        Port.open(f"{pname}{{1", flags=Z | TX) as mon,
        Port.open(f"{pname}}}1") as s,
    ):
        sent = m.tx.get(m.tx.cur)[0]
        send(m, a)
        slot = s.rx.cur
        assert frames(receive(s)) == [a]
        s.rxsync()
        s.rx.set(slot, 0xFFFFFF, 60, 0)  # after the release: kernel-owned, rewritten anyway
        send(m, b)
        assert receive(mon) == [(a, abi.NS_TXMON | abi.NS_BUF_CHANGED)]
        assert mon.rx.get(mon.rx.next(mon.rx.cur, -1))[0] == sent


# ------------------------------------------------------------------------------------------------
# The monitor itself
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flags", [TX, RX, Z])
def test_a_monitor_of_a_port_not_in_netmap_mode_is_einval(pname, sw, flags):
    assert errno_of(lambda: Port.open(f"{pname}{{1", flags=flags)) == errno.EINVAL
    with Port.open(f"{pname}}}1"):  # its peer is bound, pipe{1 is not
        assert errno_of(lambda: Port.open(f"{pname}{{1", flags=flags)) == errno.EINVAL
    assert errno_of(lambda: Port.open(f"{sw}:v0", flags=flags)) == errno.EINVAL
    assert errno_of(lambda: Port.open("ptnosuchdev9", flags=flags)) == errno.ENXIO


def test_a_monitor_of_an_unbound_persistent_port_is_einval(sw, vp):
    assert errno_of(lambda: Port.open(vp, flags=RX)) == errno.EINVAL
    with Port.open(f"{sw}:{vp}"), Port.open(vp, flags=RX):
        pass


def test_monitor_rings_regions_and_slots(pname, sw):
    with (
        Port.open(f"{pname}{{1", tx_rings=3, rx_rings=2, tx_slots=256, rx_slots=512) as m,
        Port.open(f"{pname}}}1"),
    ):
        for flags in (TX, RX, TX | RX, Z):
            with Port.open(f"{pname}{{1", flags=flags) as mon:
                reg = mon.reg
                assert (reg.nr_tx_rings, reg.nr_rx_rings) == (1, 3)
                assert (reg.nr_tx_slots, reg.nr_rx_slots) == (256, 512)
                assert (reg.nr_host_tx_rings, reg.nr_host_rx_rings) == (0, 0)
                assert len(mon.tx_rings) == 1 and len(mon.rx_rings) == 3
                if flags & Z:
                    assert reg.nr_mem_id == m.reg.nr_mem_id
                else:
                    assert reg.nr_mem_id not in (m.reg.nr_mem_id, 0, 1)
    with (
        Port.open(f"{sw}:v0", tx_rings=2, rx_rings=4) as v0,
        Port.open(f"{sw}:v0", flags=RX) as mon,
    ):
        assert (mon.reg.nr_tx_rings, mon.reg.nr_rx_rings) == (1, 4)
        assert mon.reg.nr_mem_id != v0.reg.nr_mem_id


def test_a_monitor_cannot_send(pname):
    with (
        Port.open(f"{pname}{{1"),
        Port.open(f"{pname}}}1") as s,
        Port.open(f"{pname}{{1", flags=TX | RX) as mon,
    ):
        assert mon.poll(select.POLLIN, 100) == 0  # idle: no error, nothing to read
        r = mon.tx
        assert r.put([[script_frame()]]) == 1
        assert errno_of(mon.txsync) == errno.EIO
        assert errno_of(mon.txsync) == errno.EIO  # never consumed
        assert r.tail == r.num_slots - 1
        assert receive(s, 0.2) == []


def test_a_full_monitor_ring_drops_the_older_excess(pname):
    """Monitor ring 0 holds m's sent frames, then m's received frames land at once."""
    out = [[script_frame(bytes([i % 250 + 1]), 100)] for i in range(500)]
    back = [[script_frame(bytes([i % 250 + 1]), 120)] for i in range(800)]
    with (
        Port.open(f"{pname}{{1") as m,
        Port.open(f"{pname}{{1", flags=TX | RX) as mon,
        Port.open(f"{pname}}}1") as s,
    ):
        room = mon.rx.num_slots - 1
        assert room == 1023
        assert m.tx.put(out) == len(out)
        m.txsync()
        assert s.tx.put(back) == len(back)
        s.txsync()  # lands in m's rx ring: 800 frames for 523 free slots
        mon.rxsync()
        got = mon.rx.take()
        assert len(got) == room
        assert got[:500] == out
        assert got[500:] == back[800 - (room - 500) :]  # the newest ones


def test_a_parent_leaving_netmap_mode_makes_rxsync_eio(pname, sw):
    f = script_frame(b"g")
    m = Port.open(f"{pname}{{1")
    s = Port.open(f"{pname}}}1")
    with Port.open(f"{pname}{{1", flags=TX | RX) as mon, Port.open(f"{pname}{{1", flags=Z) as z:
        send(s, f)
        assert receive(mon) == [(f, 0)]
        m.close()  # pipe}1 keeps the pipe's rings
        assert errno_of(mon.rxsync) == errno.EIO
        assert errno_of(z.rxsync) == errno.EIO
        assert mon.poll(select.POLLIN, 100) & select.POLLERR
        with Port.open(f"{pname}{{1"):  # back in netmap mode: the monitor stays gone
            assert errno_of(mon.rxsync) == errno.EIO
    s.close()
    with Port.open(f"{sw}:v0") as v0, contextlib.ExitStack() as stack:
        mon = stack.enter_context(Port.open(f"{sw}:v0", flags=RX))
        v0.close()
        assert errno_of(mon.rxsync) == errno.EIO


def test_a_sleeping_monitor_is_woken_when_its_parent_leaves(pname):
    import threading

    m = Port.open(f"{pname}{{1")
    with Port.open(f"{pname}}}1"), Port.open(f"{pname}{{1", flags=RX) as mon:
        res: list[int] = []
        t = threading.Thread(target=lambda: res.append(mon.poll(select.POLLIN, 5000)))
        t.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        m.close()
        t.join()
        assert res and res[0] & select.POLLERR
        assert time.monotonic() - t0 < 2
