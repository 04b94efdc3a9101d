"""`ptnet host`: netmap.ko (through DKMS), /dev/netmap and our QEMU on this machine."""

import json
from typing import Annotated

import typer

from ptnet.cli.output import Format, FormatChoice, emit_table

app = typer.Typer(
    help="Install ptnet on this machine: netmap.ko through DKMS, /dev/netmap, our QEMU.",
    no_args_is_help=True,
)


@app.command()
def install(
    params: Annotated[
        list[str] | None,
        typer.Option(
            "--param", metavar="NAME=VALUE", help="A netmap.ko parameter, kept across boots."
        ),
    ] = None,
    group: Annotated[
        str | None,
        typer.Option(help="Give /dev/netmap to this group, mode 0660 (dev_gid, dev_mode)."),
    ] = None,
    qemu: Annotated[
        bool, typer.Option("--qemu/--no-qemu", help="Install our QEMU in /opt/ptnet/qemu.")
    ] = True,
) -> None:
    """Build netmap.ko and the guest driver for the running kernel through DKMS, load netmap.ko
    with its parameters (/etc/modprobe.d/ptnet.conf), install the udev rule for /dev/netmap and
    our QEMU. Run as root, or with sudo available. Exits 2 where it cannot (no headers, Secure
    Boot with an unenrolled DKMS key, an unsupported kernel, the module in use)."""
    from ptnet.install import modconf, steps

    load = modconf.parse(params or [], group, modconf.module_params())
    steps.install(steps.InstallOptions(load=load, qemu=qemu))


@app.command()
def status(fmt: Format = FormatChoice.table) -> None:
    """The module loaded against the one built, DKMS, /dev/netmap, QEMU, KVM and libvirtd."""
    from ptnet.install.status import all_checks

    rows = [{**c.__dict__, "status": c.status} for c in all_checks()]
    if fmt is FormatChoice.json:
        print(json.dumps(rows, indent=2))
    else:
        emit_table(rows, ["name", "status", "detail"])


@app.command()
def uninstall(
    force: Annotated[
        bool, typer.Option("--force", help="Stop the processes that hold /dev/netmap first.")
    ] = False,
) -> None:
    """Unload netmap.ko, remove the DKMS package, the configuration, the udev rule and
    /opt/ptnet. Refuses (exit 2) while processes hold /dev/netmap, naming them."""
    from ptnet.install import steps

    steps.uninstall(force)
