"""Host rings as requested: nr_host_tx_rings / nr_host_rx_rings on an idle NIC set its host-ring
counts (each on its own), a NIC in use keeps them, the last user puts them back to 1/1; ring
selection of SW, NIC_SW and ONE_SW; the netmap_if layout; 0/0 in REGISTER for ports without host
rings; and the emulated adapter's data path over several host rings. A tap or veth stands in for
the NIC (one hardware ring per direction)."""

import errno
import select
import socket
import time

import pytest
from nm import Port, abi, counters, errno_of, packets, port_info
from nm.netdev import Tap, mac_of, sh, udp_frame, udp_payload, veth_pair
from nm.vale import attach, detach


@pytest.fixture
def tap():
    with Tap() as t:
        yield t.name


@pytest.fixture
def addressed():
    """veth a with 10.250.3.1/24 and a static neighbour 10.250.3.2 at b's MAC."""
    with veth_pair() as (a, b):
        sh("ip", "addr", "add", "10.250.3.1/24", "dev", a)
        sh("ip", "neigh", "replace", "10.250.3.2", "lladdr", mac_of(b).hex(":"), "dev", a)
        yield a, b


def _host(reg_or_info) -> tuple[int, int]:
    return reg_or_info.nr_host_tx_rings, reg_or_info.nr_host_rx_rings


def _bound(rings: list) -> list[int]:
    return [i for i, r in enumerate(rings) if r is not None]


# --------------------------------------------------------------------------------------------
# Upstream's results on a tap (1 hardware ring each way)
# --------------------------------------------------------------------------------------------


def test_one_sw_ring_1_of_2(tap):
    with Port.open(tap, abi.NR_REG_ONE_SW, ringid=1, host_tx_rings=2, host_rx_rings=2) as p:
        assert _host(p.reg) == (2, 2)
        assert (p.nifp.ni_host_tx_rings, p.nifp.ni_host_rx_rings) == (2, 2)
        assert _bound(p.tx_rings) == [] and _bound(p.rx_rings) == []
        assert _bound(p.host_tx_rings) == [1] and _bound(p.host_rx_rings) == [1]
        assert p.host_tx_rings[1].hdr.ringid == 2 and p.host_tx_rings[1].hdr.dir == abi.NR_TX
        assert p.host_rx_rings[1].hdr.ringid == 2 and p.host_rx_rings[1].hdr.dir == abi.NR_RX


@pytest.mark.parametrize("mode", [abi.NR_REG_SW, abi.NR_REG_NIC_SW])
def test_sw_and_nic_sw_with_5_4_host_rings(tap, mode):
    with Port.open(tap, mode, host_tx_rings=5, host_rx_rings=4) as p:
        assert _host(p.reg) == (5, 4)
        n = p.nifp
        assert (n.ni_tx_rings, n.ni_rx_rings) == (1, 1)
        assert (n.ni_host_tx_rings, n.ni_host_rx_rings) == (5, 4)
        assert p.n_ring_ofs == 1 + 5 + 1 + 4
        assert _bound(p.host_tx_rings) == list(range(5))
        assert _bound(p.host_rx_rings) == list(range(4))
        nic = [0] if mode == abi.NR_REG_NIC_SW else []
        assert _bound(p.tx_rings) == nic and _bound(p.rx_rings) == nic
        # ring_ofs: T+HT tx entries (kernel rings 0..5), then R+HR rx entries (0..4)
        for k in range(p.n_ring_ofs):
            tx = k < 6
            ringid = k if tx else k - 6
            if not p.ring_ofs(k):
                assert ringid == 0 and mode == abi.NR_REG_SW
                continue
            r = p._ring(k)
            assert r is not None
            assert (r.hdr.dir, r.hdr.ringid) == (abi.NR_TX if tx else abi.NR_RX, ringid), k


@pytest.mark.parametrize("mode", [abi.NR_REG_ALL_NIC, abi.NR_REG_NIC_SW])
def test_no_hint_means_1_1(tap, mode):
    with Port.open(tap, mode) as p:
        assert _host(p.reg) == (1, 1)
        assert (p.nifp.ni_host_tx_rings, p.nifp.ni_host_rx_rings) == (1, 1)


