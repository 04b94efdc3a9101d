"""afpacket-gen, the AF_PACKET baseline, over a veth pair inside the lab guest (no netmap.ko).

The tools must be built on the host first (ptnet build tools): the guest sees the cache read-only.
"""

import itertools
import json
import subprocess
import time

import pytest
from nm import pktgen

from ptnet.build.tools import tool_path

pytestmark = pytest.mark.lab(modules=[])

COUNT = 10_000
LEN = 60
RATE = "4k"  # far below what the TCG guest can carry, so nothing is dropped
_pairs = itertools.count()


def _ip(*args: str) -> None:
    subprocess.run(["ip", "link", *args], check=True, capture_output=True, text=True)


@pytest.fixture
def veth():
    """A fresh veth pair, both ends up; deleted afterwards."""
    n = next(_pairs)
    a, b = f"ptafa{n}", f"ptafb{n}"
    subprocess.run(["modprobe", "veth"], check=True)
    _ip("add", a, "type", "veth", "peer", "name", b)
    try:
        _ip("set", a, "up")
        _ip("set", b, "up")
        yield a, b
    finally:
        subprocess.run(["ip", "link", "del", a], check=False)


def test_tx_rx_exact_count(veth):
    a, b = veth
    gen = str(tool_path("afpacket-gen"))
    rx, tx = pktgen.exchange(
        pktgen.spawn(
            [gen, "-i", b, "-f", "rx", "-n", str(COUNT), "--verify", "--json", "--idle", "5"]
        ),
        # -w 1: the receiver's socket is bound before the first frame leaves
        [gen, "-i", a, "-f", "tx", "-n", str(COUNT), "-l", str(LEN), "-R", RATE, "-w", "1"]
        + ["--json"],
        timeout=90,
    )
    assert tx["role"] == "tx"
    assert (tx["packets"], tx["bytes"]) == (COUNT, COUNT * LEN)
    assert rx["role"] == "rx"
    assert (rx["packets"], rx["bytes"]) == (COUNT, COUNT * LEN)
    assert (rx["errors"], rx["lost"]) == (0, 0)
    assert rx["seconds"] > 0 and rx["pps"] > 0 and rx["bps"] == pytest.approx(8 * rx["pps"] * LEN)


def test_ping_pong(veth):
    a, b = veth
    gen = str(tool_path("afpacket-gen"))
    rounds = 200
    pong, ping = pktgen.exchange(
        pktgen.spawn(
            [gen, "-i", b, "-f", "pong", "-n", str(rounds), "--verify", "--json", "--idle", "5"]
        ),
        [gen, "-i", a, "-f", "ping", "-n", str(rounds), "-w", "1", "--verify", "--json"],
        timeout=90,
    )
    assert (ping["role"], ping["packets"], ping["errors"]) == ("ping", rounds, 0)
    # the guest clock may be coarse under TCG: a round trip can read as 0
    assert 0 <= ping["rtt_min_us"] <= ping["rtt_avg_us"] <= ping["rtt_max_us"]
    assert ping["rtt_max_us"] > 0
    assert (pong["role"], pong["packets"], pong["errors"]) == ("pong", rounds, 0)


@pytest.mark.parametrize(
    ("limit", "count"),
    [
        pytest.param(1, 100_000, id="drops"),  # one frame queued, ENOBUFS for every later send
        # many frames queued first (netem orphans them, so no send blocks), then ENOBUFS; the run
        # is far larger than the queue on every kernel (6.12 fills 100000 slots in under a second)
        pytest.param(10_000, 10_000_000, id="holds"),
    ],
)
def test_tx_timeout_ends_a_send_that_the_queue_never_takes(veth, limit, count):
    """A queue that delays its frames by 100 s and refuses the rest: --timeout ends the run."""
    a, _ = veth
    # No IPv6 on the link: its router solicitations could take the one slot of "drops" first
    # (seen on 6.12: 0 of our frames queued)
    subprocess.run(["sysctl", "-qw", f"net.ipv6.conf.{a}.disable_ipv6=1"], check=True)
    subprocess.run(["modprobe", "sch_netem"], check=True)  # the lab does not autoload qdiscs
    tc = ["tc", "qdisc", "add", "dev", a, "root", "netem", "delay", "100s", "limit", str(limit)]
    subprocess.run(tc, check=True, capture_output=True)
    gen = str(tool_path("afpacket-gen"))
    t0 = time.monotonic()
    tx = pktgen.run_json(
        [gen, "-i", a, "-f", "tx", "-n", str(count), "-l", str(LEN), "--timeout", "3", "--json"],
        timeout=60,
    )
    took = time.monotonic() - t0
    # nothing leaves the queue for 100 s, so it took at most `limit` of our frames (the kernel's
    # own IPv6 frames on the new link may hold a few of its slots) ...
    assert tx["role"] == "tx" and 0 < tx["packets"] <= limit, tx
    assert tx["bytes"] == tx["packets"] * LEN
    # ... and the sends after those were refused: the qdisc dropped them (6.1, 6.12), or, on a
    # kernel that keeps queued frames charged to the socket (7.x), the socket's buffer filled
    # before the queue and the send blocked; afpacket-gen kept trying until the deadline
    stats = json.loads(
        subprocess.run(
            ["tc", "-s", "-j", "qdisc", "show", "dev", a], check=True, capture_output=True
        ).stdout
    )
    assert stats[0]["kind"] == "netem", stats
    assert stats[0]["drops"] > 0 or tx["packets"] < limit, (stats, tx)
    assert 3 <= took < 30, took
