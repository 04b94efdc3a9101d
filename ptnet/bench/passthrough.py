"""`ptnet bench passthrough`: frames into a nested guest over ptnet, against virtio-net on a tap.

    ptnet   pkt-gen tx on vale0:1 (lab)   ->  pkt-gen rx on netmap:IF in a nested guest whose
                                              ptnet-pci NIC is vale0:2 passed through
    virtio  pkt-gen tx on netmap:ptt0     ->  pkt-gen rx on netmap:IF in a nested guest whose
            (the lab's tap, generic)          NIC is an emulated virtio-net-pci on that tap

The lab VM is the host: it runs our patched QEMU (`ptnet build qemu`) under TCG for both nested
guests, which boot once and stay up while the runs interleave. Both receivers are the same
pkt-gen on the same guest kernel; only the NIC differs. 60-byte frames, delivered packets.
"""

from ptnet.bench import traffic

PT_TX, PT_RX = "vale0:1", "vale0:2"
TAP = "ptt0"
RX_IDLE_S = 2.0  # TCG inside TCG: a guest can stall for a while without the flow having ended
NESTED_BOOTS_S = 1200.0  # two nested guests booting side by side in a TCG lab


def plan(runs: int, seconds: float) -> traffic.Plan:
    from ptnet.build import qemu
    from ptnet.build.tools import tool_path

    qemu.binary_path()  # a clear error (exit 2) before the lab boots when QEMU is not built
    pkt_gen = tool_path("pkt-gen")
    # The receiver runs in the nested guest: pkt-gen is in its /bin, with one CPU.
    rx = ["pkt-gen", "-i", "netmap:$IF", "-f", "rx", "--idle", f"{RX_IDLE_S:g}", "--json"]

    def tx(port: str) -> list[str]:
        return traffic.gen_pair(pkt_gen, port, None, seconds)[0]

    return traffic.Plan(
        bench="passthrough",
        setup=[
            ["modprobe", "tun"],
            ["ip", "tuntap", "add", "dev", TAP, "mode", "tap"],
            ["ip", "link", "set", TAP, "up"],
        ],
        scenarios=[
            traffic.Scenario(
                "ptnet",
                tx(PT_TX),
                rx,
                nested_nic=[
                    "-netdev",
                    f"netmap,id=n0,ifname={PT_RX},passthrough=on",
                    "-device",
                    "ptnet-pci,netdev=n0",
                ],  # fmt: skip
            ),
            traffic.Scenario(
                "virtio",
                tx(f"netmap:{TAP}"),
                rx,
                nested_nic=[
                    "-netdev",
                    f"tap,id=n0,ifname={TAP},script=no,downscript=no",
                    "-device",
                    "virtio-net-pci,netdev=n0",
                ],  # fmt: skip
            ),
        ],
        ratios={"ptnet/virtio": ("ptnet", "virtio")},
        runs=runs,
        seconds=seconds,
        boot_budget_s=NESTED_BOOTS_S,
    )
