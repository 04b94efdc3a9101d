"""Persistent VALE ports as upstream netmap has them (abi-corrections.md §8a, §8b): VALE_NEWIF's
name rules, write-back and EEXIST on any netdev name, VALE_DELIF's ENXIO / EINVAL / EBUSY,
VALE_ATTACH and VALE_DETACH rules, and one port in two switches: the second switch binds it
like a NIC, and the port then links both switches (frames counted both ways). The functional
scripts 009, 010 and 011 of upstream's suite, as their intent reads, through vale-ctl."""

import errno
import itertools
import time

import pytest
from nm import Port, abi, errno_of, port_info
from nm.netdev import veth_pair
from nm.vale import (
    BCAST,
    attach,
    delif,
    detach,
    frame,
    mac,
    polling,
    recv,
    request,
    send,
    vale_ctl,
    vlist,
    where,
)

_names = itertools.count()


@pytest.fixture
def vp():
    """A fresh persistent-port name; whatever the test left is taken apart afterwards."""
    name = f"vq{next(_names)}"
    yield name
    for _, _, n in vlist():
        if n.endswith(":" + name) and not n.startswith("valeA"):
            detach(n)  # second switches first
    for _, _, n in vlist():
        if n.endswith(":" + name):
            detach(n)
    delif(name)


@pytest.fixture
def sws():
    """Two switch names no other test uses."""
    k = next(_names)
    return f"valeA{k}", f"valeB{k}"


def newif_body(name: str, **fields: int) -> tuple[int, abi.NmreqValeNewif]:
    body = abi.NmreqValeNewif(**fields)
    return request(abi.NETMAP_REQ_VALE_NEWIF, name, body), body


def geometry(body: abi.NmreqValeNewif) -> tuple[int, int, int, int]:
    return (body.nr_tx_slots, body.nr_rx_slots, body.nr_tx_rings, body.nr_rx_rings)


def attach_body(
    name: str, mode: int = abi.NR_REG_ALL_NIC, **reg: int
) -> tuple[int, abi.NmreqValeAttach]:
    body = abi.NmreqValeAttach()
    body.reg.nr_mode = mode
    for k, v in reg.items():
        setattr(body.reg, k, v)
    return request(abi.NETMAP_REQ_VALE_ATTACH, name, body), body


def members(sw: str) -> list[str]:
    return [n for _, _, n in vlist() if n.startswith(sw + ":")]


def wait_frames(p: Port, count: int, timeout: float = 10.0) -> list[bytes]:
    """What p receives until `count` frames came, or nothing came for `timeout` seconds."""
    out: list[bytes] = []
    last = time.monotonic()
    while len(out) < count and time.monotonic() - last < timeout:
        got = recv(p)
        if got:
            out += got
            last = time.monotonic()
        else:
            time.sleep(0.005)
    return out


# --------------------------------------------------------------------------------------------
# VALE_NEWIF
# --------------------------------------------------------------------------------------------


def test_newif_writes_back_the_values_in_use(vp):
    err, body = newif_body(vp)
    assert err == 0
    assert geometry(body) == (1024, 1024, 1, 1) and body.nr_mem_id > 1
    assert port_info(vp).nr_mem_id == body.nr_mem_id
    assert delif(vp) == 0
    err, body = newif_body(vp, nr_tx_slots=9000, nr_rx_slots=1, nr_tx_rings=40, nr_rx_rings=3)
    assert err == 0
    # slots: at most 4096, and what a ring of the port's region holds (2288 in ours)
    assert 2048 <= body.nr_tx_slots <= 4096
    assert geometry(body)[1:] == (1, 16, 3)
    info = port_info(vp)
    assert (info.nr_tx_slots, info.nr_rx_slots, info.nr_tx_rings, info.nr_rx_rings) == geometry(
        body
    )


