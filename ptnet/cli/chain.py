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
    from ptnet.errors import UsageError
    from ptnet.plan import chain as chain_plan

    spec = spec_from(chain, file, name=name, ingress=ingress, egress=egress, backend=backend)
    planned = chain_plan.plan(spec)
    if not dry_run:
        if planned.spread:  # every remote host is ready before anything starts anywhere
            from ptnet.chain.hosts import preflight

            preflight(planned)
        raise UsageError("create needs --dry-run until the chain lifecycle lands")
    vms = chain_plan.dry_run_vms(planned)
    if fmt is PlanFormat.json:
        sys.stdout.write(chain_plan.to_json(planned, vms))
    else:
        sys.stdout.write(chain_plan.render_text(planned, vms))
