"""Pipe names and parents, as netmap has them (abi-corrections.md §2).

- The pipe id is everything after the last '{' (else the last '}'): any non-empty string.
- The parent is resolved like any port name and only referenced: a NIC (in region 1, still
  usable as `netmap:IF` and by the host stack), a VALE port (its private region), a persistent
  VALE port, or, when missing, an auto-delete persistent VALE port made for it.
- At most 64 pipes per parent; ring and slot defaults and limits; the slave swaps tx and rx.
- A pipe never takes the name of its parent from a NIC, in any network namespace.
"""

import errno
import subprocess
import sys
from pathlib import Path

import pytest
from nm import Port, abi, counters, errno_of
from nm.netdev import RawSocket, move_to, netns, sh, tframe, veth_pair
from nm.vale import (
    attach,
    delif,
    detach,
    hdr_get,
    hdr_set,
    legacy,
    netdev_exists,
    newif,
    param,
    recv,
    send,
)

HERE = Path(__file__).parent


def _open_errno(name: str, mode: int = abi.NR_REG_ALL_NIC, **kw: int) -> int:
    def attempt() -> None:
        Port.open(name, mode, **kw).close()

    return errno_of(attempt)


def _moves(tx: Port, rx: Port, data: bytes) -> bool:
    """One frame from tx's ring 0 arrives whole in rx's ring 0."""
    send(tx, [data])
    return recv(rx) == [data]


def _info(name: str, **fields: int) -> tuple[int, abi.Nmreq]:
    """Legacy NIOCGINFO (port info, with geometry hints) on name."""
    return legacy(0, name, call=abi.NIOCGINFO, **fields)


# -- pipe ids ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pid", ["pipeid1", "xid", "A_b", "0", "a.b-c", "p+q=r", "~!@#$%^&*()", "a b", "\x01:"]
)
def test_ids_are_any_non_empty_string(pname, pid):
    """Ids without braces: with one, only the master end has a name (see below)."""
    with Port.open(f"{pname}{{{pid}") as m, Port.open(f"{pname}}}{pid}") as s:
        assert m.nifp.ni_name == f"{pname}{{{pid}".encode()[:15]
        assert _moves(m, s, b"m" * 60) and _moves(s, m, b"s" * 61)
        # ids are compared as strings: "01" is not "1"
        with Port.open(f"{pname}{{0{pid}") as other:
            send(other, [b"o" * 62])
            assert recv(s) == []


def test_the_last_open_brace_wins(pname):
    """ "P{1}2" is the master end of pipe "1}2" of P, not pipe 1 of P. (Its slave end has no
    name: "P}1}2" is the slave end of pipe "2" of the pipe end "P}1".)"""
    with Port.open(f"{pname}{{1}}2") as a, Port.open(f"{pname}}}1") as one:
        with Port.open(f"{pname}{{1") as m1:
            send(a, [b"a" * 60])
            assert recv(one) == []
            assert _moves(m1, one, b"1" * 60)
        assert a.nifp.ni_name == f"{pname}{{1}}2".encode()[:15]
        with Port.open(f"{pname}}}1}}2") as nested, Port.open(f"{pname}}}1{{2") as peer:
            assert nested.reg.nr_mem_id == a.reg.nr_mem_id  # the region of P, through "P}1"
            send(a, [b"b" * 60])
            assert recv(nested) == []
            assert _moves(peer, nested, b"c" * 60)


@pytest.mark.parametrize("name", ["{1", "}1", "{", "}", "abc{", "abc}", "abc}{", "{}"])
def test_empty_parent_or_id_is_einval(name):
    assert _open_errno(name) == errno.EINVAL


def test_a_lone_closing_brace_is_an_id(pname):
    """ "P{}" has a non-empty id: "}"."""
    with Port.open(f"{pname}{{}}") as m:
        assert m.reg.nr_tx_rings == 1


def test_the_longest_name_is_63_bytes(pname):
    name = f"{pname}{{" + "i" * (63 - len(pname) - 1)
    assert len(name) == 63
    with Port.open(name) as m:
        assert m.nifp.ni_name == name.encode()[:15]
    # the adapter name holds the whole id: a 63-byte sibling that differs at the end
    with Port.open(name) as m, Port.open(name[:-1] + "j") as other:
        send(other, [b"x" * 60])
        assert recv(m) == []


def test_legacy_names_of_15_bytes_with_cut_ids(pname):
    """ctrl-api-test's "valeX1:Y4{pipeexbuf" reaches the kernel as "valeX1:Y4{pipee"."""
    sw = f"vale{pname[-3:]}"
    for name in (f"{sw}:Y{{pipeexbuf"[:15], f"{pname}{{pipeexbuf"[:15]):
        p = Port.open_legacy(name, nr_arg3=58)
        try:
            assert p.legacy is not None and p.legacy.nr_arg3 == 58
        finally:
            p.close()


