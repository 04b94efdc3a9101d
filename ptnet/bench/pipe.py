"""`ptnet bench pipe`: netmap pipe throughput against the AF_PACKET baseline, in one lab boot.

    pipe               pkt-gen tx on netmap:pipeB{1   ->  pkt-gen rx on netmap:pipeB}1
    afpacket           afpacket-gen tx on a veth end  ->  afpacket-gen rx on its peer
    afpacket_sendonly  afpacket-gen tx on a veth end, nobody reading (the sender's own rate)

The headline ratio compares delivered packets with delivered packets (pipe/afpacket). The
sender-only AF_PACKET rate is reported too, because that is what published AF_PACKET figures
usually measure, and pipe/afpacket_sendonly is the stricter comparison.
"""

from ptnet.bench import traffic

PIPE_TX, PIPE_RX = "netmap:pipeB{1", "netmap:pipeB}1"
VETH = ("ptb0", "ptb1")  # tx end, rx end


def plan(runs: int, seconds: float) -> traffic.Plan:
    from ptnet.build.tools import tool_path

    pkt_gen, afpacket = tool_path("pkt-gen"), tool_path("afpacket-gen")
    return traffic.Plan(
        bench="pipe",
        setup=traffic.veth_setup(*VETH),
        scenarios=[
            traffic.Scenario("pipe", *traffic.gen_pair(pkt_gen, PIPE_TX, PIPE_RX, seconds)),
            traffic.Scenario("afpacket", *traffic.gen_pair(afpacket, *VETH, seconds)),
            traffic.Scenario(
                "afpacket_sendonly",
                *traffic.gen_pair(afpacket, VETH[0], None, seconds),
                measured="tx",
            ),
        ],
        ratios={
            "pipe/afpacket": ("pipe", "afpacket"),
            "pipe/afpacket_sendonly": ("pipe", "afpacket_sendonly"),
        },
        runs=runs,
        seconds=seconds,
    )
