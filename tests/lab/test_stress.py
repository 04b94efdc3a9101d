"""Repetition: many open/register/close cycles, failing requests, pipes at once, ring fuzzing.

Each loop checks that the leak counters stay idle and that free memory does not drift.
"""

import errno
import os
import random
import select
import time
from pathlib import Path

import pytest
from nm import Port, Request, abi, counters, ctrl, dev_open, errno_of, pools_info, port_info
from nm.port import register_body
from nm.proc import Child

CYCLES = 1000
MEM_DRIFT_KB = 32 * 1024  # 1000 cycles leaking 32 KB each would show


def _mem_available_kb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    raise AssertionError("no MemAvailable in /proc/meminfo")


def _idle() -> dict[str, int]:
    return dict.fromkeys(counters.snapshot(), 0)


@pytest.mark.timeout(300)
def test_open_register_close_cycles(pname):
    """1000 cycles on a pipe whose parent (and region) another descriptor keeps alive: rings,
    buffers, netmap_if and the pipe ends come and go every time."""
    with Port.open(f"{pname}{{0"):
        with Port.open(f"{pname}{{1"):  # warm every cache once
            pass
        base = counters.snapshot()
        before = _mem_available_kb()
        for i in range(CYCLES):
            with Port.open(f"{pname}{{1") as m:
                assert m.tx.num_slots > 0
            if i % 100 == 99:
                assert counters.snapshot() == base, f"after {i + 1} cycles"
        for _ in range(CYCLES):
            os.close(dev_open())
        assert counters.snapshot() == base
    drift = before - _mem_available_kb()
    assert drift < MEM_DRIFT_KB, f"{drift} KB less memory available after {CYCLES} cycles"