# -- modes, limits, defaults ---------------------------------------------------------------


@pytest.mark.parametrize("mode", [abi.NR_REG_PIPE_MASTER, abi.NR_REG_PIPE_SLAVE])
def test_deprecated_pipe_modes_are_einval_over_nioctrl(pname, mode):
    with veth_pair() as (a, _):
        assert _open_errno(a, mode) == errno.EINVAL
        assert _open_errno(f"vale{pname[-3:]}:x", mode) == errno.EINVAL
        assert _open_errno(f"{pname}{{1", mode) == errno.EINVAL
    assert counters.read("port_count") == 0


def test_at_most_64_pipes_per_parent(pname):
    # 64 bound pipes need 256 rings of 64 slots: a NIC parent, whose global region is given
    # room for them (an auto-created parent's region is sized for two pipes, as netmap's)
    with param("ring_num", 300), veth_pair() as (nic, _):
        ports = []
        try:
            for k in range(64):
                ports.append(Port.open(f"{nic}{{{k}", tx_slots=64, rx_slots=64, map=False))
            assert _open_errno(f"{nic}{{64") == errno.EINVAL
            assert _open_errno(f"{nic}}}x") == errno.EINVAL
            # ends of existing pipes are not new pipes
            with Port.open(f"{nic}}}63", map=False) as s:
                assert s.reg.nr_mem_id == ports[0].reg.nr_mem_id == 1
            # another parent has its own 64
            with Port.open(f"{pname}o{{64", map=False):
                pass
            ports.pop().close()
            with Port.open(f"{nic}{{64", map=False):
                pass
        finally:
            for p in ports:
                p.close()
    assert counters.read("port_count") == 0


def test_an_auto_created_parent_has_room_for_two_pipes(pname):
    """The auto-delete VALE port made for a missing parent gets a region sized for its own
    rings and two pipes of its size, as netmap sizes a VALE port's region (42369024 bytes for
    1024 slots; our pipe ends have no host rings, so four fit). Pipes beyond its room fail
    with ENOMEM, and closing one makes room again."""
    ports = []
    try:
        while len(ports) < 2 * 64:
            k = len(ports) // 2
            if _open_errno(f"{pname}{{{k}") == errno.ENOMEM:
                break
            ports.append(Port.open(f"{pname}{{{k}", map=False))
            ports.append(Port.open(f"{pname}}}{k}", map=False))
        assert ports[0].reg.nr_memsize == 42369024
        # 20 ring objects (1 reserved) and 20482 buffers: 4 pipes of 4 rings of 1024 slots
        assert len(ports) // 2 == 4
        ports.pop().close()
        ports.pop().close()
        with Port.open(f"{pname}{{x", map=False), Port.open(f"{pname}}}x", map=False):
            pass
    finally:
        for p in ports:
            p.close()
    assert counters.read("port_count") == 0


def test_ring_defaults_limits_and_the_swapped_slave(pname):
    err, r = _info(f"{pname}{{1")
    assert err == 0 and (r.nr_tx_rings, r.nr_rx_rings) == (1, 1)
    err, r = _info(f"{pname}{{2", nr_tx_rings=300, nr_rx_rings=256)
    assert err == 0 and (r.nr_tx_rings, r.nr_rx_rings) == (256, 256)
    with Port.open(f"{pname}{{3", tx_rings=3, rx_rings=2) as m, Port.open(f"{pname}}}3") as s:
        assert (m.reg.nr_tx_rings, m.reg.nr_rx_rings) == (3, 2)
        assert (s.reg.nr_tx_rings, s.reg.nr_rx_rings) == (2, 3)
    with Port.open(f"{pname}}}4", tx_slots=64, rx_slots=128) as s, Port.open(f"{pname}{{4") as m:
        assert (s.reg.nr_tx_slots, s.reg.nr_rx_slots) == (64, 128)
        assert (m.reg.nr_tx_slots, m.reg.nr_rx_slots) == (128, 64)


def test_slots_default_to_the_parents_and_stop_at_4096(pname):
    sw = f"vale{pname[-3:]}"
    with Port.open(f"{sw}:p", tx_slots=256, rx_slots=512) as v:
        assert (v.reg.nr_tx_slots, v.reg.nr_rx_slots) == (256, 512)
        with Port.open(f"{sw}:p{{1") as m:
            assert (m.reg.nr_tx_slots, m.reg.nr_rx_slots) == (256, 512)
    # a region whose ring objects hold more than 4096 slots
    with (
        param("ring_size", 256 + 16 * 5000),
        Port.open(f"{pname}{{1", tx_slots=5000, rx_slots=4096) as m,
    ):
        assert (m.reg.nr_tx_slots, m.reg.nr_rx_slots) == (4096, 4096)
        # the parent was made with the same request: its slots are the default
        err, r = _info(f"{pname}{{2")
        assert err == 0 and (r.nr_tx_slots, r.nr_rx_slots) == (4096, 4096)


