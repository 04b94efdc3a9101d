"""VALE against hostile input: bad names, limits, busy ports, scribbled rings, bad requests.
Each must get an errno (or be dropped), never an oops, and leave no object behind (the
counters fixture checks every test)."""

import errno
import itertools
import os
from pathlib import Path

import pytest
from nm import Port, Request, abi, ctrl, dev_open, errno_of, port_info
from nm.vale import BCAST, attach, detach, frame, mac, param, polling, request, vlist, where

_switches = itertools.count()


@pytest.fixture
def sw():
    return f"valex{next(_switches)}"


def _open_errno(name: str, **reg: int) -> int:
    fd = dev_open()
    try:
        body = abi.NmreqRegister(**{"nr_mode": abi.NR_REG_ALL_NIC, **reg})
        return errno_of(ctrl, fd, Request(abi.NETMAP_REQ_REGISTER, name, body))
    finally:
        os.close(fd)


def _info_errno(name: str) -> int:
    return request(abi.NETMAP_REQ_PORT_INFO_GET, name, abi.NmreqPortInfoGet())


def send(p: Port, frames: list[bytes]) -> None:
    p.tx.put([[f] for f in frames])
    p.txsync()


def recv(p: Port) -> list[bytes]:
    p.rxsync()
    out = [b"".join(x) for x in p.rx.take()]
    p.rxsync()
    return out


# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------

E = errno
# name: the errnos of REGISTER, PORT_INFO_GET, VALE_LIST, VALE_ATTACH and VALE_DETACH. A bad
# switch part is ENOMEM where the port would be created, ENXIO where it is looked up; VALE_LIST
# finds no switch (test_vale_names.py has the rules).
BAD_NAMES = {
    "vale0:": (E.EINVAL, E.EINVAL, E.ENOENT, E.EINVAL, E.ENXIO),
    "vale:": (E.EINVAL, E.EINVAL, E.ENOENT, E.EINVAL, E.ENXIO),
    "vale-0:a": (E.ENOMEM, E.ENOMEM, E.ENOENT, E.ENOMEM, E.ENXIO),
    "vale0\x01:a": (E.ENOMEM, E.ENOMEM, E.ENOENT, E.ENOMEM, E.ENXIO),
    "vale0123456789ab:p": (E.ENOMEM, E.ENOMEM, E.ENOENT, E.ENOMEM, E.ENXIO),
    "vale0:" + "x" * 57: (E.EINVAL, E.EINVAL, E.ENOENT, E.EINVAL, E.ENXIO),
    "valx": (E.ENOMEM, E.ENOMEM, E.EINVAL, E.ENOMEM, E.ENXIO),
    "x:y": (E.EINVAL, E.EINVAL, E.EINVAL, E.EINVAL, E.EINVAL),
}


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_vale_names_are_refused(name):
    got = (_open_errno(name), _info_errno(name), where(name)[0], attach(name)[0], detach(name)[0])
    assert got == BAD_NAMES[name]
    assert not [n for _, _, n in vlist() if n.startswith(name.split(":")[0] + ":")]


def test_longest_names_and_an_empty_switch_name_work():
    for name in ("vale0:abcdefghi", "vale:abcdefghij", "vale:x", "valeabcdefghi:x"):
        assert len(name) <= 15
        with Port.open(name) as p:
            assert p.nifp.ni_name == name.encode()


def test_port_info_does_not_leave_a_port_behind(sw):
    info = port_info(f"{sw}:ghost")
    assert (info.nr_tx_rings, info.nr_rx_rings) == (1, 1)
    assert where(f"{sw}:ghost")[0] == errno.ENOENT


# --------------------------------------------------------------------------------------------
# Limits
# --------------------------------------------------------------------------------------------


def test_a_switch_over_its_port_limit(sw):
    with param("vale_max_ports", 4):
        ps = [Port.open(f"{sw}:p{i}") for i in range(4)]
        try:
            assert _open_errno(f"{sw}:p4") == errno.ENOMEM
            assert _info_errno(f"{sw}:p4") == errno.ENOMEM
            assert _open_errno(f"{sw}:p0") == 0  # existing ports still open
            ps.pop().close()
            with Port.open(f"{sw}:p4"):
                pass
        finally:
            for p in ps:
                p.close()


def test_the_default_port_limit_is_252(sw):
    ps = []
    try:
        for i in range(252):
            ps.append(Port.open(f"{sw}:{i}", map=False, tx_slots=2, rx_slots=2))
        assert _open_errno(f"{sw}:252") == errno.ENOMEM
        assert len([n for _, _, n in vlist() if n.startswith(sw + ":")]) == 252
    finally:
        for p in ps:
            p.close()


def test_more_switches_than_the_limit(sw):
    with param("vale_max_switches", 3):
        with Port.open(f"{sw}a:x"), Port.open(f"{sw}b:x"), Port.open(f"{sw}c:x"):
            assert _open_errno(f"{sw}d:x") == errno.ENOMEM
            assert _open_errno(f"{sw}a:y") == 0  # an existing switch still takes ports
        with Port.open(f"{sw}d:x"):
            pass


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("vale_max_ports", 0),
        ("vale_max_ports", 253),
        ("vale_max_switches", 0),
        ("vale_max_switches", 65),
        ("vale_age", 0),
        ("vale_max_ports", -1),
    ],
)
def test_parameters_out_of_range_are_refused(name, value):
    path = f"/sys/module/netmap/parameters/{name}"
    path = Path(path)
    old = path.read_text()
    with pytest.raises(OSError) as e:
        path.write_text(str(value))
    assert e.value.errno == errno.EINVAL
    assert path.read_text() == old


