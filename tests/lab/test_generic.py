"""NIC ports on netdevs (the emulated adapter): veth, tap, dummy, virtio-net; host rings,
NS_FORWARD, the device going away, hostile requests. Every byte of every frame is checked."""

import errno
import os
import random
import select
import socket
import subprocess
import sys
import time

import pytest
from nm import Port, abi, counters, errno_of, packets, port_info
from nm.netdev import (
    ETH_P_TEST,
    RawSocket,
    Tap,
    is_test_frame,
    mac_of,
    move_to,
    netns,
    ping,
    sh,
    tframe,
    udp_frame,
    udp_payload,
    veth_pair,
    virtio_nets,
)

SEED = 20240611


@pytest.fixture
def veth():
    with veth_pair() as pair:
        yield pair


def _rx_test_frames(p: Port, count: int, timeout: float = 10.0, ring=None) -> list[bytes]:
    """Frames of the test ethertype arriving on p's rx ring (hardware ring 0 by default)."""
    r = ring or p.rx
    out: list[bytes] = []
    last = time.monotonic()
    while len(out) < count and time.monotonic() - last < timeout:
        p.rxsync()
        got = r.take()
        if got:
            last = time.monotonic()
            out += [f for f in (b"".join(x) for x in got) if is_test_frame(f)]
        else:
            p.poll(select.POLLIN, 50)
    return out


def _tx_all(p: Port, frames: list[bytes], ring=None, timeout: float = 30.0) -> None:
    """Put every frame on p's tx ring (hardware ring 0 by default), pacing by ring space."""
    t = ring or p.tx
    pkts = [[f[i : i + t.buf_size] for i in range(0, len(f), t.buf_size)] for f in frames]
    sent = 0
    deadline = time.monotonic() + timeout
    while sent < len(pkts):
        assert time.monotonic() < deadline, f"sent only {sent} of {len(pkts)}"
        sent += t.put(pkts, sent)
        p.txsync()
        if sent < len(pkts):
            p.poll(select.POLLOUT, 50)
    p.txsync()


# ------------------------------------------------------------------------------------------------
# Lookup and geometry
# ------------------------------------------------------------------------------------------------


def test_port_info_reports_queues_host_rings_and_global_memory(veth):
    a, _ = veth
    info = port_info(a)
    assert info.nr_tx_rings >= 1 and info.nr_rx_rings >= 1
    assert (info.nr_host_tx_rings, info.nr_host_rx_rings) == (1, 1)
    assert info.nr_mem_id == 1
    assert info.nr_tx_slots == info.nr_rx_slots == counters.read("generic_ringsize")


def test_netmap_if_lists_hw_then_host_rings(veth):
    a, _ = veth
    with Port.open(a, abi.NR_REG_NIC_SW) as p:
        n = p.nifp
        assert n.ni_name.decode() == a
        assert (n.ni_host_tx_rings, n.ni_host_rx_rings) == (1, 1)
        assert all(r is not None for r in p.tx_rings + p.host_tx_rings)
        assert all(r is not None for r in p.rx_rings + p.host_rx_rings)
        assert p.host_tx_rings[0].hdr.dir == abi.NR_TX
        assert p.host_rx_rings[0].hdr.dir == abi.NR_RX
        assert p.host_tx_rings[0].hdr.ringid == n.ni_tx_rings
    with Port.open(a, abi.NR_REG_SW) as p:
        assert p.tx_rings == [None] * p.nifp.ni_tx_rings
        assert p.host_tx_rings[0] is not None and p.host_rx_rings[0] is not None
    with Port.open(a) as p:
        assert p.host_tx_rings == [None] and p.host_rx_rings == [None]


@pytest.mark.parametrize(
    ("name", "err"),
    [
        ("ptnosuchdev0", errno.ENXIO),
        ("a" * 16, errno.EINVAL),  # over IFNAMSIZ - 1
        ("a" * 40, errno.EINVAL),
        ("bad name", errno.EINVAL),
        ("x/y", errno.EINVAL),
    ],
)
def test_bad_names(name, err):
    assert errno_of(Port.open, name) == err
    assert errno_of(port_info, name) == err


def test_device_of_another_namespace_is_unknown(veth):
    _, b = veth
    with netns() as ns:
        move_to(b, ns)
        assert errno_of(Port.open, b) == errno.ENXIO


