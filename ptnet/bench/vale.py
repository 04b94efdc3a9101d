"""`ptnet bench vale`: VALE and the generic (NIC) adapter against the user-space limit and the
AF_PACKET baseline.

    vale_poll  pkt-gen tx on vale0:a -> pkt-gen rx on vale0:b (one switch, copies), one poll()
               per batch on each side (pkt-gen's default loop)
    vale_busy  the same with --busy-wait: NIOCTXSYNC/NIOCRXSYNC in a loop, no poll()
    generic    pkt-gen tx on netmap:ptv0 (a veth)   ->  pkt-gen rx on netmap:ptv1 (its peer)
    limit      ring-limit: slots exchanged through a netmap-shaped ring in user space, no system
               call (the machine's limit for any ring-to-ring path)
    afpacket   afpacket-gen tx on a veth end        ->  afpacket-gen rx on its peer

All count delivered packets, 60-byte frames, in one lab boot with two CPUs. With --baseline REF
the netmap scenarios run again with netmap.ko built from REF (vale_poll_baseline, ...).
"""

from ptnet.bench import traffic

VALE_TX, VALE_RX = "vale0:a", "vale0:b"
GENERIC = ("ptv0", "ptv1")  # veth pair driven through netmap's generic adapter
AFPACKET = ("ptb0", "ptb1")  # veth pair for the baseline


def plan(runs: int, seconds: float) -> traffic.Plan:
    from ptnet.build.tools import tool_path

    pkt_gen, afpacket = tool_path("pkt-gen"), tool_path("afpacket-gen")
    gen_tx, gen_rx = (f"netmap:{dev}" for dev in GENERIC)
    generic = traffic.gen_pair(pkt_gen, gen_tx, gen_rx, seconds)
    return traffic.Plan(
        bench="vale",
        setup=traffic.veth_setup(*GENERIC) + traffic.veth_setup(*AFPACKET)[1:],
        scenarios=[
            *traffic.netmap_pair("vale", pkt_gen, VALE_TX, VALE_RX, seconds),
            traffic.Scenario("generic", *generic, netmap=True),
            traffic.limit(tool_path("ring-limit"), seconds),
            traffic.Scenario("afpacket", *traffic.gen_pair(afpacket, *AFPACKET, seconds)),
        ],
        ratios={
            "vale_poll/limit": ("vale_poll", "limit"),
            "vale_busy/limit": ("vale_busy", "limit"),
            "vale_poll/afpacket": ("vale_poll", "afpacket"),
            "vale_busy/afpacket": ("vale_busy", "afpacket"),
            "generic/afpacket": ("generic", "afpacket"),
        },
        runs=runs,
        seconds=seconds,
    )