def test_newif_on_any_existing_netdev_name_is_eexist(vp):
    err, _ = newif_body(vp, nr_tx_slots=256, nr_rx_slots=512, nr_tx_rings=2, nr_rx_rings=3)
    assert err == 0
    # the body tells the port that has the name
    err, body = newif_body(vp, nr_mem_id=0xFFFF)  # EEXIST comes before the region check
    assert err == errno.EEXIST
    assert geometry(body) == (256, 512, 2, 3) and body.nr_mem_id == port_info(vp).nr_mem_id
    # a netdev that is no netmap port: the body is left as it was
    for name in ("lo",):
        err, body = newif_body(name, nr_tx_slots=7)
        assert err == errno.EEXIST
        assert geometry(body) == (7, 0, 0, 0)
    with veth_pair() as (a, b):
        assert newif_body(a)[0] == errno.EEXIST
        assert newif_body(b)[0] == errno.EEXIST


def test_newif_names_and_regions(vp):
    for bad in ("vale0x", "vale", "valeX:y", "x" * 16, "", "a b", "a/b"):
        assert newif_body(bad)[0] == errno.EINVAL, bad
    assert newif_body(vp, nr_mem_id=0xFFFF)[0] == errno.EINVAL
    assert vp not in [n for _, _, n in vlist()]
    # anything else a netdev may be called: 15 characters, '-', "val" without the "e"
    for good in ("w" * 15, "a-b" + vp, "valx" + vp):
        err, _ = newif_body(good)
        assert err == 0, good
        assert delif(good) == 0, good
    with Port.open("vale0:m") as m:
        err, body = newif_body(vp, nr_mem_id=m.reg.nr_mem_id)
        assert err == 0 and body.nr_mem_id == m.reg.nr_mem_id


# --------------------------------------------------------------------------------------------
# VALE_DELIF
# --------------------------------------------------------------------------------------------


def test_delif_errors(vp, sws, pname):
    a, _ = sws
    assert delif("nosuchdev0") == errno.ENXIO
    assert delif("lo") == errno.EINVAL  # a netdev, not a persistent VALE port
    with veth_pair() as (v, _):
        assert delif(v) == errno.EINVAL
    with Port.open(f"{pname}{{1"):
        assert delif(pname) == errno.EINVAL  # the auto-delete parent of a pipe
    assert newif_body(vp)[0] == 0
    assert attach(f"{a}:{vp}") == (0, 0)
    assert delif(vp) == errno.EBUSY  # attached to a switch
    r = vale_ctl("-r", vp)
    assert r.returncode == 1 and "Device or resource busy" in r.stderr
    with Port.open(f"{a}:{vp}"):
        assert delif(vp) == errno.EBUSY
    assert detach(f"{a}:{vp}") == (0, 0)
    with Port.open(vp):  # registered by an fd
        assert delif(vp) == errno.EBUSY
    with Port.open(f"{vp}{{2"):  # a pipe holds it
        assert delif(vp) == errno.EBUSY
    assert delif(vp) == 0
    assert delif(vp) == errno.ENXIO


# --------------------------------------------------------------------------------------------
# VALE_ATTACH and VALE_DETACH
# --------------------------------------------------------------------------------------------


def test_attach_twice_to_one_switch_is_ebusy_and_a_second_switch_wraps(vp, sws):
    a, b = sws
    assert newif_body(vp)[0] == 0
    assert attach(f"{a}:{vp}") == (0, 0)
    assert attach(f"{a}:{vp}")[0] == errno.EBUSY
    with Port.open(f"{a}:x"):  # an fd on the port's switch is not an fd on the port
        err, idx = attach(f"{b}:{vp}")
    assert (err, idx) == (0, 0)
    assert members(a) == [f"{a}:{vp}"] and members(b) == [f"{b}:{vp}"]
    # the port is the kernel's now: no fd binds it, under any of its names
    for name in (vp, f"{a}:{vp}", f"{b}:{vp}"):
        assert errno_of(Port.open, name) == errno.EBUSY, name
    assert attach(f"{a}x:{vp}")[0] == errno.EBUSY  # already wrapped
    assert detach(f"{a}:{vp}")[0] == errno.EBUSY  # the second switch holds it
    assert delif(vp) == errno.EBUSY
    assert detach(f"{b}:{vp}") == (0, 0)
    assert members(b) == []
    assert detach(f"{a}:{vp}") == (0, 0)
    assert delif(vp) == 0


