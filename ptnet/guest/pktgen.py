"""Guest-side validation: pkt-gen receives in the guest on its ptnet port, a host peer sends.

Both sides print pkt-gen's usual summary; both are parsed, and the verdict is "pass" only when
the receiver got exactly the frames and bytes the sender sent, with no errors.
"""

import re
import subprocess
import time
from dataclasses import asdict, dataclass
from typing import Any

from ptnet.build.tools import tool_path
from ptnet.errors import PtnetError, UsageError
from ptnet.guest import ssh
from ptnet.model.ports import PortSpec, parse_port

_COUNTS = re.compile(
    r"^(?P<verb>Sent|Received|Answered|Ping-pong rounds:) (?P<packets>\d+) packets (?P<bytes>\d+) "
    r"bytes \d+ events \d+ bytes each in (?P<seconds>[\d.]+) seconds\.",
    re.MULTILINE,
)
_NOTHING = re.compile(r"^(Sent|Received|Answered) nothing\.", re.MULTILINE)
_ERRORS = re.compile(r"^Errors: (\d+), lost: (\d+)", re.MULTILINE)
_SPEED = re.compile(r"^Speed: ([\d.]+) ?([kKMG]?)pps", re.MULTILINE)
_SCALE = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}
BIND_TIMEOUT = 30.0


@dataclass(frozen=True)
class Summary:
    role: str  # "tx" or "rx"
    packets: int
    bytes: int
    seconds: float
    pps: float
    errors: int = 0
    lost: int = 0

    @property
    def mpps(self) -> float:
        return round(self.pps / 1e6, 4)


def parse_summary(text: str) -> Summary:
    """pkt-gen's closing report (tx or rx) from its output; PtnetError when there is none."""
    speed = _SPEED.search(text)
    if speed is None:
        raise PtnetError(f"no pkt-gen summary in its output: {text.strip()[-200:]!r}")
    pps = float(speed.group(1)) * _SCALE[speed.group(2)]
    errors = _ERRORS.search(text)
    errs, lost = (int(errors.group(1)), int(errors.group(2))) if errors else (0, 0)
    counts = _COUNTS.search(text)
    if counts is None:
        nothing = _NOTHING.search(text)
        if nothing is None:
            raise PtnetError(f"no packet count in pkt-gen's summary: {text.strip()[-200:]!r}")
        role = "tx" if nothing.group(1) == "Sent" else "rx"
        return Summary(role, 0, 0, 0.0, 0.0, errs, lost)
    role = "tx" if counts.group("verb") == "Sent" else "rx"
    return Summary(
        role,
        int(counts.group("packets")),
        int(counts.group("bytes")),
        float(counts.group("seconds")),
        pps,
        errs,
        lost,
    )


def default_peer(port: PortSpec) -> str:
    """The host-side port that talks to `port`: the other end of a pipe, or a VALE neighbour."""
    if port.kind == "pipe":
        other = "}" if port.pipe_end == "master" else "{"
        return f"{port.name}{other}{port.pipe_id}"
    if port.kind == "vale":
        return f"{port.switch}:ptnetpeer"
    raise UsageError(f"port '{port}' is a NIC; name the host-side peer with --peer")


def verdict(tx: Summary, rx: Summary, count: int, size: int) -> dict[str, Any]:
    ok = (
        tx.packets == count
        and rx.packets == count
        and rx.bytes == tx.bytes == count * size
        and rx.errors == 0
    )
    return {
        "verdict": "pass" if ok else "fail",
        "count": count,
        "size": size,
        "tx": asdict(tx),
        "rx": asdict(rx),
        "tx_mpps": tx.mpps,
        "rx_mpps": rx.mpps,
    }


def validate(
    vm: str,
    guest: ssh.Target,
    port: PortSpec,
    mac: str,
    *,
    slowdown: float,
    peer: str | None,
    count: int,
    size: int,
    rate: int,
) -> dict[str, Any]:
    """pkt-gen receives `count` frames in guest `vm` on the NIC with `mac` (its `port`), and a
    host pkt-gen sends them from `peer`; `slowdown` stretches the guest's deadlines."""
    peer_spec = str(parse_port(peer)) if peer else default_peer(port)
    find_if = (
        f"for d in /sys/class/net/*; do [ $(cat $d/address) = {mac} ] && echo ${{d##*/}}; done"
    )
    ifname = ssh.run(guest, find_if, timeout=30 * slowdown).stdout.decode().strip()
    if not ifname:
        raise PtnetError(f"VM {vm} has no NIC with {port}'s MAC {mac}")
    n, length = str(count), str(size)
    client = ssh.connect(guest)
    try:
        transport = client.get_transport()
        assert transport is not None
        chan = transport.open_session(timeout=ssh.CONNECT_TIMEOUT)
        chan.exec_command(f"pkt-gen -i netmap:{ifname} -f rx -n {n} -v --idle 10")
        out, err = bytearray(), bytearray()
        deadline = time.monotonic() + BIND_TIMEOUT * slowdown
        while b" bound " not in err:
            if chan.recv_stderr_ready():
                err += chan.recv_stderr(65536)
            elif chan.exit_status_ready():
                raise PtnetError(f"pkt-gen in {vm} ended early: {err.decode()[-200:]}")
            elif time.monotonic() > deadline:
                raise PtnetError(f"pkt-gen in {vm} did not bind in {BIND_TIMEOUT * slowdown:g} s")
            else:
                time.sleep(0.05)
        gen = str(tool_path("pkt-gen"))
        tx_proc = subprocess.run(
            [gen, "-i", f"netmap:{peer_spec}", "-f", "tx", "-n", n, "-l", length]
            + (["-R", str(rate)] if rate else []),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        deadline = time.monotonic() + 60 * slowdown
        while not chan.exit_status_ready() or chan.recv_ready() or chan.recv_stderr_ready():
            if chan.recv_ready():
                out += chan.recv(65536)
            elif chan.recv_stderr_ready():
                err += chan.recv_stderr(65536)
            elif time.monotonic() > deadline:
                raise PtnetError(f"pkt-gen in {vm} did not finish in {60 * slowdown:g} s")
            else:
                time.sleep(0.05)
    finally:
        client.close()
    if tx_proc.returncode != 0:
        raise PtnetError(f"host pkt-gen on {peer_spec} failed: {tx_proc.stderr.strip()[-200:]}")
    tx = parse_summary(tx_proc.stdout + tx_proc.stderr)
    rx = parse_summary((out + err).decode(errors="replace"))
    return {"vm": vm, "port": str(port), "peer": peer_spec, **verdict(tx, rx, count, size)}
