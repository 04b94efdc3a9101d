"""A chain's plan as a graph: Mermaid (renders in GitHub Markdown), Graphviz dot, and SVG
through Graphviz's `dot` program.

Nodes are the two ends and the NFs, labelled by name and role and coloured by trust; edges are
the hops, labelled pipe or VALE (solid for a zero-copy pipe, dashed for a copying switch), with
arrows both ways since frames flow in both directions. A chain across hosts groups its nodes by
host (Mermaid subgraphs, dot clusters), and a hop between hosts is labelled with its uplinks (the
VNI of a VXLAN one, or each side's NIC). Pure, but for `svg`, which runs `dot`.
"""

import subprocess
from collections.abc import Callable

from ptnet import host
from ptnet.errors import PtnetError
from ptnet.plan.chain import EGRESS, INGRESS, ChainPlan, Hop

# fill, stroke
COLOURS = {
    "trusted": ("#d4edda", "#2e7d32"),
    "untrusted": ("#f8d7da", "#c62828"),
    "host": ("#e8eaf6", "#3949ab"),  # the ends ("end" is a Mermaid keyword)
}


def _nodes(chain: ChainPlan) -> list[tuple[str, str, str, str]]:
    """(id, first line, second line, class) for each node, ingress to egress."""
    spec = chain.spec
    nodes = [(INGRESS, INGRESS, _end_label(str(spec.ingress)), "host")]
    for k, nf in enumerate(spec.nfs):
        first = nf.name if nf.name == nf.role else f"{nf.name} ({nf.role})"
        nodes.append((f"nf{k}", first, nf.trust.value, nf.trust.value))
    nodes.append((EGRESS, EGRESS, _end_label(str(spec.egress)), "host"))
    return nodes


def _end_label(end: str) -> str:
    return "host port" if end == "host" else f"NIC {end.removeprefix('netmap:')}"


def _edge(chain: ChainPlan, hop: Hop) -> tuple[str, str, str]:
    ids = [n[0] for n in _nodes(chain)]
    label = "pipe" if hop.kind == "pipe" else "VALE"
    if hop.uplinks:
        left, right = hop.uplinks
        if left.kind == "vxlan":
            label += f" + VXLAN {left.vni}"
        else:
            label += f" + NIC {left.dev}/{right.dev}"
    return ids[hop.index], ids[hop.index + 1], label


def _edges(chain: ChainPlan) -> list[tuple[Hop, str, str, str]]:
    """(hop, left id, right id, label) for each hop, ingress to egress."""
    return [(hop, *_edge(chain, hop)) for hop in chain.hops]


def _groups(chain: ChainPlan) -> list[tuple[str, list[str]]]:
    """(host, node ids) for each host of a chain across hosts; none for a single-host one."""
    if not chain.spread:
        return []
    where = chain.spec.placement
    ids = [n[0] for n in _nodes(chain)]
    return [
        (h.name, [i for i, w in zip(ids, where, strict=True) if w == h.name]) for h in chain.hosts
    ]


def _host_label(chain: ChainPlan, name: str) -> str:
    h = next(h for h in chain.hosts if h.name == name)
    return f"{name}: {h.uri}" if h.uri else name


def _placed(
    chain: ChainPlan, defs: dict[str, str], opening: Callable[[str], list[str]], closing: str
) -> list[str]:
    """The node definitions `defs` (by id), indented: in a chain across hosts, each host's
    inside its group, between the `opening(host)` lines and `closing`."""
    groups = _groups(chain)
    if not groups:
        return [f"  {d}" for d in defs.values()]
    lines = []
    for name, members in groups:
        lines += opening(name)
        lines += [f"    {defs[m]}" for m in members]
        lines.append(closing)
    return lines


def mermaid(chain: ChainPlan) -> str:
    lines = ["flowchart LR"]
    defs = {}
    for node, first, second, _ in _nodes(chain):
        shape = ('(["', '"])') if node in (INGRESS, EGRESS) else ('["', '"]')
        defs[node] = f"{node}{shape[0]}{first}<br/>{second}{shape[1]}"
    lines += _placed(
        chain,
        defs,
        lambda name: [f'  subgraph host_{name.replace("-", "_")}["{_host_label(chain, name)}"]'],
        "  end",
    )
    for hop, left, right, label in _edges(chain):
        arrow = "<-->" if hop.kind == "pipe" else "<-.->"
        lines.append(f"  {left} {arrow}|{label}| {right}")
    for cls, (fill, stroke) in COLOURS.items():
        lines.append(f"  classDef {cls} fill:{fill},stroke:{stroke},color:#000")
    for cls in COLOURS:
        members = [n[0] for n in _nodes(chain) if n[3] == cls]
        if members:
            lines.append(f"  class {','.join(members)} {cls}")
    return "\n".join(lines) + "\n"


def dot(chain: ChainPlan) -> str:
    lines = [
        f'digraph "{chain.spec.name}" {{',
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica"];',
        '  edge [dir=both, fontname="Helvetica"];',
    ]
    defs = {}
    for node, first, second, cls in _nodes(chain):
        fill, stroke = COLOURS[cls]
        shape = ", shape=ellipse" if cls == "host" else ""
        defs[node] = (
            f'{node} [label="{first}\\n{second}", fillcolor="{fill}", color="{stroke}"{shape}];'
        )
    lines += _placed(
        chain,
        defs,
        lambda name: [
            f'  subgraph "cluster_{name}" {{',
            f'    label="{_host_label(chain, name)}"; style=dashed;',
        ],
        "  }",
    )
    for hop, left, right, label in _edges(chain):
        style = "solid" if hop.kind == "pipe" else "dashed"
        lines.append(f'  {left} -> {right} [label="{label}", style={style}];')
    return "\n".join(lines) + "\n}\n"


def svg(chain: ChainPlan) -> str:
    """The dot graph laid out by Graphviz."""
    program = host.require("dot", "graphviz")
    proc = subprocess.run(
        [program, "-Tsvg"], input=dot(chain), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        why = " ".join(proc.stderr.split()) or f"exit code {proc.returncode}"
        raise PtnetError(f"dot -Tsvg failed: {why}")
    return proc.stdout


RENDERERS = {"mermaid": mermaid, "dot": dot, "svg": svg}
