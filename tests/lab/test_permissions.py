"""Who may use /dev/netmap (kernel/perm.c): the node is root's, mode 0600, unless the module's
dev_gid and dev_mode parameters open it to a group; requests that reach a netdev need
CAP_NET_ADMIN over the netdev's network namespace (EPERM), while pipes, ephemeral VALE ports
and the null port need only the device.

The other users are made with setpriv(1) (nm/asuser.py): nobody, with the test's group when
the device is given to it, with CAP_NET_ADMIN as an ambient capability when wanted, and in
user namespaces of its own (unshare -U, -n).
"""

import contextlib
import errno
import itertools
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from nm import Port, abi, counters, port_info
from nm.asuser import run_as
from nm.netdev import veth_pair
from nm.vale import attach, delif, detach, netdev_exists, newif, where

DEV = Path("/dev/netmap")
GROUP = 4242  # a group no account has: the device is given to it
EPERM, EACCES = errno.EPERM, errno.EACCES
_ids = itertools.count()


def _uid() -> str:
    """A short unique suffix: VALE names ("valeS:P") must stay under 16 bytes."""
    return str(next(_ids))


@contextlib.contextmanager
def device_given(group: int = GROUP) -> Iterator[None]:
    """The node's group set to `group`, with read and write for it, for the block."""
    st = DEV.stat()
    os.chown(DEV, -1, group)
    os.chmod(DEV, 0o660)
    try:
        yield
    finally:
        os.chown(DEV, st.st_uid, st.st_gid)
        os.chmod(DEV, stat.S_IMODE(st.st_mode))


@pytest.fixture
def veth() -> Iterator[tuple[str, str]]:
    with veth_pair() as pair:
        yield pair


def _module_path() -> Path:
    from ptnet.build import kbuild
    from ptnet.lab import kernel

    return kbuild.module_path(kernel.find(os.environ["PTNET_LAB_KERNEL"]), "netmap")


# --------------------------------------------------------------------------------------------
# The node
# --------------------------------------------------------------------------------------------


