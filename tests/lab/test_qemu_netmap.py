"""Issue 6, scenario 3: stock QEMU's `-netdev netmap` (no passthrough) against our netmap.ko.

Inside the lab VM (netmap.ko loaded) a nested guest runs under the QEMU that `ptnet build qemu`
made, with an emulated virtio-net NIC whose backend is `-netdev netmap` on the VALE port
vale1:10 (QEMU's own, unmodified netmap backend). The lab host sits on vale1:11 with pkt-gen.
Frames go both ways and are counted exactly, bytes included, with the payload pattern and
sequence verified at the receiver.

QEMU must be built on the host first (ptnet build qemu); the lab sees the cache read-only.
TCG inside TCG is about 30 times slower (and much more on a loaded machine), so the test boots one
minimal nested guest for both directions.
"""

import json
import time

import pytest
from nm import pktgen

from ptnet.build.tools import tool_path
from ptnet.lab import nested

pytestmark = [
    pytest.mark.lab(smp=2),
    pytest.mark.slow,
    pytest.mark.nested,
    pytest.mark.timeout(1700),
]

COUNT = 1000
LEN = 60
GUEST_MAC = "52:54:00:00:0a:0a"
NESTED_TIMEOUT = 1200.0


def _guest(qemu_binary, command: str, **kwargs) -> nested.NestedGuest:
    """A nested guest whose eth0 is virtio-net on QEMU's netmap backend, port vale1:10."""
    return nested.NestedGuest(
        qemu=qemu_binary,
        kmods=["virtio_pci", "virtio_net"],
        tools=[tool_path("afpacket-gen")],
        qemu_args=[
            "-netdev",
            "netmap,id=n0,ifname=vale1:10",
            "-device",
            f"virtio-net-pci,netdev=n0,mac={GUEST_MAC}",
        ],  # fmt: skip
        # No IPv6: the guest kernel would send its own router solicitations and MLD reports.
        append="ipv6.disable=1",
        command=["sh", "-c", command],
        **kwargs,
    )


def test_frames_cross_between_a_virtio_nic_on_qemus_netmap_backend_and_a_vale_port(qemu_binary):
    """COUNT frames each way between pkt-gen on vale1:11 and afpacket-gen on the guest's eth0.

    One nested boot for both directions (it is the slow part): first the lab host sends and
    the guest receives, then the guest sends and the lab host receives. The receivers count
    everything until the line has been quiet for --idle seconds (-n 0), so a stray or
    duplicated frame shows up in the count too.
    """
    pkt_gen = str(tool_path("pkt-gen"))
    script = (
        "ip link set eth0 up; "
        "{ afpacket-gen -i eth0 -f rx -n 0 --idle 20 --verify --json; echo rx-exit $?; } & "
        "sleep 5; echo receiver-ready; wait; "
        "echo guest-rx-done; sleep 15; "
        f"afpacket-gen -i eth0 -f tx -n {COUNT} -l {LEN} -R 500 --json; echo tx-exit $?"
    )
    with _guest(qemu_binary, script) as guest:
        guest.wait_for("receiver-ready", timeout=NESTED_TIMEOUT)
        up = time.monotonic() - guest.start
        tx = pktgen.run_json(
            [pkt_gen, "-i", "vale1:11", "-f", "tx", "-n", str(COUNT), "-l", str(LEN)]
            + ["-R", "200", "--json"],
            timeout=300,
        )
        guest.wait_for("guest-rx-done", timeout=NESTED_TIMEOUT)
        rx = pktgen.bound(
            [pkt_gen, "-i", "vale1:11", "-f", "rx", "-n", "0", "--idle", "20", "--verify"]
            + ["--json", "--timeout", str(NESTED_TIMEOUT)]
        )
        with pktgen.reaped(rx):
            result = guest.wait(NESTED_TIMEOUT)
            host_rx = pktgen.report(rx, timeout=120)
    print(
        f"nested guest: command started {up:.0f} s after QEMU "
        f"(guest uptime {result.boot_seconds} s), whole run {result.wall_seconds:.0f} s"
    )
    assert result.exit_code == 0, result.output
    assert "rx-exit 0" in result.output and "tx-exit 0" in result.output, result.output
    guest_rx, guest_tx = pktgen.json_lines(result.output)
    print(f"lab host -> guest: sent {json.dumps(tx)}, got {json.dumps(guest_rx)}")
    assert (tx["role"], tx["packets"], tx["bytes"]) == ("tx", COUNT, COUNT * LEN)
    assert (guest_rx["role"], guest_rx["packets"]) == ("rx", COUNT), result.output
    assert guest_rx["bytes"] == COUNT * LEN
    assert (guest_rx["errors"], guest_rx["lost"]) == (0, 0)
    print(f"guest -> lab host: sent {json.dumps(guest_tx)}, got {json.dumps(host_rx)}")
    assert (guest_tx["role"], guest_tx["packets"]) == ("tx", COUNT)
    assert guest_tx["bytes"] == COUNT * LEN
    assert (host_rx["role"], host_rx["packets"], host_rx["bytes"]) == ("rx", COUNT, COUNT * LEN)
    assert (host_rx["errors"], host_rx["lost"]) == (0, 0)
