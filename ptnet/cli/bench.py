"""`ptnet bench`: benchmarks that print one JSON object on stdout (progress on stderr)."""

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Benchmarks; each prints one JSON object on stdout.", no_args_is_help=True)

KernelOpt = Annotated[str | None, typer.Option(help="Cached kernel: release, 6.1, 6.12 or series.")]
OutputOpt = Annotated[Path | None, typer.Option(help="Also write the JSON to this file.")]


@app.command()
def lab(
    kernel: KernelOpt = None,
    boots: Annotated[int, typer.Option(min=1, help="How many boots.")] = 10,
    output: OutputOpt = None,
) -> None:
    """Boot the lab BOOTS times; report the median time from QEMU start to the command."""
    from ptnet.bench import harness
    from ptnet.bench import lab as lab_bench
    from ptnet.lab import kernel as kernels

    harness.emit(lab_bench.run(kernels.find(kernel), boots), output)


RunsOpt = Annotated[int, typer.Option(min=3, help="Runs per scenario (at least 3).")]
SecondsOpt = Annotated[float, typer.Option(min=0.5, help="Seconds of traffic per run.")]


BaselineOpt = Annotated[
    str | None,
    typer.Option(
        metavar="REF",
        help="Also run the netmap scenarios with netmap.ko built from this git ref (a commit,"
        " say), in the same boot, and report the ratio of each to its baseline.",
    ),
]


def _run_traffic(
    bench: str, kernel: str | None, runs: int, seconds: float, output: Path | None,
    baseline: str | None = None,
) -> None:  # fmt: skip
    import importlib

    from ptnet.bench import baseline as base
    from ptnet.bench import harness, traffic
    from ptnet.lab import kernel as kernels

    if baseline is not None:  # bad input fails before anything is built
        base.source(baseline, base.resolve(baseline))
    plan = importlib.import_module(f"ptnet.bench.{bench}").plan(runs, seconds)
    harness.emit(traffic.run_netmap(kernels.find(kernel), plan, baseline), output)


def _traffic_command(bench: str, doc: str) -> None:
    """Register `ptnet bench BENCH`: the plan of ptnet.bench.BENCH run in one lab boot."""

    def command(
        kernel: KernelOpt = None,
        runs: RunsOpt = 3,
        seconds: SecondsOpt = 3.0,
        output: OutputOpt = None,
    ) -> None:
        _run_traffic(bench, kernel, runs, seconds, output)

    app.command(bench, help=doc)(command)


def _netmap_command(bench: str, doc: str) -> None:
    """Register `ptnet bench BENCH` with --baseline: pipe and vale, whose netmap scenarios run
    with pkt-gen's two loop styles beside the user-space limit."""

    def command(
        kernel: KernelOpt = None,
        runs: RunsOpt = 3,
        seconds: SecondsOpt = 3.0,
        output: OutputOpt = None,
        baseline: BaselineOpt = None,
    ) -> None:
        _run_traffic(bench, kernel, runs, seconds, output, baseline)

    app.command(bench, help=doc)(command)


_netmap_command(
    "pipe",
    "netmap pipe (poll and busy-wait loops) against the user-space limit and AF_PACKET on veth:"
    " 60-byte frames, one lab boot with 2 CPUs.",
)
_netmap_command(
    "vale",
    "VALE port to port (poll and busy-wait loops) and the generic adapter on veth, against the"
    " user-space limit and AF_PACKET: one lab boot.",
)
_traffic_command(
    "kloop", "A pipe driven through the CSB by the sync kloop, against ioctl syncs: one lab boot."
)
_traffic_command(
    "passthrough",
    "Frames into a nested guest over ptnet-pci, against virtio-net on a tap (needs ptnet build"
    " qemu).",
)


@app.command()
def vm(
    boots: Annotated[int, typer.Option(min=1, help="How many up/down cycles.")] = 3,
    helps: Annotated[int, typer.Option(min=1, help="How many `ptnet --help` runs.")] = 10,
    backend: Annotated[str, typer.Option(help="qemu or libvirt.")] = "qemu",
    output: OutputOpt = None,
) -> None:
    """`ptnet vm up` to a ready guest (SSH answering) and `ptnet --help` latency (< 200 ms)."""
    from ptnet.bench import harness
    from ptnet.bench import vm as vm_bench

    harness.emit(vm_bench.run(boots, helps, backend), output)