def test_all_nic_reports_the_requested_counts_without_binding_them(tap):
    with Port.open(tap, host_tx_rings=3, host_rx_rings=2) as p:
        assert _host(p.reg) == (3, 2)
        assert (p.nifp.ni_host_tx_rings, p.nifp.ni_host_rx_rings) == (3, 2)
        assert _bound(p.host_tx_rings) == [] and _bound(p.host_rx_rings) == []
        assert _bound(p.tx_rings) == [0] and _bound(p.rx_rings) == [0]
        assert p.rx_rings[0].hdr.ringid == 0 and p.ring_ofs(1 + 3) != 0


# --------------------------------------------------------------------------------------------
# ONE_SW with unequal counts
# --------------------------------------------------------------------------------------------


def test_one_sw_falls_back_to_host_ring_0_where_ring_k_is_missing(tap):
    with Port.open(tap, abi.NR_REG_ONE_SW, ringid=2, host_tx_rings=3, host_rx_rings=1) as p:
        assert _host(p.reg) == (3, 1)
        assert _bound(p.host_tx_rings) == [2] and _bound(p.host_rx_rings) == [0]
    with Port.open(tap, abi.NR_REG_ONE_SW, ringid=1, host_tx_rings=1, host_rx_rings=2) as p:
        assert _bound(p.host_tx_rings) == [0] and _bound(p.host_rx_rings) == [1]


@pytest.mark.parametrize(("ringid", "htx", "hrx"), [(3, 3, 1), (2, 2, 2), (1, 0, 0), (7, 5, 4)])
def test_one_sw_beyond_both_counts_is_einval(tap, ringid, htx, hrx):
    err = errno_of(
        Port.open, tap, abi.NR_REG_ONE_SW, ringid=ringid, host_tx_rings=htx, host_rx_rings=hrx
    )
    assert err == errno.EINVAL
    assert counters.read("port_count") == 0


def test_one_sw_with_tx_rings_only_binds_one_host_tx_ring(tap):
    with Port.open(
        tap,
        abi.NR_REG_ONE_SW,
        ringid=2,
        host_tx_rings=3,
        host_rx_rings=1,
        flags=abi.NR_TX_RINGS_ONLY,
    ) as p:
        assert _bound(p.host_tx_rings) == [2] and _bound(p.host_rx_rings) == []


# --------------------------------------------------------------------------------------------
# Idle, busy, and back to 1/1
# --------------------------------------------------------------------------------------------


def test_a_nic_in_use_keeps_its_counts_and_the_last_user_resets_them(tap):
    a = Port.open(tap, abi.NR_REG_SW, host_tx_rings=5, host_rx_rings=4)
    try:
        with Port.open(tap, abi.NR_REG_SW, host_tx_rings=2, host_rx_rings=2) as b:
            assert _host(b.reg) == (5, 4), "in use: the current counts, not the hints"
            assert _bound(b.host_tx_rings) == list(range(5))
            assert _host(port_info(tap, host_tx_rings=7, host_rx_rings=7)) == (5, 4)
        with Port.open(tap) as c:
            assert _host(c.reg) == (5, 4)
            a.close()
            assert _host(port_info(tap)) == (5, 4), "c still uses the port"
    finally:
        a.close()
    assert _host(port_info(tap)) == (1, 1)
    with Port.open(tap, abi.NR_REG_SW) as d:
        assert _host(d.reg) == (1, 1)
        assert (d.nifp.ni_host_tx_rings, d.nifp.ni_host_rx_rings) == (1, 1)


def test_each_count_is_replaced_on_its_own(tap):
    with Port.open(tap, abi.NR_REG_SW, host_tx_rings=4) as p:
        assert _host(p.reg) == (4, 1)
    with Port.open(tap, abi.NR_REG_SW, host_rx_rings=3) as p:
        assert _host(p.reg) == (1, 3)
        assert _bound(p.host_tx_rings) == [0] and _bound(p.host_rx_rings) == [0, 1, 2]


def test_counts_grow_and_shrink_across_bindings_without_leaks(tap):
    for htx, hrx in [(2, 2), (8, 1), (1, 9), (16, 16), (3, 3), (1, 1), (20, 2)]:
        with Port.open(tap, abi.NR_REG_NIC_SW, host_tx_rings=htx, host_rx_rings=hrx) as p:
            assert _host(p.reg) == (htx, hrx)
            assert _bound(p.host_tx_rings) == list(range(htx))
            assert _bound(p.host_rx_rings) == list(range(hrx))
            assert p.host_rx_rings[-1].hdr.ringid == 1 + hrx - 1
    assert counters.read("ring_in_use") == 0


