"""The ptnet guest driver (ptnet_guest.ko) in a lab VM that has no ptnet device.

The lab's `-M pc` VM has neither ptnet-pci nor ptnetmap-memdev, so this checks what can be
checked without one: the module loads on top of netmap.ko and registers both PCI drivers, its
parameters are validated and read back, netmap.ko cannot go while it is loaded, and both unload
and load again with a clean kernel log. The device itself is exercised by the nested tests
(tests/lab/test_passthrough.py).
"""

import os
import subprocess
from pathlib import Path

import pytest
from nm import counters, kmsg

pytestmark = pytest.mark.lab(modules=["netmap", "ptnet_guest"])

GUEST = Path("/sys/module/ptnet_guest")
NETMAP = Path("/sys/module/netmap")


def _ko(name: str) -> str:
    from ptnet.build import kbuild
    from ptnet.lab import kernel

    return str(kbuild.module_path(kernel.find(os.environ["PTNET_LAB_KERNEL"]), name))


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def _load_guest(*params: str) -> None:
    if not NETMAP.exists():
        r = _run("insmod", _ko("netmap"))
        assert r.returncode == 0, r.stderr
    if not GUEST.exists():
        r = _run("insmod", _ko("ptnet_guest"), *params)
        assert r.returncode == 0, r.stderr


def test_both_pci_drivers_registered_and_unbound():
    _load_guest()
    for drv in ("ptnet", "ptnetmap-memdev"):
        d = Path("/sys/bus/pci/drivers") / drv
        assert d.is_dir(), f"PCI driver {drv} is not registered"
        assert not [p for p in d.iterdir() if p.name.count(":") == 2], "bound to a device"
    assert (NETMAP / "holders" / "ptnet_guest").exists()


def test_parameters_read_back():
    _load_guest()
    assert (GUEST / "parameters/vnet_hdr").read_text().strip() == "N"
    assert (GUEST / "parameters/napi_weight").read_text().strip() == "64"


def test_netmap_cannot_go_while_the_guest_module_is_loaded():
    _load_guest()
    r = _run("rmmod", "netmap")
    assert r.returncode != 0
    assert NETMAP.exists()


def test_bad_napi_weight_is_refused_with_einval():
    _load_guest()
    assert _run("rmmod", "ptnet_guest").returncode == 0
    log = kmsg.Kmsg()
    try:
        r = _run("insmod", _ko("ptnet_guest"), "napi_weight=0")
        assert r.returncode != 0
        assert "Invalid argument" in r.stderr or "Invalid parameters" in r.stderr, r.stderr
        assert not GUEST.exists()
        assert any("napi_weight 0: outside 1-64" in line for line in log.new())
    finally:
        log.close()


def test_unload_reload_with_parameters_and_unload_both():
    if GUEST.exists():
        assert _run("rmmod", "ptnet_guest").returncode == 0
    _load_guest("vnet_hdr=1", "napi_weight=32")
    assert (GUEST / "parameters/vnet_hdr").read_text().strip() == "Y"
    assert (GUEST / "parameters/napi_weight").read_text().strip() == "32"
    r = _run("rmmod", "ptnet_guest")
    assert r.returncode == 0, r.stderr
    assert not GUEST.exists()
    assert not Path("/sys/bus/pci/drivers/ptnet").exists()
    assert not Path("/sys/bus/pci/drivers/ptnetmap-memdev").exists()
    idle = dict.fromkeys(counters.LEAK_COUNTERS, 0)
    assert counters.wait_idle(idle) == idle
    r = _run("rmmod", "netmap")
    assert r.returncode == 0, r.stderr
    _load_guest()
    assert GUEST.exists()


def test_kernel_log_is_clean():
    bad = kmsg.bad_lines(kmsg.all_lines())
    assert not bad, "kernel log:\n" + "\n".join(bad)
