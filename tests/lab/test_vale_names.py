"""VALE names and limits as upstream netmap has them (abi-corrections.md §10, "VALE names and
limits", VALE_LIST): every name that starts with "val" is a VALE name; the switch part is
[A-Za-z0-9_] up to 15 characters with the ':' in the first 16, the port part up to 15
characters of any kind; a bad switch part is ENOMEM where the port would be created, ENXIO
elsewhere; 8 switches and 252 ports; "valeS:IF" with IF a netdev only for attach, detach and
polling; VALE_LIST's answers; vale-ctl reporting the kernel's refusals."""

import ctypes
import errno
import itertools
import os

import pytest
from nm import Port, Request, abi, ctrl, dev_open, errno_of, pools_info, port_info
from nm.netdev import veth_pair
from nm.vale import (
    BCAST,
    attach,
    delif,
    detach,
    frame,
    mac,
    newif,
    polling,
    recv,
    request,
    send,
    vale_ctl,
    vlist,
    where,
)

_switches = itertools.count()


@pytest.fixture
def sw():
    return f"valen{next(_switches)}x"


def open_errno(name: str, **reg: int) -> int:
    fd = dev_open()
    try:
        body = abi.NmreqRegister(**{"nr_mode": abi.NR_REG_ALL_NIC, **reg})
        return errno_of(ctrl, fd, Request(abi.NETMAP_REQ_REGISTER, name, body))
    finally:
        os.close(fd)


def info_errno(name: str) -> int:
    return request(abi.NETMAP_REQ_PORT_INFO_GET, name, abi.NmreqRegister())


def pools_errno(name: str) -> int:
    return request(abi.NETMAP_REQ_POOLS_INFO_GET, name, abi.NmreqPoolsInfo())


def names_in(sw: str) -> list[str]:
    return [n for _, _, n in vlist() if n.startswith(sw + ":")]


# --------------------------------------------------------------------------------------------
# Which names are VALE names, and which are valid
# --------------------------------------------------------------------------------------------


def test_every_name_that_starts_with_val_is_a_vale_name():
    with Port.open("val0:x") as p, Port.open("val:y") as q:
        assert p.nifp.ni_name == b"val0:x"
        send(q, [frame(BCAST, mac(1), 1)])
        assert recv(p) == []  # another switch
        assert "val0:x" in [n for _, _, n in vlist()]
        assert where("val0:x")[0] == errno.EINVAL  # VALE_LIST wants "vale"
    # a "val" name without ':' names no switch: creating is ENOMEM, looking up ENXIO
    for name in ("valx", "vale", "validname"):
        assert open_errno(name) == errno.ENOMEM, name
        assert info_errno(name) == errno.ENOMEM, name
        assert pools_errno(name) == errno.ENOMEM, name
        assert attach(name)[0] == errno.ENOMEM, name
        assert detach(name)[0] == errno.ENXIO, name
        assert polling(name, True) == errno.ENXIO, name
        assert polling(name, False) == errno.ENXIO, name
    assert where("valx")[0] == errno.EINVAL
    assert where("validname")[0] == errno.EINVAL  # VALE_LIST wants "vale"
    assert where("valeq")[0] == errno.ENOENT  # no switch has that name


def test_switch_part_rules():
    longest = "vale0123456789a"  # 15 characters, the ':' 16th
    with Port.open(f"{longest}:p") as p:
        assert p.nifp.ni_name == longest.encode()  # ni_name has 16 bytes
        assert where(f"{longest}:p")[0] == 0
    for bad in ("vale0123456789ab:p", "vale-0:a", "vale0.1:a", "val e:a", "vale\xe9:a"):
        assert open_errno(bad) == errno.ENOMEM, bad
        assert info_errno(bad) == errno.ENOMEM, bad
        assert attach(bad)[0] == errno.ENOMEM, bad
        assert detach(bad)[0] == errno.ENXIO, bad
        assert polling(bad, False) == errno.ENXIO, bad
        if bad.startswith("vale"):
            assert where(bad)[0] == errno.ENOENT, bad
    assert not [n for _, _, n in vlist() if n.startswith("vale0123456789")]


def test_port_part_rules(sw):
    """Up to 15 characters, of any kind: 31 characters in all over NIOCCTRL."""
    longest = "vale0123456789a:" + "abcdefghijklmno"
    assert len(longest) == 31
    with Port.open(longest) as p:
        assert p.nifp.ni_name == longest[:15].encode()  # ni_name has 16 bytes
        assert longest in [n for _, _, n in vlist()]
        assert where(longest)[0] == 0
    odd = [f"{sw}:a-b", f"{sw}:a.b", f"{sw}:a b", f"{sw}:a:b", f"{sw}:\xe9", f"{sw}:\x01"]
    with Port.open(odd[0]) as a:
        others = [Port.open(n) for n in odd[1:]]
        try:
            assert sorted(names_in(sw)) == sorted(odd)
            send(a, [frame(BCAST, mac(2), 2)])
            assert all(recv(o) == [frame(BCAST, mac(2), 2)] for o in others)
        finally:
            for o in others:
                o.close()
    for bad in (f"{sw}:", f"{sw}:abcdefghijklmnop"):
        assert open_errno(bad) == errno.EINVAL, bad
        assert info_errno(bad) == errno.EINVAL, bad
    assert names_in(sw) == []


