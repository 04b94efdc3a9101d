"""`ptnet build`: the project's kernel modules (later QEMU and the tools)."""

from typing import Annotated

import typer

app = typer.Typer(help="Build the kernel modules for the lab's kernels.", no_args_is_help=True)


@app.command()
def modules(
    kernel_spec: Annotated[
        str | None,
        typer.Option(
            "--kernel",
            metavar="VER",
            help="A cached kernel: its release, 6.1, 6.12 or a series name. Default: bookworm.",
        ),
    ] = None,
) -> None:
    """Build kernel/ out of tree against a cached kernel's headers; print the .ko paths."""
    from ptnet.build import kbuild
    from ptnet.lab import kernel

    for ko in kbuild.build_modules(kernel.find(kernel_spec)):
        print(ko)