def test_counts_no_netmap_if_can_list_are_refused(tap):
    nmax = (counters.read("if_size") - abi.NETMAP_IF_RING_OFS) // 8
    big = nmax  # with the hardware rings, more than fit
    assert errno_of(Port.open, tap, abi.NR_REG_SW, host_tx_rings=big) == errno.ENOMEM
    assert errno_of(port_info, tap, host_rx_rings=0xFFFF) == errno.ENOMEM
    assert errno_of(Port.open, tap, abi.NR_REG_SW, host_tx_rings=0xFFFF) == errno.ENOMEM
    fit = nmax - 2 - 1  # 1 hw tx, 1 hw rx, 1 host rx
    assert _host(port_info(tap, host_tx_rings=fit)) == (fit, 1)
    assert counters.read("port_count") == 0


def test_a_nic_in_a_switch_keeps_1_1(tap):
    sw = "valehr9"
    err, _ = attach(f"{sw}:{tap}", host=True)
    assert err == 0
    try:
        assert _host(port_info(tap, host_tx_rings=4, host_rx_rings=4)) == (1, 1)
    finally:
        assert detach(f"{sw}:{tap}")[0] == 0
    assert _host(port_info(tap, host_tx_rings=4, host_rx_rings=4)) == (4, 4)


# --------------------------------------------------------------------------------------------
# Ports without host rings: REGISTER 0/0, netmap_if 1/1
# --------------------------------------------------------------------------------------------


def _no_host_rings(p: Port) -> None:
    assert _host(p.reg) == (0, 0)
    assert (p.nifp.ni_host_tx_rings, p.nifp.ni_host_rx_rings) == (1, 1)
    n = p.nifp
    rx0 = n.ni_tx_rings + n.ni_host_tx_rings
    assert p.ring_ofs(rx0) != 0, "the rx rings come after one host tx entry"
    assert p.ring_ofs(n.ni_tx_rings) == 0, "the host tx entry is never bound"


def test_vale_port(pname):
    with Port.open("valehr1:a", host_tx_rings=5, host_rx_rings=4) as p:
        _no_host_rings(p)
    for mode in (abi.NR_REG_SW, abi.NR_REG_NIC_SW, abi.NR_REG_ONE_SW):
        assert errno_of(Port.open, "valehr1:a", mode) == errno.EINVAL


def test_pipe(pname):
    with Port.open(f"{pname}{{1", host_tx_rings=5) as m, Port.open(f"{pname}}}1") as s:
        _no_host_rings(m)
        _no_host_rings(s)


def test_null_port():
    # a null port has the rings it is asked for (0 by default), so ask for one each way
    with Port.open(
        "nullhr", abi.NR_REG_NULL, mem_id=1, tx_rings=1, rx_rings=1, host_tx_rings=3
    ) as p:
        _no_host_rings(p)


def test_monitors(pname, tap):
    with Port.open(f"{pname}{{1"), Port.open(f"{pname}{{1", flags=abi.NR_MONITOR_TX) as mon:
        _no_host_rings(mon)
    with Port.open(tap, abi.NR_REG_NIC_SW), Port.open(tap, flags=abi.NR_MONITOR_RX) as mon:
        assert _host(mon.reg) == (0, 0)


# --------------------------------------------------------------------------------------------
# The emulated adapter's data path over several host rings
# --------------------------------------------------------------------------------------------


def _drain_host_rx(p: Port, want: int, timeout: float = 15.0) -> dict[int, list[bytes]]:
    """UDP payloads arriving on each host rx ring, until `want` in all."""
    got: dict[int, list[bytes]] = {i: [] for i in range(len(p.host_rx_rings))}
    deadline = time.monotonic() + timeout
    while sum(map(len, got.values())) < want and time.monotonic() < deadline:
        p.rxsync()
        for i, r in enumerate(p.host_rx_rings):
            for pkt in r.take():
                data = udp_payload(b"".join(pkt))
                if data is not None:
                    got[i].append(data)
        p.poll(select.POLLIN, 50)
    return got