@pytest.mark.parametrize(
    ("mode", "ringid"),
    [
        (abi.NR_REG_ONE_NIC, 1),
        (abi.NR_REG_ONE_NIC, 4095),
        (abi.NR_REG_ONE_SW, 1),
        (abi.NR_REG_ONE_SW, 77),
        (abi.NR_REG_DEFAULT, 0),
        (abi.NR_REG_PIPE_MASTER, 0),
        (99, 0),
    ],
)
def test_ring_selection_out_of_range(veth, mode, ringid):
    a, _ = veth
    assert errno_of(lambda: Port.open(a, mode, ringid=ringid)) == errno.EINVAL


def test_one_ring_selectors(veth):
    a, _ = veth
    with Port.open(a, abi.NR_REG_ONE_NIC, ringid=0) as p:
        assert p.tx_rings[0] is not None and p.host_tx_rings == [None]
    with Port.open(a, abi.NR_REG_ONE_SW, ringid=0) as p:
        assert p.tx_rings == [None] and p.host_tx_rings[0] is not None


def test_wrong_memory_id_is_refused(veth):
    a, _ = veth
    assert errno_of(lambda: Port.open(a, mem_id=7)) == errno.EINVAL


def test_two_descriptors_share_the_port(veth):
    """The NIC rings on one descriptor, the host rings on another: one port, one region."""
    a, _ = veth
    with Port.open(a) as nic, Port.open(a, abi.NR_REG_SW) as host:
        assert nic.reg.nr_mem_id == host.reg.nr_mem_id == 1
        assert counters.read("port_count") >= 1
        assert errno_of(lambda: Port.open(a, flags=abi.NR_EXCLUSIVE)) == errno.EBUSY


# ------------------------------------------------------------------------------------------------
# Traffic on veth
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 500, 3000])
def test_rx_from_af_packet_every_byte(veth, count):
    a, b = veth
    rng = random.Random(f"{SEED}-rx-{count}")
    frames = [tframe(i, rng.randint(60, 1514)) for i in range(count)]
    with Port.open(a) as p, RawSocket(b) as s:
        got: list[bytes] = []
        for k in range(0, count, 200):  # pace: the ring holds 1024 frames
            for f in frames[k : k + 200]:
                s.send(f)
            got += _rx_test_frames(p, min(200, count - k))
        assert got == frames


@pytest.mark.parametrize("count", [1, 500, 3000])
def test_tx_to_af_packet_every_byte(veth, count):
    a, b = veth
    rng = random.Random(f"{SEED}-tx-{count}")
    frames = [tframe(i, rng.randint(60, 1514)) for i in range(count)]
    with Port.open(a) as p, RawSocket(b, ETH_P_TEST) as s:
        got: list[bytes] = []
        for k in range(0, count, 100):  # pace: the socket buffer holds a few hundred
            _tx_all(p, frames[k : k + 100])
            got += s.recv_test_frames(min(100, count - k))
        assert got == frames


def test_jumbo_frames_span_slots(veth):
    """5000-byte frames take three 2048-byte slots each way, chained with NS_MOREFRAG."""
    a, b = veth
    for d in (a, b):
        sh("ip", "link", "set", d, "mtu", "9000")
    frames = [tframe(i, 5000 + i) for i in range(20)]
    with Port.open(a) as p, RawSocket(b) as s:
        for f in frames:
            s.send(f)
        p.rxsync()
        time.sleep(0.2)
        p.rxsync()
        r = p.rx
        first = r.get(r.cur)
        assert first[1] == 2048 and first[2] & abi.NS_MOREFRAG
        assert _rx_test_frames(p, len(frames)) == frames
        _tx_all(p, frames)
        assert s.recv_test_frames(len(frames)) == frames


def test_tx_slots_come_back_as_frames_complete(veth):
    """hwtail follows completions: after a burst, every slot is free again."""
    a, b = veth
    with Port.open(a) as p, RawSocket(b, ETH_P_TEST) as s:
        t = p.tx
        _tx_all(p, [tframe(i, 60) for i in range(300)])
        assert len(s.recv_test_frames(300)) == 300
        p.txsync()
        assert t.space() == t.num_slots - 1


