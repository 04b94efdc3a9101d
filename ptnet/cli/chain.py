"""`ptnet chain`: NFV chains of VMs, each a network function, wired by trust with netmap pipes
(zero-copy, between trusted NFs) and VALE switches (a copy, where one side is untrusted)."""

import enum
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ptnet.model.vm import BackendName

if TYPE_CHECKING:
    from ptnet.model.chain import ChainSpec

app = typer.Typer(
    help="NFV chains of VMs wired with netmap pipes and VALE switches.", no_args_is_help=True
)


class PlanFormat(enum.StrEnum):
    text = "text"
    json = "json"


class GraphFormat(enum.StrEnum):
    mermaid = "mermaid"
    dot = "dot"
    svg = "svg"


Chain = Annotated[
    str | None,
    typer.Argument(
        metavar="ROLES",
        help="The NFs' roles in order, each ROLE or ROLE:untrusted: fw,ids:untrusted,nat.",
        show_default=False,
    ),
]
File = Annotated[
    Path | None,
    typer.Option(
        "--file", "-f", metavar="FILE", help="A chain file (YAML; see ptnet chain schema)."
    ),
]
Name = Annotated[
    str | None,
    typer.Option("--name", help="The chain's name (default: from the file, or the roles)."),
]
Ingress = Annotated[
    str | None,
    typer.Option("--ingress", metavar="END", help="host (a host port), or netmap:IFNAME (a NIC)."),
]
Egress = Annotated[
    str | None,
    typer.Option("--egress", metavar="END", help="host (a host port), or netmap:IFNAME (a NIC)."),
]
Backend = Annotated[BackendName | None, typer.Option("--backend", help="Who runs every NF's QEMU.")]


def spec_from(
    chain: str | None,
    file: Path | None,
    *,
    name: str | None = None,
    ingress: str | None = None,
    egress: str | None = None,
    backend: BackendName | None = None,
) -> "ChainSpec":
    """The chain the command line asks for: the roles' shorthand, or -f FILE."""
    from ptnet.errors import UsageError
    from ptnet.model.chain import load_file, parse_shorthand

    overrides = {
        "name": name,
        "ingress": ingress,
        "egress": egress,
        "backend": None if backend is None else backend.value,
    }
    if chain is None and file is None:
        raise UsageError("give the roles (fw,ids,nat) or -f FILE")
    if chain is not None and file is not None:
        raise UsageError(f"give the roles ({chain}) or -f FILE, not both")
    if file is not None:
        return load_file(file, **overrides)
    assert chain is not None
    return parse_shorthand(chain, **overrides)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the chain file, for editors and CI."""
    from ptnet.model.chain import json_schema

    print(json.dumps(json_schema(), indent=2))


@app.command()
def graph(
    chain: Chain = None,
    file: File = None,
    fmt: Annotated[
        GraphFormat,
        typer.Option("--format", help="mermaid (GitHub Markdown), dot, or svg (via Graphviz)."),
    ] = GraphFormat.mermaid,
    name: Name = None,
    ingress: Ingress = None,
    egress: Egress = None,
) -> None:
    """Draw a chain: NFs coloured by trust, hops labelled pipe or VALE."""
    from ptnet.plan import chain as chain_plan
    from ptnet.plan import chain_graph

    spec = spec_from(chain, file, name=name, ingress=ingress, egress=egress)
    sys.stdout.write(chain_graph.RENDERERS[fmt.value](chain_plan.plan(spec)))


@app.command()
def create(
    chain: Chain = None,
    file: File = None,
    name: Name = None,
    ingress: Ingress = None,
    egress: Egress = None,
    backend: Backend = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Print the plan (hops, regions, each VM's QEMU line or XML) only."
        ),
    ] = False,
    fmt: Annotated[
        PlanFormat, typer.Option("--format", help="text for people, json for programs.")
    ] = PlanFormat.text,
) -> None:
    """Create the chain: its pipes, switches and NF VMs (--dry-run: print the plan)."""
    from ptnet.plan import chain as chain_plan

    spec = spec_from(chain, file, name=name, ingress=ingress, egress=egress, backend=backend)
    planned = chain_plan.plan(spec)
    if not dry_run:
        if planned.spread:  # every remote host is ready before anything starts anywhere
            from ptnet.chain.hosts import preflight

            preflight(planned)
        from ptnet.chain import lifecycle

        record = lifecycle.create(planned)
        _print_status(
            lifecycle.status(record), ListFormat(fmt.value if fmt.value == "json" else "table")
        )
        return
    vms = chain_plan.dry_run_vms(planned)
    if fmt is PlanFormat.json:
        sys.stdout.write(chain_plan.to_json(planned, vms))
    else:
        sys.stdout.write(chain_plan.render_text(planned, vms))


class ListFormat(enum.StrEnum):
    table = "table"
    json = "json"


Fmt = Annotated[ListFormat, typer.Option("--format", help="table for people, json for programs.")]
ChainName = Annotated[str, typer.Argument(metavar="NAME", help="The chain's name.")]
NF_COLUMNS = ("name", "role", "trust", "host", "vm", "state", "ports", "rx", "tx", "drop")


def _counters(stats: dict[str, object] | None) -> dict[str, str]:
    """rx, tx and drop of an NF's two ports, as in/out."""
    ports = (stats or {}).get("ports") if isinstance(stats, dict) else None
    if not isinstance(ports, dict):
        return {"rx": "-", "tx": "-", "drop": "-"}
    out = {}
    for k in ("rx", "tx", "drop"):
        out[k] = "/".join(str((ports.get(side) or {}).get(k, "-")) for side in ("in", "out"))
    return out


