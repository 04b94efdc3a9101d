"""Issue 6: the devices of our QEMU patch series, without a guest driver.

Inside the lab VM (netmap.ko loaded) our patched QEMU runs as the "host" of a passthrough port:
`-netdev netmap,id=n0,ifname=PORT,passthrough=on -device ptnet-pci,netdev=n0`.

- Most tests start that QEMU stopped (-S) and look at it over QMP: the PCI IDs and BARs of
  ptnet-pci (1b36:000d) and of the ptnetmap-memdev (1b36:000c) made for the port's memory id,
  one memdev per memory id, the exclusive binding of the port, the migration blocker, and the
  configurations QEMU must refuse with a clear message.
- One test boots a nested guest under that QEMU. A shell script in the guest reads the memdev's
  and the device's registers through sysfs, hands the device CSB addresses that are not guest
  RAM (refused: PTCTL reads back EFAULT or EINVAL), then a CSB in RAM the guest kernel does not
  use (memmap=), starts the host loop (PTCTL=1) and watches the rx ring's hwtail in the CSB move
  while the lab host sends frames into the VALE switch: QEMU's kloop thread serves the ring.

The QEMU binary is the one `ptnet build qemu` made (skipped when there is none), or the one named
by PTNET_TEST_QEMU, to try a QEMU tree under development:

    ptnet lab run --modules netmap --smp 2 --timeout 1500 --rw . --rw TREE/build -- \
        env PTNET_TEST_QEMU=TREE/build/qemu-system-x86_64 \
        .venv/bin/python -m pytest -q -p no:cacheprovider tests/lab/test_qemu_ptnet_devices.py
"""

import errno
import itertools
import json
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from nm import Port, pools_info, port_info
from nm.kloop import running
from nm.netdev import sh, unique
from nm.vale import delif, newif

from ptnet.build import qemu
from ptnet.build.tools import tool_path
from ptnet.errors import PtnetError
from ptnet.lab import nested

pytestmark = pytest.mark.timeout(300)

VENDOR = 0x1B36
MEMDEV_ID = 0x000C
PTNET_ID = 0x000D
IO_SIZE = 256  # ptnet-pci BAR0
MEMDEV_REG_SIZE = 128  # ptnetmap-memdev BAR0
MAX_RINGS = (IO_SIZE - 128) // 4  # KICK(i) registers in the window
GUEST_MAC = "52:54:00:12:34:56"

_names = itertools.count()


@pytest.fixture
def sw() -> str:
    """A fresh VALE switch name."""
    return f"valept{next(_names)}"


@pytest.fixture
def vp():
    """A fresh persistent VALE port name, deleted after the test."""
    name = f"ptvp{next(_names)}"
    yield name
    delif(name)


def _argv(qemu_binary: Path, args: Sequence[str]) -> list[str]:
    return [
        str(qemu_binary), "-nodefaults", "-no-user-config", "-display", "none", "-S",
        "-M", "pc", "-accel", "tcg", "-m", "128", *qemu.firmware_args(), "-qmp", "stdio", *args,
    ]  # fmt: skip


def _passthrough(port: str, nid: str = "n0", mac: str | None = GUEST_MAC) -> list[str]:
    device = f"ptnet-pci,netdev={nid}" + (f",mac={mac}" if mac else "")
    return ["-netdev", f"netmap,id={nid},ifname={port},passthrough=on", "-device", device]