def test_default_node_is_root_only():
    st = DEV.stat()
    assert stat.S_ISCHR(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert (st.st_uid, st.st_gid) == (0, 0)
    assert counters.read("dev_mode") == 0o600
    assert counters.read("dev_gid") == 0
    for name in ("dev_mode", "dev_gid"):
        path = counters.PARAMS / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o444, name
        with pytest.raises(OSError):
            path.write_text("0666\n")
    assert counters.read("dev_mode") == 0o600


def test_without_the_device_open_is_eacces():
    steps = [["open"], ["pipe_traffic", "nodev"], ["null", "nodev"]]
    assert run_as(steps) == [EACCES] * 3
    assert run_as(steps, net_admin=True) == [EACCES] * 3
    # the group of a root-only node is not enough either
    assert run_as([["open"]], groups=[0]) == [EACCES]


# --------------------------------------------------------------------------------------------
# The device given, without and with CAP_NET_ADMIN
# --------------------------------------------------------------------------------------------

# Requests that reach a netdev, as asuser steps; the names in braces are filled in per test.
PRIVILEGED = [
    ["reg", "{a}", abi.NR_REG_ALL_NIC],
    ["reg", "{a}", abi.NR_REG_SW],
    ["reg", "{a}", abi.NR_REG_NIC_SW],
    ["reg", "{a}", abi.NR_REG_ONE_NIC],
    ["mon", "{a}"],
    ["attach", "{sw}:{a}"],
    ["attach", "{sw}:{a}", True],
    ["legacy_attach", "{sw}:{a}"],
    ["detach", "{held}:{b}"],
    ["legacy_detach", "{held}:{b}"],
    ["poll", "{held}:{b}", True],
    ["poll", "{held}:{b}", False],
    ["newif", "{newvp}"],
    ["legacy_newif", "{newvp}"],
    ["delif", "{vp}"],
    ["legacy_delif", "{vp}"],
    ["reg", "{vp}", abi.NR_REG_ALL_NIC],
    ["reg", "{vp}{{1", abi.NR_REG_ALL_NIC],  # a pipe in the persistent port's region
    ["attach", "{sw}:{vp}"],
    ["detach", "{held}:{vp}"],
    ["legacy_reg", "{a}"],
    ["legacy_info", "{a}"],
    ["pinfo", "{a}"],
    ["pools", "{a}"],
    # regions netdevs use, by id: the global one of every NIC, a persistent port's own
    ["null_in", "{pipe}g", "1"],
    ["reg_in", "{sw}:g", "1"],
    ["null_in", "{pipe}p", "{vpmem}"],
    ["reg_in", "{sw}:p", "{vpmem}"],
]
# What needs only the device.
UNPRIVILEGED = [["pipe_traffic", "{pipe}"], ["vale_traffic", "{sw}"], ["null", "{pipe}x"]]


def _fill(steps: list[list], **names: str) -> list[list]:
    return [[s.format(**names) if isinstance(s, str) else s for s in step] for step in steps]


def test_without_net_admin_requests_on_netdevs_are_eperm(veth):
    a, b = veth
    u = _uid()
    names = dict(
        a=a, b=b, sw=f"valeu{u}", held=f"valeh{u}", vp=f"vpp{u}", newvp=f"vpn{u}", pipe=f"up{u}"
    )
    # root's: a bound (so a monitor has something to watch), b and vp in a switch
    assert attach(f"{names['held']}:{b}") == (0, 0)
    assert newif(names["vp"]) == 0
    assert attach(f"{names['held']}:{names['vp']}")[0] == 0
    names["vpmem"] = str(port_info(names["vp"]).nr_mem_id)
    assert names["vpmem"] not in ("0", "1")
    try:
        with Port.open(a) as mine, device_given():
            got = run_as(_fill(PRIVILEGED + UNPRIVILEGED, **names), groups=[GROUP])
            want = [EPERM] * len(PRIVILEGED) + [0] * len(UNPRIVILEGED)
            assert dict(enumerate(got)) == dict(enumerate(want)), list(
                zip(PRIVILEGED + UNPRIVILEGED, got, strict=True)
            )
            # a missing netdev is still ENXIO, a bad name EINVAL, and REGISTER of valeS:ifname
            # is EINVAL for anyone: it never reaches the netdev (abi-corrections, VALE names)
            bad = [["reg", f"nx{u}", 1], ["reg", "a/b", 1], ["reg", f"{names['sw']}:{a}", 1]]
            assert run_as(bad, groups=[GROUP]) == [errno.ENXIO, errno.EINVAL, errno.EINVAL]
            # nothing changed: root's binding works, b and vp are where they were
            mine.txsync()
            assert where(f"{names['held']}:{b}")[0] == 0
            assert where(f"{names['held']}:{names['vp']}")[0] == 0
            assert not netdev_exists(names["newvp"])
    finally:
        assert detach(f"{names['held']}:{b}")[0] == 0
        assert detach(f"{names['held']}:{names['vp']}")[0] == 0
        assert delif(names["vp"]) == 0


def test_with_net_admin_requests_on_netdevs_work(veth):
    a, _ = veth
    u = _uid()
    sw, vp, pipe = f"valec{u}", f"vpc{u}", f"cp{u}"
    steps = [
        ["reg", a, abi.NR_REG_ALL_NIC],
        ["reg", a, abi.NR_REG_SW],
        ["reg", a, abi.NR_REG_NIC_SW],
        ["bind_mon", a],
        ["pinfo", a],
        ["pools", a],
        ["legacy_reg", a],
        ["legacy_info", a],
        ["attach", f"{sw}:{a}", True],
        ["poll", f"{sw}:{a}", True],
        ["poll", f"{sw}:{a}", False],
        ["detach", f"{sw}:{a}"],
        ["legacy_attach", f"{sw}:{a}"],
        ["legacy_detach", f"{sw}:{a}"],
        ["newif", vp],
        ["reg", vp, abi.NR_REG_ALL_NIC],
        ["reg", f"{vp}{{1", abi.NR_REG_ALL_NIC],
        ["attach", f"{sw}:{vp}"],
        ["detach", f"{sw}:{vp}"],
        ["delif", vp],
        ["legacy_newif", vp],
        ["legacy_delif", vp],
        ["pipe_traffic", pipe],
        ["vale_traffic", sw],
        ["null", pipe],
        ["null_in", f"{pipe}g", 1],
        ["reg_in", f"{sw}:g", 1],
    ]
    with device_given():
        got = run_as(steps, groups=[GROUP], net_admin=True)
    assert got == [0] * len(steps), list(zip(steps, got, strict=True))
    assert not netdev_exists(vp)


def test_root_keeps_everything(veth):
    """The same requests as root, on the root-only node (what every other lab test does)."""
    a, _ = veth
    u = _uid()
    steps = [["reg", a, abi.NR_REG_ALL_NIC], ["newif", f"vpr{u}"], ["delif", f"vpr{u}"]]
    assert run_as(steps, uid=0, net_admin=True) == [0, 0, 0]


# --------------------------------------------------------------------------------------------
# User namespaces
# --------------------------------------------------------------------------------------------


def test_user_namespace_administers_its_own_netns_only(veth):
    a, _ = veth
    u = _uid()
    sw, vp = f"valen{u}", f"vpns{u}"
    own = [
        ["reg", "uva", abi.NR_REG_ALL_NIC],
        ["reg", "uva", abi.NR_REG_SW],
        ["attach", f"{sw}:uva", True],
        ["detach", f"{sw}:uva"],
        ["newif", vp],
        ["attach", f"{sw}:{vp}"],
        ["detach", f"{sw}:{vp}"],
        ["delif", vp],
        ["pipe_traffic", f"nsp{u}"],
    ]
    veth_up = "ip link add uva type veth peer name uvb && ip link set uva up && ip link set uvb up"
    with device_given():
        got = run_as(own, groups=[GROUP], unshare=["-n"], prelude=veth_up)
        assert got == [0] * len(own), list(zip(own, got, strict=True))
        # root of a user namespace, but in the initial network namespace: not its devices
        init = [
            ["reg", a, abi.NR_REG_ALL_NIC],
            ["attach", f"{sw}:{a}"],
            ["newif", vp],
            ["pinfo", a],
            ["pipe_traffic", f"nsq{u}"],
        ]
        got = run_as(init, groups=[GROUP], unshare=[])
        assert got == [EPERM] * 4 + [0], list(zip(init, got, strict=True))
    assert not netdev_exists(vp)


# --------------------------------------------------------------------------------------------
# The module parameters (load time)
# --------------------------------------------------------------------------------------------


def _insmod(*params: str) -> subprocess.CompletedProcess:
    return subprocess.run(["insmod", str(_module_path()), *params], capture_output=True, text=True)


def _rmmod() -> None:
    if Path("/sys/module/netmap").exists():
        r = subprocess.run(["rmmod", "netmap"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


@pytest.mark.lab(modules=[])
def test_group_parameters_give_the_device_to_a_group():
    r = _insmod(f"dev_gid={GROUP}", "dev_mode=0660")
    assert r.returncode == 0, r.stderr
    try:
        st = DEV.stat()
        assert stat.S_IMODE(st.st_mode) == 0o660
        assert (st.st_uid, st.st_gid) == (0, GROUP)
        assert counters.read("dev_gid") == GROUP
        assert counters.read("dev_mode") == 0o660
        steps = [["open"], ["pipe_traffic", "grp"], ["vale_traffic", "valegrp"], ["null", "grp"]]
        assert run_as(steps, groups=[GROUP]) == [0, 0, 0, 0]
        assert run_as(steps[:1]) == [EACCES]  # not in the group
        assert run_as([["reg", "lo", abi.NR_REG_ALL_NIC]], groups=[GROUP]) == [EPERM]
    finally:
        _rmmod()
    assert not DEV.exists()


@pytest.mark.lab(modules=[])
def test_mode_parameter_may_open_the_device_to_everyone():
    r = _insmod("dev_mode=0666")
    assert r.returncode == 0, r.stderr
    try:
        st = DEV.stat()
        assert stat.S_IMODE(st.st_mode) == 0o666 and st.st_gid == 0
        assert run_as([["open"], ["reg", "lo", abi.NR_REG_ALL_NIC]]) == [0, EPERM]
    finally:
        _rmmod()


@pytest.mark.lab(modules=[])
@pytest.mark.parametrize(
    "param",
    ["dev_mode=0700", "dev_mode=0500", "dev_mode=0601", "dev_mode=0777", "dev_gid=4294967295"],
)
def test_bad_parameters_refuse_the_load(param):
    r = _insmod(param)
    if r.returncode == 0:
        _rmmod()
    assert r.returncode != 0, f"insmod {param} succeeded"
    assert not Path("/sys/module/netmap").exists()
    assert not DEV.exists()