def _print_status(status: dict[str, object], fmt: ListFormat) -> None:
    from ptnet.cli.output import emit_table
    from ptnet.model.chain_hosts import LOCAL

    if fmt is ListFormat.json:
        print(json.dumps(status, indent=2))
        return
    print(f"chain {status['name']}: {status['state']}")
    print(f"ingress: {status['ingress_port'] or '-'}   egress: {status['egress_port'] or '-'}")
    hops = status.get("hops") or []
    assert isinstance(hops, list)
    for h in hops:
        link = h["kind"] if h["kind"] == "pipe" else f"vale {h.get('switch')}"
        ends = [h["left"], h["right"]]
        if h.get("left_host", LOCAL) != h.get("right_host", LOCAL):
            ends = [f"{h['left']}@{h['left_host']}", f"{h['right']}@{h['right_host']}"]
        print(f"  hop {h['index']}: {ends[0]} -> {ends[1]}  {link}")
    nfs = status.get("nfs") or []
    assert isinstance(nfs, list)
    rows = [{**n, "ports": " ".join(n["ports"]), **_counters(n.get("stats"))} for n in nfs]
    emit_table(rows, NF_COLUMNS)


@app.command()
def destroy(
    name: Annotated[str | None, typer.Argument(metavar="NAME", help="The chain's name.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Destroy every chain.")] = False,
) -> None:
    """Take a chain down: its VMs, pipes, switches, persistent ports and files."""
    from ptnet.chain import lifecycle
    from ptnet.errors import UsageError

    if every == (name is not None):
        raise UsageError("give a chain NAME or --all")
    if every:
        lifecycle.destroy_all()
        return
    assert name is not None
    if not lifecycle.destroy(name):
        raise UsageError(f"no chain named {name!r}; see: ptnet chain list")


@app.command("list")
def list_(fmt: Fmt = ListFormat.table) -> None:
    """The chains: each with its NFs and state."""
    from ptnet.chain import lifecycle
    from ptnet.cli.output import emit_table

    rows = lifecycle.listing()
    if fmt is ListFormat.json:
        print(json.dumps(rows, indent=2))
        return
    table = [
        {
            "name": r["name"],
            "state": r["state"],
            "nfs": ",".join(
                f"{n['role']}{'' if n['trust'] == 'trusted' else ':untrusted'}" for n in r["nfs"]
            )
            or "-",
            "links": " ".join(h["kind"] for h in r.get("hops", [])) or "-",
            "vms": " ".join(r.get("vms", [])) or "-",
        }
        for r in rows
    ]
    emit_table(table, ("name", "state", "nfs", "links", "vms"))


@app.command()
def show(name: ChainName, fmt: Fmt = ListFormat.table) -> None:
    """A chain: its NFs, hops, link kinds, regions and each NF's live counters."""
    from ptnet.chain import lifecycle

    status = lifecycle.status(lifecycle.find(name), counters=True)
    _print_status(status, fmt)
    if fmt is ListFormat.table:
        for r in status["regions"]:
            print(f"  region {r['name']} ({r['kind']}): {' '.join(r['ports'])}")