def test_register_reports_no_host_rings_on_pipes(pname):
    with Port.open(f"{pname}{{1") as m:
        assert (m.reg.nr_host_tx_rings, m.reg.nr_host_rx_rings) == (0, 0)
        assert (m.nifp.ni_host_tx_rings, m.nifp.ni_host_rx_rings) == (1, 1)


def test_requests_that_do_not_create_see_no_pipe(pname):
    """PORT_HDR_GET never creates: a missing pipe is ENODEV; PORT_HDR_SET looks for VALE ports
    only, so a pipe is ENXIO to it."""
    assert hdr_get(f"{pname}{{1")[0] == errno.ENODEV
    assert hdr_set(f"{pname}}}1", 0) == errno.ENXIO  # PORT_HDR_SET knows VALE ports only
    assert not netdev_exists(pname)
    with Port.open(f"{pname}{{1"):
        assert hdr_get(f"{pname}}}1") == (0, 0)
        assert hdr_get(f"{pname}{{2")[0] == errno.ENODEV
    with veth_pair() as (a, _):
        assert hdr_get(f"{a}{{1")[0] == errno.ENODEV
    assert counters.read("port_count") == 0


# -- parents ---------------------------------------------------------------------------------


def test_nic_parent_pipe_in_region_1_and_the_nic_stays_usable():
    with (
        veth_pair() as (a, b),
        RawSocket(b) as rb,
        RawSocket(a) as ra,
        Port.open(f"{a}{{1") as m,
        Port.open(f"{a}}}1") as s,
    ):
        assert m.reg.nr_mem_id == s.reg.nr_mem_id == 1
        assert m.nifp.ni_flags & abi.NI_PRIV_MEM == 0
        assert netdev_exists(a)
        # the parent is not in netmap mode: the host stack still gets its frames
        rb.send(tframe(1, 60))
        assert len(ra.recv_test_frames(1)) == 1
        # and the NIC itself opens, next to its pipe, and both move frames
        with Port.open(a) as nic:
            assert nic.reg.nr_mem_id == 1
            assert (nic.reg.nr_host_tx_rings, nic.reg.nr_host_rx_rings) == (1, 1)
            assert _moves(m, s, b"p" * 60)
            send(nic, [tframe(2, 60)])
            assert len(rb.recv_test_frames(1)) == 1
            assert _moves(s, m, b"q" * 60)
        rb.send(tframe(3, 60))
        assert len(ra.recv_test_frames(1)) == 1
    assert counters.read("port_count") == 0


def test_nic_parent_in_a_switch_is_ebusy(pname):
    sw = f"vale{pname[-3:]}"
    with veth_pair() as (a, _):
        assert attach(f"{sw}:{a}")[0] == 0
        try:
            assert _open_errno(f"{a}{{1") == errno.EBUSY
        finally:
            assert detach(f"{sw}:{a}")[0] == 0
        with Port.open(f"{a}{{1") as m:
            assert m.reg.nr_mem_id == 1


def test_vale_parent_shares_its_private_region(pname):
    sw = f"vale{pname[-3:]}"
    with Port.open(f"{sw}:p{{1") as m:  # the VALE port is made by the pipe's request
        assert m.reg.nr_mem_id > 1 and m.nifp.ni_flags & abi.NI_PRIV_MEM
        with Port.open(f"{sw}:p") as v, Port.open(f"{sw}:p}}1") as s, Port.open(f"{sw}:q") as q:
            assert v.reg.nr_mem_id == m.reg.nr_mem_id == s.reg.nr_mem_id
            assert q.reg.nr_mem_id != m.reg.nr_mem_id
            assert _moves(m, s, b"v" * 60)
            # the VALE port itself still switches
            assert _moves(q, v, b"\xff" * 6 + b"\x02" * 6 + b"\x88\xb5" + b"w" * 46)
        assert _open_errno(f"{sw}:p{{2", mem_id=1) == errno.EINVAL
    assert counters.read("port_count") == 0


def test_persistent_vale_parent_by_its_netdev_name(pname):
    assert newif(pname) == 0
    try:
        with Port.open(pname) as v, Port.open(f"{pname}{{1") as m, Port.open(f"{pname}}}1") as s:
            assert v.reg.nr_mem_id == m.reg.nr_mem_id > 1
            assert _moves(m, s, b"k" * 60)
        assert delif(pname) == 0
    finally:
        delif(pname)
    assert counters.read("port_count") == 0


