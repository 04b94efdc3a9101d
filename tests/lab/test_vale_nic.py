"""NICs in VALE switches (VALE_ATTACH of a NIC port, see generic.c): frames between VALE ports
and the wire, the NIC's host stack as a second member, polling threads, the device going
away, and vale-ctl / legacy forms of the same requests."""

import errno
import itertools
import os
import select
import subprocess
import time
from pathlib import Path

import pytest
from nm import Port, abi, errno_of, port_info
from nm.netdev import RawSocket, is_test_frame, sh, tframe, unique, veth_pair
from nm.vale import attach, detach, legacy, polling, vale_ctl, vlist, where

_switches = itertools.count()


@pytest.fixture
def veth():
    with veth_pair() as pair:
        yield pair


@pytest.fixture
def sw():
    return f"valen{next(_switches)}"


def rx_test_frames(p: Port, count: int, timeout: float = 10.0) -> list[bytes]:
    out: list[bytes] = []
    last = time.monotonic()
    while len(out) < count and time.monotonic() - last < timeout:
        p.rxsync()
        got = p.rx.take()
        p.rxsync()
        if got:
            last = time.monotonic()
            out += [f for f in (b"".join(x) for x in got) if is_test_frame(f)]
        else:
            p.poll(select.POLLIN, 50)
    return out


def tx_frames(p: Port, frames: list[bytes]) -> None:
    assert p.tx.put([[f] for f in frames]) == len(frames)
    p.txsync()


def test_frames_between_a_vale_port_and_the_wire(veth, sw):
    a, b = veth
    assert attach(f"{sw}:{a}") == (0, 0)
    try:
        assert [n for _, _, n in vlist() if n.startswith(sw)] == [f"{sw}:{a}"]
        with Port.open(f"{sw}:p") as p, RawSocket(b) as wire:
            out = [tframe(k, 60 + 7 * k) for k in range(200)]
            for k in range(0, len(out), 50):  # the veth queue takes a few at a time
                tx_frames(p, out[k : k + 50])
                assert wire.recv_test_frames(50) == out[k : k + 50]
            back = [
                tframe(1000 + k, 60 + 11 * k, dst=b"\x02" * 6, src=b"\x04" * 6) for k in range(100)
            ]
            for f in back:
                wire.send(f)
            assert rx_test_frames(p, len(back)) == back
    finally:
        assert detach(f"{sw}:{a}") == (0, 0)
    assert not [n for _, _, n in vlist() if n.startswith(sw)]


def test_an_attached_nic_belongs_to_the_switch(veth, sw):
    a, _ = veth
    assert attach(f"{sw}:{a}")[0] == 0
    try:
        assert errno_of(Port.open, a) == errno.EBUSY
        assert errno_of(Port.open, f"{sw}:{a}") == errno.EBUSY
        assert attach(f"{sw}:{a}")[0] == errno.EBUSY
        assert attach(f"{sw}x:{a}")[0] == errno.EBUSY
        assert where(f"{sw}:{a}")[0] == 0
    finally:
        assert detach(f"{sw}:{a}")[0] == 0
    with Port.open(a):  # the device is free again
        pass


def test_the_host_stack_joins_with_the_nic(veth, sw):
    a, b = veth
    err, idx = attach(f"{sw}:{a}", host=True)
    assert err == 0
    try:
        names = [n for _, _, n in vlist() if n.startswith(sw)]
        assert names == [f"{sw}:{a}", f"{sw}:{a}^"]
        assert detach(f"{sw}:{a}^")[0] == errno.EINVAL  # detach the NIC, not its host half
        with Port.open(f"{sw}:p") as p, RawSocket(a) as stack, RawSocket(b) as wire:
            # what the stack sends on a goes through the switch
            f = tframe(1, 100, dst=b"\x02" * 6, src=b"\x06" * 6)
            stack.send(f)
            assert rx_test_frames(p, 1) == [f]
            # a broadcast from p reaches the wire (after f, flooded there) and the stack
            g = tframe(2, 90)
            tx_frames(p, [g])
            assert wire.recv_test_frames(2) == [f, g]
            assert stack.recv_test_frames(1) == [g]
            # what arrives from the wire reaches p and the stack
            h = tframe(3, 80, src=b"\x08" * 6)
            wire.send(h)
            assert rx_test_frames(p, 1) == [h]
            assert stack.recv_test_frames(1) == [h]
    finally:
        assert detach(f"{sw}:{a}") == (0, idx)
    assert not [n for _, _, n in vlist() if n.startswith(sw)]


