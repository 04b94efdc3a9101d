"""Traffic through netmap pipes: every byte checked, fragments, zero-copy swaps, poll, processes."""

import random
import select
import time

import pytest
from nm import Port, abi, packets, transfer
from nm.packets import mismatch
from nm.port import pipe_pair_buffers
from nm.proc import Child

SEED = 20240601


def _roundtrip(tx: Port, rx: Port, pkts, **kw):
    got = transfer(tx, rx, pkts, **kw)
    problem = mismatch(pkts, got)
    assert problem is None, problem


def _single_slot(seed: str, count: int | str) -> list[list[bytes]]:
    """`count` frames of 60 to 2048 bytes ("random": 1 to 10000 of them), drawn from `seed`."""
    rng = random.Random(seed)
    n = count if isinstance(count, int) else rng.randint(1, 10000)
    return packets.single(rng, n, 60, 2048)


@pytest.mark.parametrize("count", [1, 2, 1023, 1024, 1025, 10000, "random", "random"])
def test_single_slot_packets_master_to_slave(pname, count):
    pkts = _single_slot(f"{SEED}-{count}-{pname}", count)
    with Port.open(f"{pname}{{1") as m, Port.open(f"{pname}}}1") as s:
        _roundtrip(m, s, pkts)


@pytest.mark.parametrize("count", [1, 3000, "random"])
def test_single_slot_packets_slave_to_master(pname, count):
    pkts = _single_slot(f"{SEED}-back-{count}-{pname}", count)
    with Port.open(f"{pname}{{1") as m, Port.open(f"{pname}}}1") as s:
        _roundtrip(s, m, pkts)


def test_both_directions_at_once(pname):
    rng = random.Random(SEED)
    a = packets.single(rng, 2000, 60, 1514)
    b = packets.single(rng, 2000, 60, 1514)
    with Port.open(f"{pname}{{1") as m, Port.open(f"{pname}}}1") as s:
        got_a: list = []
        got_b: list = []
        sa = sb = 0
        deadline = time.monotonic() + 60
        while (len(got_a) < len(a) or len(got_b) < len(b)) and time.monotonic() < deadline:
            sa += m.tx.put(a, sa)
            sb += s.tx.put(b, sb)
            m.txsync()
            s.txsync()
            m.rxsync()
            s.rxsync()
            got_a += s.rx.take()
            got_b += m.rx.take()
        assert mismatch(a, got_a) is None
        assert mismatch(b, got_b) is None


@pytest.mark.parametrize("count", [1, 50, "random"])
def test_morefrag_chains(pname, count):
    rng = random.Random(f"{SEED}-frag-{count}-{pname}")
    n = rng.randint(1, 300) if count == "random" else count
    pkts = packets.chains(rng, n, max_frags=abi.NM_MAX_FRAGS)
    with Port.open(f"{pname}{{1") as m, Port.open(f"{pname}}}1") as s:
        _roundtrip(m, s, pkts)


def test_largest_chains_fill_the_ring(pname):
    """64 full-size fragments per packet, more packets than the ring holds at once."""
    pkt = [bytes([k]) * abi.NETMAP_BUF_SIZE_DEFAULT for k in range(abi.NM_MAX_FRAGS)]
    with Port.open(f"{pname}{{1", tx_slots=256, rx_slots=256) as m, Port.open(f"{pname}}}1") as s:
        _roundtrip(m, s, [pkt] * 20)


def test_lengths_and_flags_survive(pname):
    """Zero-length fragments, odd lengths, full buffers; NS_MOREFRAG arrives as sent."""
    pkts = [[b""], [b"x"], [b"y" * 2048], [b"a" * 7, b"", b"b" * 2048, b"c"]]
    with Port.open(f"{pname}{{1") as m, Port.open(f"{pname}}}1") as s:
        m.tx.put(pkts)
        m.txsync()
        s.rxsync()
        r = s.rx
        seen = [r.get(r.next(r.head, k)) for k in range(r.space())]
        assert [ln for _, ln, _ in seen] == [0, 1, 2048, 7, 0, 2048, 1]
        more = [bool(fl & abi.NS_MOREFRAG) for _, _, fl in seen]
        assert more == [False, False, False, True, True, True, False]
        assert mismatch(pkts, r.take()) is None


@pytest.mark.parametrize("rings", [2, 4])
def test_multi_ring_pipes_keep_rings_apart(pname, rings):
    with (
        Port.open(f"{pname}{{1", tx_rings=rings, rx_rings=rings) as m,
        Port.open(f"{pname}}}1") as s,
    ):
        for i in range(rings):
            pkts = [[f"ring {i} pkt {k}".encode().ljust(60, b".")] for k in range(100 + i)]
            got = transfer(m, s, pkts, tx_ring=i, rx_ring=i)
            assert mismatch(pkts, got) is None
            for j in range(rings):
                s.rxsync()
                assert s.rx_rings[j].space() == 0, f"ring {i} traffic leaked into ring {j}"


