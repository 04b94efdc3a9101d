"""Issue 6, ptnetmap end to end: a nested guest whose netmap port is a port of the lab's netmap.ko.

The lab VM is the host: it has netmap.ko loaded and runs the patched QEMU (ptnet-pci,
ptnetmap-memdev, `-netdev netmap,passthrough=on`) under TCG. The nested guest boots the same
Debian kernel with netmap.ko and ptnet_guest.ko; its netmap applications open `netmap:ethX`
(the ptnet netdev's name) and get the host port's rings and buffers, with the pointers going
through the CSB and the host's sync kloop.

- Scenario 1: pkt-gen in the guest on its ptnet port, passed through from vale1:10 (and again
  from the pipe end pipeA}1); pkt-gen on the lab host on vale1:11 (pipeA{1). Frames go both
  ways; counts, bytes and every frame's pattern and sequence are checked.
- In the same boot, the ptnet port refuses what it cannot be (host rings, pipes, monitors) with
  a clear errno.

QEMU and the modules must be built on the host first (ptnet build qemu, ptnet build modules,
ptnet build tools); the lab sees the cache read-only. TCG inside TCG is about 30 times slower,
so each test boots as few minimal nested guests as it can.
"""

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from nm import pktgen

from ptnet.build import kbuild
from ptnet.build import qemu as qemu_build
from ptnet.build.tools import tool_path
from ptnet.lab import nested

pytestmark = [
    pytest.mark.lab(smp=2),
    pytest.mark.slow,
    pytest.mark.nested,
    pytest.mark.timeout(1200),
]

COUNT = 1000
LEN = 60
NESTED_TIMEOUT = 900.0
# The ptnet netdev's name in the nested guest: the one netdev its driver registered.
FIND_IF = "IF=$(ls /sys/bus/pci/drivers/ptnet/*/net/ | head -n 1); echo ptnet-if $IF"


@pytest.fixture(scope="module")
def guest_modules() -> list[Path]:
    k = nested.default_kernel()
    return [kbuild.module_path(k, "netmap"), kbuild.module_path(k, "ptnet_guest")]


def _pt_guest(
    qemu_binary: Path, modules: list[Path], ifname: str, script: str, *, netdev_id: str = "n0"
) -> nested.NestedGuest:
    """A nested guest whose only NIC is ptnet-pci on the host port `ifname`."""
    return nested.NestedGuest(
        qemu=qemu_binary,
        modules=modules,
        tools=[tool_path("pkt-gen")],
        qemu_args=[
            *qemu_build.firmware_args(),
            "-netdev",
            f"netmap,id={netdev_id},ifname={ifname},passthrough=on",
            "-device",
            f"ptnet-pci,netdev={netdev_id}",
        ],  # fmt: skip
        append="ipv6.disable=1",
        command=["sh", "-c", f"{FIND_IF}; {script}"],
    )


@contextlib.contextmanager
def _diagnosed(*guests: nested.NestedGuest) -> Iterator[None]:
    """On any failure, show what the nested guests printed (their files stay in the lab)."""
    try:
        yield
    except Exception as exc:
        tails = "".join(
            f"\n--- console {g.console_log}:\n{g.console_log.read_text(errors='replace')[-3000:]}"
            f"\n--- output:\n{g.output()[-3000:]}"
            for g in guests
        )
        raise AssertionError(f"{exc}{tails}") from exc


# The guest's side of scenario 1: receive, then (after the host switched to receiving) send;
# then the refusals, each printed with pkt-gen's exit code and error.
GUEST_RX_THEN_TX = f"""
pkt-gen -i netmap:$IF -f rx -n 0 --idle 15 --verify --json --timeout 600 -v
echo rx-exit $?
echo tx-wait
sleep 25
pkt-gen -i netmap:$IF -f tx -n {COUNT} -l {LEN} -R 500 --json
echo tx-exit $?
for spec in "netmap:$IF^" "netmap:$IF*" "netmap:$IF{{1" "netmap:$IF}}1" "netmap:$IF/t"; do
    pkt-gen -i "$spec" -f rx -n 1 --timeout 5 >/dev/null 2>/tmp/err
    echo "refused $? $spec: $(head -n 1 /tmp/err)"
done
"""


@pytest.mark.parametrize(
    ("guest_port", "host_port"),
    [
        pytest.param("vale1:10", "vale1:11", id="vale"),
        pytest.param("pipeA}1", "pipeA{1", id="pipe"),
    ],
)
def test_scenario1_pktgen_both_ways(qemu_binary, guest_modules, guest_port, host_port):
    pkt_gen = str(tool_path("pkt-gen"))
    guest = _pt_guest(qemu_binary, guest_modules, guest_port, GUEST_RX_THEN_TX)
    with guest, _diagnosed(guest):
        guest.wait_for(" bound ", timeout=NESTED_TIMEOUT)
        sent = pktgen.run_json(
            [pkt_gen, "-i", host_port, "-f", "tx", "-n", str(COUNT), "-l", str(LEN)]
            + ["-R", "200", "-w", "1", "--json"],
            timeout=300,
        )
        guest.wait_for("tx-wait", timeout=NESTED_TIMEOUT)
        rx = pktgen.bound(
            [pkt_gen, "-i", host_port, "-f", "rx", "-n", "0", "--idle", "15", "--verify"]
            + ["--json", "--timeout", "600"]
        )
        with pktgen.reaped(rx):
            result = guest.wait(NESTED_TIMEOUT)
            back = pktgen.report(rx, timeout=120)
    out = result.output
    assert result.exit_code == 0, out
    assert (sent["role"], sent["packets"], sent["bytes"]) == ("tx", COUNT, COUNT * LEN)
    assert "rx-exit 0" in out and "tx-exit 0" in out, out
    got, guest_tx = pktgen.json_lines(out)
    # host -> guest
    assert (got["role"], got["packets"], got["bytes"]) == ("rx", COUNT, COUNT * LEN), out
    assert (got["errors"], got["lost"]) == (0, 0)
    # guest -> host
    assert (guest_tx["role"], guest_tx["packets"], guest_tx["bytes"]) == (
        "tx",
        COUNT,
        COUNT * LEN,
    )
    assert (back["role"], back["packets"], back["bytes"]) == ("rx", COUNT, COUNT * LEN)
    assert (back["errors"], back["lost"]) == (0, 0)
    # The ptnet port is the host's port: no host rings, pipes or monitors of it in the guest.
    refused = [ln for ln in out.splitlines() if ln.startswith("refused ")]
    assert len(refused) == 5, out
    for line in refused:
        assert not line.startswith("refused 0 "), line
    for line in refused[:2]:  # host rings: the port has none to bind
        assert "Invalid argument" in line, line
    for line in refused[2:]:  # pipes and monitors of a passthrough port
        assert "Operation not supported" in line, line
