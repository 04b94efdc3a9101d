"""Persistent VALE ports (VALE_NEWIF / VALE_DELIF) and their netdevs, VALE_ATTACH / VALE_DETACH
of them, VALE_LIST, the legacy BDG_* commands, and vale-ctl."""

import errno
import itertools
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest
from nm import Port, abi, counters, errno_of, port_info
from nm.vale import (
    BCAST,
    attach,
    delif,
    detach,
    frame,
    legacy,
    mac,
    netdev_exists,
    newif,
    recv,
    send,
    vale_ctl,
    vlist,
    where,
)

_names = itertools.count()


@pytest.fixture
def vp():
    """A fresh persistent-port name; the port is deleted after the test if still there."""
    name = f"vp{next(_names)}"
    yield name
    delif(name)


@pytest.fixture
def sw():
    return f"valec{next(_names)}"


def names_in(sw: str) -> list[str]:
    return [n for _, _, n in vlist() if n.startswith(sw + ":")]


# --------------------------------------------------------------------------------------------
# Persistent ports
# --------------------------------------------------------------------------------------------


def test_a_persistent_port_survives_its_creator_until_delif(vp, sw):
    r = vale_ctl("-n", vp)
    assert r.returncode == 0, r.stderr
    assert netdev_exists(vp)
    assert counters.read("port_count") >= 1  # it exists with nobody using it
    assert attach(f"{sw}:{vp}") == (0, 0)  # opening "valeS:P" does not attach it
    with Port.open(f"{sw}:{vp}") as p, Port.open(f"{sw}:x") as x:
        assert p.nifp.ni_flags & abi.NI_PRIV_MEM
        send(x, [frame(BCAST, mac(1), 1)])
        assert recv(p) == [frame(BCAST, mac(1), 1)]
        send(p, [frame(mac(1), mac(2), 2)])
        assert recv(x) == [frame(mac(1), mac(2), 2)]
    assert names_in(sw) == [f"{sw}:{vp}"]  # it stays in the switch
    r = vale_ctl("-d", f"{sw}:{vp}")
    assert r.returncode == 0, r.stderr
    assert names_in(sw) == []
    r = vale_ctl("-r", vp)
    assert r.returncode == 0, r.stderr
    assert not netdev_exists(vp)
    r = vale_ctl("-r", vp)
    assert r.returncode == 1 and "No such device" in r.stderr


def test_a_persistent_port_in_a_region_named_by_mem_id(vp, sw):
    with Port.open(f"{sw}:a") as a:
        mid = a.reg.nr_mem_id
        assert newif(vp, nr_mem_id=mid) == 0
        assert port_info(vp).nr_mem_id == mid
        with Port.open(f"{sw}:x") as other:
            assert errno_of(Port.open, f"{sw}:{vp}", mem_id=other.reg.nr_mem_id) == errno.EINVAL
            assert attach(f"{sw}:{vp}")[0] == 0
            assert errno_of(Port.open, f"{sw}:{vp}", mem_id=other.reg.nr_mem_id) == errno.EINVAL
        assert names_in(sw) == [f"{sw}:a", f"{sw}:{vp}"]
        with Port.open(f"{sw}:{vp}", mem_id=mid) as p:
            assert p.reg.nr_mem_id == mid
            send(a, [frame(BCAST, mac(1), 1)])
            assert recv(p) == [frame(BCAST, mac(1), 1)]
        assert detach(f"{sw}:{vp}")[0] == 0
    assert delif(vp) == 0
    # no such region: nothing created, no netdev left behind
    assert newif(vp, nr_mem_id=0xFFFF) == errno.EINVAL
    assert not netdev_exists(vp)
    assert legacy(abi.NETMAP_BDG_NEWIF, vp, nr_arg2=0xFFFF)[0] == errno.EINVAL
    assert not netdev_exists(vp)
    assert legacy(abi.NETMAP_BDG_NEWIF, vp, nr_arg2=1)[0] == 0
    assert port_info(vp).nr_mem_id == 1