def test_the_wrap_needs_a_port_nobody_binds(vp, sws):
    a, b = sws
    assert newif_body(vp)[0] == 0
    assert attach(f"{a}:{vp}") == (0, 0)
    with Port.open(f"{a}:{vp}"):
        assert attach(f"{b}:{vp}")[0] == errno.EBUSY
    with Port.open(vp):
        assert attach(f"{b}:{vp}")[0] == errno.EBUSY
    assert members(b) == []


def test_attach_modes(vp, sws):
    a, b = sws
    assert newif_body(vp)[0] == 0
    assert attach(f"{a}:{vp}") == (0, 0)
    for mode, ringid in (
        (abi.NR_REG_DEFAULT, 0),
        (abi.NR_REG_ONE_NIC, 0),
        (abi.NR_REG_SW, 0),
        (abi.NR_REG_ALL_NIC, 1),
        (abi.NR_REG_NIC_SW, 0),  # a VALE port has no host rings to attach
    ):
        assert attach_body(f"{b}:{vp}", mode, nr_ringid=ringid)[0] == errno.EINVAL, mode
    assert members(b) == []
    with veth_pair() as (v, _):
        for mode, ringid in ((abi.NR_REG_DEFAULT, 0), (abi.NR_REG_ALL_NIC, 1)):
            assert attach_body(f"{b}:{v}", mode, nr_ringid=ringid)[0] == errno.EINVAL
        # the reply writes port_index only: the reg part comes back as it went
        err, body = attach_body(f"{b}:{v}", nr_mem_id=0, nr_tx_slots=7, nr_offset=99)
        assert err == 0
        assert (body.reg.nr_mem_id, body.reg.nr_tx_slots, body.reg.nr_offset) == (0, 7, 99)
        assert body.reg.nr_mode == abi.NR_REG_ALL_NIC and body.port_index == 0
        assert detach(f"{b}:{v}") == (0, 0)


def test_detach_errors(sws):
    a, _ = sws
    assert detach(f"{a}:none")[0] == errno.ENXIO  # no such switch
    with Port.open(f"{a}:x"):
        assert detach(f"{a}:none")[0] == errno.ENXIO  # no such port
        assert detach(f"{a}:x")[0] == errno.EBUSY  # an ephemeral port
    for name in ("eth0", "lo", "x:y"):
        assert detach(name)[0] == errno.EINVAL, name


def test_detach_of_a_nic_that_polls_is_ebusy(sws):
    a, _ = sws
    with veth_pair() as (v, _):
        assert attach(f"{a}:{v}") == (0, 0)
        try:
            assert polling(f"{a}:{v}", True, mode=1, first=0) == 0
            assert detach(f"{a}:{v}")[0] == errno.EBUSY
            assert polling(f"{a}:{v}", False) == 0
        finally:
            assert detach(f"{a}:{v}") == (0, 0)


# --------------------------------------------------------------------------------------------
# Frames through a port in two switches
# --------------------------------------------------------------------------------------------