def test_missing_parent_becomes_an_auto_delete_vale_port(pname):
    assert not netdev_exists(pname)
    with Port.open(f"{pname}{{1", mem_id=0) as m:
        assert netdev_exists(pname)
        assert m.reg.nr_mem_id > 1 and m.nifp.ni_flags & abi.NI_PRIV_MEM
        assert delif(pname) == errno.EINVAL
        assert newif(pname) == errno.EEXIST
        with Port.open(pname) as v:  # the parent, by its netdev name
            assert v.reg.nr_mem_id == m.reg.nr_mem_id
            assert (v.reg.nr_host_tx_rings, v.reg.nr_host_rx_rings) == (0, 0)
    # gone with its last user
    assert not netdev_exists(pname)
    assert counters.read("port_count") == 0
    # the parent's own user keeps it after the pipe goes
    m = Port.open(f"{pname}{{1")
    v = Port.open(pname)
    m.close()
    assert netdev_exists(pname)
    v.close()
    assert not netdev_exists(pname)


@pytest.mark.parametrize(
    "parent,err",
    # a VALE-looking name without ':' cannot be created (ENOMEM, abi-corrections' VALE names);
    # a netdev name of 16 or more characters is no netdev and no persistent port (ENXIO)
    [
        ("valeq", errno.ENOMEM),
        ("vale", errno.ENOMEM),
        ("x" * 16, errno.ENXIO),
        ("y" * 20, errno.ENXIO),
    ],
)
def test_parents_that_are_not_made_fail(parent, err):
    assert _open_errno(f"{parent}{{1") == err
    assert not netdev_exists(parent)
    assert counters.read("port_count") == 0


def test_parent_in_a_missing_region_is_einval(pname):
    assert _open_errno(f"{pname}{{1", mem_id=4321) == errno.EINVAL
    assert not netdev_exists(pname)


# -- names across network namespaces -----------------------------------------------------------


def _in_ns(ns: str, code: str) -> subprocess.Popen:
    """A Python child in ns that runs code with nm importable; it reports on stdout."""
    prog = f"import sys\nsys.path.insert(0, {str(HERE)!r})\n{code}"
    return subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, "-c", prog],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_a_pipe_never_takes_the_name_of_a_nic(pname):
    """While "X{1" exists, netmap:X is still the NIC X, in its namespace and in others."""
    with veth_pair() as (a, b):
        with Port.open(f"{a}{{1") as m:
            with Port.open(a) as nic:
                assert (nic.reg.nr_host_tx_rings, nic.reg.nr_mem_id) == (1, 1)
            assert m.reg.nr_mem_id == 1
        # an auto-made parent here does not hide another namespace's NIC of the same name
        with netns() as ns:
            sh("ip", "link", "set", b, "down")
            sh("ip", "link", "set", b, "name", pname)
            move_to(pname, ns)
            with Port.open(f"{pname}{{1") as held:  # here: an auto-delete VALE port
                assert held.reg.nr_mem_id > 1
                child = _in_ns(
                    ns,
                    "from nm import Port\n"
                    f"with Port.open({pname!r}) as p, Port.open({pname + '{2'!r}) as q:\n"
                    "    print(p.reg.nr_mem_id, p.reg.nr_host_tx_rings, q.reg.nr_mem_id,"
                    " flush=True)\n",
                )
                out, _ = child.communicate(timeout=60)
                assert child.returncode == 0
                assert out.split() == ["1", "1", "1"]  # the NIC, and a pipe on it
            # and the other way round: a parent made in the namespace is not seen here
            child = _in_ns(
                ns,
                "from nm import Port\n"
                "with Port.open('ptnsauto{1'):\n"
                "    print('held', flush=True)\n"
                "    sys.stdin.readline()\n",
            )
            try:
                assert child.stdout is not None and child.stdout.readline().strip() == "held"
                assert not netdev_exists("ptnsauto")
                assert _open_errno("ptnsauto") == errno.ENXIO
                with Port.open("ptnsauto{1") as here, Port.open("ptnsauto}1") as peer:
                    assert _moves(here, peer, b"n" * 60)
            finally:
                assert child.stdin is not None
                child.stdin.write("\n")
                child.stdin.close()
                child.wait(timeout=60)
            sh("ip", "link", "del", pname, ns=ns, check=False)
    assert counters.read("port_count") == 0


def test_pipes_of_one_name_in_two_namespaces_are_two_pipes(pname):
    with netns() as ns:
        child = _in_ns(
            ns,
            "from nm import Port\n"
            f"with Port.open({pname + '{1'!r}) as m:\n"
            "    print(m.reg.nr_mem_id, flush=True)\n"
            "    sys.stdin.readline()\n",
        )
        try:
            assert child.stdout is not None
            theirs = int(child.stdout.readline())
            with Port.open(f"{pname}{{1") as m:
                assert m.reg.nr_mem_id != theirs
        finally:
            assert child.stdin is not None
            child.stdin.write("\n")
            child.stdin.close()
            child.wait(timeout=60)
    assert counters.read("port_count") == 0
