"""Last in the session: the module unloads cleanly, loads again, and the kernel log is clean.

These tests run after every other lab test of the VM (marker netmap_last, see conftest.py).
"""

import gc
import os
import subprocess
from pathlib import Path

import pytest
from nm import Port, counters, kmsg, transfer
from nm.packets import mismatch

pytestmark = pytest.mark.netmap_last


def _module_path() -> Path:
    """The netmap.ko this lab run loaded (the host's build, seen read-only)."""
    from ptnet.build import kbuild
    from ptnet.lab import kernel

    return kbuild.module_path(kernel.find(os.environ["PTNET_LAB_KERNEL"]), "netmap")


def _rmmod() -> subprocess.CompletedProcess:
    return subprocess.run(["rmmod", "netmap"], capture_output=True, text=True, check=False)


def test_counters_idle_then_rmmod_exits_0():
    gc.collect()
    idle = dict.fromkeys(counters.LEAK_COUNTERS, 0)
    snap = counters.wait_idle(idle)
    assert snap == idle, f"counters before unload: {snap}"
    r = _rmmod()
    assert r.returncode == 0, r.stderr
    assert not Path("/sys/module/netmap").exists()
    assert not Path("/dev/netmap").exists()


def test_reload_use_and_unload_again():
    if Path("/sys/module/netmap").exists():
        r = _rmmod()
        assert r.returncode == 0, r.stderr
    r = subprocess.run(["insmod", str(_module_path())], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert counters.snapshot() == dict.fromkeys(counters.LEAK_COUNTERS, 0)
    with Port.open("reload{1") as m, Port.open("reload}1") as s:
        pkts = [[bytes([i]) * (60 + i)] for i in range(200)]
        assert mismatch(pkts, transfer(m, s, pkts)) is None
        busy = _rmmod()
        assert busy.returncode != 0, "rmmod succeeded while /dev/netmap was in use"
    gc.collect()
    idle = dict.fromkeys(counters.LEAK_COUNTERS, 0)
    assert counters.wait_idle(idle) == idle
    r = _rmmod()
    assert r.returncode == 0, r.stderr


def test_kernel_log_is_clean():
    bad = kmsg.bad_lines(kmsg.all_lines())
    assert not bad, "kernel log:\n" + "\n".join(bad)
