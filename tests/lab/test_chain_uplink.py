"""A hop between hosts, one side of it, against the real module: the local host's steps of a
chain plan (ptnet/plan/chain.py setup_commands) make the hop's VXLAN devices and attach them to
the hops' VALE switches through the generic adapter; a frame from the ingress port leaves the
underlay VXLAN-encapsulated with the hop's VNI, to the peer's address, with its bytes intact; a
VXLAN packet from the peer with the return hop's VNI arrives at the egress port as it was sent;
and the teardown steps leave no device, switch or port behind.

The peer host is played by the far end of a veth pair (its address resolved statically): the
test reads and writes its frames with a raw socket, so only this host's side runs here."""

import select
import socket
import struct

from nm import Port
from nm.netdev import (
    RawSocket,
    is_test_frame,
    mac_of,
    sh,
    tframe,
    udp_frame,
    udp_payload,
    veth_pair,
)
from nm.vale import netdev_exists, recv, send, vale_ctl, vlist

from ptnet.model.chain import from_data
from ptnet.plan.chain import plan, setup_commands, teardown_commands

LOCAL_IP, PEER_IP = "192.0.2.1", "192.0.2.2"
VXLAN_FLAGS = 0x08000000  # the I flag: the VNI is valid


def _plan(underlay: str):
    return plan(
        from_data(
            {
                "name": "upl",
                "mtu": 1450,
                "vni": 4242,
                "hosts": {
                    "local": {"address": LOCAL_IP, "uplink": {"vxlan": underlay}},
                    "b": {
                        "uri": f"qemu+ssh://root@{PEER_IP}/system",
                        "uplink": {"vxlan": "eth0"},
                    },
                },
                "nfs": [{"role": "fw", "host": "b"}],
            }
        )
    )


def _run(steps: list[tuple[str, ...]]) -> None:
    for step in steps:
        if step[0] == "vale-ctl":
            proc = vale_ctl(*step[1:])
            assert proc.returncode == 0, (step, proc.stderr)
        else:
            sh(*step)


def _vxlan(frame: bytes) -> tuple[int, bytes] | None:
    """(VNI, inner frame) of a VXLAN packet to port 4789, or None."""
    if len(frame) < 42 or struct.unpack_from("!H", frame, 36)[0] != 4789:
        return None
    payload = udp_payload(frame)
    if payload is None or len(payload) < 8:
        return None
    flags, vni = struct.unpack_from("!II", payload)
    assert flags == VXLAN_FLAGS
    return vni >> 8, payload[8:]


def _carries_a_test_frame(frame: bytes) -> bool:
    inner = _vxlan(frame)
    return inner is not None and is_test_frame(inner[1])


def test_a_hop_between_hosts_over_vxlan_through_the_generic_adapter():
    sh("modprobe", "vxlan")
    with veth_pair() as (a, b):
        sh("ip", "addr", "add", f"{LOCAL_IP}/24", "dev", a)
        sh("ip", "neigh", "replace", PEER_IP, "lladdr", mac_of(b).hex(":"), "dev", a)
        p = _plan(a)
        out_hop, back_hop = p.hops
        (up_out, _), (_, up_back) = out_hop.uplinks, back_hop.uplinks
        assert (up_out.host, up_back.host) == ("local", "local")
        _run(setup_commands(p))
        try:
            for u in (up_out, up_back):
                assert netdev_exists(u.dev)
                assert u.attach in [n for _, _, n in vlist()]
            with (
                Port.open(str(p.ingress_port).removeprefix("netmap:")) as ing,
                Port.open(str(p.egress_port).removeprefix("netmap:")) as egr,
                RawSocket(b) as wire,
            ):
                # ingress -> the VXLAN device of hop 0 -> the underlay, to the peer
                sent = [tframe(k, 60 + 37 * k) for k in range(20)]
                send(ing, sent)
                got = wire.recv_frames(len(sent), _carries_a_test_frame)
                assert [f[30:34] for f in got] == [socket.inet_aton(PEER_IP)] * len(sent)
                assert [_vxlan(f) for f in got] == [(up_out.vni, f) for f in sent]
                # the peer's VXLAN packets of hop 1 -> its VXLAN device here -> egress
                back = [
                    tframe(100 + k, 60 + 41 * k, dst=b"\x02\x00\x00\x00\x00\x09") for k in range(20)
                ]
                for f in back:
                    head = struct.pack("!II", VXLAN_FLAGS, (up_back.vni or 0) << 8)
                    wire.send(
                        udp_frame(mac_of(a), mac_of(b), PEER_IP, LOCAL_IP, 40000, 4789, head + f)
                    )
                received: list[bytes] = []
                for _ in range(100):
                    received += [f for f in recv(egr) if is_test_frame(f)]
                    if len(received) >= len(back):
                        break
                    egr.poll(select.POLLIN, 50)
                assert received == back
        finally:
            _run(teardown_commands(p))
        for u in (up_out, up_back):
            assert not netdev_exists(u.dev)
        assert not [n for _, _, n in vlist() if n.startswith(tuple(p.switches))]