def test_ring_space_pacing_keeps_one_slot_empty(pname):
    with Port.open(f"{pname}{{1", tx_slots=64, rx_slots=64) as m, Port.open(f"{pname}}}1") as s:
        t = m.tx
        assert t.space() == t.num_slots - 1
        placed = t.put([[b"z" * 60]] * 200)
        assert placed == t.num_slots - 1
        m.txsync()
        # nothing consumed on the slave: no room on the master's side
        assert t.space() == 0
        s.rxsync()
        assert s.rx.space() == placed
        s.rx.take()
        s.rxsync()
        m.txsync()
        assert t.space() == t.num_slots - 1


# -- zero copy -----------------------------------------------------------------------------


def test_zero_copy_forward_between_two_pipes(pname):
    """Receive on X}1, swap the same buffers into X{2's tx ring (NS_BUF_CHANGED), get them on
    X}2: the data arrives untouched in the very buffers that were forwarded."""
    rng = random.Random(SEED)
    pkts = packets.single(rng, 300, 60, 2048)
    with (
        Port.open(f"{pname}{{1") as m1,
        Port.open(f"{pname}}}1") as s1,
        Port.open(f"{pname}{{2") as m2,
        Port.open(f"{pname}}}2") as s2,
    ):
        assert m1.reg.nr_mem_id == m2.reg.nr_mem_id
        done = 0
        forwarded: list[int] = []
        got: list = []
        deadline = time.monotonic() + 60
        while len(got) < len(pkts):
            assert time.monotonic() < deadline, f"stuck after {len(got)} packets"
            done += m1.tx.put(pkts, done)
            m1.txsync()
            s1.rxsync()
            rx, tx = s1.rx, m2.tx
            n = min(rx.space(), tx.space())
            for _ in range(n):
                ri, ti = rx.cur, tx.cur
                rbuf, rlen, _ = rx.get(ri)
                tbuf, _, _ = tx.get(ti)
                tx.set(ti, rbuf, rlen, abi.NS_BUF_CHANGED)
                rx.set(ri, tbuf, 0, abi.NS_BUF_CHANGED)
                forwarded.append(rbuf)
                rx.advance(1)
                tx.advance(1)
            m2.txsync()
            s1.rxsync()
            s2.rxsync()
            r = s2.rx
            while r.space():
                assert r.get(r.cur)[0] == forwarded[len(got)], "pipes swap buffers, no copy"
                got += r.take(limit=1)
            s2.rxsync()
        assert mismatch(pkts, got) is None
        # every buffer is still in exactly one slot of the pairs that share them
        pairs = [(m1, s1), (s1, m1), (m2, s2), (s2, m2)]
        bufs = [i for a, b in pairs for i in pipe_pair_buffers(a.tx, b.rx)]
        assert len(bufs) == len(set(bufs)) == 4 * m1.tx.num_slots


def test_extra_buffer_swapped_into_tx(pname):
    with Port.open(f"{pname}{{1", extra_bufs=16) as m, Port.open(f"{pname}}}1") as s:
        extra = m.extra_bufs()
        assert len(extra) == 16
        t = m.tx
        sent = []
        for k, e in enumerate(extra[:8]):
            data = f"extra buffer {e}".encode().ljust(60 + k, b"#")
            t.write_buf(e, data)
            old = t.get(t.cur)[0]
            t.set(t.cur, e, len(data), abi.NS_BUF_CHANGED)
            extra[k] = old  # the slot's buffer now belongs to us
            t.advance(1)
            sent.append((e, data))
        m.set_extra_bufs(extra)
        m.txsync()
        s.rxsync()
        r = s.rx
        for e, data in sent:
            idx, ln, _ = r.get(r.cur)
            assert idx == e
            assert r.read_buf(idx, ln) == data
            r.advance(1)
        s.rxsync()
        assert sorted(m.extra_bufs()) == sorted(extra)
    # closing frees the (changed) extra list: the leak fixture checks buf_in_use


# -- poll ----------------------------------------------------------------------------------


def _rx_waiter(ctl, name):
    with Port.open(name) as p:
        ctl.send(b"R")
        t0 = time.monotonic()
        ev = p.poll(select.POLLIN, 10000)
        waited = time.monotonic() - t0
        got = p.rx.take()
        return ev, waited, got


@pytest.mark.parametrize("rx_end", ["}", "{"])
def test_poll_wakes_the_receiver(pname, rx_end):
    tx_end = "{" if rx_end == "}" else "}"
    with Port.open(f"{pname}{tx_end}1") as tx:
        child = Child(_rx_waiter, f"{pname}{rx_end}1")
        assert child.ctl.recv() == b"R"
        time.sleep(0.3)
        tx.tx.put([[b"wake up".ljust(60, b"!")]])
        tx.txsync()
        ev, waited, got = child.join()
    assert ev & select.POLLIN
    assert not ev & (select.POLLERR | select.POLLNVAL)
    assert waited >= 0.2, "poll returned before anything was sent"
    assert got == [[b"wake up".ljust(60, b"!")]]


def _rx_drainer(ctl, name):
    with Port.open(name) as p:
        ctl.send(b"R")
        ctl.recv()
        time.sleep(0.3)  # let the sender block in poll first
        p.rxsync()
        n = len(p.rx.take())
        p.rxsync()  # hand the slots back: the sender may go on
        return n