def test_stack_is_cut_off_and_comes_back(veth):
    """In netmap mode the stack neither sees the device's frames nor sends on it; after the
    close, ping works again across the pair."""
    a, b = veth
    with netns() as ns:
        move_to(b, ns, "10.250.0.2/24")
        sh("ip", "addr", "add", "10.250.0.1/24", "dev", a)
        assert ping("10.250.0.2")
        with Port.open(a):
            assert not ping("10.250.0.2")
            # the stack's ARP request ended on the host rx ring, not on the wire
        assert ping("10.250.0.2")
        with Port.open(a, abi.NR_REG_NIC_SW):
            assert not ping("10.250.0.2")
        assert ping("10.250.0.2")


# ------------------------------------------------------------------------------------------------
# Host rings
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def addressed(veth):
    """veth a with 10.250.1.1/24 and a static neighbour 10.250.1.2 at b's MAC."""
    a, b = veth
    sh("ip", "addr", "add", "10.250.1.1/24", "dev", a)
    sh("ip", "neigh", "replace", "10.250.1.2", "lladdr", mac_of(b).hex(":"), "dev", a)
    return a, b


def _host_rx_udp(p: Port, want: int, timeout: float = 10.0) -> list[bytes]:
    out: list[bytes] = []
    r = p.host_rx_rings[0]
    deadline = time.monotonic() + timeout
    while len(out) < want and time.monotonic() < deadline:
        p.rxsync()
        for pkt in r.take():
            data = udp_payload(b"".join(pkt))
            if data is not None:
                out.append(data)
        p.poll(select.POLLIN, 50)
    return out


def test_host_rx_ring_sees_what_the_stack_sends(addressed):
    a, _ = addressed
    msgs = [packets.payload(i, 20 + i) for i in range(50)]
    with Port.open(a, abi.NR_REG_SW) as p, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        for m in msgs:
            u.sendto(m, ("10.250.1.2", 9999))
        assert _host_rx_udp(p, len(msgs)) == msgs


def test_host_rx_ring_gets_large_sends_segmented(addressed):
    """A 30000-byte UDP datagram leaves as IP fragments; each fits a slot."""
    a, _ = addressed
    with Port.open(a, abi.NR_REG_SW) as p, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.sendto(b"z" * 30000, ("10.250.1.2", 9999))
        time.sleep(0.3)
        p.rxsync()
        frames = [b"".join(x) for x in p.host_rx_rings[0].take()]
        assert len(frames) >= 20
        assert all(len(f) <= 1514 for f in frames)


def test_host_tx_ring_reaches_the_stack(addressed):
    a, b = addressed
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind(("10.250.1.1", 0))
        u.settimeout(5)
        port = u.getsockname()[1]
        msgs = [packets.payload(i, 30 + i) for i in range(100)]
        ma, mb = mac_of(a), mac_of(b)
        frames = [udp_frame(ma, mb, "10.250.1.2", "10.250.1.1", 4000, port, m) for m in msgs]
        with Port.open(a, abi.NR_REG_SW) as p:
            _tx_all(p, frames, ring=p.host_tx_rings[0])
            got = [u.recv(2048) for _ in msgs]
        assert got == msgs


def test_host_tx_frames_do_not_loop_into_the_nic_rx_ring(addressed):
    a, b = addressed
    with Port.open(a, abi.NR_REG_NIC_SW) as p:
        f = udp_frame(mac_of(a), mac_of(b), "10.250.1.2", "10.250.1.1", 4000, 9, b"x" * 20)
        _tx_all(p, [f], ring=p.host_tx_rings[0])
        time.sleep(0.2)
        p.rxsync()
        assert p.rx.space() == 0


def test_ns_forward_rx_to_stack_and_host_to_nic(addressed):
    """With NR_FORWARD on a ring, released slots marked NS_FORWARD go on: hardware rx to the
    stack, host rx out of the device."""
    a, b = addressed
    with (
        Port.open(a, abi.NR_REG_NIC_SW) as p,
        RawSocket(b) as raw,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u,
    ):
        u.bind(("10.250.1.1", 0))
        u.settimeout(5)
        port = u.getsockname()[1]
        # hardware rx -> stack
        p.rx.hdr.flags |= abi.NR_FORWARD
        raw.send(udp_frame(mac_of(a), mac_of(b), "10.250.1.2", "10.250.1.1", 1, port, b"fwd-up"))
        raw.send(udp_frame(mac_of(a), mac_of(b), "10.250.1.2", "10.250.1.1", 1, port, b"dropped"))
        deadline = time.monotonic() + 5
        while p.rx.space() < 2 and time.monotonic() < deadline:
            p.rxsync()
            time.sleep(0.02)
        r = p.rx
        r.set_len_flags(r.cur, r.get(r.cur)[1], abi.NS_FORWARD)
        r.advance(2)
        p.rxsync()
        assert u.recv(100) == b"fwd-up"
        with pytest.raises(TimeoutError):
            u.settimeout(0.5)
            u.recv(100)
        # host rx -> NIC
        h = p.host_rx_rings[0]
        h.hdr.flags |= abi.NR_FORWARD
        raw.drain()
        u.sendto(b"fwd-down", ("10.250.1.2", 7777))
        deadline = time.monotonic() + 5
        while h.space() < 1 and time.monotonic() < deadline:
            p.rxsync()
            time.sleep(0.02)
        h.set_len_flags(h.cur, h.get(h.cur)[1], abi.NS_FORWARD)
        h.advance(1)
        p.rxsync()
        raw.s.settimeout(5)
        for _ in range(10):
            data = raw.s.recv(2048)
            if udp_payload(data) == b"fwd-down":
                break
        else:
            pytest.fail("the forwarded frame did not leave the device")


