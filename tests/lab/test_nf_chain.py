"""fw, ids and nat chained on pipes in the lab with their default configurations (images/ROLE/
files/etc/ptnet/), nf-probe at the ends with the validation mix of ptnet.chain.traffic: the
verdict passes, the counters of adjacent NFs agree, and the IDS raises exactly the alerts the mix
should raise (passive), or drops what matches (ips).

The tools must be built on the host first (ptnet build tools): the guest sees the cache read-only.
"""

import contextlib
import json
from pathlib import Path

import pytest
from nm import nf

from ptnet.chain import traffic

IMAGES = Path(__file__).resolve().parents[2] / "images"
CONFIGS = {
    "fw": IMAGES / "fw/files/etc/ptnet/fw.rules",
    "nat": IMAGES / "nat/files/etc/ptnet/nat.conf",
    "ids": IMAGES / "ids/files/etc/ptnet/ids.rules",
}


@pytest.mark.parametrize(
    ("roles", "ips", "shared"),
    [(["fw", "ids", "nat"], False, True), (["ids", "nat", "fw"], True, False)],
)
def test_default_mix_through_a_chain(
    pname, tmp_path: Path, roles: list[str], ips: bool, shared: bool
):
    """shared: the pipes of one parent, one memory region: the NFs swap buffers; else copy."""
    n = len(roles)
    (a, b), ports = nf.ends(pname, n, shared), nf.hops(pname, n, shared)
    eve = tmp_path / "eve.json"
    stats = {r: tmp_path / f"{r}.json" for r in roles}
    with contextlib.ExitStack() as stack:
        for role, (i, o) in zip(roles, ports, strict=True):
            args = ["-c", str(CONFIGS[role]), "--stats", str(stats[role])]
            if role == "ids":
                args += ["--eve", str(eve), "--mode", "ips" if ips else "ids"]
            stack.enter_context(nf.running(role, i, o, *args))
        report = nf.probe(a, b, traffic.mix_text(), tmp_path, "--repeat", "10", "--settle", "2")
    s = {r: nf.stats(p) for r, p in stats.items()}
    hits = s["ids"]["ids"]["hits"]
    res = traffic.judge(roles, report, ips=ips, ids_hits=hits)
    assert res["verdict"] == "pass", json.dumps(
        [r for r in res["flows"] if not r["ok"]] + [res["ids"]]
    )
    alerts = [json.loads(line) for line in eve.read_text().splitlines()]
    assert len(alerts) == sum(res["ids"]["expected_hits"].values()) > 0
    assert {al["alert"]["action"] for al in alerts} == {"blocked" if ips else "allowed"}
    # adjacent NFs see the same frames: what one sends out, the next receives
    for left, right in zip(roles, roles[1:], strict=False):
        assert s[left]["ports"]["out"]["tx"] == s[right]["ports"]["in"]["rx"], (left, right)
        assert s[right]["ports"]["in"]["tx"] == s[left]["ports"]["out"]["rx"], (left, right)
    assert s[roles[0]]["ports"]["in"]["rx"] == report["a"]["tx"]
    assert s[roles[-1]]["ports"]["out"]["tx"] == report["b"]["rx"]
    assert s[roles[-1]]["ports"]["out"]["rx"] == report["b"]["tx"]
    assert s[roles[0]]["ports"]["in"]["tx"] == report["a"]["rx"]
    assert report["a"]["untagged"] == report["b"]["untagged"] == 0
    assert all(st["zero_copy"] == shared for st in s.values())
    nat = s["nat"]["nat"]
    assert nat["no_mapping_drops"] == 20  # the stray flow, 2 frames x 10
    assert nat["port_exhaustion_drops"] == nat["untranslatable_drops"] == 0