@pytest.mark.lab(smp=2)
def test_polling_threads(veth, sw):
    a, b = veth
    nrx = port_info(a).nr_rx_rings
    assert attach(f"{sw}:{a}", host=True)[0] == 0
    try:
        assert polling(f"{sw}:{a}", False) == errno.EBUSY  # not polling yet
        assert polling(f"{sw}:{a}^", True) == errno.EINVAL  # NICs only
        assert polling(f"{sw}:{a}", True, mode=3) == errno.EINVAL
        assert polling(f"{sw}:{a}", True, mode=1, first=0, num=2) == errno.EINVAL
        assert polling(f"{sw}:{a}", True, mode=1, first=4096) == errno.EINVAL
        assert polling(f"{sw}:{a}", True, mode=2, first=nrx, num=1) == errno.EINVAL
        with Port.open(f"{sw}:p") as p, RawSocket(b) as wire:
            for mode, first in ((1, 1), (2, 0)):
                assert polling(f"{sw}:{a}", True, mode=mode, first=first, num=1) == 0
                assert polling(f"{sw}:{a}", True) == errno.EBUSY
                frames = [tframe(k, 64, src=b"\x0a" * 6) for k in range(30)]
                for f in frames:
                    wire.send(f)
                assert rx_test_frames(p, len(frames)) == frames
                assert polling(f"{sw}:{a}", False) == 0
            # notification mode again
            wire.send(tframe(99, 64, src=b"\x0a" * 6))
            assert rx_test_frames(p, 1) == [tframe(99, 64, src=b"\x0a" * 6)]
            assert polling(f"{sw}:{a}", True, mode=1, first=0) == 0
            assert detach(f"{sw}:{a}")[0] == errno.EBUSY  # not while polling
            assert polling(f"{sw}:{a}", False) == 0
    finally:
        assert detach(f"{sw}:{a}")[0] == 0


def poll_threads() -> dict[int, str]:
    """The VALE polling kthreads: pid -> name ("vale_poll/CPU")."""
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                comm = (d / "comm").read_text().strip()
            except OSError:
                continue
            if comm.startswith("vale_poll/"):
                out[int(d.name)] = comm
    return out


