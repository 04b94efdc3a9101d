"""`ptnet port`: netmap port specs (the names `ptnet vm --port` and netmap programs take)."""

import json
from typing import Annotated

import typer

from ptnet.cli.output import Format, FormatChoice, emit_table
from ptnet.model.vm import PortMode

app = typer.Typer(help="Check netmap port specs.", no_args_is_help=True)


@app.command()
def check(
    specs: Annotated[list[str], typer.Argument(help="Port specs, e.g. vale1:10 netmap:eth0-1.")],
    mode: Annotated[
        PortMode | None,
        typer.Option(help="Also check that a VM can use each port in this mode."),
    ] = None,
    fmt: Format = FormatChoice.table,
) -> None:
    """Parse each SPEC and print its canonical form and decoded fields (exit 2 on a bad one)."""
    from ptnet.model.ports import parse_port
    from ptnet.plan.ports import check_port_for_mode

    ports = [parse_port(s) for s in specs]
    if mode is not None:
        for p in ports:
            check_port_for_mode(p, mode)
    rows = [{"input": s, **p.to_dict()} for s, p in zip(specs, ports, strict=True)]
    if fmt is FormatChoice.json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        r["flags"] = ",".join(r["flags"])
        r["conf"] = ",".join(f"{k}={v}" for k, v in r["conf"].items())
        r["rings"] = r["rings"] if r["ring"] is None else f"{r['rings']} {r['ring']}"
        if r["pipe_end"] is not None:
            r["pipe"] = f"{r['pipe_end']} {r['pipe_id']}"
        for k, v in r.items():
            r[k] = "" if v is None else v
    emit_table(rows, ["spec", "kind", "nr_name", "pipe", "rings", "flags", "mem_id", "conf"])
