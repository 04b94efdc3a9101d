"""`ptnet bench vale`: VALE and the generic (NIC) adapter against the AF_PACKET baseline.

    vale      pkt-gen tx on vale0:a                ->  pkt-gen rx on vale0:b (one switch, copies)
    generic   pkt-gen tx on netmap:ptv0 (a veth)   ->  pkt-gen rx on netmap:ptv1 (its peer)
    afpacket  afpacket-gen tx on a veth end        ->  afpacket-gen rx on its peer

All three count delivered packets, 60-byte frames, in one lab boot with two CPUs.
"""

from ptnet.bench import traffic

VALE_TX, VALE_RX = "vale0:a", "vale0:b"
GENERIC = ("ptv0", "ptv1")  # veth pair driven through netmap's generic adapter
AFPACKET = ("ptb0", "ptb1")  # veth pair for the baseline


def plan(runs: int, seconds: float) -> traffic.Plan:
    from ptnet.build.tools import tool_path

    pkt_gen, afpacket = tool_path("pkt-gen"), tool_path("afpacket-gen")
    gen_tx, gen_rx = (f"netmap:{dev}" for dev in GENERIC)
    return traffic.Plan(
        bench="vale",
        setup=traffic.veth_setup(*GENERIC) + traffic.veth_setup(*AFPACKET)[1:],
        scenarios=[
            traffic.Scenario("vale", *traffic.gen_pair(pkt_gen, VALE_TX, VALE_RX, seconds)),
            traffic.Scenario("generic", *traffic.gen_pair(pkt_gen, gen_tx, gen_rx, seconds)),
            traffic.Scenario("afpacket", *traffic.gen_pair(afpacket, *AFPACKET, seconds)),
        ],
        ratios={"vale/afpacket": ("vale", "afpacket"), "generic/afpacket": ("generic", "afpacket")},
        runs=runs,
        seconds=seconds,
    )
