"""VALE switches: ephemeral ports, the learning bridge, copies between private regions, traffic
between processes, many ports, pipes on VALE ports, pkt-gen."""

import contextlib
import errno
import itertools
import json
import os
import random
import select
import subprocess
import time

import pytest
from nm import Port, Request, abi, ctrl, dev_open, errno_of, pools_info, port_info, transfer
from nm.packets import mismatch, payload
from nm.proc import Child
from nm.vale import BCAST, frame, mac, param, vlist, where

SEED = 20241123
_switches = itertools.count()


@pytest.fixture
def sw():
    """A switch name no other test uses."""
    return f"vale{next(_switches)}"


@contextlib.contextmanager
def ports(sw: str, *names: str, **reg: int):
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(Port.open(f"{sw}:{n}", **reg)) for n in names]


def send(p: Port, frames: list[bytes], flags: int = 0, ring: int = 0) -> None:
    r = p.tx_rings[ring]
    assert r.put([[f] for f in frames]) == len(frames)
    if flags:
        n = len(frames)
        for k in range(n):
            i = r.next(r.cur, k - n)
            _, ln, fl = r.get(i)
            r.set_len_flags(i, ln, fl | flags)
    p.txsync()


def recv(p: Port, ring: int = 0) -> list[bytes]:
    p.rxsync()
    return [b"".join(x) for x in p.rx_rings[ring].take()]


def paced(tx: Port, rx: Port, pkts) -> list[list[bytes]]:
    """Send `pkts` (lists of fragments) from tx to rx, never more slots at once than rx has
    free (VALE drops what does not fit); return what arrived."""
    got: list = []
    sent = 0
    budget = rx.rx.num_slots - 1
    while sent < len(pkts):
        n, used = 0, 0
        while sent + n < len(pkts) and used + len(pkts[sent + n]) <= budget:
            used += len(pkts[sent + n])
            n += 1
        assert n, "a packet larger than the receiving ring"
        assert tx.tx.put(pkts[sent : sent + n]) == n
        tx.txsync()
        sent += n
        rx.rxsync()
        got += rx.rx.take()
        rx.rxsync()  # hand the slots back before the next round
    return got


# --------------------------------------------------------------------------------------------
# Ports and regions
# --------------------------------------------------------------------------------------------


def test_each_port_has_its_own_private_region(sw):
    with ports(sw, "a", "b") as (a, b):
        assert a.reg.nr_mem_id != b.reg.nr_mem_id
        assert a.reg.nr_mem_id > 1 and b.reg.nr_mem_id > 1
        for p, n in ((a, "a"), (b, "b")):
            assert p.nifp.ni_flags & abi.NI_PRIV_MEM
            assert p.nifp.ni_name == f"{sw}:{n}".encode()
            assert (p.nifp.ni_tx_rings, p.nifp.ni_rx_rings) == (1, 1)
            assert (p.nifp.ni_host_tx_rings, p.nifp.ni_host_rx_rings) == (1, 1)
            assert (p.reg.nr_host_tx_rings, p.reg.nr_host_rx_rings) == (0, 0)
        # A frame arrives as a copy: the receiver's buffer is its own.
        send(a, [frame(BCAST, mac(1), 7)])
        got = recv(b)
        assert got == [frame(BCAST, mac(1), 7)]


def test_pools_info_of_a_vale_port_is_its_own_region(sw):
    with ports(sw, "a", "b") as (a, b):
        pa, pb = pools_info(f"{sw}:a"), pools_info(f"{sw}:b")
        assert (pa.nr_mem_id, pb.nr_mem_id) == (a.reg.nr_mem_id, b.reg.nr_mem_id)
        assert pa.nr_memsize == a.reg.nr_memsize
        assert pa.nr_buf_pool_objsize == a.tx.buf_size
        # an empty name is no port, whatever the region (abi-corrections 4)
        assert errno_of(pools_info, "", mem_id=a.reg.nr_mem_id) == errno.ENXIO


