"""Network devices for the NIC-port tests: veth pairs, namespaces, taps, raw sockets, frames.

Everything made here is named with a per-test counter and removed afterwards. Addresses live
only inside the lab guest, on devices and namespaces the tests create.
"""

import contextlib
import fcntl
import itertools
import os
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ETH_P_ALL = 0x0003
ETH_P_TEST = 0x88B5  # IEEE local experimental ethertype: test frames carry it
_ids = itertools.count()


def sh(*argv: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    cmd = ["ip", "netns", "exec", ns, *argv] if ns else list(argv)
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_ids)}"


def quiet(dev: str, ns: str | None = None) -> None:
    """No IPv6 on dev, so the stack sends nothing on its own (router solicitations, MLD)."""
    sh("sysctl", "-q", "-w", f"net.ipv6.conf.{dev}.disable_ipv6=1", ns=ns, check=False)


def mac_of(dev: str, ns: str | None = None) -> bytes:
    if ns is None:
        out = Path(f"/sys/class/net/{dev}/address").read_text().strip()
    else:
        out = sh("cat", f"/sys/class/net/{dev}/address", ns=ns).stdout.strip()
    return bytes.fromhex(out.replace(":", ""))


def ping(addr: str, ns: str | None = None, wait: int = 2) -> bool:
    """One ICMP echo (busybox ping: the lab guest has no other) answered within wait seconds."""
    return (
        sh("busybox", "ping", "-c", "1", "-w", str(wait), addr, ns=ns, check=False).returncode == 0
    )


@contextlib.contextmanager
def veth_pair(mtu: int | None = None) -> Iterator[tuple[str, str]]:
    """A fresh veth pair (a, b), both up and quiet; deleted afterwards (if still there)."""
    subprocess.run(["modprobe", "veth"], check=True)
    a, b = unique("ptva"), unique("ptvb")
    sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
    try:
        for d in (a, b):
            quiet(d)
            if mtu:
                sh("ip", "link", "set", d, "mtu", str(mtu))
            sh("ip", "link", "set", d, "up")
        yield a, b
    finally:
        sh("ip", "link", "del", a, check=False)


@contextlib.contextmanager
def netns() -> Iterator[str]:
    """A fresh network namespace with lo up; deleted afterwards."""
    ns = unique("ptns")
    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "link", "set", "lo", "up", ns=ns)
        yield ns
    finally:
        sh("ip", "netns", "del", ns, check=False)


def move_to(dev: str, ns: str, addr: str | None = None) -> None:
    """Move dev into ns, quiet it, give it addr (CIDR), bring it up."""
    sh("ip", "link", "set", dev, "netns", ns)
    quiet(dev, ns)
    if addr:
        sh("ip", "addr", "add", addr, "dev", dev, ns=ns)
    sh("ip", "link", "set", dev, "up", ns=ns)


class RawSocket:
    """An AF_PACKET socket bound to a device, receiving every frame (or one ethertype)."""

    def __init__(self, dev: str, proto: int = ETH_P_ALL) -> None:
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(proto))
        self.s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE: hold bursts
        self.s.bind((dev, 0))
        self.dev = dev

    def send(self, frame: bytes) -> None:
        self.s.send(frame)

    def recv_test_frames(self, count: int, timeout: float = 10.0) -> list[bytes]:
        """Up to count frames of ETH_P_TEST, waiting at most timeout seconds of quiet."""
        return self.recv_frames(count, is_test_frame, timeout)

    def recv_frames(
        self, count: int, keep: Callable[[bytes], bool], timeout: float = 10.0
    ) -> list[bytes]:
        """Up to count received frames that keep() accepts, waiting at most timeout seconds
        of quiet."""
        out: list[bytes] = []
        self.s.settimeout(timeout)
        while len(out) < count:
            try:
                data, addr = self.s.recvfrom(65536)
            except TimeoutError:
                break
            if addr[2] == socket.PACKET_OUTGOING:
                continue
            if keep(data):
                out.append(data)
        return out

    def drain(self) -> None:
        self.s.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                self.s.recv(65536)
        self.s.setblocking(True)

    def close(self) -> None:
        self.s.close()

    def __enter__(self) -> "RawSocket":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def tframe(seq: int, length: int, dst: bytes = b"\xff" * 6, src: bytes = b"\x02" * 6) -> bytes:
    """A frame of ETH_P_TEST whose payload is unique to seq (every byte checkable)."""
    from nm import packets

    head = dst + src + struct.pack("!H", ETH_P_TEST)
    return head + packets.payload(seq, max(length - len(head), 0))


def is_test_frame(frame: bytes) -> bool:
    return len(frame) >= 14 and struct.unpack_from("!H", frame, 12)[0] == ETH_P_TEST


# ------------------------------------------------------------------------------------------------
# IPv4/UDP frames, for injecting into and reading from the host stack
# ------------------------------------------------------------------------------------------------


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp_frame(
    dst_mac: bytes, src_mac: bytes, src_ip: str, dst_ip: str, sport: int, dport: int, payload: bytes
) -> bytes:
    """An Ethernet/IPv4/UDP frame with a valid IP header checksum and no UDP checksum."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45, 0, 20 + len(udp), 1, 0, 64, socket.IPPROTO_UDP, 0,
        socket.inet_aton(src_ip), socket.inet_aton(dst_ip),
    )  # fmt: skip
    ip = ip[:10] + struct.pack("!H", _csum(ip)) + ip[12:]
    return dst_mac + src_mac + b"\x08\x00" + ip + udp


def udp_payload(frame: bytes) -> bytes | None:
    """The UDP payload of an Ethernet/IPv4/UDP frame, or None."""
    if len(frame) < 42 or frame[12:14] != b"\x08\x00" or frame[23] != socket.IPPROTO_UDP:
        return None
    ihl = (frame[14] & 0xF) * 4
    ulen = struct.unpack_from("!H", frame, 14 + ihl + 4)[0]
    return frame[14 + ihl + 8 : 14 + ihl + ulen]


# ------------------------------------------------------------------------------------------------
# tap devices
# ------------------------------------------------------------------------------------------------

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000


class Tap:
    """A tap device owned by this process: frames written to fd arrive on the device (the
    device receives them); frames the device transmits are read from fd."""

    def __init__(self) -> None:
        subprocess.run(["modprobe", "tun"], check=False, capture_output=True)
        self.name = unique("pttap")
        self.fd = os.open("/dev/net/tun", os.O_RDWR)
        ifr = struct.pack("16sH", self.name.encode(), IFF_TAP | IFF_NO_PI)
        fcntl.ioctl(self.fd, TUNSETIFF, ifr)
        quiet(self.name)
        sh("ip", "link", "set", self.name, "up")

    def write(self, frame: bytes) -> None:
        os.write(self.fd, frame)

    def read_test_frames(self, count: int, timeout: float = 10.0) -> list[bytes]:
        import select

        out: list[bytes] = []
        deadline = time.monotonic() + timeout
        while len(out) < count:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                break
            data = os.read(self.fd, 65536)
            if is_test_frame(data):
                out.append(data)
        return out

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # the device goes with its last descriptor
            self.fd = -1

    def __enter__(self) -> "Tap":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def virtio_nets() -> list[str]:
    """Devices driven by virtio_net in this guest."""
    out = []
    for d in Path("/sys/class/net").iterdir():
        drv = d / "device" / "driver"
        if drv.exists() and os.path.basename(os.readlink(drv)) == "virtio_net":
            out.append(d.name)
    return out