def test_ring_and_slot_bounds_of_ephemeral_ports(sw):
    with Port.open(f"{sw}:a", tx_rings=40, rx_rings=17, tx_slots=9000, rx_slots=1) as a:
        assert (a.reg.nr_tx_rings, a.reg.nr_rx_rings) == (16, 16)
        assert (a.reg.nr_tx_slots, a.reg.nr_rx_slots) == (4096, 1)
        a.txsync()
        a.rxsync()
        with Port.open(f"{sw}:b") as b:
            send(b, [frame(BCAST, mac(3), 3)])  # a one-slot ring holds nothing: dropped
            assert recv(a) == []


def private_pools(txr: int, txd: int, rxr: int, rxd: int, extra: int = 0) -> list[tuple[int, int]]:
    """(objects, bytes each) of the if, ring and buffer pools of an ephemeral port's region, as
    netmap sizes it: at least 2x1024, 4x20480 and 4098x2048, grown for the port's rings plus a
    host ring each way, two pipes of the port's size (4 rings a side each) and the extra
    buffers; each pool fills its last page."""
    txr, rxr = txr + 1, rxr + 1
    if_size = max(1024, -(-(ctypes.sizeof(abi.NetmapIf) + 8 * (txr + rxr)) // 64) * 64)
    ring = ctypes.sizeof(abi.NetmapRing) + ctypes.sizeof(abi.NetmapSlot) * max(txd, rxd)
    ring_size = max(20480, -(-ring // 128) * 128)
    bufs = max(4098, (8 + rxr) * rxd + (8 + txr) * txd + 2 + extra)
    pools = [(max(2, 10), if_size), (max(4, txr + rxr + 16), ring_size), (bufs, 2048)]
    return [(-(-n * size // 4096) * 4096 // size, size) for n, size in pools]


def test_an_ephemeral_port_has_a_region_sized_for_it(sw):
    """§10: 42369024 bytes for 1 ring of 1024 slots, id 2 when no other region exists; the
    region grows with rings, slots (4096 fit) and the REGISTER's extra buffers, all of which
    come back."""
    with Port.open(f"{sw}:a") as a:
        assert a.reg.nr_mem_id == 2 and a.reg.nr_memsize == 42369024
        info = pools_info(f"{sw}:a")
        got = [
            (info.nr_if_pool_objtotal, info.nr_if_pool_objsize),
            (info.nr_ring_pool_objtotal, info.nr_ring_pool_objsize),
            (info.nr_buf_pool_objtotal, info.nr_buf_pool_objsize),
        ]
        assert got == private_pools(1, 1024, 1, 1024) == [(12, 1024), (20, 20480), (20482, 2048)]
        assert (info.nr_if_pool_offset, info.nr_ring_pool_offset) == (0, 12288)
        assert info.nr_buf_pool_offset == 12288 + 20 * 20480
    want = private_pools(16, 4096, 3, 64, extra=5000)
    with Port.open(
        f"{sw}:b", tx_rings=16, rx_rings=3, tx_slots=4096, rx_slots=64, extra_bufs=5000
    ) as b:
        assert (b.reg.nr_tx_slots, b.reg.nr_rx_slots, b.reg.nr_extra_bufs) == (4096, 64, 5000)
        info = pools_info(f"{sw}:b")
        assert (info.nr_ring_pool_objtotal, info.nr_ring_pool_objsize) == want[1]
        assert (info.nr_buf_pool_objtotal, info.nr_buf_pool_objsize) == want[2]
        assert b.reg.nr_memsize == info.nr_buf_pool_offset + -(-want[2][0] * 2048 // 4096) * 4096
        assert [r.num_slots for r in b.tx_rings] == [4096] * 16
        assert [r.num_slots for r in b.rx_rings] == [64] * 3
        assert len(b.extra_bufs()) == 5000


# --------------------------------------------------------------------------------------------
# Limits
# --------------------------------------------------------------------------------------------


def test_252_ports_per_switch(sw):
    ps = []
    try:
        for i in range(252):
            ps.append(Port.open(f"{sw}:{i}", map=False, tx_slots=2, rx_slots=2))
        assert open_errno(f"{sw}:252") == errno.ENOMEM
        assert info_errno(f"{sw}:252") == errno.ENOMEM
        with veth_pair() as (v, _):
            assert attach(f"{sw}:{v}")[0] == errno.ENOMEM
        assert len(names_in(sw)) == 252
    finally:
        for p in ps:
            p.close()


def test_8_switches():
    assert not [n for _, _, n in vlist()]  # nothing else in any switch
    ps = [Port.open(f"valesw{i}:x", map=False) for i in range(8)]
    try:
        assert open_errno("valesw8:x") == errno.ENOMEM
        assert info_errno("valesw8:x") == errno.ENOMEM
        with veth_pair() as (v, _):
            assert attach(f"valesw8:{v}")[0] == errno.ENOMEM
        assert open_errno("valesw0:y") == 0  # a switch that exists takes ports
    finally:
        for p in ps:
            p.close()


# --------------------------------------------------------------------------------------------
# What creates ports, and "valeS:IF" with IF a netdev
# --------------------------------------------------------------------------------------------


def test_only_register_and_the_info_lookups_create_ports(sw):
    assert attach(f"{sw}:nosuch")[0] == errno.ENXIO
    assert detach(f"{sw}:nosuch")[0] == errno.ENXIO
    assert polling(f"{sw}:nosuch", True) == errno.ENXIO
    assert names_in(sw) == []
    assert port_info(f"{sw}:ghost").nr_tx_rings == 1  # created for the lookup, then gone
    assert pools_errno(f"{sw}:ghost") == 0
    assert names_in(sw) == []


def test_vale_name_of_a_netdev_is_only_for_attach_detach_and_polling(sw):
    vp = f"{sw[4:]}p"
    assert newif(vp) == 0
    try:
        with veth_pair() as (v, _):
            for ifname in (v, "lo", vp):
                assert open_errno(f"{sw}:{ifname}") == errno.EINVAL, ifname
                assert info_errno(f"{sw}:{ifname}") == errno.EINVAL, ifname
                assert errno_of(Port.open, f"{sw}:{ifname}{{1") == errno.EINVAL  # nor a pipe
            assert names_in(sw) == []
            assert attach(f"{sw}:{v}") == (0, 0)
            assert polling(f"{sw}:{v}", True, mode=1, first=0) == 0
            assert polling(f"{sw}:{v}", False) == 0
            assert open_errno(f"{sw}:{v}") == errno.EBUSY  # the switch binds it
            assert detach(f"{sw}:{v}") == (0, 0)
            assert attach(f"{sw}:{vp}") == (0, 0)
            with Port.open(f"{sw}:{vp}"):  # a persistent port in the switch opens by name
                pass
            assert detach(f"{sw}:{vp}") == (0, 0)
    finally:
        assert delif(vp) == 0


# --------------------------------------------------------------------------------------------
# VALE_LIST
# --------------------------------------------------------------------------------------------


def test_vale_list_rules(sw):
    for name in ("eth0", "val0:x", "x:vale0"):
        assert where(name)[0] == errno.EINVAL, name
    assert where(f"{sw}:a")[0] == errno.ENOENT  # no such switch
    with Port.open(f"{sw}:a"), Port.open(f"{sw}:b"):
        err, bridge, port = where(f"{sw}:b")
        assert (err, port) == (0, 1)
        assert where(f"{sw}:zz") == (0, bridge, 255)  # the switch, and no port
        assert where(f"{sw}:") == (0, bridge, 255)
        listed = vlist()
        assert (bridge, 0, f"{sw}:a") in listed and (bridge, 1, f"{sw}:b") in listed
    # the iteration ends with ENOENT past the last port
    body = abi.NmreqValeList(nr_bridge_idx=7, nr_port_idx=252)
    assert request(abi.NETMAP_REQ_VALE_LIST, "", body) == errno.ENOENT


# --------------------------------------------------------------------------------------------
# vale-ctl passes names to the kernel and reports its refusals
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "text"),
    [
        (["-n", "vale0x"], "Invalid argument"),
        (["-n", "x" * 16], "Invalid argument"),
        (["-n", "lo"], "File exists"),
        (["-r", "lo"], "Invalid argument"),
        (["-r", "nosuch0"], "No such device"),
        (["-a", "vale0:a-b"], "No such device or address"),
        (["-a", "vale-0:a"], "Cannot allocate memory"),
        (["-a", "eth0"], "Invalid argument"),
        (["-d", "vale0:abcdefghijklmn"], "No such device or address"),
        (["-d", "eth0"], "Invalid argument"),
        (["-l", "val0:x"], ""),
        (["-p", "valx"], "No such device or address"),
    ],
)
def test_vale_ctl_reports_the_kernels_refusal(argv, text):
    r = vale_ctl(*argv)
    assert r.returncode == 1, (argv, r.stdout, r.stderr)
    assert text in r.stderr
    assert r.stderr.startswith("vale-ctl: ") and r.stderr.count("\n") <= 1
