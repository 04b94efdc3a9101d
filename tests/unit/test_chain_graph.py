"""Chain graphs: Mermaid and dot goldens, and SVG through Graphviz when it is installed.
PTNET_UPDATE_GOLDEN=1 rewrites the goldens (tests/unit/golden/chain/)."""

import shutil
import xml.etree.ElementTree as ET

import pytest
from test_chain_plan import CASES, check_golden

from ptnet.errors import MissingTool
from ptnet.plan import chain_graph
from ptnet.plan.chain import plan

GRAPH_CASES = ["fw-ids-nat", "fw-ids-untrusted-nat", "custom-nic-ends"]


@pytest.mark.parametrize("case", GRAPH_CASES)
def test_mermaid_golden(case):
    check_golden(f"{case}.mmd", chain_graph.mermaid(plan(CASES[case])))


@pytest.mark.parametrize("case", GRAPH_CASES)
def test_dot_golden(case):
    check_golden(f"{case}.dot", chain_graph.dot(plan(CASES[case])))


def test_nodes_are_coloured_by_trust_and_edges_labelled_by_link():
    text = chain_graph.mermaid(plan(CASES["fw-ids-untrusted-nat"]))
    assert "  class nf0,nf2 trusted\n" in text and "  class nf1 untrusted\n" in text
    assert "  nf0 <-.->|VALE| nf1\n" in text and "  ingress <-->|pipe| nf0\n" in text


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs graphviz (apt-get install graphviz)")
def test_svg_through_graphviz():
    svg = chain_graph.svg(plan(CASES["fw-ids-untrusted-nat"]))
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert {"fw", "ids", "nat", "pipe", "VALE", "untrusted"} <= set(texts)


def test_svg_without_graphviz_names_the_package(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda program: None)
    with pytest.raises(
        MissingTool, match=r"^dot not found; install it with: apt-get install graphviz$"
    ):
        chain_graph.svg(plan(CASES["fw-ids-nat"]))