def test_a_port_opened_with_a_mem_id_shares_that_region(sw):
    """nr_mem_id of an existing region puts a new port's rings there (as netmap does); the
    switch still copies between the ports."""
    with Port.open(f"{sw}:a") as a:
        mid = a.reg.nr_mem_id
        b = Port.open(f"{sw}:b", mem_id=mid)
        with b, Port.open(f"{sw}:c") as c:
            assert b.reg.nr_mem_id == mid and c.reg.nr_mem_id not in (mid, 1)
            assert b.memsize == a.memsize and port_info(f"{sw}:b").nr_mem_id == mid
            # b's netmap_if is in a's mapping too: one region
            shared = abi.NetmapIf.from_address(a.mem + b.offset)
            assert shared.ni_name == f"{sw}:b".encode()
            assert b.offset != a.offset
            # another descriptor may name the region again, not another one
            with Port.open(f"{sw}:b", mem_id=mid) as b2:
                assert b2.reg.nr_mem_id == mid
            assert errno_of(Port.open, f"{sw}:b", mem_id=c.reg.nr_mem_id) == errno.EINVAL
            assert errno_of(port_info_with, f"{sw}:c", mid) == errno.EINVAL
            # traffic is copied as between any ports
            for src, dsts in ((a, (b, c)), (b, (a, c)), (c, (a, b))):
                f = frame(BCAST, mac(src.offset & 0xFFFF), 3)
                send(src, [f])
                for d in dsts:
                    assert recv(d) == [f]
            a.close()  # the region lives on with b
            send(b, [frame(BCAST, mac(2), 4)])
            assert recv(c) == [frame(BCAST, mac(2), 4)]


def test_a_port_in_the_global_region_and_ids_that_name_no_region(sw):
    with Port.open(f"{sw}:g", mem_id=1) as g:
        assert g.reg.nr_mem_id == 1
        assert not g.nifp.ni_flags & abi.NI_PRIV_MEM
        with Port.open(f"{sw}:p") as p:
            send(g, [frame(BCAST, mac(5), 5)])
            assert recv(p) == [frame(BCAST, mac(5), 5)]
    for bad in (0xFFFF, 0xFFFE):
        assert errno_of(Port.open, f"{sw}:x", mem_id=bad) == errno.EINVAL
        assert errno_of(port_info_with, f"{sw}:x", bad) == errno.EINVAL
    assert where(f"{sw}:x")[0] == errno.ENOENT  # nothing left behind


def port_info_with(name: str, mem_id: int) -> abi.NmreqPortInfoGet:
    body = abi.NmreqPortInfoGet(nr_mem_id=mem_id)
    fd = dev_open()
    try:
        ctrl(fd, Request(abi.NETMAP_REQ_PORT_INFO_GET, name, body))
    finally:
        os.close(fd)
    return body


def test_ports_are_ephemeral_and_the_switch_goes_with_the_last(sw):
    with ports(sw, "a"):
        with ports(sw, "b"):
            assert {n for _, _, n in vlist() if n.startswith(sw + ":")} == {f"{sw}:a", f"{sw}:b"}
        assert [n for _, _, n in vlist() if n.startswith(sw + ":")] == [f"{sw}:a"]
    assert not [n for _, _, n in vlist() if n.startswith(sw + ":")]


def test_two_descriptors_share_an_ephemeral_port(sw):
    with Port.open(f"{sw}:a") as a1, Port.open(f"{sw}:a") as a2, Port.open(f"{sw}:b") as b:
        assert a1.reg.nr_mem_id == a2.reg.nr_mem_id
        send(b, [frame(BCAST, mac(2), 1)])
        assert recv(a2) == [frame(BCAST, mac(2), 1)]


def test_port_geometry_is_honoured(sw):
    with Port.open(f"{sw}:a", tx_rings=2, rx_rings=3, tx_slots=256, rx_slots=512) as a:
        assert (a.reg.nr_tx_rings, a.reg.nr_rx_rings) == (2, 3)
        assert (a.reg.nr_tx_slots, a.reg.nr_rx_slots) == (256, 512)
        info = port_info(f"{sw}:a")
        assert (info.nr_tx_rings, info.nr_rx_rings, info.nr_mem_id) == (2, 3, a.reg.nr_mem_id)


def test_tx_ring_i_goes_to_rx_ring_i(sw):
    with ports(sw, "a", "b", tx_rings=2, rx_rings=2) as (a, b):
        send(a, [frame(BCAST, mac(1), 1)], ring=1)
        b.rxsync()
        assert b.rx_rings[0].space() == 0
        assert recv(b, ring=1) == [frame(BCAST, mac(1), 1)]


# --------------------------------------------------------------------------------------------
# The learning bridge
# --------------------------------------------------------------------------------------------


