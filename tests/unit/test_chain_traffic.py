"""ptnet.chain.traffic: the validation mix agrees with the roles' default configurations, the
expectations follow the order of the roles, and judge() passes a faithful probe report and fails
each kind of wrong one."""

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from ptnet.chain import traffic
from ptnet.chain.traffic import FLOWS, NAT_PORTS, OUTSIDE, expected, judge, mix_text, probe_argv

IMAGES = Path(__file__).resolve().parents[2] / "images"
BY_NAME = {f.name: f for f in FLOWS}


def test_mix_text_is_one_line_a_flow_replies_after_what_they_answer():
    lines = mix_text().splitlines()
    assert lines[0].startswith("#")
    seen: set[str] = set()
    for line, flow in zip(lines[1:], FLOWS, strict=True):
        words = line.split()
        assert words[1] == flow.name and flow.name not in seen
        if flow.reply_to:
            assert words[0] == "reply" and words[2] in seen and len(words) == 5
        else:
            assert words[0] == "flow" and len(words) == 10
            assert words[2:9] == [
                flow.direction,
                flow.proto,
                flow.src,
                str(flow.sport),
                flow.dst,
                str(flow.dport),
                str(flow.count),
            ]
        assert bytes.fromhex(words[-1]) == flow.payload if words[-1] != "-" else not flow.payload
        seen.add(flow.name)


def test_probe_argv():
    assert probe_argv("netmap:c{0", "netmap:c}9", "/tmp/mix", repeat=3, timeout=5) == [
        "nf-probe",
        "-a",
        "netmap:c{0",
        "-b",
        "netmap:c}9",
        "-f",
        "/tmp/mix",
        "--repeat",
        "3",
        "--timeout",
        "5",
    ]


def _fw_drop_rules() -> list[tuple[str, int, int]]:
    rules = []
    for line in (IMAGES / "fw/files/etc/ptnet/fw.rules").read_text().splitlines():
        line = line.split("#")[0].split()
        if line and line[0] == "drop":
            m = re.fullmatch(r"drop proto (tcp|udp) dport (\d+)(?:-(\d+))?", " ".join(line))
            assert m, f"the mix assumes port rules only: {line}"
            rules.append((m[1], int(m[2]), int(m[3] or m[2])))
    return rules


def test_fw_annotations_match_the_default_rules():
    rules = _fw_drop_rules()
    for f in FLOWS:
        if f.reply_to:
            assert not f.fw_drops
            continue
        drops = any(f.proto == p and lo <= f.dport <= hi for p, lo, hi in rules)
        assert drops == f.fw_drops, f.name


def _content(text: str) -> bytes:
    out = b""
    for i, part in enumerate(text.split("|")):
        out += bytes.fromhex(part) if i % 2 else part.encode()
    return out


def test_ids_annotations_match_the_default_signatures():
    sigs = {}
    for line in (IMAGES / "ids/files/etc/ptnet/ids.rules").read_text().splitlines():
        if line.startswith("alert"):
            sid = int(re.search(r"sid:(\d+);", line)[1])  # type: ignore[index]
            content = _content(re.search(r'content:"([^"]*)";', line)[1])  # type: ignore[index]
            sigs[sid] = (content, "nocase;" in line, line.split()[5])
    assert len(sigs) == 4
    for f in FLOWS:
        for sid, (content, nocase, dport) in sigs.items():
            hay, needle = (f.payload.lower(), content.lower()) if nocase else (f.payload, content)
            hit = needle in hay and (dport == "any" or int(dport) == f.dport)
            assert hit == (sid in f.sids), (f.name, sid)