@pytest.mark.parametrize("tx_end", ["{", "}"])
def test_poll_wakes_the_sender_when_the_peer_frees_slots(pname, tx_end):
    rx_end = "}" if tx_end == "{" else "{"
    with Port.open(f"{pname}{tx_end}1", tx_slots=64, rx_slots=64) as tx:
        child = Child(_rx_drainer, f"{pname}{rx_end}1")
        assert child.ctl.recv() == b"R"
        placed = 0
        for _ in range(10):
            placed += tx.tx.put([[b"f" * 60]] * 1000)
            tx.txsync()
            if tx.tx.space() == 0:
                break
        assert tx.tx.space() == 0
        assert tx.poll(select.POLLOUT, 0) & select.POLLOUT == 0, "tx ring full but POLLOUT"
        child.ctl.send(b"G")
        t0 = time.monotonic()
        ev = tx.poll(select.POLLOUT, 10000)
        waited = time.monotonic() - t0
        assert ev & select.POLLOUT, f"no POLLOUT after {waited:.1f} s"
        assert waited >= 0.2, "poll did not block while the ring was full"
        assert child.join() == placed
        assert tx.tx.space() > 0


def test_poll_timeout_without_traffic(pname):
    with Port.open(f"{pname}{{1") as m, Port.open(f"{pname}}}1"):
        t0 = time.monotonic()
        assert m.poll(select.POLLIN, 300) == 0
        assert time.monotonic() - t0 >= 0.25
        # an empty tx ring is writable at once
        assert m.poll(select.POLLOUT, 0) & select.POLLOUT


# -- two processes -------------------------------------------------------------------------


def _receiver(ctl, name, expected):
    with Port.open(name) as p:
        ctl.send(b"R")
        got: list = []
        deadline = time.monotonic() + 60
        while len(got) < expected and time.monotonic() < deadline:
            if p.poll(select.POLLIN, 1000) & select.POLLIN:
                got += p.rx.take()
        return got


@pytest.mark.lab(smp=2)
@pytest.mark.parametrize("tx_end", ["{", "}"])
def test_two_processes_on_the_two_ends(pname, tx_end):
    rx_end = "}" if tx_end == "{" else "{"
    rng = random.Random(f"{SEED}-{tx_end}")
    pkts = packets.single(rng, 5000, 60, 2048) + packets.chains(rng, 50)
    with Port.open(f"{pname}{tx_end}1") as tx:
        child = Child(_receiver, f"{pname}{rx_end}1", len(pkts))
        assert child.ctl.recv() == b"R"
        sent = 0
        deadline = time.monotonic() + 60
        while sent < len(pkts):
            assert time.monotonic() < deadline, f"stuck after sending {sent} packets"
            if tx.poll(select.POLLOUT, 5000) & select.POLLOUT:
                sent += tx.tx.put(pkts, sent)
                tx.txsync()
        got = child.join(timeout=90)
    problem = mismatch(pkts, got)
    assert problem is None, problem


# -- poll flags and timestamps ---------------------------------------------------------------


@pytest.mark.parametrize("no_tx_poll", [False, True])
def test_no_tx_poll_keeps_poll_from_pushing_tx(pname, no_tx_poll):
    flags = abi.NR_NO_TX_POLL if no_tx_poll else 0
    with Port.open(f"{pname}{{1", flags=flags) as m, Port.open(f"{pname}}}1") as s:
        m.tx.put([[b"pushed by poll?".ljust(60)]])
        m.poll(select.POLLIN, 0)  # no POLLOUT asked
        s.rxsync()
        assert s.rx.space() == (0 if no_tx_poll else 1)
        m.poll(select.POLLOUT, 0)  # asking for POLLOUT always syncs tx
        s.rxsync()
        assert s.rx.space() == 1


@pytest.mark.parametrize("do_rx_poll", [False, True])
def test_do_rx_poll_syncs_rx_on_every_poll(pname, do_rx_poll):
    flags = abi.NR_DO_RX_POLL if do_rx_poll else 0
    with Port.open(f"{pname}{{1", flags=flags) as m, Port.open(f"{pname}}}1") as s:
        s.tx.put([[b"to the master".ljust(60)]])
        s.txsync()
        assert m.poll(select.POLLOUT, 0) & select.POLLOUT
        assert m.rx.tail == (1 if do_rx_poll else 0)
        assert m.poll(select.POLLIN, 0) & select.POLLIN
        assert m.rx.tail == 1


def test_rx_timestamp_on_request(pname):
    with Port.open(f"{pname}{{1") as m, Port.open(f"{pname}}}1") as s:
        s.rxsync()
        assert s.rx.hdr.ts.tv_sec == 0, "no timestamp unless NR_TIMESTAMP is set"
        s.rx.hdr.flags = abi.NR_TIMESTAMP
        m.tx.put([[b"t" * 60]])
        m.txsync()
        before = time.time()
        s.rxsync()
        ts = s.rx.hdr.ts.tv_sec + s.rx.hdr.ts.tv_usec / 1e6
        assert abs(ts - before) < 5
