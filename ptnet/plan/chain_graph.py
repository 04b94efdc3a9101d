"""A chain's plan as a graph: Mermaid (renders in GitHub Markdown), Graphviz dot, and SVG
through Graphviz's `dot` program.

Nodes are the two ends and the NFs, labelled by name and role and coloured by trust; edges are
the hops, labelled pipe or VALE (solid for a zero-copy pipe, dashed for a copying switch), with
arrows both ways since frames flow in both directions. Pure, but for `svg`, which runs `dot`.
"""

import subprocess

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
    return ids[hop.index], ids[hop.index + 1], "pipe" if hop.kind == "pipe" else "VALE"


def mermaid(chain: ChainPlan) -> str:
    lines = ["flowchart LR"]
    for node, first, second, _ in _nodes(chain):
        shape = ('(["', '"])') if node in (INGRESS, EGRESS) else ('["', '"]')
        lines.append(f"  {node}{shape[0]}{first}<br/>{second}{shape[1]}")
    for hop in chain.hops:
        left, right, label = _edge(chain, hop)
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
    for node, first, second, cls in _nodes(chain):
        fill, stroke = COLOURS[cls]
        shape = ", shape=ellipse" if cls == "host" else ""
        lines.append(
            f'  {node} [label="{first}\\n{second}", fillcolor="{fill}", color="{stroke}"{shape}];'
        )
    for hop in chain.hops:
        left, right, label = _edge(chain, hop)
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