def test_frames_cross_between_the_two_switches(vp, sws):
    """P in A and wrapped into B: what A forwards to P comes out in B, what B forwards to the
    wrapper goes into A. Every frame arrives once, in order, both ways; the ports of the same
    switch see each other's frames as before."""
    a, b = sws
    assert newif_body(vp)[0] == 0
    assert attach(f"{a}:{vp}") == (0, 0)
    assert attach(f"{b}:{vp}") == (0, 0)
    with (
        Port.open(f"{a}:x") as ax,
        Port.open(f"{a}:y") as ay,
        Port.open(f"{b}:z") as bz,
    ):
        n = 0
        for k in range(10):  # A to B: broadcasts, 30 at a time
            out = [frame(BCAST, mac(1), 1000 * k + i, 60 + i) for i in range(30)]
            send(ax, out)
            assert wait_frames(bz, len(out)) == out
            assert wait_frames(ay, len(out)) == out
            n += len(out)
        back = []
        for k in range(10):  # B to A: to the MAC A learned on x, through P
            out = [frame(mac(1), mac(2), 50000 + 1000 * k + i, 64 + i) for i in range(30)]
            send(bz, out)
            back += wait_frames(ax, len(out))
            assert back[-len(out) :] == out
        assert len(back) == 300 and n == 300
        time.sleep(0.1)
        assert recv(ay) == []  # unicast to x: A learned where mac(1) is
    assert detach(f"{b}:{vp}") == (0, 0)
    assert detach(f"{a}:{vp}") == (0, 0)
    assert delif(vp) == 0


@pytest.mark.lab(modules=[])
def test_rmmod_with_a_port_in_two_switches():
    """The module's exit takes the second switch's binding apart before the port: rmmod
    succeeds, the netdev goes, nothing is left."""
    import os
    import subprocess
    from pathlib import Path

    from ptnet.build import kbuild
    from ptnet.lab import kernel

    ko = kbuild.module_path(kernel.find(os.environ["PTNET_LAB_KERNEL"]), "netmap")
    subprocess.run(["insmod", str(ko)], check=True)
    try:
        assert newif_body("vqgone")[0] == 0
        assert attach("valeA:vqgone") == (0, 0)
        assert attach("valeB:vqgone") == (0, 0)
        with Port.open("valeB:z") as bz, Port.open("valeA:x") as ax:
            send(bz, [frame(BCAST, mac(3), 1)])
            assert wait_frames(ax, 1) == [frame(BCAST, mac(3), 1)]
            send(ax, [frame(BCAST, mac(4), 2)])
            assert wait_frames(bz, 1) == [frame(BCAST, mac(4), 2)]
    finally:
        r = subprocess.run(["rmmod", "netmap"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert not Path("/sys/class/net/vqgone").exists()
    assert not Path("/sys/module/netmap").exists()


# --------------------------------------------------------------------------------------------
# Upstream's functional scripts 009, 010 and 011, as their intent reads (vale-ctl)
# --------------------------------------------------------------------------------------------


def ok(*argv: str) -> None:
    r = vale_ctl(*argv)
    assert r.returncode == 0, (argv, r.stderr)


def refused(text: str, *argv: str) -> None:
    r = vale_ctl(*argv)
    assert r.returncode == 1 and text in r.stderr, (argv, r.returncode, r.stderr)


def test_functional_009_delete_an_attached_port(vp, sws):
    a, b = sws
    ok("-n", vp)
    ok("-a", f"{a}:{vp}")
    refused("Device or resource busy", "-r", vp)
    ok("-a", f"{b}:{vp}")
    refused("Device or resource busy", "-r", vp)
    ok("-d", f"{b}:{vp}")
    ok("-d", f"{a}:{vp}")
    ok("-r", vp)
    assert vp not in [n.split(":")[-1] for _, _, n in vlist()]


def test_functional_010_attach_twice(vp, sws):
    a, b = sws
    ok("-n", vp)
    ok("-a", f"{a}:{vp}")
    refused("Device or resource busy", "-a", f"{a}:{vp}")
    ok("-a", f"{b}:{vp}")
    assert where(f"{b}:{vp}")[0] == 0


def test_functional_011_create_twice(vp, sws):
    a, b = sws
    ok("-n", vp)
    refused("File exists", "-n", vp)
    ok("-a", f"{a}:{vp}")
    refused("File exists", "-n", vp)
    ok("-a", f"{b}:{vp}")
    refused("File exists", "-n", vp)
