"""`ptnet build`: the project's kernel modules, user-space tools, headers and QEMU."""

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Build the kernel modules, the user-space tools, the headers and QEMU.",
    no_args_is_help=True,
)


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


@app.command()
def tools() -> None:
    """Build the user-space tools (pkt-gen, vale-ctl, bridge, ...) into the cache; print paths."""
    from ptnet.build import tools as user_tools

    for path in user_tools.build_tools():
        print(path)


@app.command()
def headers(
    prefix: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="Install under DIR/include/net/. Default: the cache's build/headers.",
        ),
    ] = None,
) -> None:
    """Install the netmap user headers (for stock QEMU, netmap apps); print the include dir."""
    from ptnet.build import tools as user_tools

    print(user_tools.install_headers(prefix))


@app.command()
def qemu(
    patches: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="A directory with a series file and its patches. "
            "Default: $PTNET_QEMU_PATCHES or the checkout's qemu-patches/.",
        ),
    ] = None,
) -> None:
    """Fetch the pinned QEMU source, apply qemu-patches/series, build it; print the binary path."""
    from ptnet.build import qemu as qemu_build

    print(qemu_build.build(patches))