# ------------------------------------------------------------------------------------------------
# Other devices
# ------------------------------------------------------------------------------------------------


def test_tap_rx_and_tx():
    frames = [tframe(i, 60 + 7 * i) for i in range(200)]
    with Tap() as tap, Port.open(tap.name) as p:
        for f in frames:
            tap.write(f)
        assert _rx_test_frames(p, len(frames)) == frames
        _tx_all(p, frames)
        assert tap.read_test_frames(len(frames)) == frames


def test_dummy_tx_and_host_ring():
    subprocess.run(["modprobe", "dummy"], check=False, capture_output=True)
    d = f"ptdum{random.randrange(1 << 20)}"
    sh("ip", "link", "add", d, "type", "dummy")
    try:
        sh("ip", "link", "set", d, "up")
        with Port.open(d, abi.NR_REG_NIC_SW) as p, RawSocket(d) as s:
            _tx_all(p, [tframe(i, 100) for i in range(2000)])
            p.txsync()
            assert p.tx.space() == p.tx.num_slots - 1
            s.send(tframe(1, 80))  # the stack transmits on the device
            assert _rx_test_frames(p, 1, ring=p.host_rx_rings[0]) == [tframe(1, 80)]
    finally:
        sh("ip", "link", "del", d, check=False)


def test_virtio_net():
    devs = virtio_nets()
    if not devs:
        pytest.skip("the lab guest has no virtio-net device")
    info = port_info(devs[0])
    assert info.nr_tx_rings >= 1
    with Port.open(devs[0], abi.NR_REG_NIC_SW) as p:
        _tx_all(p, [tframe(i, 60) for i in range(100)])


# ------------------------------------------------------------------------------------------------
# The device goes away; closing in the middle
# ------------------------------------------------------------------------------------------------


def test_deleting_the_veth_in_netmap_mode(veth):
    a, b = veth
    p = Port.open(a, abi.NR_REG_NIC_SW)
    try:
        _tx_all(p, [tframe(i, 60) for i in range(50)])
        sh("ip", "link", "del", a)
        assert errno_of(p.txsync) == errno.ENXIO
        assert errno_of(p.rxsync) == errno.ENXIO
        assert p.poll(select.POLLIN, 100) & select.POLLERR
        assert errno_of(Port.open, a) == errno.ENXIO
    finally:
        p.close()


def test_deleting_an_idle_port_device_and_its_namespace(veth):
    """A looked-up but unbound port, and a namespace deleted with a bound device in it."""
    a, b = veth
    with netns() as ns:
        move_to(b, ns)
        code = f"""
import sys, time
sys.path.insert(0, {str(__file__.rsplit("/", 1)[0])!r})
from nm import Port
p = Port.open({b!r})
print("bound", flush=True)
time.sleep(30)
"""
        child = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c", code],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "bound"
            sh("ip", "netns", "del", ns)  # the veth dies with the namespace
            time.sleep(0.5)
        finally:
            child.kill()
            child.wait()


def test_close_in_the_middle_of_a_transfer(veth):
    """A child floods the NIC tx ring and is killed; another floods rx and closes."""
    a, b = veth

    def flood():
        p = Port.open(a)
        f = [tframe(0, 60)] * 64
        while True:
            p.tx.put([[x] for x in f])
            p.txsync()

    pid = os.fork()
    if pid == 0:
        try:
            flood()
        finally:
            os._exit(0)
    time.sleep(1.0)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    with Port.open(a) as p, RawSocket(b) as s:
        for i in range(300):
            s.send(tframe(i, 60))
        p.rxsync()


