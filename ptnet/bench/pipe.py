"""`ptnet bench pipe`: netmap pipe throughput against the user-space limit and the AF_PACKET
baseline, in one lab boot.

    pipe_poll          pkt-gen tx on netmap:pipeB{1 -> pkt-gen rx on netmap:pipeB}1, one poll()
                       per batch on each side (pkt-gen's default loop)
    pipe_busy          the same with --busy-wait: NIOCTXSYNC/NIOCRXSYNC in a loop, no poll()
    limit              ring-limit: the same exchange of slots through a netmap-shaped ring in user
                       space, two threads on the same two CPUs, no system call
    afpacket           afpacket-gen tx on a veth end  ->  afpacket-gen rx on its peer
    afpacket_sendonly  afpacket-gen tx on a veth end, nobody reading (the sender's own rate)

pipe_*/limit says how close the kernel path is to what the machine allows. The AF_PACKET ratios
compare delivered packets with delivered packets; the sender-only AF_PACKET rate is reported too,
because that is what published AF_PACKET figures usually measure. With --baseline REF the pipe
scenarios run again with netmap.ko built from REF (pipe_poll_baseline, ...).
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
            *traffic.netmap_pair("pipe", pkt_gen, PIPE_TX, PIPE_RX, seconds),
            traffic.limit(tool_path("ring-limit"), seconds),
            traffic.Scenario("afpacket", *traffic.gen_pair(afpacket, *VETH, seconds)),
            traffic.Scenario(
                "afpacket_sendonly",
                *traffic.gen_pair(afpacket, VETH[0], None, seconds),
                measured="tx",
            ),
        ],
        ratios={
            "pipe_poll/limit": ("pipe_poll", "limit"),
            "pipe_busy/limit": ("pipe_busy", "limit"),
            "pipe_poll/afpacket": ("pipe_poll", "afpacket"),
            "pipe_busy/afpacket": ("pipe_busy", "afpacket"),
            "pipe_poll/afpacket_sendonly": ("pipe_poll", "afpacket_sendonly"),
        },
        runs=runs,
        seconds=seconds,
    )