# --------------------------------------------------------------------------------------------
# Busy ports and bad requests
# --------------------------------------------------------------------------------------------


def test_control_requests_on_missing_or_wrong_ports(sw):
    assert detach(f"{sw}:none")[0] == errno.ENXIO
    assert attach(f"{sw}:nosuch")[0] == errno.ENXIO
    assert polling(f"{sw}:none", True) == errno.ENXIO
    assert polling(f"{sw}:none", False) == errno.ENXIO
    with Port.open(f"{sw}:a"):
        assert detach(f"{sw}:a")[0] == errno.EBUSY
        assert attach(f"{sw}:a")[0] == errno.EBUSY
        assert polling(f"{sw}:a", True) == errno.EINVAL
        assert polling(f"{sw}:a", False) == errno.EINVAL
        body = abi.NmreqValeAttach()
        body.reg.nr_mode = abi.NR_REG_ONE_NIC
        assert request(abi.NETMAP_REQ_VALE_ATTACH, f"{sw}:b", body) == errno.EINVAL


def test_list_cursor_out_of_range_ends():
    body = abi.NmreqValeList(nr_bridge_idx=0xFFFF, nr_port_idx=0xFFFFFFFF)
    assert request(abi.NETMAP_REQ_VALE_LIST, "", body) == errno.ENOENT
    body = abi.NmreqValeList(nr_bridge_idx=0, nr_port_idx=0xFFFFFFFF)
    assert request(abi.NETMAP_REQ_VALE_LIST, "", body) in (0, errno.ENOENT)


def test_vale_modes_without_host_rings_are_einval(sw):
    for mode in (abi.NR_REG_SW, abi.NR_REG_NIC_SW, abi.NR_REG_ONE_SW, abi.NR_REG_DEFAULT, 99):
        assert _open_errno(f"{sw}:a", nr_mode=mode) == errno.EINVAL


# --------------------------------------------------------------------------------------------
# Scribbled rings
# --------------------------------------------------------------------------------------------


def test_bad_tx_slots_are_refused_and_the_switch_goes_on(sw):
    with Port.open(f"{sw}:a") as a, Port.open(f"{sw}:b") as b:
        t = a.tx
        for idx, ln in ((0, 60), (1, 60), (0xFFFFFFFF, 60), (t.get(t.cur)[0], 4096)):
            i = t.cur
            good = t.get(i)[0]
            t.set(i, idx, ln, 0)
            t.advance(1)
            assert errno_of(a.txsync) == errno.EINVAL
            t.set(i, good, 60, 0)  # the kernel reset head; put the buffer back
        send(a, [frame(BCAST, mac(1), 1)])
        assert recv(b) == [frame(BCAST, mac(1), 1)]


def test_runts_and_empty_slots_are_dropped(sw):
    with Port.open(f"{sw}:a") as a, Port.open(f"{sw}:b") as b:
        t = a.tx
        for ln in (0, 1, 13):
            i = t.cur
            t.set_len_flags(i, ln, 0)
            t.advance(1)
        # a chain whose first fragment cannot hold the Ethernet header
        i = t.cur
        t.set_len_flags(i, 6, abi.NS_MOREFRAG)
        t.advance(1)
        i = t.cur
        t.write_buf(t.get(i)[0], frame(BCAST, mac(1), 0))
        t.set_len_flags(i, 60, 0)
        t.advance(1)
        a.txsync()
        assert recv(b) == []
        send(a, [frame(BCAST, mac(1), 2)])
        assert recv(b) == [frame(BCAST, mac(1), 2)]


def test_a_receiver_that_scribbles_its_ring_only_hurts_itself(sw):
    with Port.open(f"{sw}:a") as a, Port.open(f"{sw}:b") as b, Port.open(f"{sw}:c") as c:
        r = b.rx
        for i in range(r.num_slots):  # every slot, the kernel's ones too
            r.set(i, [0, 1, 0xFFFFFFFF, 0x7FFFFFFF][i % 4], 0xFFFF, 0xFFFF)
        r.hdr.head = r.hdr.cur = r.num_slots + 5
        frames = [frame(BCAST, mac(1), k) for k in range(10)]
        send(a, frames)
        assert recv(c) == frames
        assert errno_of(b.rxsync) == errno.EINVAL  # its bad head is refused
        b.rxsync()
        assert r.space() == 0  # nothing could be copied into those buffers


def test_a_sender_that_scribbles_flags_and_lengths(sw):
    with Port.open(f"{sw}:a") as a, Port.open(f"{sw}:b") as b:
        t = a.tx
        n = t.num_slots - 1
        for k in range(n):
            i = t.next(t.cur, k)
            t.write_buf(t.get(i)[0], frame(BCAST, mac(1), k))
            flags = 0xFFFF if k % 7 == 0 and k < n - 1 else abi.NS_NO_LEARN
            t.set_len_flags(i, 60, flags)
        t.advance(n)
        a.txsync()
        got = recv(b)
        assert got  # whatever was whole arrived; nothing else happened
        send(a, [frame(BCAST, mac(1), 99999)])
        assert frame(BCAST, mac(1), 99999) in recv(b)


def test_open_close_churn_leaves_nothing(sw):
    for k in range(100):
        with Port.open(f"{sw}:c{k % 7}", tx_slots=64, rx_slots=64):
            pass
    assert not [n for _, _, n in vlist() if n.startswith(sw + ":")]