def test_broadcast_reaches_every_other_port(sw):
    with ports(sw, "a", "b", "c", "d") as (a, b, c, d):
        frames = [frame(BCAST, mac(1), k) for k in range(20)]
        send(a, frames)
        for p in (b, c, d):
            assert recv(p) == frames
        assert recv(a) == []


def test_multicast_is_flooded(sw):
    group = bytes.fromhex("01005e000001")
    with ports(sw, "a", "b", "c") as (a, b, c):
        send(b, [frame(BCAST, mac(2), 0)])  # b is known; multicast is flooded anyway
        recv(a), recv(c)
        send(a, [frame(group, mac(1), 1)])
        assert recv(b) == [frame(group, mac(1), 1)]
        assert recv(c) == [frame(group, mac(1), 1)]


def test_unknown_unicast_is_flooded(sw):
    with ports(sw, "a", "b", "c") as (a, b, c):
        f = frame(mac(99), mac(1), 5)
        send(a, [f])
        assert recv(b) == [f] and recv(c) == [f]


def test_learned_unicast_reaches_only_its_port(sw):
    with ports(sw, "a", "b", "c") as (a, b, c):
        send(b, [frame(BCAST, mac(2), 0)])
        assert len(recv(a)) == 1 and len(recv(c)) == 1
        frames = [frame(mac(2), mac(1), k) for k in range(50)]
        send(a, frames)
        assert recv(b) == frames
        assert recv(c) == []
        # a was learned too: b's answer reaches a only.
        send(b, [frame(mac(1), mac(2), 99)])
        assert recv(a) == [frame(mac(1), mac(2), 99)]
        assert recv(c) == []


def test_a_frame_for_its_own_port_is_dropped(sw):
    with ports(sw, "a", "b") as (a, b):
        send(a, [frame(BCAST, mac(1), 0)])
        recv(b)
        send(a, [frame(mac(1), mac(1), 1)])
        assert recv(a) == [] and recv(b) == []


def test_a_mac_that_moves_is_relearned(sw):
    with ports(sw, "a", "b", "c") as (a, b, c):
        send(b, [frame(BCAST, mac(7), 0)])
        recv(a), recv(c)
        send(c, [frame(BCAST, mac(7), 1)])  # mac 7 now lives behind c
        recv(a), recv(b)
        send(a, [frame(mac(7), mac(1), 2)])
        assert recv(c) == [frame(mac(7), mac(1), 2)]
        assert recv(b) == []


def test_ns_no_learn_is_honoured(sw):
    with ports(sw, "a", "b", "c") as (a, b, c):
        send(b, [frame(BCAST, mac(2), 0)], flags=abi.NS_NO_LEARN)
        recv(a), recv(c)
        f = frame(mac(2), mac(1), 1)
        send(a, [f])
        assert recv(b) == [f] and recv(c) == [f]  # still unknown: flooded
        send(b, [frame(BCAST, mac(2), 2)])  # now learned
        recv(a), recv(c)
        send(a, [f])
        assert recv(b) == [f] and recv(c) == []


def test_learned_entries_age(sw):
    with param("vale_age", 1), ports(sw, "a", "b", "c") as (a, b, c):
        send(b, [frame(BCAST, mac(2), 0)])
        recv(a), recv(c)
        f = frame(mac(2), mac(1), 1)
        send(a, [f])
        assert recv(b) == [f] and recv(c) == []
        time.sleep(2.5)
        send(a, [f])
        assert recv(b) == [f] and recv(c) == [f]  # forgotten: flooded again


def test_a_port_that_leaves_is_forgotten(sw):
    with ports(sw, "a", "c") as (a, c):
        with ports(sw, "b") as (b,):
            send(b, [frame(BCAST, mac(2), 0)])
            recv(a), recv(c)
        with ports(sw, "d") as (d,):  # takes b's index
            f = frame(mac(2), mac(1), 1)
            send(a, [f])
            assert recv(c) == [f] and recv(d) == [f]


def test_unicast_and_flooded_frames_keep_their_order(sw):
    with ports(sw, "a", "b", "c") as (a, b, c):
        send(b, [frame(BCAST, mac(2), 0)])
        recv(a), recv(c)
        mixed = [frame(mac(2) if k % 3 else BCAST, mac(1), k) for k in range(300)]
        send(a, mixed)
        assert recv(b) == mixed
        assert recv(c) == [f for f in mixed if f[:6] == BCAST]