def test_delif_of_a_port_in_a_switch_is_ebusy(vp, sw):
    assert newif(vp) == 0
    assert attach(f"{sw}:{vp}") == (0, 0)
    assert names_in(sw) == [f"{sw}:{vp}"]
    assert delif(vp) == errno.EBUSY
    assert names_in(sw) == [f"{sw}:{vp}"] and netdev_exists(vp)
    assert detach(f"{sw}:{vp}") == (0, 0)
    assert delif(vp) == 0
    assert names_in(sw) == [] and not netdev_exists(vp)


def test_geometry_of_a_persistent_port(vp):
    r = vale_ctl("-n", vp, "-C", "256,512,2,3")
    assert r.returncode == 0, r.stderr
    info = port_info(vp)
    assert (info.nr_tx_slots, info.nr_rx_slots) == (256, 512)
    assert (info.nr_tx_rings, info.nr_rx_rings) == (2, 3)
    assert info.nr_mem_id > 1


def test_attach_detach_and_busy_ports(vp, sw):
    assert newif(vp) == 0
    assert attach(f"{sw}:{vp}") == (0, 0)
    assert attach(f"{sw}:{vp}")[0] == errno.EBUSY
    assert attach(f"{sw}x:{vp}") == (0, 0)  # a second switch binds it: test_vale_persistent.py
    assert detach(f"{sw}x:{vp}") == (0, 0)
    with Port.open(f"{sw}:{vp}"):
        assert detach(f"{sw}:{vp}")[0] == errno.EBUSY
        assert delif(vp) == errno.EBUSY
        r = vale_ctl("-r", vp)
        assert r.returncode == 1 and "busy" in r.stderr
    assert detach(f"{sw}:{vp}") == (0, 0)
    assert detach(f"{sw}:{vp}")[0] == errno.ENXIO
    with Port.open(vp):  # bound by its own name, out of any switch
        assert attach(f"{sw}:{vp}")[0] == errno.EBUSY
        assert delif(vp) == errno.EBUSY
    with Port.open(f"{vp}{{3"):  # its pipes live in its region
        assert delif(vp) == errno.EBUSY
    assert delif(vp) == 0


def test_an_ephemeral_port_cannot_be_detached(sw):
    with Port.open(f"{sw}:e"):
        assert detach(f"{sw}:e")[0] == errno.EBUSY


def test_newif_names(vp):
    assert newif(vp) == 0
    assert newif(vp) == errno.EEXIST
    assert newif("lo") == errno.EEXIST  # a netdev has the name
    for bad in ("", "vale0:x", "vale", "a b", "x" * 16):
        assert newif(bad) == errno.EINVAL, bad
    assert delif("nosuchport0") == errno.ENXIO


def test_delif_of_something_else_is_einval(pname):
    with Port.open(f"{pname}{{1"):
        assert delif(pname) == errno.EINVAL  # a pipe parent, not a persistent port


# --------------------------------------------------------------------------------------------
# The netdev of a persistent port
# --------------------------------------------------------------------------------------------


def _raw_socket(dev: str) -> socket.socket:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88B5))
    s.bind((dev, 0))
    s.settimeout(5)
    return s


def test_the_netdev_is_the_other_end_of_the_port(vp):
    assert newif(vp) == 0
    subprocess.run(["ip", "link", "set", vp, "up"], check=True)
    with Port.open(vp) as p, _raw_socket(vp) as s:
        # the stack sends on the device: the port receives
        f = frame(mac(9), mac(8), 1, 100)
        s.send(f)
        got: list[bytes] = []
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            got = [x for x in recv(p) if x[12:14] == b"\x88\xb5"]  # not the stack's own
            time.sleep(0.01)
        assert got == [f]
        # the port sends (in no switch): the stack receives on the device
        g = frame(BCAST, mac(7), 2, 200)
        send(p, [g])
        assert s.recv(4096) == g
    stats = Path(f"/sys/class/net/{vp}/statistics")
    assert int((stats / "tx_packets").read_text()) >= 1
    assert int((stats / "rx_packets").read_text()) >= 1


