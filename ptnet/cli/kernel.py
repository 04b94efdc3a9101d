"""`ptnet kernel`: Debian kernels for the lab."""

import json
from typing import Annotated

import typer

from ptnet.cli.output import Format, FormatChoice, emit_table

app = typer.Typer(help="Fetch and list the Debian kernels the lab boots.", no_args_is_help=True)


@app.command()
def fetch(
    series: Annotated[
        str,
        typer.Option(
            help="Debian suite: bookworm (6.1), bookworm-backports (6.12) "
            "or trixie-backports (7.x)."
        ),
    ] = "bookworm",
    no_headers: Annotated[
        bool, typer.Option("--no-headers", help="Do not install the matching linux-headers.")
    ] = False,
) -> None:
    """Resolve the current kernel ABI from the metapackage and extract it into the cache."""
    from ptnet.lab import kernel

    k = kernel.fetch(kernel.check_series(series), headers=not no_headers)
    print(k.release)


@app.command("list")
def list_(fmt: Format = FormatChoice.table) -> None:
    """Show the cached kernels."""
    from ptnet.lab import kernel

    rows = [
        {
            "release": k.release,
            "version": k.version,
            "series": k.series,
            "headers": "yes" if k.headers_installed else "no",
            "path": str(k.dir),
        }
        for k in kernel.cached()
    ]
    if fmt is FormatChoice.json:
        print(json.dumps(rows, indent=2))
    else:
        emit_table(rows, ["release", "version", "series", "headers", "path"])
