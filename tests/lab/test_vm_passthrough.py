"""Issue 7 with a real port: `ptnet vm up --port vale1:10` inside the lab, `validate`, `down`.

The lab VM is the host: netmap.ko is loaded, and `ptnet vm` runs our patched QEMU there, which
boots the default image (dropbear, our modules and tools) with the VALE port passed through as
a ptnet-pci NIC. What a user types, nothing else: the CLI as a subprocess, with the lab's own
state directory (the lab copies the host's SSH client key into it, the key the image trusts).

The image and QEMU are built on the host first (`make test` does: ptnet build qemu, ptnet image
build); the lab sees the cache read-only.
"""

import json
import subprocess
import sys

import pytest
from nm import pktgen

from ptnet.backend import base
from ptnet.build.tools import tool_path

pytestmark = [
    pytest.mark.lab(smp=2),
    pytest.mark.slow,
    pytest.mark.nested,
    pytest.mark.extended,  # about 6 minutes: make test leaves it out
    pytest.mark.timeout(1500),
]

COUNT = 1000
RATE = 500  # frames per second: a VALE switch drops what a TCG-in-TCG guest cannot take
# The ptnet netdevs of the guest, once there are two (the hot-plugged one probes in the guest).
NETDEVS_AFTER_HOTPLUG = """
for i in $(seq 120); do
    set -- /sys/bus/pci/drivers/ptnet/*/net/*
    [ $# -ge 2 ] && break
    sleep 1
done
for d in "$@"; do basename "$d"; done | sort
"""

# How many ptnetmap-memdev devices the guest has, once the unplugged port's one has gone.
MEMDEVS_AFTER_UNPLUG = """
for i in $(seq 120); do
    n=$(ls /sys/bus/pci/drivers/ptnetmap-memdev/ | grep -c '^0000:')
    [ "$n" -le 1 ] && break
    sleep 1
done
echo "$n"
"""


@pytest.fixture
def cli(qemu_binary):

    def ptnet(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ptnet", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    images = json.loads(ptnet("image", "list", "--format", "json").stdout)
    if not any(i["name"] == "default" and i["current"] for i in images):
        pytest.fail("the default image is not built; run: ptnet image build")
    yield ptnet
    ptnet("vm", "down", "--all")


def validate(cli) -> dict:
    """`ptnet vm validate pt1` against vale1:11: its JSON verdict."""
    checked = cli(
        "vm", "validate", "pt1", "--peer", "vale1:11", "--count", str(COUNT),
        "--rate", str(RATE), "--format", "json", timeout=900,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return json.loads(checked.stdout)


def test_vm_up_with_a_vale_port_validates_and_goes_down_clean(cli):
    up = cli("vm", "up", "pt1", "--port", "vale1:10", "--format", "json", timeout=1200)
    assert up.returncode == 0, up.stderr
    vm = json.loads(up.stdout)
    assert vm["name"] == "pt1" and vm["ports"] == ["vale1:10"], vm
    # The port is passed through: the host port is taken (exclusively) by the VM's QEMU.
    busy = subprocess.run(
        [str(tool_path("pkt-gen")), "-i", "vale1:10", "-f", "tx", "-n", "1"],
        capture_output=True,
        text=True,
    )
    assert busy.returncode != 0 and "Device or resource busy" in busy.stderr, busy.stderr

    mods = cli("vm", "exec", "pt1", "--", "cat", "/proc/modules", timeout=300)
    assert mods.returncode == 0, mods.stderr
    assert "ptnet_guest" in mods.stdout and "netmap" in mods.stdout

    verdict = validate(cli)
    assert verdict["verdict"] == "pass", verdict
    assert (verdict["tx"]["packets"], verdict["rx"]["packets"]) == (COUNT, COUNT)
    assert verdict["rx"]["bytes"] == COUNT * 60 and verdict["rx"]["errors"] == 0

    # Hot-plug through QMP: a second port appears in the guest as a second ptnet netdev, and
    # goes again, leaving its host port free.
    added = cli("vm", "port", "add", "pt1", "vale1:12", timeout=120)
    assert added.returncode == 0, added.stderr
    seen = cli("vm", "exec", "pt1", "--", "sh", "-c", NETDEVS_AFTER_HOTPLUG, timeout=600)
    assert seen.returncode == 0 and len(seen.stdout.split()) == 2, seen  # (eth0 is management)
    both = cli("vm", "exec", "pt1", "--", "ls", "/sys/bus/pci/drivers/ptnetmap-memdev/")
    assert both.stdout.count("0000:") == 2, both.stdout
    busy = subprocess.run(
        [str(tool_path("pkt-gen")), "-i", "vale1:12", "-f", "tx", "-n", "1"], capture_output=True
    )
    assert busy.returncode != 0
    removed = cli("vm", "port", "del", "pt1", "vale1:12", timeout=300)
    assert removed.returncode == 0, removed.stderr
    pktgen.run_json([str(tool_path("pkt-gen")), "-i", "vale1:12", "-f", "tx", "-n", "1", "--json"])
    shown = json.loads(cli("vm", "show", "pt1", "--format", "json").stdout)
    assert shown["ports"] == ["vale1:10"], shown
    left = cli("vm", "exec", "pt1", "--", "ls", "/sys/bus/pci/drivers/ptnet/", timeout=300)
    assert left.stdout.count("0000:") == 1, left.stdout
    # Each VALE port has a region of its own, so vale1:12 came with a ptnetmap-memdev of its
    # own, and that device goes with its last ptnet-pci (QEMU unplugs it; the guest ejects it).
    memdevs = cli("vm", "exec", "pt1", "--", "sh", "-c", MEMDEVS_AFTER_UNPLUG, timeout=600)
    assert memdevs.stdout.split() == ["1"], memdevs

    # A port added now gets the next number and MAC; the port given at `up` can go too, and
    # validate then finds the added port's NIC by the MAC the VM's record holds for it.
    added = cli("vm", "port", "add", "pt1", "vale1:13", timeout=120)
    assert added.returncode == 0 and "vale1:13 is port1 in pt1" in added.stderr, added.stderr
    gone = cli("vm", "port", "del", "pt1", "vale1:10", timeout=300)
    assert gone.returncode == 0, gone.stderr
    verdict = validate(cli)
    assert (verdict["verdict"], verdict["port"]) == ("pass", "vale1:13"), verdict

    down = cli("vm", "down", "pt1", timeout=120)
    assert down.returncode == 0, down.stderr
    assert "pt1" not in cli("vm", "list", "--format", "json").stdout
    # The port is free again, and nothing of the VM's QEMU is left.
    pktgen.run_json([str(tool_path("pkt-gen")), "-i", "vale1:10", "-f", "tx", "-n", "1", "--json"])
    assert not base.vm_run_dir("pt1").exists()
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "-name pt1 " not in ps, ps
