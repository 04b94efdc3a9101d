"""Netmap requests made by another user: an unprivileged one, with or without CAP_NET_ADMIN,
in a user namespace or not.

The test builds a list of steps and run_as() runs them in a child process that setpriv(1)
started with the wanted credentials (the system python, which any user may run; this package
from the checkout). Each step gives 0 or the errno it failed with; traffic steps give 0 when
every frame arrived intact and -1 otherwise.

    run_as([["reg", "eth0", abi.NR_REG_ALL_NIC], ["pipe_traffic", "p"]], groups=[4242])
"""

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nm import abi
from nm.libc import ioctl
from nm.packets import mismatch
from nm.port import Port, Request, ctrl, dev_open, pools_info, port_info, transfer

NOBODY = 65534
PYTHON = "/usr/bin/python3"  # the lab's root python lives under /root, which nobody can read
HERE = Path(__file__).resolve().parent.parent  # tests/lab

# The lab runs tests chrooted into the host's root (ptnet/lab/init.sh), where the kernel refuses
# to make user namespaces. The lab's own root (pid 1's) is not a chroot: start setpriv from
# there (through the host's loader: it is a dynamic binary of the host), unshare with the lab's
# static busybox, and come back into the host's root inside the new namespaces.
LAB_HOST = "/host"
_LIBS = f"{LAB_HOST}/usr/lib/x86_64-linux-gnu"
ESCAPE = ["chroot", "/proc/1/root", f"{_LIBS}/ld-linux-x86-64.so.2", "--library-path", _LIBS]

Step = Sequence[Any]


def run_as(
    steps: Sequence[Step],
    *,
    uid: int = NOBODY,
    groups: Sequence[int] = (),
    net_admin: bool = False,
    unshare: Sequence[str] | None = None,
    prelude: str = "",
) -> list[int]:
    """Run the steps as `uid` (its gid too) with supplementary `groups`, with CAP_NET_ADMIN
    only when `net_admin`. With `unshare` (extra unshare(1) options, e.g. ["-n"]), in a new
    user namespace (and mount namespace) that maps `uid` to root, made by that user.
    `prelude` is a shell command run first (its failure fails the call)."""
    cmd = ["setpriv"] if unshare is None else [*ESCAPE, f"{LAB_HOST}/usr/bin/setpriv"]
    cmd += [f"--reuid={uid}", f"--regid={uid}"]
    cmd += [f"--groups={','.join(map(str, groups))}"] if groups else ["--clear-groups"]
    if net_admin:
        cmd += ["--inh-caps=+net_admin", "--ambient-caps=+net_admin"]
    if unshare is not None:
        cmd += ["/bin/busybox", "unshare", "-r", "-m", *unshare]
        cmd += ["/bin/busybox", "chroot", LAB_HOST]
    script = f"{PYTHON} -m nm.asuser '{json.dumps(list(map(list, steps)))}'"
    if prelude:
        script = f"{prelude} && {script}"
    cmd += ["/bin/sh", "-ec", script]  # a path: busybox would run its own applets for names
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "PYTHONPATH": str(HERE),
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOME": "/",
    }
    r = subprocess.run(cmd, capture_output=True, text=True, cwd="/", env=env, timeout=120)
    assert r.returncode == 0, f"{cmd} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    return json.loads(r.stdout.splitlines()[-1])


# --------------------------------------------------------------------------------------------
# The steps, run inside the child
# --------------------------------------------------------------------------------------------


def _request(reqtype: int, name: str, body: Any = None) -> None:
    fd = dev_open()
    try:
        ctrl(fd, Request(reqtype, name, body))
    finally:
        os.close(fd)


def _legacy(call: int, cmd: int, name: str, flags: int = 0) -> None:
    req = abi.Nmreq(nr_name=name.encode(), nr_version=abi.NETMAP_API, nr_cmd=cmd)
    req.nr_flags = flags
    fd = dev_open()
    try:
        ioctl(fd, call, req)
    finally:
        os.close(fd)


def _open() -> None:
    os.close(dev_open())


def _reg(name: str, mode: int, flags: int = 0) -> None:
    Port.open(name, mode, flags=flags).close()


def _mon(name: str) -> None:
    """A monitor of the port's rings (someone must have it bound)."""
    Port.open(name, flags=abi.NR_MONITOR_TX | abi.NR_MONITOR_RX).close()


