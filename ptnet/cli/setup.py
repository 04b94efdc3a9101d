"""`ptnet setup`: prepare this machine for the lab, idempotently."""

from typing import Annotated

import typer


def setup(
    series: Annotated[
        list[str] | None,
        typer.Option(help="Kernel series to fetch (repeatable). Default: every supported one."),
    ] = None,
) -> None:
    """Install missing Debian packages, give libvirtd its user and log directory, fetch the
    lab kernels with their headers, and the sshd that a lab pair's remote host runs."""
    from ptnet import host, prereqs
    from ptnet.lab import kernel, pair

    chosen = [kernel.check_series(s) for s in series] if series else list(kernel.SERIES)
    installed = prereqs.install()
    host.log(f"packages: {'installed ' + ' '.join(installed) if installed else 'all present'}")
    for s in chosen:
        print(kernel.fetch(s).release)
    host.log(f"lab pair sshd: {pair.fetch_sshd()}")