def test_the_netdev_drops_while_the_port_is_unbound(vp):
    assert newif(vp) == 0
    subprocess.run(["ip", "link", "set", vp, "up"], check=True)
    with _raw_socket(vp) as s:
        s.send(frame(mac(9), mac(8), 1))
    time.sleep(0.1)
    assert int(Path(f"/sys/class/net/{vp}/statistics/tx_dropped").read_text()) >= 1


# --------------------------------------------------------------------------------------------
# VALE_LIST and vale-ctl
# --------------------------------------------------------------------------------------------


def test_list_iterates_every_port(sw):
    with Port.open(f"{sw}:a"), Port.open(f"{sw}:b"), Port.open(f"{sw}y:c"):
        listed = vlist()
        mine = [(b, p, n) for b, p, n in listed if n.split(":")[0] in (sw, sw + "y")]
        assert [n for _, _, n in mine] == [f"{sw}:a", f"{sw}:b", f"{sw}y:c"]
        (ba, pa, _), (bb, pb, _), (bc, pc, _) = mine
        assert ba == bb != bc and (pa, pb, pc) == (0, 1, 0)
        assert where(f"{sw}:b") == (0, bb, 1)
        assert where(f"{sw}:zz") == (0, bb, 255)  # the switch, without such a port
        assert where("eth0")[0] == errno.EINVAL


def test_vale_ctl_list_output(sw):
    with Port.open(f"{sw}:a"), Port.open(f"{sw}:b"):
        b, p = where(f"{sw}:b")[1:]
        for argv in ([], ["-l"]):
            r = vale_ctl(*argv)
            assert r.returncode == 0, r.stderr
            assert f"bridge:{b} port:{p} {sw}:b" in r.stdout.splitlines()
            assert all(re.fullmatch(r"bridge:\d+ port:\d+ \S+", ln) for ln in r.stdout.splitlines())
        r = vale_ctl("-l", f"{sw}:b")
        assert (r.returncode, r.stdout) == (0, f"{sw}:b at bridge:{b} port:{p}\n")
        r = vale_ctl("-g", f"{sw}:a")
        assert (r.returncode, r.stdout) == (0, f"{sw}:a: 1 queues.\n")
    r = vale_ctl("-l", f"{sw}:b")
    assert r.returncode == 1 and r.stdout == ""


@pytest.mark.parametrize(
    "argv",
    [
        ["-x"],
        ["-a"],
        ["-n", "x" * 64],  # no room in nr_name; the kernel judges the rest
        ["-a", "vale0:" + "x" * 58],
        ["-n", "vp", "-C", "1,2,3,4,5"],
        ["-n", "vp", "-C", "abc"],
        ["-n", "vp", "-C", "1,,2"],
        ["-p", "vale0:x", "-C", "2,0"],
        ["-a", "vale0:x", "-d", "vale0:x"],
        ["-r", "x", "-C", "1"],
        ["-d", "vale0:x", "extra"],
        ["-m", "abc", "-n", "x"],
    ],
)
def test_vale_ctl_bad_usage_exits_2(argv):
    r = vale_ctl(*argv)
    assert r.returncode == 2, (argv, r.stdout, r.stderr)
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("vale-ctl: error: ")