def test_many_open_close_cycles(veth):
    a, b = veth
    for i in range(30):
        mode = [abi.NR_REG_ALL_NIC, abi.NR_REG_SW, abi.NR_REG_NIC_SW][i % 3]
        with Port.open(a, mode) as p:
            p.txsync()
            p.rxsync()
    with netns() as ns:
        move_to(b, ns, "10.250.3.2/24")
        sh("ip", "addr", "add", "10.250.3.1/24", "dev", a)
        assert ping("10.250.3.2", wait=3)


def test_rx_handler_already_taken_is_busy(veth):
    """A device enslaved to a bridge has an rx_handler: netmap mode is refused with EBUSY."""
    a, _ = veth
    subprocess.run(["modprobe", "bridge"], check=False, capture_output=True)
    br = f"ptbr{random.randrange(1 << 16)}"
    if sh("ip", "link", "add", br, "type", "bridge", check=False).returncode:
        pytest.skip("no bridge support in the lab kernel")
    try:
        sh("ip", "link", "set", a, "master", br)
        assert errno_of(Port.open, a) == errno.EBUSY
    finally:
        sh("ip", "link", "del", br, check=False)


def test_mitigation_parameter_applies():
    v = counters.read("generic_mit_us")
    assert v is not None
    with open("/sys/module/netmap/parameters/generic_mit_us", "w") as f:
        f.write("0")
    try:
        with veth_pair() as (a, b), Port.open(a) as p, RawSocket(b) as s:
            s.send(tframe(5, 64))
            assert _rx_test_frames(p, 1) == [tframe(5, 64)]
    finally:
        with open("/sys/module/netmap/parameters/generic_mit_us", "w") as f:
            f.write(str(v))


# ------------------------------------------------------------------------------------------------
# Hostile slots
# ------------------------------------------------------------------------------------------------


def test_hostile_tx_slots_are_dropped_not_sent(veth):
    """Runts, chains past 64 fragments, endless chains, scribbled flags: dropped or held, never
    a crash; good frames after them still go out intact."""
    a, b = veth
    rng = random.Random(SEED)
    with Port.open(a, abi.NR_REG_NIC_SW) as p, RawSocket(b, ETH_P_TEST) as s:
        for ring in (p.tx, p.host_tx_rings[0]):
            t = ring
            for _ in range(20):
                n = min(t.space(), rng.randint(1, 200))
                cur = t.cur
                for _ in range(n):
                    idx = t.get(cur)[0]
                    t.set(cur, idx, rng.choice([0, 1, 13, 14, 60, 2048]), rng.randrange(1 << 16))
                    cur = t.next(cur)
                t.head = t.cur = cur
                p.txsync()
            # a chain of 70 fragments, then one whose end never comes
            cur = t.cur
            for k in range(min(70, t.space())):
                t.set_len_flags(cur, 100, abi.NS_MOREFRAG if k < 69 else 0)
                cur = t.next(cur)
            t.head = t.cur = cur
            p.txsync()
        s.drain()
        t = p.tx
        # leftover unterminated chains keep the ring's tail back: hand a terminator over
        t.set_len_flags(t.cur, 60, 0)
        t.advance(1)
        p.txsync()
        frames = [tframe(i, 200) for i in range(50)]
        _tx_all(p, frames)
        got = s.recv_test_frames(len(frames))
        assert got[-len(frames) :] == frames


def test_hostile_rx_slots_get_no_bytes(veth):
    """Free rx slots whose buffer index userspace broke receive nothing and break nothing."""
    a, b = veth
    with Port.open(a, abi.NR_REG_NIC_SW) as p, RawSocket(b) as s:
        r = p.rx
        for i in range(r.num_slots):
            if i != r.cur:
                idx, ln, fl = r.get(i)
                r.set(i, [0, 1, 1 << 30][i % 3], ln, fl)
        for i in range(20):
            s.send(tframe(i, 100))
        time.sleep(0.3)
        p.rxsync()
        r.hdr.flags |= abi.NR_FORWARD
        for i in range(r.space()):
            j = r.next(r.cur, i)
            r.set_len_flags(j, 65535, abi.NS_FORWARD)
        r.advance(r.space())
        assert errno_of(p.rxsync) in (0, errno.EINVAL)