def test_an_address_learned_inside_a_batch_counts_for_the_rest_of_it(sw):
    with ports(sw, "a", "b", "c") as (a, b, c):
        send(b, [frame(BCAST, mac(2), 0)])
        recv(a), recv(c)
        batch = [
            frame(mac(5), mac(1), 1),  # mac 5 unknown: flooded
            frame(BCAST, mac(5), 2),  # now mac 5 lives behind a
            frame(mac(5), mac(1), 3),  # back where it came from: dropped
            frame(mac(2), mac(9), 4),  # another source, a known destination
            frame(mac(9), mac(1), 5),  # mac 9 was learned on a by the frame before
        ]
        send(a, batch)
        assert recv(b) == batch[:2] + [batch[3]]
        assert recv(c) == batch[:2]


def test_many_addresses_are_learned(sw):
    n = 300
    with ports(sw, "a", "b", "c") as (a, b, c):
        send(b, [frame(BCAST, mac(1000 + k), k) for k in range(n)])
        assert len(recv(a)) == n and len(recv(c)) == n
        frames = [frame(mac(1000 + k), mac(1), k) for k in range(n)]
        send(a, frames)
        assert recv(b) == frames
        # A direct-mapped table: an address whose entry another one took is flooded.
        flooded = recv(c)
        assert set(flooded) <= set(frames) and len(flooded) < n // 2


def test_a_batch_to_many_destinations_arrives_once_each_in_order_and_exact(sw):
    rng = random.Random(SEED)
    names = "abcdefgh"
    with ports(sw, *names) as ps:
        for k, p in enumerate(ps):
            send(p, [frame(BCAST, mac(k + 1), 0)])
            for q in ps:
                recv(q)
        dsts = [mac(k + 1) for k in range(1, len(ps))] + [BCAST, mac(99)]
        batch = [
            frame(rng.choice(dsts), mac(1), seq, rng.randint(14, ps[0].tx.buf_size))
            for seq in range(500)
        ]
        send(ps[0], batch)
        for k, p in enumerate(ps[1:], start=2):
            want = [f for f in batch if f[:6] in (mac(k), BCAST, mac(99))]
            got = recv(p)
            assert got == want, mismatch([[f] for f in want], [[f] for f in got])
        assert recv(ps[0]) == []


def test_every_length_is_copied_exactly_and_nothing_past_it(sw):
    with ports(sw, "a", "b") as (a, b):
        r = b.rx
        for i in range(r.num_slots):
            r.write_buf(r.get(i)[0], b"\xaa" * r.buf_size)
        lengths = [*range(14, 200), *range(r.buf_size - 150, r.buf_size + 1)]
        frames = [frame(BCAST, mac(1), k, ln) for k, ln in enumerate(lengths)]
        got = []
        for start in range(0, len(frames), 200):
            send(a, frames[start : start + 200])
            b.rxsync()
            while r.cur != r.tail:
                idx, ln, _ = r.get(r.cur)
                buf = r.read_buf(idx, r.buf_size)
                assert buf[ln:] == b"\xaa" * (r.buf_size - ln), ln
                got.append(buf[:ln])
                r.write_buf(idx, b"\xaa" * r.buf_size)
                r.advance(1)
            b.rxsync()
        assert got == frames


# --------------------------------------------------------------------------------------------
# Full rings, fragments
# --------------------------------------------------------------------------------------------


def test_a_full_receiver_drops_and_the_sender_never_waits(sw):
    with Port.open(f"{sw}:a", tx_slots=512) as a, Port.open(f"{sw}:b", rx_slots=64) as b:
        frames = [frame(BCAST, mac(1), k) for k in range(300)]
        send(a, frames)
        assert a.tx.space() == a.tx.num_slots - 1  # all consumed at once
        got = recv(b)
        assert got == frames[:63]  # one slot always stays empty
        send(a, frames[:5])  # b's slots are free only once its next sync says so
        assert recv(b) == []
        send(a, frames[:5])
        assert recv(b) == frames[:5]


