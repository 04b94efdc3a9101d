"""`ptnet doctor`: is this machine ready for ptnet?"""

import json

import typer

from ptnet.cli.output import Format, FormatChoice, emit_table


def doctor(fmt: Format = FormatChoice.table) -> None:
    """Check QEMU, KVM, the kernel cache, toolchains, libvirtd and /dev/netmap.

    Exits 1 when a required piece is missing.
    """
    from ptnet.doctor import run_checks

    checks = run_checks()
    if fmt is FormatChoice.json:
        print(json.dumps([{**c.__dict__, "status": c.status} for c in checks], indent=2))
    else:
        emit_table(
            [{**c.__dict__, "status": c.status} for c in checks], ["name", "status", "detail"]
        )
    if any(c.required and not c.ok for c in checks):
        raise typer.Exit(1)