def _bind_mon(name: str) -> None:
    """Bind the port, then a monitor of it."""
    with Port.open(name):
        _mon(name)


def _attach(name: str, host: bool = False) -> None:
    body = abi.NmreqValeAttach()
    body.reg.nr_mode = abi.NR_REG_NIC_SW if host else abi.NR_REG_ALL_NIC
    _request(abi.NETMAP_REQ_VALE_ATTACH, name, body)


def _detach(name: str) -> None:
    _request(abi.NETMAP_REQ_VALE_DETACH, name, abi.NmreqValeDetach())


def _newif(name: str) -> None:
    _request(abi.NETMAP_REQ_VALE_NEWIF, name, abi.NmreqValeNewif())


def _delif(name: str) -> None:
    _request(abi.NETMAP_REQ_VALE_DELIF, name)


def _poll(name: str, on: bool) -> None:
    if on:
        body = abi.NmreqValePolling(nr_mode=1, nr_first_cpu_id=0, nr_num_polling_cpus=1)
        _request(abi.NETMAP_REQ_VALE_POLLING_ENABLE, name, body)
    else:
        _request(abi.NETMAP_REQ_VALE_POLLING_DISABLE, name, abi.NmreqValePolling())


def _frames(n: int) -> list[list[bytes]]:
    return [
        [b"\xff" * 6 + bytes([2, 0, 0, 0, 0, i]) + b"\x88\xb5" + bytes([i]) * 46] for i in range(n)
    ]


def _traffic(a: str, b: str) -> int:
    with Port.open(a) as pa, Port.open(b) as pb:
        pkts = _frames(32)
        return 0 if mismatch(pkts, transfer(pa, pb, pkts, timeout=5.0)) is None else -1


def _pipe_traffic(parent: str) -> int:
    return _traffic(f"{parent}{{1", f"{parent}}}1")


def _vale_traffic(sw: str) -> int:
    return _traffic(f"{sw}:a", f"{sw}:b")


def _null(parent: str) -> None:
    """A null port in the region of a pipe of `parent`."""
    with Port.open(f"{parent}{{1", map=False) as p:
        Port.open(f"{parent}n", abi.NR_REG_NULL, mem_id=p.reg.nr_mem_id, map=False).close()


def _null_in(name: str, mem_id: int | str) -> None:
    """A null port in region mem_id, mapped: its buffers readable."""
    Port.open(name, abi.NR_REG_NULL, mem_id=int(mem_id)).close()


def _reg_in(name: str, mem_id: int | str) -> None:
    """A VALE port put in region mem_id, mapped."""
    Port.open(name, mem_id=int(mem_id)).close()


STEPS: dict[str, Callable[..., Any]] = {
    "open": _open,
    "reg": _reg,
    "mon": _mon,
    "bind_mon": _bind_mon,
    "attach": _attach,
    "detach": _detach,
    "newif": _newif,
    "delif": _delif,
    "poll": _poll,
    "pinfo": port_info,
    "pools": pools_info,
    "legacy_reg": lambda name: _legacy(abi.NIOCREGIF, 0, name, abi.NR_REG_ALL_NIC),
    "legacy_info": lambda name: _legacy(abi.NIOCGINFO, 0, name),
    "legacy_attach": lambda name: _legacy(abi.NIOCREGIF, abi.NETMAP_BDG_ATTACH, name),
    "legacy_detach": lambda name: _legacy(abi.NIOCREGIF, abi.NETMAP_BDG_DETACH, name),
    "legacy_newif": lambda name: _legacy(abi.NIOCREGIF, abi.NETMAP_BDG_NEWIF, name),
    "legacy_delif": lambda name: _legacy(abi.NIOCREGIF, abi.NETMAP_BDG_DELIF, name),
    "pipe_traffic": _pipe_traffic,
    "vale_traffic": _vale_traffic,
    "null": _null,
    "null_in": _null_in,
    "reg_in": _reg_in,
}


def run_step(step: Step) -> int:
    fn = STEPS[step[0]]
    try:
        out = fn(*step[1:])
    except OSError as e:
        return e.errno or -1
    return out if isinstance(out, int) else 0


def main(argv: list[str]) -> None:
    steps = json.loads(argv[1])
    print(json.dumps([run_step(s) for s in steps]))


if __name__ == "__main__":
    main(sys.argv)