def cpu_ticks(pid: int) -> int:
    """utime + stime of a task, in clock ticks (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


@pytest.mark.lab(smp=2)
def test_idle_polling_threads_sleep(veth, sw):
    """With polling on and no traffic a polling thread uses (almost) no CPU; frames still flow
    at once when they come, and the thread is idle again after them."""
    a, b = veth
    hz = os.sysconf("SC_CLK_TCK")
    assert attach(f"{sw}:{a}")[0] == 0
    try:
        with Port.open(f"{sw}:p") as p, RawSocket(b) as wire:
            for mode, first, name in ((1, 1, "vale_poll/1"), (2, 0, "vale_poll/0")):
                assert not poll_threads()
                assert polling(f"{sw}:{a}", True, mode=mode, first=first, num=1) == 0
                (pid,) = [k for k, v in poll_threads().items() if v == name]
                for round in range(2):
                    t0, c0 = time.monotonic(), cpu_ticks(pid)
                    time.sleep(3)
                    used = (cpu_ticks(pid) - c0) / hz / (time.monotonic() - t0)
                    assert used < 0.05, f"{name}, round {round}: {used:.1%} of a CPU while idle"
                    # traffic wakes it up
                    frames = [tframe(k, 64 + k, src=b"\x0c" * 6) for k in range(50)]
                    start = time.monotonic()
                    for f in frames:
                        wire.send(f)
                    assert rx_test_frames(p, len(frames)) == frames
                    assert time.monotonic() - start < 5
                assert polling(f"{sw}:{a}", False) == 0
                assert not poll_threads()
    finally:
        assert detach(f"{sw}:{a}")[0] == 0


def test_the_device_goes_away_while_attached(sw):
    with veth_pair() as (a, b):
        assert attach(f"{sw}:{a}", host=True)[0] == 0
        with Port.open(f"{sw}:p") as p:
            sh("ip", "link", "del", a)
            tx_frames(p, [tframe(k, 60) for k in range(10)])  # to a dead NIC: dropped
            p.rxsync()
        assert [n for _, _, n in vlist() if n.startswith(sw)] == [f"{sw}:{a}", f"{sw}:{a}^"]
        assert detach(f"{sw}:{a}")[0] == 0
        assert b not in sh("ip", "-o", "link").stdout


def test_legacy_list_of_a_name_longer_than_nr_name(sw):
    """The legacy nr_name has 16 bytes with the NUL: a NIC's host member "valeS:IF^" whose
    "valeS:IF" takes 15 bytes cannot be told there. BDG_LIST gives its indices with an empty
    name (cut to 15 bytes it would be the NIC member's name), names that fit NUL-padded; the
    new VALE_LIST has the whole name."""
    ifname = unique("ptl").ljust(15 - len(sw) - 1, "x")
    peer = unique("ptm")
    subprocess.run(["modprobe", "veth"], check=True)
    sh("ip", "link", "add", ifname, "type", "veth", "peer", "name", peer)
    try:
        nic, host = f"{sw}:{ifname}", f"{sw}:{ifname}^"
        assert (len(nic), len(host)) == (15, 16)
        assert attach(nic, host=True)[0] == 0
        try:
            err, bridge, _ = where(nic)
            assert err == 0
            assert [(b, p, n) for b, p, n in vlist() if b == bridge] == [
                (bridge, 0, nic),
                (bridge, 1, host),
            ]
            seen = []
            for port in (0, 1):
                # garbage after the NUL of the empty name must not come back either
                err, req = legacy(
                    abi.NETMAP_BDG_LIST,
                    "\0" + "\x7f" * 15,
                    call=abi.NIOCGINFO,
                    nr_arg1=bridge,
                    nr_arg2=port,
                )
                assert err == 0 and (req.nr_arg1, req.nr_arg2) == (bridge, port)
                seen.append(bytes(req)[:16])
            assert seen == [nic.encode() + b"\0", bytes(16)]
            # looking the NIC up by name gives its indices and leaves its name as it was
            err, req = legacy(abi.NETMAP_BDG_LIST, nic, call=abi.NIOCGINFO)
            assert (err, req.nr_arg1, req.nr_arg2) == (0, bridge, 0)
            assert bytes(req)[:16] == nic.encode() + b"\0"
        finally:
            assert detach(nic)[0] == 0
    finally:
        sh("ip", "link", "del", ifname, check=False)


def test_vale_ctl_and_legacy_forms(veth, sw):
    a, b = veth
    r = vale_ctl("-h", f"{sw}:{a}")
    assert r.returncode == 0, r.stderr
    r = vale_ctl("-l")
    assert f"{sw}:{a}^" in r.stdout
    assert vale_ctl("-p", f"{sw}:{a}", "-C", "0,0").returncode == 0
    assert vale_ctl("-P", f"{sw}:{a}").returncode == 0
    assert vale_ctl("-P", f"{sw}:{a}").returncode == 1
    assert vale_ctl("-d", f"{sw}:{a}").returncode == 0
    # legacy: NETMAP_BDG_HOST in nr_arg1
    assert legacy(abi.NETMAP_BDG_ATTACH, f"{sw}:{a}", nr_arg1=1)[0] == 0
    assert len([n for _, _, n in vlist() if n.startswith(sw)]) == 2
    assert legacy(abi.NETMAP_BDG_POLLING_ON, f"{sw}:{a}", nr_arg1=1)[0] == 0
    assert legacy(abi.NETMAP_BDG_POLLING_OFF, f"{sw}:{a}")[0] == 0
    assert legacy(abi.NETMAP_BDG_DETACH, f"{sw}:{a}")[0] == 0
    assert legacy(abi.NETMAP_BDG_ATTACH, f"{sw}:nosuch0")[0] == errno.ENXIO
    assert not [n for _, _, n in vlist() if n.startswith(sw)]