@app.command()
def validate(
    name: ChainName,
    fmt: Fmt = ListFormat.table,
    repeat: Annotated[int, typer.Option(min=1, help="Send the mix this many times.")] = 1,
) -> None:
    """Send the validation mix through the chain both ways; per-hop table, Mpps and verdict.
    Exit code 0 on pass, 1 on fail."""
    from ptnet.chain import validate as checks
    from ptnet.cli.output import emit_table

    report = checks.validate(name, repeat=repeat)
    if fmt is ListFormat.json:
        print(json.dumps(report, indent=2))
    else:
        emit_table(report["hops"], ("nf", "role", "host", "side", "port", "rx", "tx", "drop"))
        bad = [f for f in report["flows"] if not f.get("ok", True)]
        for f in bad:
            print(f"flow {f['name']}: {'; '.join(f['problems'])}")
        mpps = report["mpps"]
        print(f"Mpps: {mpps if mpps is not None else '-'}")
        print(f"verdict: {report['verdict']}")
    if report["verdict"] != "pass":
        raise typer.Exit(1)


@app.command()
def bench(
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="NAME",
            help="A chain to measure as it runs, on whatever hosts; without it, the sweep.",
        ),
    ] = None,
    nfs: Annotated[
        str | None, typer.Option("--nfs", help="Chain lengths, comma-separated (default 1,2,3).")
    ] = None,
    links: Annotated[
        str | None, typer.Option("--links", help="pipe, vale, or both (default both).")
    ] = None,
    seconds: Annotated[float, typer.Option(min=0.5, help="Seconds of traffic per point.")] = 5.0,
    size: Annotated[int, typer.Option(min=60, max=1514, help="Frame length in bytes.")] = 60,
    mem: Annotated[str | None, typer.Option(help="Each NF VM's memory (default 256M).")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Directory for chain-bench.csv and chain-bench.png.")
    ] = None,
) -> None:
    """Mpps through chains of N forwarding NFs, all-pipe against all-VALE links; JSON on
    stdout, CSV and a PNG plot in --out (default .), and the pipe/VALE ratio at each length.
    With NAME: Mpps through that running chain, ingress to egress, and what each NF's ports
    moved meanwhile, NF by NF with its host; JSON on stdout."""
    from ptnet.chain import bench as chain_bench
    from ptnet.errors import UsageError
    from ptnet.model.vm import parse_mem

    if name is not None:
        sweep_only = {"--nfs": nfs, "--links": links, "--mem": mem, "--out": out}
        for flag, value in sweep_only.items():
            if value is not None:
                raise UsageError(f"{flag}: the sweep's option, not for a running chain ({name})")
        print(json.dumps(chain_bench.run_chain(name, seconds=seconds, size=size), indent=2))
        return
    nfs, links, out = nfs or "1,2,3", links or "pipe,vale", out or Path(".")
    try:
        lengths = sorted({int(n) for n in nfs.split(",")})
    except ValueError:
        raise UsageError(f"bad --nfs {nfs!r}: chain lengths like 1,2,3") from None
    if not lengths or lengths[0] < 1 or lengths[-1] > 8:
        raise UsageError(f"bad --nfs {nfs!r}: lengths from 1 to 8")
    kinds = [k.strip() for k in links.split(",") if k.strip()]
    for k in kinds:
        if k not in chain_bench.LINKS:
            raise UsageError(f"bad --links {k!r}: choose pipe or vale")
    mem_mb = parse_mem(mem or "256M")
    result = chain_bench.run(lengths, kinds, seconds=seconds, size=size, mem_mb=mem_mb)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, png_path = out / "chain-bench.csv", out / "chain-bench.png"
    csv_path.write_text(chain_bench.to_csv(result["results"]))
    why = chain_bench.plot_apart(result["results"], png_path)
    if why is not None:
        print(f"ptnet: no plot ({why}); the figures are in {csv_path}", file=sys.stderr)
    png = None if why is not None else str(png_path)
    print(json.dumps({**result, "csv": str(csv_path), "png": png}, indent=2))