def test_stack_frames_spread_over_the_host_rx_rings_by_flow(addressed):
    a, _ = addressed
    nflows, per_flow = 48, 3
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(nflows)]
    try:
        with Port.open(a, abi.NR_REG_SW, host_tx_rings=1, host_rx_rings=4) as p:
            assert _bound(p.host_rx_rings) == [0, 1, 2, 3]
            for k in range(per_flow):
                for f, s in enumerate(socks):
                    s.sendto(f"flow{f:02d}-{k}".encode(), ("10.250.3.2", 9999))
            got = _drain_host_rx(p, nflows * per_flow)
    finally:
        for s in socks:
            s.close()
    everything = sorted(m for msgs in got.values() for m in msgs)
    assert everything == sorted(
        f"flow{f:02d}-{k}".encode() for f in range(nflows) for k in range(per_flow)
    )
    ring_of: dict[str, set[int]] = {}
    for i, msgs in got.items():
        for m in msgs:
            ring_of.setdefault(m.decode()[:6], set()).add(i)
        # within a ring, each flow keeps its order
        for f in range(nflows):
            mine = [m for m in msgs if m.startswith(f"flow{f:02d}-".encode())]
            assert mine == sorted(mine)
    assert all(len(r) == 1 for r in ring_of.values()), "a flow stays on one ring"
    assert len(set().union(*ring_of.values())) > 1, "the flows spread over the rings"


def test_one_sw_host_rx_ring_gets_its_share(addressed):
    """Two descriptors each bind one host ring (ONE_SW 0 and 1); together they see everything."""
    a, _ = addressed
    nflows = 32
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(nflows)]
    try:
        with (
            Port.open(a, abi.NR_REG_ONE_SW, ringid=0, host_tx_rings=2, host_rx_rings=2) as p0,
            Port.open(a, abi.NR_REG_ONE_SW, ringid=1) as p1,
        ):
            assert _host(p1.reg) == (2, 2)
            for f, s in enumerate(socks):
                s.sendto(f"one{f:02d}".encode(), ("10.250.3.2", 9999))
            want = nflows
            got0: list[bytes] = []
            got1: list[bytes] = []
            deadline = time.monotonic() + 15
            while len(got0) + len(got1) < want and time.monotonic() < deadline:
                for p, out in ((p0, got0), (p1, got1)):
                    p.rxsync()
                    r = next(r for r in p.host_rx_rings if r is not None)
                    out += [d for d in (udp_payload(b"".join(x)) for x in r.take()) if d]
                time.sleep(0.02)
    finally:
        for s in socks:
            s.close()
    assert sorted(got0 + got1) == sorted(f"one{f:02d}".encode() for f in range(nflows))
    assert got0 and got1


def test_every_host_tx_ring_reaches_the_stack(addressed):
    a, b = addressed
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind(("10.250.3.1", 0))
        u.settimeout(5)
        port = u.getsockname()[1]
        ma, mb = mac_of(a), mac_of(b)
        with Port.open(a, abi.NR_REG_SW, host_tx_rings=3, host_rx_rings=1) as p:
            sent = []
            for round_ in range(4):
                for k, ring in enumerate(p.host_tx_rings):
                    msgs = [packets.payload(100 * k + round_ * 10 + i, 40 + i) for i in range(5)]
                    frames = [
                        udp_frame(ma, mb, "10.250.3.2", "10.250.3.1", 4000 + k, port, m)
                        for m in msgs
                    ]
                    assert ring.put([[f] for f in frames]) == len(frames)
                    sent += msgs
                p.txsync()
            got = [u.recv(2048) for _ in sent]
        assert sorted(got) == sorted(sent)


def test_host_tx_on_several_rings_across_rebinds(addressed):
    """Rebinding with more host rings while frames may still be in flight: nothing leaks."""
    a, b = addressed
    ma, mb = mac_of(a), mac_of(b)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind(("10.250.3.1", 0))
        u.settimeout(5)
        port = u.getsockname()[1]
        total = 0
        for n in (1, 2, 4, 6, 8, 12):
            with Port.open(a, abi.NR_REG_SW, host_tx_rings=n) as p:
                for k, ring in enumerate(p.host_tx_rings):
                    f = udp_frame(ma, mb, "10.250.3.2", "10.250.3.1", 5000 + k, port, b"r%d" % n)
                    ring.put([[f]])
                    total += 1
                p.txsync()
        got = [u.recv(2048) for _ in range(total)]
        assert len(got) == total
