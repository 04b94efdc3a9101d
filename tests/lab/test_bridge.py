"""The bridge tool: TCP between namespaces through NIC <-> host-stack and NIC <-> NIC links,
copy and zero-copy forwarding, clean exits, and bad command lines.

The tools must be built on the host first (ptnet build tools): the guest sees the cache read-only.
"""

import hashlib
import random
import signal
import subprocess
import sys
import time

import pytest
from nm import Port, packets, pktgen, transfer
from nm.netdev import ETH_P_TEST, RawSocket, move_to, netns, ping, sh, tframe, veth_pair

from ptnet.build.tools import tool_path

TCP_BYTES = 2 << 20


def _bridge(*args: str) -> subprocess.Popen:
    """Start bridge -v and return once it has bound its ports (it lists its links)."""
    return pktgen.started([str(tool_path("bridge")), "-v", *args], " > ")


def _stop(proc: subprocess.Popen, sig: int = signal.SIGINT) -> str:
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    return err


_SERVER = """
import hashlib, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 5001))
s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
h, n = hashlib.sha256(), 0
while True:
    b = c.recv(65536)
    if not b:
        break
    h.update(b)
    n += len(b)
c.sendall(f"{n} {h.hexdigest()}".encode())
c.close()
"""

_CLIENT = """
import socket, sys
data = bytes(range(256)) * (int(sys.argv[2]) // 256)
c = socket.create_connection((sys.argv[1], 5001), timeout=60)
c.sendall(data)
c.shutdown(socket.SHUT_WR)
print(c.recv(200).decode())
"""