def test_nat_constants_match_the_default_config():
    conf = dict(
        line.split()[:2]
        for line in (IMAGES / "nat/files/etc/ptnet/nat.conf").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert conf["outside"] == OUTSIDE
    assert conf["ports"] == f"{NAT_PORTS[0]}-{NAT_PORTS[1]}"


def test_expectations_follow_the_order_of_the_roles():
    roles = ["fw", "ids", "nat"]
    web = expected(roles, BY_NAME["web"])
    assert web.passes and web.translated and web.sids == ()
    assert expected(roles, BY_NAME["web-reply"]).translated
    assert expected(roles, BY_NAME["telnet"]).dropped_by == "fw"
    assert expected(["fw", "ids"], BY_NAME["telnet-shell"]).sids == ()
    assert expected(["ids", "fw"], BY_NAME["telnet-shell"]).sids == (9000002,)
    assert expected(["ids", "fw"], BY_NAME["telnet-shell"], ips=True).dropped_by == "ids"
    assert expected(roles, BY_NAME["passwd"]) == traffic.Expectation(True, None, True, (9000001,))
    assert expected(roles, BY_NAME["passwd"], ips=True).dropped_by == "ids"
    assert expected(roles, BY_NAME["stray"]).dropped_by == "nat"
    assert expected(["fw", "ids"], BY_NAME["stray"]).passes
    assert not expected(["fw"], BY_NAME["eicar"]).sids
    assert expected(["nat", "ids:untrusted"], BY_NAME["eicar"]).sids == (9000004,)
    assert expected(["nft"], BY_NAME["telnet"]).dropped_by == "nft"
    assert expected(["custom"], BY_NAME["telnet"]).passes


def test_the_nft_example_ruleset_mirrors_the_fw_rules():
    nft = (IMAGES / "nft/files/etc/ptnet/nft.rules").read_text()
    drops = re.findall(r"^\s*(tcp|udp) dport (\d+)(?:-(\d+))? counter", nft, re.M)
    assert sorted((p, int(lo), int(hi or lo)) for p, lo, hi in drops) == sorted(_fw_drop_rules())


def _tuple(src: str, sport: int, dst: str, dport: int) -> dict[str, Any]:
    return {"src": src, "sport": sport, "dst": dst, "dport": dport}


def _faithful(roles: list[str], ips: bool = False) -> dict[str, Any]:
    """The report a correct chain of roles would give."""
    flows: dict[str, dict[str, Any]] = {}
    port = NAT_PORTS[0]
    for f in FLOWS:
        exp = expected(roles, f, ips=ips)
        origin = flows.get(f.reply_to or "")
        skipped = bool(origin and not origin["received"])
        if origin:
            o = origin["received_as"] or origin["sent_as"]
            sent_as = _tuple(o["dst"], o["dport"], o["src"], o["sport"])
        else:
            sent_as = _tuple(f.src, f.sport, f.dst, f.dport)
        out = None
        if exp.passes:
            out = dict(sent_as)
            if exp.translated and origin:
                back = origin["sent_as"]
                out.update(dst=back["src"], dport=back["sport"])
            elif exp.translated:
                out.update(src=OUTSIDE, sport=port, dport=port if f.proto == "icmp" else f.dport)
                port += 1
        sent = 0 if skipped else f.count
        flows[f.name] = {
            "name": f.name,
            "sent": sent,
            "received": sent if exp.passes else 0,
            "wrong_port": 0,
            "skipped": skipped,
            "sent_as": sent_as,
            "received_as": out,
            "consistent": True,
            "csum_ok": True,
            "payload_ok": True,
        }
    return {"flows": list(flows.values())}


def _hits(roles: list[str], ips: bool = False) -> dict[str, int]:
    hits: dict[str, int] = {}
    for f in FLOWS:
        for sid in expected(roles, f, ips=ips).sids:
            hits[str(sid)] = hits.get(str(sid), 0) + f.count
    return hits


@pytest.mark.parametrize(
    "roles",
    [["fw", "ids", "nat"], ["nat", "ids", "fw"], ["fw"], ["ids"], ["nat"], ["nft", "nat"], ["x"]],
)
@pytest.mark.parametrize("ips", [False, True])
def test_a_faithful_report_passes(roles: list[str], ips: bool):
    ids_hits = _hits(roles, ips) if "ids" in roles else None
    res = judge(roles, _faithful(roles, ips), ips=ips, ids_hits=ids_hits)
    assert res["verdict"] == "pass", [r for r in res["flows"] if not r["ok"]]
    assert len(res["flows"]) == len(FLOWS)


def _broken(name: str, **changes: Any) -> dict[str, Any]:
    report = _faithful(["fw", "ids", "nat"])
    for f in report["flows"]:
        if f["name"] == name:
            for key, value in changes.items():
                if key in ("src", "sport", "dst", "dport"):
                    f["received_as"] = {**f["received_as"], key: value}
                else:
                    f[key] = value
    return report


@pytest.mark.parametrize(
    ("name", "changes", "problem"),
    [
        ("telnet", {"received": 3}, "fw should drop"),
        ("stray", {"received": 2}, "nat should drop"),
        ("web", {"received": 3}, "3 of 4 frames"),
        ("web", {"csum_ok": False}, "bad checksums"),
        ("dns", {"payload_ok": False}, "payload changed"),
        ("web", {"src": "10.0.0.10"}, "is not 198.51.100.1"),
        ("web", {"sport": 80}, "is not 198.51.100.1"),
        ("web-reply", {"dport": 1}, "not back to 10.0.0.10:40001"),
        ("eicar", {"dst": "10.9.9.9"}, "changed on the way"),
        ("ping-reply", {"skipped": True, "sent": 0}, "not sent"),
        ("web", {"wrong_port": 1}, "wrong end"),
    ],
)
def test_each_kind_of_wrong_report_fails(name: str, changes: dict[str, Any], problem: str):
    res = judge(["fw", "ids", "nat"], _broken(name, **changes))
    assert res["verdict"] == "fail"
    bad = [r for r in res["flows"] if not r["ok"]]
    assert [r["name"] for r in bad] == [name]
    assert any(problem in p for p in bad[0]["problems"]), bad[0]["problems"]


def test_ids_hits_must_be_exactly_the_expected_ones():
    roles = ["fw", "ids", "nat"]
    report = _faithful(roles)
    hits = _hits(roles)
    assert judge(roles, report, ids_hits=hits)["ids"]["ok"]
    assert judge(roles, report, ids_hits={**hits, "9000001": 0})["verdict"] == "fail"
    assert judge(roles, report, ids_hits={**hits, "9000004": 5})["verdict"] == "fail"
    assert judge(roles, report, ids_hits={**hits, "1": 1})["verdict"] == "fail"


def test_a_missing_flow_fails():
    report = _faithful(["fw"])
    report = copy.deepcopy(report)
    report["flows"] = [f for f in report["flows"] if f["name"] != "web"]
    res = judge(["fw"], report)
    assert res["verdict"] == "fail"
    assert any("missing" in p for r in res["flows"] for p in r["problems"])
