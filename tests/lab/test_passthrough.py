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
- Scenario 2: two nested guests on one VALE switch ping each other and send a file over TCP
  through their ptnet netdevs (NAPI receive on the rings' MSI-X vectors).
- Scenario 4: a hostile guest (ptnet_hostile.c, no driver) asks for a CSB outside its RAM, then
  starts the host loop on a real CSB and writes garbage pointers, kicks rings it does not have
  and scribbles over its rings; the kloop counts the errors, stops with the guest, and two other
  ports of the same switch forward every frame meanwhile.

QEMU and the modules must be built on the host first (ptnet build qemu, ptnet build modules,
ptnet build tools); the lab sees the cache read-only. TCG inside TCG is about 30 times slower,
so each test boots as few minimal nested guests as it can.
"""

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from nm import counters, pktgen

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
# The ptnet netdev's name in the nested guest: the (first) netdev its driver registered.
FIND_IF = "IF=$(ls /sys/bus/pci/drivers/ptnet/*/net/ | head -n 1); echo ptnet-if $IF"
# Two QEMUs would give their NICs the same default MAC: each NIC gets its own.
MAC_A = "52:54:00:00:09:01"
MAC_B = "52:54:00:00:09:02"


@pytest.fixture(scope="module")
def guest_modules() -> list[Path]:
    k = nested.default_kernel()
    return [kbuild.module_path(k, "netmap"), kbuild.module_path(k, "ptnet_guest")]


def _pt_guest(
    qemu_binary: Path,
    modules: list[Path],
    script: str,
    *ports: tuple[str, str],
) -> nested.NestedGuest:
    """A nested guest whose NICs are ptnet-pci devices, one per (host port, MAC) pair."""
    args = []
    for i, (ifname, mac) in enumerate(ports):
        args += ["-netdev", f"netmap,id=n{i},ifname={ifname},passthrough=on"]
        args += ["-device", f"ptnet-pci,netdev=n{i},mac={mac}"]
    return nested.NestedGuest(
        qemu=qemu_binary,
        modules=modules,
        tools=[tool_path("pkt-gen"), tool_path("afpacket-gen")],
        qemu_args=[*qemu_build.firmware_args(), *args],
        append="ipv6.disable=1",
        command=["sh", "-c", f"{FIND_IF}; {script}"],
    )


def _host_sends(port: str, rate: int, *extra: str) -> dict:
    """pkt-gen on the lab host sends COUNT frames of LEN bytes on `port`, `rate` per second."""
    argv = [str(tool_path("pkt-gen")), "-i", port, "-f", "tx", "-n", str(COUNT), "-l", str(LEN)]
    return pktgen.run_json([*argv, "-R", str(rate), *extra, "--json"], timeout=300)


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
    guest = _pt_guest(qemu_binary, guest_modules, GUEST_RX_THEN_TX, (guest_port, MAC_A))
    with guest, _diagnosed(guest):
        guest.wait_for(" bound ", timeout=NESTED_TIMEOUT)
        sent = _host_sends(host_port, 200, "-w", "1")
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


# Scenario 2: what each guest prints when its side failed, to tell a data path from an interrupt
# problem: the ptnet vectors' counts and the netdev's counters.
DIAG = "grep $IF- /proc/interrupts; grep $IF: /proc/net/dev"
# Guest A listens, answers pings and checks the file that B sends; B pings, then sends.
GUEST_A = f"""
ip link set $IF up && ip addr add 10.9.0.1/24 dev $IF || exit 1
nc -l -p 5000 > /tmp/rx &
n=0
until ping -c 1 -W 1 10.9.0.2 >/dev/null; do
    n=$((n + 1)); [ $n -lt 300 ] || {{ echo a-no-peer; {DIAG}; exit 1; }}
done
ping -c 5 -W 5 10.9.0.2
echo a-ping $?
wait
echo "a-got $(wc -c < /tmp/rx) $(md5sum < /tmp/rx | cut -d' ' -f1)"
{DIAG}
"""
GUEST_B = f"""
ip link set $IF up && ip addr add 10.9.0.2/24 dev $IF || exit 1
n=0
until ping -c 1 -W 1 10.9.0.1 >/dev/null; do
    n=$((n + 1)); [ $n -lt 300 ] || {{ echo b-no-peer; {DIAG}; exit 1; }}
done
ping -c 5 -W 5 10.9.0.1
echo b-ping $?
dd if=/dev/urandom of=/tmp/tx bs=1024 count=256 2>/dev/null
echo "b-sent $(wc -c < /tmp/tx) $(md5sum < /tmp/tx | cut -d' ' -f1)"
nc 10.9.0.1 5000 -e cat /tmp/tx
echo b-nc $?
{DIAG}
sleep 20
"""


def test_scenario2_two_guests_ping_and_tcp_over_ptnet_netdevs(qemu_binary, guest_modules):
    a = _pt_guest(qemu_binary, guest_modules, GUEST_A, ("vale2:1", MAC_A))
    b = _pt_guest(qemu_binary, guest_modules, GUEST_B, ("vale2:2", MAC_B))
    with a, b, _diagnosed(a, b):  # both boot at once; each script waits for its peer
        res_a = a.wait(NESTED_TIMEOUT)
        res_b = b.wait(NESTED_TIMEOUT)
    assert (res_a.exit_code, res_b.exit_code) == (0, 0), (res_a.output, res_b.output)
    for res, who in ((res_a, "a"), (res_b, "b")):
        assert f"{who}-ping 0" in res.output and " 0% packet loss" in res.output, res.output
    assert "b-nc 0" in res_b.output, res_b.output
    (sent,) = [ln.split()[1:] for ln in res_b.output.splitlines() if ln.startswith("b-sent ")]
    (got,) = [ln.split()[1:] for ln in res_a.output.splitlines() if ln.startswith("a-got ")]
    assert sent[0] == "262144"
    assert got == sent, (res_a.output, res_b.output)


# The guest's edge cases, on two ports: S (pipeS}1: nobody ever opens pipeS{1, so the host loop
# runs but never hands a slot back once the pipe is full) and V (pipeV}1: its device is unbound
# under a netmap binding, then bound again, and the lab host sends on pipeV{1).
SILENT_PORT, VANISHING_PORT = "pipeS}1", "pipeV}1"
MAC_S, MAC_V = "52:54:00:00:0a:01", "52:54:00:00:0a:02"
GUEST_EDGES = f"""
ifmac() {{ for d in /sys/class/net/*; do [ "$(cat $d/address)" = "$1" ] && basename $d; done; }}
S=$(ifmac {MAC_S}); V=$(ifmac {MAC_V}); echo "ports $S $V"
t0=$(date +%s)
pkt-gen -i netmap:$S -f tx -n 1000000 -l {LEN} --timeout 10 --json
echo "silent-tx $? $(($(date +%s) - t0))"
t0=$(date +%s)
pkt-gen -i netmap:$S -f rx -n 1 --timeout 5 --json
echo "silent-rx $? $(($(date +%s) - t0))"
ip link set $S up
afpacket-gen -i $S -f tx -n 1000000 -l {LEN} --timeout 8 --json
echo "silent-netdev-tx $?"
sleep 12
echo "silent-tx-errors $(cat /sys/class/net/$S/statistics/tx_errors)"
t0=$(date +%s)
ip link set $S down
echo "silent-down $? $(($(date +%s) - t0))"
BDF=$(basename $(readlink -f /sys/class/net/$V/device))
pkt-gen -i netmap:$V -f rx -n 0 --timeout 300 -v 2>/tmp/v.err &
P=$!
until grep -q " bound " /tmp/v.err; do sleep 1; done
rmmod ptnet_guest 2>/dev/null
echo "busy-rmmod $?"
echo $BDF > /sys/bus/pci/drivers/ptnet/unbind
echo "unbind $?"
wait $P
echo "vanished-rx $? $(grep -v ' bound ' /tmp/v.err | head -n 1)"
echo $BDF > /sys/bus/pci/drivers/ptnet/bind
echo "rebind $?"
V=$(ifmac {MAC_V})
echo "rebound $V"
pkt-gen -i netmap:$V -f rx -n {COUNT} --verify --json --timeout 600
echo "rebound-rx $?"
# every binding is gone: the driver unloads at once, its ports with it, and netmap.ko holds nothing
rmmod ptnet_guest
echo "guest-rmmod $?"
echo "netmap-held $(cat /sys/module/netmap/parameters/port_count) \
$(cat /sys/module/netmap/parameters/mem_count) $(cat /sys/module/netmap/parameters/priv_count)"
rmmod netmap
echo "netmap-rmmod $?"
# (6.1's tx watchdog reports itself with a WARN: that one is expected)
BAD='BUG|Oops|WARNING|general protection|refcount_t'
echo "kernel-bad $(dmesg | grep -E "$BAD" | grep -vc dev_watchdog)"
dmesg | grep -E 'ptnet|BUG|Oops|WARNING' | tail -n 20
"""


def _field(out: str, key: str) -> list[str]:
    """The words after `key` on the guest's output line that starts with it."""
    (line,) = [ln for ln in out.splitlines() if ln.startswith(f"{key} ")]
    return line.split()[1:]


def test_guest_edge_cases_a_silent_host_and_a_device_that_goes(qemu_binary, guest_modules):
    """Nothing in the guest waits for the host: a port whose host never hands slots back
    fills and stops (netmap: poll times out; netdev: the tx watchdog fires, the link goes down
    at once). A device unbound under a netmap binding fails that binding's syncs, and bound
    again it receives every frame the lab host sends. A binding holds the driver's module, and
    once the bindings are gone both modules unload with nothing held."""
    guest = _pt_guest(
        qemu_binary, guest_modules, GUEST_EDGES, (SILENT_PORT, MAC_S), (VANISHING_PORT, MAC_V)
    )
    with guest, _diagnosed(guest):
        guest.wait_for("rebound", timeout=NESTED_TIMEOUT)
        sent = _host_sends("pipeV{1", 200)
        result = guest.wait(NESTED_TIMEOUT)
    out = result.output
    assert result.exit_code == 0, out
    # netmap on the silent port: the guest queued what fits in the guest's tx ring and the
    # pipe's rx ring (never more: the host's slots are not the guest's to refill), and stopped.
    # Rings of 1024 slots: 1023 each.
    silent_tx, silent_rx, netdev_tx, rebound = pktgen.json_lines(out)
    assert _field(out, "silent-tx")[0] == "0", out
    assert 1023 <= silent_tx["packets"] <= 2 * 1023, silent_tx
    assert int(_field(out, "silent-tx")[1]) < 60, out
    assert (silent_rx["role"], silent_rx["packets"]) == ("rx", 0), silent_rx
    assert _field(out, "silent-rx")[0] == "0" and int(_field(out, "silent-rx")[1]) < 60, out
    # The netdev on it: the queue stopped, the watchdog said so, and down did not wait.
    assert _field(out, "silent-netdev-tx")[0] == "0", out
    assert 0 < netdev_tx["packets"] < 1_000_000, netdev_tx  # --timeout ended it
    assert int(_field(out, "silent-tx-errors")[0]) >= 1, out
    assert "the host took no frame" in out, out
    assert _field(out, "silent-down")[0] == "0" and int(_field(out, "silent-down")[1]) < 30, out
    # The device that went: its binding's pkt-gen failed at once, and the device came back.
    # A netmap binding holds the driver's module (its port ops' owner): rmmod is refused.
    assert _field(out, "busy-rmmod")[0] != "0", out
    assert _field(out, "unbind")[0] == "0", out
    vanished = _field(out, "vanished-rx")
    assert vanished[0] == "1" and "error" in " ".join(vanished), out
    assert _field(out, "rebind")[0] == "0" and len(_field(out, "rebound")) == 1, out
    assert _field(out, "rebound-rx")[0] == "0", out
    assert sent["packets"] == COUNT
    assert (rebound["role"], rebound["packets"], rebound["bytes"]) == ("rx", COUNT, COUNT * LEN)
    assert (rebound["errors"], rebound["lost"]) == (0, 0)
    assert _field(out, "guest-rmmod") == ["0"], out
    assert _field(out, "netmap-held") == ["0", "0", "0"], out
    assert _field(out, "netmap-rmmod") == ["0"], out
    assert _field(out, "kernel-bad") == ["0"], out
    assert counters.wait_idle({"kloop_count": 0}, timeout=10)["kloop_count"] == 0


HOSTILE_SRC = Path(__file__).with_name("ptnet_hostile.c")


def test_scenario4_hostile_guest_leaves_the_host_and_other_ports_working(qemu_binary, tmp_path):
    """A guest without our driver drives ptnet-pci itself and writes garbage (ptnet_hostile.c)."""
    hostile = tmp_path / "ptnet-hostile"
    cc = subprocess.run(
        ["gcc", "-static", "-O2", "-Wall", "-Werror", "-o", str(hostile), str(HOSTILE_SRC)],
        capture_output=True,
        text=True,
    )
    assert cc.returncode == 0, cc.stderr
    pkt_gen = str(tool_path("pkt-gen"))
    errors_before = counters.read("kloop_errors")
    # Two other ports of the same switch forward all along.
    rx = pktgen.bound(
        [pkt_gen, "-i", "vale3:21", "-f", "rx", "-n", "0", "--idle", "30", "--verify"]
        + ["--json", "--timeout", "900"]
    )
    guest = nested.NestedGuest(
        qemu=qemu_binary,
        tools=[hostile],  # and no ptnet driver: the tool is the driver
        qemu_args=[
            *qemu_build.firmware_args(),
            "-netdev",
            "netmap,id=n0,ifname=vale3:10,passthrough=on",
            "-device",
            "ptnet-pci,netdev=n0",
        ],  # fmt: skip
        command=["sh", "-c", "ptnet-hostile 2000; echo hostile-exit $?"],
    )
    with pktgen.reaped(rx), guest, _diagnosed(guest):
        guest.wait_for("hostile-started", timeout=NESTED_TIMEOUT)
        sent = _host_sends("vale3:20", 500)
        result = guest.wait(NESTED_TIMEOUT)
        got = pktgen.report(rx, timeout=120)
    out = result.output
    assert (result.exit_code, "hostile-exit 0" in out) == (0, True), out
    assert "bad-csb-start 14" in out, out  # EFAULT: the device refused a CSB outside RAM
    assert (sent["packets"], got["packets"], got["bytes"]) == (COUNT, COUNT, COUNT * LEN)
    assert (got["errors"], got["lost"]) == (0, 0)
    # The kloop met the garbage and said so; it stopped with the guest, and the host answers.
    assert counters.read("kloop_errors") > errors_before
    assert counters.wait_idle({"kloop_count": 0}, timeout=10)["kloop_count"] == 0
    after = pktgen.run_json(
        [pkt_gen, "-i", "vale3:30", "-f", "tx", "-n", "10", "--json"], timeout=60
    )
    assert after["packets"] == 10