def _tcp(server_ns: str | None, server_ip: str, client_ns: str | None) -> None:
    """Send TCP_BYTES from client_ns to server_ip in server_ns; the server checks them."""
    run = lambda ns: ["ip", "netns", "exec", ns] if ns else []  # noqa: E731
    srv = subprocess.Popen(
        [*run(server_ns), sys.executable, "-c", _SERVER, server_ip],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert srv.stdout is not None
        assert srv.stdout.readline().strip() == "listening"
        cli = subprocess.run(
            [*run(client_ns), sys.executable, "-c", _CLIENT, server_ip, str(TCP_BYTES)],
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert cli.returncode == 0, cli.stderr
        data = bytes(range(256)) * (TCP_BYTES // 256)
        assert cli.stdout.split() == [str(len(data)), hashlib.sha256(data).hexdigest()]
    finally:
        srv.kill()
        srv.wait()


@pytest.mark.timeout(200)
def test_tcp_through_nic_to_host_stack_bridge():
    """ns <-> root over a veth whose root end runs bridge netmap:X=netmap:X^."""
    with veth_pair() as (a, b), netns() as ns:
        sh("ip", "addr", "add", "10.250.4.1/24", "dev", a)
        move_to(b, ns, "10.250.4.2/24")
        assert ping("10.250.4.2")
        br = _bridge("-L", f"netmap:{a}=netmap:{a}^")
        try:
            _tcp(None, "10.250.4.1", ns)
            _tcp(ns, "10.250.4.2", None)
        finally:
            err = _stop(br)
        assert "(zero copy)" in err


@pytest.mark.timeout(200)
def test_tcp_between_two_namespaces_through_two_veths():
    """nsA - a0 == bridge == b0 - nsB: an L2 link made of two NIC ports."""
    with veth_pair() as (a0, a1), veth_pair() as (b0, b1), netns() as na, netns() as nb:
        move_to(a1, na, "10.250.5.1/24")
        move_to(b1, nb, "10.250.5.2/24")
        br = _bridge("-i", f"netmap:{a0}", "-i", f"netmap:{b0}")
        try:
            assert ping("10.250.5.2", ns=na, wait=5)
            _tcp(nb, "10.250.5.2", na)
        finally:
            _stop(br, signal.SIGTERM)


def test_one_interface_defaults_to_its_host_stack():
    with veth_pair() as (a, b), netns() as ns:
        sh("ip", "addr", "add", "10.250.6.1/24", "dev", a)
        move_to(b, ns, "10.250.6.2/24")
        br = _bridge("-i", f"netmap:{a}")
        try:
            assert ping("10.250.6.2", wait=5)
        finally:
            err = _stop(br)
        assert f"netmap:{a}^" in err


def test_copy_between_a_pipe_and_a_nic(pname):
    """Different memory regions: the bridge copies; one way only with '>'."""
    frames = [tframe(i, 60 + 13 * i) for i in range(100)]
    with veth_pair() as (a, b), Port.open(f"{pname}}}1") as s, RawSocket(b, ETH_P_TEST) as raw:
        br = _bridge("-L", f"netmap:{pname}{{1>netmap:{a}")
        try:
            sent = 0
            while sent < len(frames):
                sent += s.tx.put([[f] for f in frames], sent)
                s.txsync()
                time.sleep(0.01)
            assert raw.recv_test_frames(len(frames)) == frames
        finally:
            err = _stop(br)
        assert "(copy)" in err and "100 packets" in err


def test_zero_copy_between_two_pipes(pname):
    """Pipes of one parent share a region: buffers are swapped, bytes intact."""
    pkts = packets.single(random.Random(3), 3000, 60, 2048)
    with Port.open(f"{pname}}}1") as a, Port.open(f"{pname}}}2") as b:
        br = _bridge("-L", f"netmap:{pname}{{1=netmap:{pname}{{2")
        try:
            assert transfer(a, b, pkts) == pkts
            assert transfer(b, a, pkts[:100]) == pkts[:100]
        finally:
            err = _stop(br)
        assert "(zero copy)" in err


def test_several_links_in_one_spec(pname):
    with (
        Port.open(f"{pname}}}1") as a,
        Port.open(f"{pname}}}2") as b,
        Port.open(f"{pname}}}3") as c,
    ):
        br = _bridge(
            "-L", f"netmap:{pname}{{1>netmap:{pname}{{2; netmap:{pname}{{2>netmap:{pname}{{3"
        )
        try:
            pkts = [[b"x" * 60]] * 10
            assert transfer(a, b, pkts) == pkts
            assert transfer(b, c, pkts) == pkts
        finally:
            _stop(br)


def test_bridge_exits_when_the_device_goes():
    with veth_pair() as (a, _):
        br = _bridge("-i", f"netmap:{a}")
        sh("ip", "link", "del", a)
        _, err = br.communicate(timeout=20)
        assert br.returncode == 1
        assert "failed" in err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["-x"],
        ["-i"],
        ["-i", "netmap:a", "-i", "netmap:b", "-i", "netmap:c"],
        ["-i", "netmap:a", "-L", "netmap:a=netmap:b"],
        ["-L", "netmap:a"],
        ["-L", ";;"],
        ["-L", "netmap:a=netmap:b", "-L", "netmap:c=netmap:d"],
        ["-L", "=netmap:b"],
        ["-L", "netmap:a{{=netmap:b"],
        ["-L", ";".join(f"netmap:a{i}=netmap:b{i}" for i in range(17))],
        ["-i", "netmap:" + "a" * 300],
        ["-b", "0", "-i", "netmap:a"],
        ["-b", "x", "-i", "netmap:a"],
        ["-i", "netmap:a", "extra"],
    ],
)
def test_bad_input_exits_2_with_one_line(argv):
    r = subprocess.run([str(tool_path("bridge")), *argv], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("bridge: error: ")


def test_unknown_port_exits_1():
    r = subprocess.run(
        [str(tool_path("bridge")), "-i", "netmap:ptnosuch7"], capture_output=True, text=True
    )
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "ptnosuch7" in r.stderr


def test_help():
    r = subprocess.run([str(tool_path("bridge")), "-h"], capture_output=True, text=True)
    assert r.returncode == 0 and "-L LINKS" in r.stdout
