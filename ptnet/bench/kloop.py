"""`ptnet bench kloop`: a pipe driven through the CSB by the sync kloop, against ioctl syncs.

    kloop        nm-kloop-test tx on netmap:pipeK{1 (CSB, eventfd kicks)  ->  pkt-gen rx on pipeK}1
    kloop_sleep  the same with the kloop polling every 50 us (QEMU's fallback without KVM)
    ioctl        pkt-gen tx on netmap:pipeK{1 (NIOCTXSYNC)                ->  pkt-gen rx on pipeK}1

All three count delivered packets, 60-byte frames, in one lab boot with two CPUs: the kloop's
own thread and the sender share the first CPU, the receiver has the second.
"""

from ptnet.bench import traffic

PIPE_TX, PIPE_RX = "netmap:pipeK{1", "netmap:pipeK}1"
SLEEP_US = 50


def plan(runs: int, seconds: float) -> traffic.Plan:
    from ptnet.build.tools import tool_path

    pkt_gen, kloop = tool_path("pkt-gen"), tool_path("nm-kloop-test")
    _, rx = traffic.gen_pair(pkt_gen, PIPE_TX, PIPE_RX, seconds)

    def via_kloop(*mode: str) -> list[str]:
        return traffic.gen_pair(kloop, PIPE_TX, None, seconds, extra=mode)[0]

    return traffic.Plan(
        bench="kloop",
        scenarios=[
            traffic.Scenario("kloop", via_kloop("--mode", "eventfd"), rx),
            traffic.Scenario(
                "kloop_sleep", via_kloop("--mode", "sleep", "--sleep-us", str(SLEEP_US)), rx
            ),
            traffic.Scenario("ioctl", *traffic.gen_pair(pkt_gen, PIPE_TX, PIPE_RX, seconds)),
        ],
        ratios={"kloop/ioctl": ("kloop", "ioctl"), "kloop_sleep/ioctl": ("kloop_sleep", "ioctl")},
        runs=runs,
        seconds=seconds,
    )