class Qmp:
    """QEMU with its QMP monitor on stdin/stdout; leaving the context quits it."""

    def __init__(self, qemu_binary: Path, args: Sequence[str]) -> None:
        self.proc = subprocess.Popen(
            _argv(qemu_binary, args),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        greeting = self._read()
        if "QMP" not in greeting:
            self.proc.kill()
            _, err = self.proc.communicate()
            raise AssertionError(f"QEMU did not start: {err.strip()}")
        self.cmd("qmp_capabilities")

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                return {}
            msg = json.loads(line)
            if "event" not in msg:
                return msg

    def call(self, command: str, **arguments: Any) -> dict[str, Any]:
        """The reply: {"return": ...} or {"error": ...}."""
        assert self.proc.stdin is not None
        req: dict[str, Any] = {"execute": command}
        if arguments:
            req["arguments"] = arguments
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def cmd(self, command: str, **arguments: Any) -> Any:
        reply = self.call(command, **arguments)
        assert "return" in reply, f"{command}: {reply}"
        return reply["return"]

    def hmp(self, line: str) -> str:
        return self.cmd("human-monitor-command", **{"command-line": line})

    def pci_devices(self) -> list[dict[str, Any]]:
        return [d for bus in self.cmd("query-pci") for d in bus["devices"]]

    def __enter__(self) -> "Qmp":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.call("quit")
        try:
            self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise AssertionError("QEMU did not quit within 30 s") from None


def _refused(qemu_binary: Path, args: Sequence[str]) -> str:
    """Run QEMU, which must refuse the configuration; its error message."""
    r = subprocess.run(
        _argv(qemu_binary, args), input="", capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 1, f"exit {r.returncode}: {r.stderr}"
    return r.stderr


def _by_id(devs: list[dict[str, Any]], device: int) -> list[dict[str, Any]]:
    return [d for d in devs if d["id"]["vendor"] == VENDOR and d["id"]["device"] == device]


def _bars(dev: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {r["bar"]: r for r in dev["regions"]}


def _pow2ceil(n: int) -> int:
    return 1 << (n - 1).bit_length()


def _mem_ids(q: Qmp) -> dict[str, int]:
    """netdev id -> memory id, from `info network` (the backend's description)."""
    text = q.hmp("info network")
    return {
        m[0]: int(m[1]) for m in re.findall(r"(\w+): .*netmap passthrough .*memory (\d+)", text)
    }


# --------------------------------------------------------------------------------------------
# The devices as QEMU shows them
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["vale", "pipe"])
def test_devices_have_the_abi_ids_and_bars(qemu_binary, sw, pname, kind):
    port = f"{sw}:1" if kind == "vale" else f"{pname}}}1"
    with Qmp(qemu_binary, _passthrough(port)) as q:
        devs = q.pci_devices()
        net = q.hmp("info network")
        mem_id = _mem_ids(q)["n0"]
        info = port_info(port)
        pools = pools_info(port)
    (pt,) = _by_id(devs, PTNET_ID)
    (md,) = _by_id(devs, MEMDEV_ID)
    assert pt["class_info"]["class"] == 0x0200  # Ethernet
    assert md["class_info"]["class"] == 0x0500  # RAM
    bars = _bars(pt)
    assert set(bars) == {0, 2}
    assert (bars[0]["type"], bars[0]["size"]) == ("io", IO_SIZE)
    assert bars[2]["type"] == "memory"  # MSI-X table and PBA
    bars = _bars(md)
    assert set(bars) == {0, 1}
    assert (bars[0]["type"], bars[0]["size"]) == ("io", MEMDEV_REG_SIZE)
    mem = bars[1]
    assert mem["type"] == "memory" and mem["prefetch"] and mem["mem_type_64"]
    assert mem_id == info.nr_mem_id == pools.nr_mem_id
    assert mem["size"] == _pow2ceil(pools.nr_memsize)
    assert f"{port}: memory {mem_id}, {info.nr_tx_rings} tx and {info.nr_rx_rings} rx rings" in net
    assert f"macaddr={GUEST_MAC}" in net


def test_one_memdev_per_memory_id(qemu_binary, sw, pname):
    """The two ends of a pipe share their parent's region; a VALE port has its own."""
    ports = {"n0": f"{pname}{{1", "n1": f"{pname}}}1", "n2": f"{sw}:1"}
    args = [a for nid, port in ports.items() for a in _passthrough(port, nid, None)]
    with Qmp(qemu_binary, args) as q:
        devs = q.pci_devices()
        ids = _mem_ids(q)
        sizes = {nid: pools_info(port).nr_memsize for nid, port in ports.items()}
    assert ids["n0"] == ids["n1"] != ids["n2"]
    assert len(_by_id(devs, PTNET_ID)) == 3
    mds = _by_id(devs, MEMDEV_ID)
    assert len(mds) == 2
    got = sorted(_bars(m)[1]["size"] for m in mds)
    assert got == sorted(_pow2ceil(sizes[n]) for n in ("n0", "n2"))


def test_the_port_is_bound_exclusively_until_qemu_quits(qemu_binary, sw):
    port = f"{sw}:1"
    with Qmp(qemu_binary, _passthrough(port)):
        with pytest.raises(OSError) as exc:
            Port.open(port)
        assert exc.value.errno == errno.EBUSY
    with Port.open(port) as p:  # released with QEMU
        assert p.reg.nr_tx_rings >= 1


def test_ring_count_at_the_window_limit_is_accepted(qemu_binary, vp):
    assert newif(vp, nr_tx_rings=MAX_RINGS // 2, nr_rx_rings=MAX_RINGS // 2) == 0
    with Qmp(qemu_binary, _passthrough(vp)) as q:
        (pt,) = _by_id(q.pci_devices(), PTNET_ID)
    assert _bars(pt)[0]["size"] == IO_SIZE


def test_migration_is_refused(qemu_binary, sw):
    with Qmp(qemu_binary, _passthrough(f"{sw}:1")) as q:
        reply = q.call("migrate", uri="exec:cat >/dev/null")
    assert "error" in reply, reply
    assert "ptnet-pci" in reply["error"]["desc"]
    assert f"{sw}:1" in reply["error"]["desc"]


# --------------------------------------------------------------------------------------------
# What QEMU refuses
# --------------------------------------------------------------------------------------------


def test_too_many_rings_are_refused(qemu_binary):
    """A NIC with one tx queue more than the KICK registers allow (a VALE port has 16 rings at
    most, as in netmap, so it never has too many)."""
    tx, rx = MAX_RINGS // 2 + 1, MAX_RINGS // 2
    subprocess.run(["modprobe", "veth"], check=True)
    a, b = unique("ptqa"), unique("ptqb")
    sh("ip", "link", "add", a, "numtxqueues", str(tx), "numrxqueues", str(rx), "type", "veth",
       "peer", "name", b)  # fmt: skip
    try:
        err = _refused(qemu_binary, _passthrough(a))
    finally:
        sh("ip", "link", "del", a, check=False)
    assert f"netmap port {a} has {tx} tx and {rx} rx rings" in err
    assert f"KICK registers for {MAX_RINGS} rings" in err


def test_ptnet_without_a_netdev_is_refused(qemu_binary):
    err = _refused(qemu_binary, ["-device", "ptnet-pci"])
    assert "ptnet-pci needs netdev=ID of a '-netdev netmap,passthrough=on' backend" in err


@pytest.mark.parametrize("backend", ["netmap", "user"])
def test_ptnet_on_another_backend_is_refused(qemu_binary, sw, backend):
    netdev = f"netmap,id=n0,ifname={sw}:1" if backend == "netmap" else "user,id=n0"
    err = _refused(qemu_binary, ["-netdev", netdev, "-device", "ptnet-pci,netdev=n0"])
    assert "netdev 'n0' is not a netmap backend with passthrough=on" in err


def test_one_port_for_two_devices_is_refused(qemu_binary, sw):
    args = [
        "-netdev", f"netmap,id=n0,ifname={sw}:1,passthrough=on",
        "-device", "ptnet-pci,netdev=n0", "-device", "ptnet-pci,netdev=n0",
    ]  # fmt: skip
    err = _refused(qemu_binary, args)
    assert "n0" in err  # QEMU's own check: one NIC per netdev


def test_a_busy_port_is_refused(qemu_binary, sw):
    port = f"{sw}:1"
    with Port.open(port):
        err = _refused(qemu_binary, _passthrough(port))
    assert f"cannot register {port} exclusively: Device or resource busy" in err


def test_memdev_cannot_be_added_by_hand(qemu_binary):
    err = _refused(qemu_binary, ["-device", "ptnetmap-memdev"])
    assert "ptnetmap-memdev" in err


def test_the_plain_netmap_backend_still_works(qemu_binary, sw):
    """passthrough off: QEMU's own copying backend, as before (no memdev, no CSB)."""
    port = f"{sw}:1"
    args = ["-netdev", f"netmap,id=n0,ifname={port}", "-device", "virtio-net-pci,netdev=n0"]
    with Qmp(qemu_binary, args) as q:
        net = q.hmp("info network")
        devs = q.pci_devices()
    assert "n0: index=0,type=netmap" in net and "passthrough" not in net
    assert not _by_id(devs, MEMDEV_ID)


# --------------------------------------------------------------------------------------------
# A nested guest pokes the registers
# --------------------------------------------------------------------------------------------

CSB = 0xE000000  # 224 MiB: reserved from the nested guest's kernel with memmap=
FRAMES = 50

# Register access through sysfs: 4-byte reads and writes of an I/O BAR are inl/outl (dd bs=4).
# TCG inside TCG makes every process slow: few of them.
PROBE = r"""
set -u
for d in /sys/bus/pci/devices/*; do
	case "$(cat $d/vendor):$(cat $d/device)" in
	0x1b36:0x000c) MD=$d ;;
	0x1b36:0x000d) PT=$d ;;
	esac
done
echo 1 >$MD/enable
echo 1 >$PT/enable
regs() { dd if=$1/resource0 bs=4 count=$2 2>/dev/null | od -A n -t u4 -v | tr -s ' \n' '  '; }
le() {
	for v; do
		printf '\\%03o\\%03o\\%03o\\%03o' $((v & 255)) $(((v >> 8) & 255)) \
			$(((v >> 16) & 255)) $(((v >> 24) & 255))
	done
}
w() {
	printf "$(le $3)" | dd of=$1/resource0 bs=4 seek=$(($2 / 4)) count=1 conv=notrunc 2>/dev/null
}
csb() {
	printf "$(le $(($1 >> 32)) $1 $(($2 >> 32)) $2)" |
		dd of=$PT/resource0 bs=4 seek=13 count=4 conv=notrunc 2>/dev/null
}
start() {
	w $PT 4 1
	regs $PT 2 | cut -d' ' -f3
}
echo "md: $(regs $MD 25)"
echo "pt: $(regs $PT 17)"
csb $((0x20000000)) $((0x20001000)); echo "outside_ram=$(start)"
bar1=$(($(sed -n 2p $MD/resource | cut -d' ' -f1)))
csb $bar1 $((bar1 + 4096)); echo "device_memory=$(start)"
csb $((CSB + 32)) $((CSB + 4096)); echo "unaligned=$(start)"
w $PT $((128 + 4 * 31)) 1
csb $((CSB)) $((CSB + 4096)); echo "start=$(start)"
echo "again=$(start)"
HWTAIL=$((CSB + 4096 + 64 * $(regs $PT 8 | cut -d' ' -f9) + 4))
echo "rx_before=$(devmem $HWTAIL 32)"
echo ready
i=0
v=$(devmem $HWTAIL 32)
while [ $i -lt 120 ] && [ $((${v:-0})) -lt FRAMES ]; do
	sleep 2
	i=$((i + 1))
	v=$(devmem $HWTAIL 32)
done
echo "rx_after=$v"
w $PT 4 2; echo "stop=$(regs $PT 2 | cut -d' ' -f3)"
""".replace("CSB", str(CSB)).replace("FRAMES", str(FRAMES))


def _regs(text: str, dev: str) -> dict[int, int]:
    """offset -> value, from the guest's "md: v0 v1 ..." or "pt: ..." line."""
    (line,) = [ln for ln in text.splitlines() if ln.startswith(dev + ": ")]
    return {4 * i: int(x) for i, x in enumerate(line.split()[1:])}


def _values(text: str) -> dict[str, str]:
    return dict(ln.split("=", 1) for ln in text.splitlines() if "=" in ln)


@pytest.mark.lab(smp=2)
@pytest.mark.slow
@pytest.mark.nested
@pytest.mark.timeout(900)
def test_nested_guest_reads_registers_and_runs_the_host_loop(qemu_binary, sw):
    port, peer = f"{sw}:1", f"{sw}:2"
    with nested.NestedGuest(
        qemu=qemu_binary,
        qemu_args=[*qemu.firmware_args(), *_passthrough(port)],
        append=f"memmap=1M${CSB:#x} ipv6.disable=1",
        files={"/probe.sh": PROBE.encode()},
        command=["sh", "/probe.sh"],
    ) as guest:
        try:
            guest.wait_for("ready", timeout=600)
        except PtnetError as exc:
            pytest.fail(f"{exc}; the guest printed:\n{guest.output()}")
        assert running() == 1
        info = port_info(port)
        pools = pools_info(port)
        tx = subprocess.run(
            [str(tool_path("pkt-gen")), "-i", peer, "-f", "tx", "-n", str(FRAMES), "-l", "60"]
            + ["--json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert tx.returncode == 0, tx.stderr
        result = guest.wait(600)
    assert result.exit_code == 0, result.output
    v = _values(result.output)
    md, pt = _regs(result.output, "md"), _regs(result.output, "pt")
    # memdev registers: the region's size, id and pools
    assert md[0] + (md[4] << 32) == pools.nr_memsize
    assert md[8] == info.nr_mem_id
    assert [md[o] for o in (64, 68, 72)] == [
        pools.nr_if_pool_offset,
        pools.nr_if_pool_objtotal,
        pools.nr_if_pool_objsize,
    ]
    assert [md[o] for o in (76, 80, 84)] == [
        pools.nr_ring_pool_offset,
        pools.nr_ring_pool_objtotal,
        pools.nr_ring_pool_objsize,
    ]
    assert [md[o] for o in (88, 92, 96)] == [
        pools.nr_buf_pool_offset,
        pools.nr_buf_pool_objtotal,
        pools.nr_buf_pool_objsize,
    ]
    # ptnet registers: the MAC and the port
    mac = bytes.fromhex(GUEST_MAC.replace(":", ""))
    assert pt[12] == int.from_bytes(mac[:2], "big")
    assert pt[8] == int.from_bytes(mac[2:], "big")
    assert [pt[o] for o in (28, 32, 36, 40, 48)] == [
        info.nr_tx_rings,
        info.nr_rx_rings,
        info.nr_tx_slots,
        info.nr_rx_slots,
        info.nr_mem_id,
    ]
    assert pools.nr_if_pool_offset <= pt[24] < pools.nr_ring_pool_offset  # NIFP_OFS
    assert pt[44] == 0  # no virtio-net header asked for
    # hostile CSB addresses are refused, a good one starts the loop, which serves the ring
    assert int(v["outside_ram"]) == errno.EFAULT
    assert int(v["device_memory"]) == errno.EFAULT
    assert int(v["unaligned"]) == errno.EINVAL
    assert int(v["start"]) == 0
    assert int(v["again"]) == errno.EBUSY
    assert int(v["rx_before"], 16) == 0
    assert int(v["rx_after"], 16) == FRAMES
    assert int(v["stop"]) == 0
    assert running() == 0