def _chain(data: bytes, rng: random.Random, max_frags: int = 8) -> list[bytes]:
    """Cut a frame into fragments of at most one buffer each; the first fragment holds at
    least the Ethernet header."""
    cuts = set(range(2048, len(data), 2048))
    extra = min(rng.randint(0, max_frags - 1), len(data) - 14)
    cuts |= set(rng.sample(range(14, len(data)), extra))
    cuts = sorted(cuts)[: max_frags - 1] if len(cuts) >= max_frags else sorted(cuts)
    frags = [data[i:j] for i, j in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    assert all(len(f) <= 2048 for f in frags), "frame too long for max_frags buffers"
    return frags


def test_morefrag_chains_are_forwarded_whole(sw):
    rng = random.Random(SEED)
    pkts = []
    for k in range(200):
        data = frame(BCAST, mac(1), k, rng.randint(60, 16000))
        pkts.append(_chain(data, rng, max_frags=abi.NM_MAX_FRAGS))
    with ports(sw, "a", "b") as (a, b):
        got = paced(a, b, pkts)
        assert mismatch(pkts, got) is None


def test_incomplete_chain_waits_for_its_end(sw):
    with ports(sw, "a", "b") as (a, b):
        t = a.tx
        data = frame(BCAST, mac(1), 3, 300)
        i = t.cur
        t.write_buf(t.get(i)[0], data[:100])
        t.set_len_flags(i, 100, abi.NS_MOREFRAG)
        t.advance(1)
        a.txsync()
        assert recv(b) == []
        i = t.cur
        t.write_buf(t.get(i)[0], data[100:])
        t.set_len_flags(i, 200, 0)
        t.advance(1)
        a.txsync()
        assert recv(b) == [data]


def test_overlong_chain_is_dropped_and_traffic_goes_on(sw):
    """70 slots, all but the last with NS_MOREFRAG: the first 64 are dropped as a chain longer
    than a packet may be; the last 6 make a packet of their own."""
    with ports(sw, "a", "b") as (a, b):
        t = a.tx
        for k in range(70):
            i = t.cur
            t.write_buf(t.get(i)[0], frame(BCAST, mac(1), k))
            t.set_len_flags(i, 60, abi.NS_MOREFRAG if k < 69 else 0)
            t.advance(1)
        a.txsync()
        assert recv(b) == [b"".join(frame(BCAST, mac(1), k) for k in range(64, 70))]
        send(a, [frame(BCAST, mac(1), 100)])
        assert recv(b) == [frame(BCAST, mac(1), 100)]


# --------------------------------------------------------------------------------------------
# Two processes, many ports
# --------------------------------------------------------------------------------------------


def _batch(rng: random.Random, src: int, dst: int, first: int, budget: int) -> list[list[bytes]]:
    """Random packets (60..2048 bytes, some chained) taking at most `budget` slots."""
    out, used, seq = [], 0, first
    while True:
        data = frame(mac(dst), mac(src), seq, rng.randint(60, 2048))
        pkt = _chain(data, rng, 4) if rng.random() < 0.3 else [data]
        if used + len(pkt) > budget:
            return out
        out.append(pkt)
        used += len(pkt)
        seq += 1


def test_two_processes_exchange_random_packets(sw):
    """Rounds: a sends a random batch (at most one ring of slots), b receives it all, checks
    it, answers with its own; every byte is checked on both sides."""
    rounds = 20
    seed = SEED + 1
    sent_by_a = []
    child = None
    try:
        with Port.open(f"{sw}:a") as a:
            child = Child(_peer_checked, sw, rounds, seed)
            assert child.ctl.recv() == b"r"
            rng = random.Random(seed * 7)
            prng = random.Random(seed)  # mirrors the child's generator
            for r in range(rounds):
                batch = _batch(rng, 1, 2, r * 1000, rng.randint(1, 1000))
                sent_by_a.append(batch)
                a.tx.put(batch)
                a.txsync()
                n = len(batch)
                child.ctl.send(bytes([n & 0xFF]))
                child.ctl.send(bytes([n >> 8]))
                m = child.ctl.recv()[0] | child.ctl.recv()[0] << 8
                expect = _batch(prng, 2, 1, 0, prng.randint(1, 1000))
                assert m == len(expect)
                got: list = []
                deadline = time.monotonic() + 30
                while len(got) < m and time.monotonic() < deadline:
                    a.poll(select.POLLIN, 100)
                    a.rxsync()
                    got += a.rx.take()
                a.rxsync()  # the slots are free again only once the kernel knows
                assert mismatch(expect, got) is None, f"round {r}"
                assert child.ctl.recv() == b"k", f"round {r}: the child saw a mismatch"
            assert child.join() == sum(len(b) for b in sent_by_a)
    finally:
        if child is not None and child.status is None:
            child.kill()


def _peer_checked(ctl, sw: str, rounds: int, seed: int):
    rng = random.Random(seed)
    arng = random.Random(seed * 7)  # mirrors the parent's generator
    total = 0
    with Port.open(f"{sw}:b") as b:
        ctl.send(b"r")
        for r in range(rounds):
            expect = _batch(arng, 1, 2, r * 1000, arng.randint(1, 1000))
            n = ctl.recv()[0] | ctl.recv()[0] << 8
            assert n == len(expect)
            got: list = []
            deadline = time.monotonic() + 30
            while len(got) < n and time.monotonic() < deadline:
                b.poll(select.POLLIN, 100)
                b.rxsync()
                got += b.rx.take()
            b.rxsync()
            ok = mismatch(expect, got) is None
            total += len(got)
            reply = _batch(rng, 2, 1, 0, rng.randint(1, 1000))
            assert b.tx.put(reply) == len(reply)
            b.txsync()
            ctl.send(bytes([len(reply) & 0xFF]))
            ctl.send(bytes([len(reply) >> 8]))
            ctl.send(b"k" if ok else b"x")
    return total


def test_64_ports_on_one_switch(sw):
    n = 64
    with ports(sw, *[f"p{i}" for i in range(n)], tx_slots=128, rx_slots=128) as ps:
        for i, p in enumerate(ps):
            send(p, [frame(BCAST, mac(i), i)])
        for i, p in enumerate(ps):
            got = recv(p)
            assert sorted(got) == sorted(frame(BCAST, mac(j), j) for j in range(n) if j != i)
        # Everybody is learned: each port now sends to its neighbour only.
        for i, p in enumerate(ps):
            send(p, [frame(mac((i + 1) % n), mac(i), 1000 + i)])
        for i, p in enumerate(ps):
            assert recv(p) == [frame(mac(i), mac((i - 1) % n), 1000 + (i - 1) % n)]
        listed = [name for _, _, name in vlist() if name.startswith(sw + ":")]
        assert sorted(listed) == sorted(f"{sw}:p{i}" for i in range(n))


# --------------------------------------------------------------------------------------------
# Pipes on VALE ports
# --------------------------------------------------------------------------------------------


def test_pipes_of_a_vale_port(sw):
    rng = random.Random(SEED)
    pkts = [[payload(k, rng.randint(60, 2048))] for k in range(500)]
    with Port.open(f"{sw}:0{{0") as m, Port.open(f"{sw}:0}}0") as s:
        assert m.reg.nr_mem_id == s.reg.nr_mem_id == port_info(f"{sw}:0").nr_mem_id
        assert where(f"{sw}:0")[0] == 0  # the parent is a port of the switch
        assert mismatch(pkts, transfer(m, s, pkts)) is None
        with Port.open(f"{sw}:0") as parent, Port.open(f"{sw}:1") as other:
            send(other, [frame(BCAST, mac(5), 5)])
            assert recv(parent) == [frame(BCAST, mac(5), 5)]
    assert where(f"{sw}:0")[0] != 0  # gone with its last pipe


# --------------------------------------------------------------------------------------------
# pkt-gen
# --------------------------------------------------------------------------------------------


def test_pkt_gen_tx_to_rx_exact_counts(sw):
    from ptnet.build.tools import tool_path

    gen = str(tool_path("pkt-gen"))
    count = 20_000
    rx_argv = [gen, "-i", f"{sw}:b@conf:slots=2048", "-f", "rx", "-n", str(count)]
    rx_argv += ["--verify", "--json", "--idle", "10", "-v"]
    rx = subprocess.Popen(rx_argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert rx.stderr is not None
        line = rx.stderr.readline()
        assert " bound " in line, line
        tx_argv = [gen, "-i", f"{sw}:a", "-f", "tx", "-n", str(count), "-R", "20k"]
        tx_argv += ["--verify", "--json"]  # numbered frames: the receiver checks their order
        tx = subprocess.run(tx_argv, capture_output=True, text=True, timeout=60)
        out, err = rx.communicate(timeout=60)
    finally:
        if rx.poll() is None:
            rx.kill()
            rx.wait()
    assert tx.returncode == 0, tx.stderr
    assert rx.returncode == 0, err
    t, r = json.loads(tx.stdout), json.loads(out)
    assert (t["packets"], r["packets"]) == (count, count)
    assert (r["errors"], r["lost"]) == (0, 0)
    assert r["bytes"] == count * 60