@pytest.mark.timeout(300)
def test_region_create_destroy_cycles(pname):
    """Everything from scratch each time: parent, its region, both pipe ends."""
    with Port.open(f"{pname}{{1"):
        pass
    before = _mem_available_kb()
    for i in range(CYCLES // 10):
        with Port.open(f"{pname}{{1") as m, Port.open(f"{pname}}}1") as s:
            m.tx.put([[i.to_bytes(4, "little") * 15]])
            m.txsync()
            s.rxsync()
            assert s.rx.take() == [[i.to_bytes(4, "little") * 15]]
        assert counters.snapshot() == _idle(), f"after {i + 1} cycles"
    drift = before - _mem_available_kb()
    assert drift < MEM_DRIFT_KB, f"{drift} KB less memory available"


@pytest.mark.timeout(300)
def test_pipe_pair_cycles_with_traffic(pname):
    with Port.open(f"{pname}{{0"):
        base = counters.snapshot()
        for i in range(CYCLES // 4):
            with Port.open(f"{pname}{{1") as m, Port.open(f"{pname}}}1", extra_bufs=2) as s:
                m.tx.put([[i.to_bytes(4, "little") * 15]])
                m.txsync()
                s.rxsync()
                assert s.rx.take() == [[i.to_bytes(4, "little") * 15]]
        assert counters.snapshot() == base


FAILING = [
    ("bad mode", dict(mode=abi.NR_REG_SW), errno.EINVAL),
    ("bad ring", dict(mode=abi.NR_REG_ONE_NIC, ringid=7), errno.EINVAL),
    ("no parent", dict(name="{1"), errno.EINVAL),
    ("no such port", dict(name="nosuchif0"), errno.ENXIO),
    ("bad version", dict(version=13), errno.EINVAL),
]


@pytest.mark.timeout(300)
def test_failing_requests_leak_nothing(pname):
    """Error paths run in a loop, with the pipe's other end alive and not."""
    fd = dev_open()
    holder = Port.open(f"{pname}{{0")
    try:
        for i in range(CYCLES // 2):
            what, kw, expected = FAILING[i % len(FAILING)]
            kw = dict(kw)
            name = kw.pop("name", f"{pname}{{1")
            version = kw.pop("version", abi.NETMAP_API)
            mode = kw.pop("mode", abi.NR_REG_ALL_NIC)
            req = Request(abi.NETMAP_REQ_REGISTER, name, register_body(mode, **kw), version=version)
            if i % 2:
                with Port.open(f"{pname}}}1"):
                    got = errno_of(ctrl, fd, req)
            else:
                got = errno_of(ctrl, fd, req)
            assert got == expected, f"{what}: errno {got}"
        # busy: the same exclusive ring, many times
        with Port.open(f"{pname}{{1", flags=abi.NR_EXCLUSIVE):
            for _ in range(CYCLES // 4):
                req = Request(abi.NETMAP_REQ_REGISTER, f"{pname}{{1", register_body())
                assert errno_of(ctrl, fd, req) == errno.EBUSY
        # the descriptor is still unregistered and usable
        req = Request(abi.NETMAP_REQ_REGISTER, f"{pname}{{1", register_body())
        ctrl(fd, req)
    finally:
        os.close(fd)
        holder.close()


@pytest.mark.timeout(300)
def test_many_pipes_and_parents_at_once(pname):
    ports = []
    try:
        # each parent is made an auto-delete VALE port whose region, sized as netmap sizes
        # it, holds 4 pipes (test_pipe_names.py::test_an_auto_created_parent_has_room_for_...)
        for k in range(4):
            for n in range(4):
                ports.append(Port.open(f"{pname}p{k}{{{n}", tx_slots=128, rx_slots=128))
                ports.append(Port.open(f"{pname}p{k}}}{n}"))
        assert counters.read("priv_count") == len(ports)
        mem_ids = {p.reg.nr_mem_id for p in ports}
        assert len(mem_ids) == 4, "one region per parent"
        # every end still works
        for m in ports[::2]:
            m.tx.put([[m.name.encode().ljust(60)]])
            m.txsync()
        for m, s in zip(ports[::2], ports[1::2], strict=True):
            s.rxsync()
            assert s.rx.take() == [[m.name.encode().ljust(60)]]
    finally:
        random.Random(1).shuffle(ports)  # close in any order
        for p in ports:
            p.close()


@pytest.mark.timeout(300)
def test_ring_fuzz(pname):
    """Random pointer and slot values written into both ends' rings, with syncs and polls in
    between: every sync answers 0 or EINVAL and leaves tail inside the ring."""
    rng = random.Random(99)
    with Port.open(f"{pname}{{1", tx_slots=32, rx_slots=32) as m, Port.open(f"{pname}}}1") as s:
        rings = [(m, m.tx, True), (m, m.rx, False), (s, s.tx, True), (s, s.rx, False)]
        for step in range(2000):
            port, ring, is_tx = rng.choice(rings)
            op = rng.randrange(8)
            n = ring.num_slots
            if op == 0:
                ring.head = rng.choice([rng.randrange(n), rng.randrange(1 << 32), n])
            elif op == 1:
                ring.cur = rng.choice([rng.randrange(n), rng.randrange(1 << 32), n])
            elif op == 2:
                i = rng.randrange(n)
                idx, ln, fl = ring.get(i)
                ring.set(
                    i,
                    rng.choice([idx, rng.randrange(1 << 32), 0, 1]),
                    rng.choice([ln, rng.randrange(1 << 16), 60]),
                    rng.randrange(1 << 16),
                )
            elif op == 3:
                ring.advance(rng.randrange(ring.space() + 1))
            elif op == 4:
                ring.hdr.tail = rng.randrange(1 << 32)
            elif op == 5:
                port.poll(select.POLLIN | select.POLLOUT, 0)
                assert ring.tail < n, f"step {step}: tail {ring.tail}"
                continue
            got = errno_of(port.txsync if is_tx else port.rxsync)
            assert got in (0, errno.EINVAL), f"step {step}: errno {got}"
            assert ring.tail < n, f"step {step}: tail {ring.tail}"
            if got == errno.EINVAL:
                assert ring.head == ring.cur, f"step {step}: not reinitialised"


@pytest.mark.timeout(300)
def test_buffer_exhaustion_is_enomem_and_recovers(pname):
    """Pipes on one parent until its region runs out of buffers: ENOMEM, nothing half-made."""
    info_bufs = counters.read("buf_num")
    ports = []
    try:
        err = 0
        for n in range(info_bufs // 1024 + 2):
            err = errno_of(lambda n=n: ports.append(Port.open(f"{pname}{{{n}", tx_slots=1024)))
            if err:
                break
        assert err == errno.ENOMEM
        in_use = counters.read("buf_in_use")
        assert errno_of(Port.open, f"{pname}{{999") == errno.ENOMEM
        assert counters.read("buf_in_use") == in_use
        assert counters.read("priv_count") == len(ports)
    finally:
        for p in ports:
            p.close()
    with Port.open(f"{pname}{{1") as m, Port.open(f"{pname}}}1") as s:
        m.tx.put([[b"ok" * 30]])
        m.txsync()
        s.rxsync()
        assert s.rx.take() == [[b"ok" * 30]]


def _traffic_loop(ctl, name):
    """Send and receive on ring 0 of a two-ring pipe until the parent says stop; every
    sync must succeed. The pipe stays open until then, so no churn worker can recreate
    it with one ring."""
    with Port.open(f"{name}{{1", tx_rings=2, rx_rings=2) as m, Port.open(f"{name}}}1") as s:
        ctl.send(b"R")
        moved = 0
        while not select.select([ctl.rfd], [], [], 0)[0]:
            m.tx.put([[b"c" * 60]] * 64)
            m.txsync()
            s.rxsync()
            moved += len(s.rx.take())
        return moved


def _churn_loop(ctl, name, seconds, k):
    """Bind, share, inspect and drop descriptors of the same pipes and parent, repeatedly.

    Rings are never shared with another process: two writers of one ring's head and cur
    race each other in userspace, and the kernel rightly answers EINVAL to that.
    """
    ctl.send(b"R")
    # Go only once the traffic worker holds the two-ring pipe: opening {name}}1 first would
    # create it with one ring, and ring 1 would rightly be EINVAL.
    ctl.recv()
    end = time.monotonic() + seconds
    rounds = 0
    while time.monotonic() < end:
        # a second binding of the busy slave, on the ring the traffic does not use
        with Port.open(f"{name}}}1", abi.NR_REG_ONE_NIC, ringid=1, extra_bufs=k) as other:
            other.rxsync()
            other.rx_rings[1].take()
            other.poll(select.POLLIN, 0)
        with (
            Port.open(f"{name}{{{10 + k}") as a,
            Port.open(f"{name}}}{10 + k}", extra_bufs=4) as b,
        ):
            a.tx.put([[b"x" * 64]])
            a.txsync()
            b.rxsync()
            assert b.rx.take() == [[b"x" * 64]]
        port_info(f"{name}{{3")
        pools_info(f"{name}{{1")
        rounds += 1
    return rounds


@pytest.mark.lab(smp=2)
@pytest.mark.timeout(120)
def test_concurrent_traffic_and_churn(pname):
    """One process moves packets through a pipe while two others bind, share and drop
    descriptors of the same pipes and parent: no error, no leak, a clean kernel log."""
    seconds = 4.0
    traffic = Child(_traffic_loop, pname)
    churn = [Child(_churn_loop, pname, seconds, k) for k in (1, 2)]
    for w in (traffic, *churn):
        assert w.ctl.recv() == b"R"
    for w in churn:
        w.ctl.send(b"G")
    try:
        rounds = [w.join(timeout=60) for w in churn]
    finally:
        traffic.ctl.send(b"S")
        moved = traffic.join(timeout=60)
    assert moved > 0 and all(r > 0 for r in rounds)
