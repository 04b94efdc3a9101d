"""`ptnet lab`: run commands inside a throwaway VM that boots a Debian kernel with our modules."""

import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Run commands inside a lab VM (KVM when it works, TCG otherwise).", no_args_is_help=True
)


@app.command(context_settings={"allow_interspersed_args": False})
def run(
    command: Annotated[list[str] | None, typer.Argument(help="The command, after --.")] = None,
    kernel: Annotated[
        str | None, typer.Option(help="Cached kernel: release, 6.1, 6.12 or series.")
    ] = None,
    modules: Annotated[
        list[str] | None,
        typer.Option("--modules", "-m", help="Module to load: a name we build, or a .ko path."),
    ] = None,
    cpus: Annotated[int, typer.Option("--cpus", "--smp", help="Virtual CPUs.")] = 1,
    mem: Annotated[str, typer.Option(help="Memory: MiB, or with an M or G suffix.")] = "1024",
    timeout: Annotated[
        float, typer.Option(help="Seconds before the VM is killed (exit 124).")
    ] = 300,
    rw: Annotated[
        list[Path] | None,
        typer.Option(help="Host directory the guest may write (default: the current one)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the QEMU line and start nothing.")
    ] = False,
    nested_kvm: Annotated[
        bool,
        typer.Option(
            "--nested-kvm",
            help="Under TCG, offer SVM to the lab so that guests nested in it run under KVM "
            "(about ten times faster to boot); needs --cpus 1.",
        ),
    ] = False,
) -> None:
    """Boot the lab kernel, run COMMAND as root inside, and exit with its exit code."""
    from ptnet.lab import kernel as kernels
    from ptnet.lab import modules as mods
    from ptnet.lab import runner
    from ptnet.model.vm import parse_mem

    k = kernels.find(kernel)
    spec = runner.LabSpec(
        kernel=k,
        command=command or [],
        modules=[mods.resolve(k, m) for m in modules or []],
        smp=cpus,
        mem_mb=parse_mem(mem),
        timeout=timeout,
        rw_dirs=[d.resolve() for d in rw] if rw else [Path.cwd()],
        nested_kvm=nested_kvm,
    )
    if dry_run:
        print(runner.dry_run(spec))
        return
    result = runner.run(spec)
    if result.exit_code == runner.TIMEOUT_EXIT and result.boot_seconds is None:
        print(f"ptnet: lab command timed out; console: {result.console_log}", file=sys.stderr)
    raise typer.Exit(result.exit_code)