def test_vale_ctl_attach_detach_of_a_persistent_port(vp, sw):
    assert vale_ctl("-n", vp).returncode == 0
    r = vale_ctl("-a", f"{sw}:{vp}")
    assert r.returncode == 0, r.stderr
    assert names_in(sw) == [f"{sw}:{vp}"]
    r = vale_ctl("-h", f"{sw}x:{vp}")  # a VALE port has no host stack
    assert r.returncode == 1
    r = vale_ctl("-d", f"{sw}:{vp}")
    assert r.returncode == 0, r.stderr
    assert vale_ctl("-d", f"{sw}:{vp}").returncode == 1
    assert vale_ctl("-p", f"{sw}:{vp}").returncode == 1  # polling is for NICs
    assert vale_ctl("-r", vp).returncode == 0


# --------------------------------------------------------------------------------------------
# Legacy commands
# --------------------------------------------------------------------------------------------


def test_legacy_bdg_commands(vp, sw):
    err, _ = legacy(abi.NETMAP_BDG_NEWIF, vp, nr_tx_slots=128, nr_rx_slots=256)
    assert err == 0 and netdev_exists(vp)
    info = port_info(vp)
    assert (info.nr_tx_slots, info.nr_rx_slots) == (128, 256)
    assert legacy(abi.NETMAP_BDG_ATTACH, f"{sw}:{vp}")[0] == 0
    with Port.open_legacy(f"{sw}:z"):
        # where one port is (NIOCGINFO, the way vale-ctl asks)
        err, req = legacy(abi.NETMAP_BDG_LIST, f"{sw}:z", call=abi.NIOCGINFO)
        assert err == 0
        assert (req.nr_arg1, req.nr_arg2) == where(f"{sw}:z")[1:]
        # iterate: the kernel fills nr_name; the caller bumps nr_arg2 and clears the name
        seen = []
        arg1 = arg2 = 0
        while True:
            err, req = legacy(
                abi.NETMAP_BDG_LIST, "", call=abi.NIOCGINFO, nr_arg1=arg1, nr_arg2=arg2
            )
            if err:
                assert err == errno.ENOENT
                break
            seen.append(req.nr_name.decode())
            arg1, arg2 = req.nr_arg1, req.nr_arg2 + 1
        assert f"{sw}:{vp}" in seen and f"{sw}:z" in seen
        assert legacy(abi.NETMAP_BDG_DETACH, f"{sw}:{vp}")[0] == 0
        assert legacy(abi.NETMAP_BDG_DETACH, f"{sw}:z")[0] == errno.EBUSY
    assert legacy(abi.NETMAP_BDG_DELIF, vp)[0] == 0
    assert not netdev_exists(vp)
    assert legacy(abi.NETMAP_BDG_DELIF, vp)[0] == errno.ENXIO
    assert legacy(abi.NETMAP_BDG_POLLING_ON, f"{sw}:none")[0] == errno.ENXIO
    assert legacy(abi.NETMAP_BDG_POLLING_OFF, f"{sw}:none")[0] == errno.ENXIO


# --------------------------------------------------------------------------------------------
# The module goes while persistent ports exist
# --------------------------------------------------------------------------------------------


@pytest.mark.lab(modules=[], smp=2)
def test_rmmod_deletes_persistent_ports_and_lets_nics_go():
    from nm.netdev import veth_pair
    from nm.vale import polling

    from ptnet.build import kbuild
    from ptnet.lab import kernel

    ko = kbuild.module_path(kernel.find(os.environ["PTNET_LAB_KERNEL"]), "netmap")
    subprocess.run(["insmod", str(ko)], check=True)
    with veth_pair() as (a, _):
        try:
            assert newif("vpgone") == 0
            assert attach("vale0:vpgone") == (0, 0)
            assert newif("vpgone2") == 0
            assert attach(f"vale1:{a}", host=True)[0] == 0
            assert polling(f"vale1:{a}", True, mode=1, first=1) == 0
            with Port.open("vale1:x"):
                pass
        finally:
            r = subprocess.run(["rmmod", "netmap"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert not netdev_exists("vpgone") and not netdev_exists("vpgone2")
        assert not Path("/sys/module/netmap").exists()
        # the NIC works for the stack again
        assert "ptva" in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
