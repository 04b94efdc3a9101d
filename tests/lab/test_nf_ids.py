"""nf-ids on pipes: an EVE alert for every signature hit and none otherwise (header conditions,
several contents, nocase, |hex| bytes, both directions, overlapping patterns), passive mode
forwarding everything, ips mode dropping what matches, and signature file errors.

The tools must be built on the host first (ptnet build tools): the guest sees the cache read-only.
"""

import json
import subprocess
from pathlib import Path

import pytest
from nm import nf

from ptnet.build.tools import tool_path

RULES = "\n".join(
    [
        "# test signatures",
        'alert tcp any any -> any 80 (msg:"HTTP admin path"; content:"GET /admin"; sid:1000001;'
        " rev:2; classtype:web-application-attack; priority:1;)",
        r'alert udp any any <> 192.0.2.0/24 53 (msg:"DNS \"evil\" domain";'
        ' content:"|04|evil|03|com"; nocase; sid:1000002; classtype:bad-unknown; priority:2;)',
        'alert ip any any -> any any (msg:"two words"; content:"attack"; content:"NOW";'
        " sid:1000003;)",
        'alert icmp 10.0.0.0/8 any -> any any (msg:"ICMP from inside"; sid:1000004;)',
        'alert tcp any any -> any 25 (msg:"hers"; content:"hers"; sid:1000005;)',
        'alert tcp any any -> any 25 (msg:"she"; content:"she"; sid:1000006;)',
        "",
    ]
)

# name: (mix line without name and payload, payload, sids it must raise)
FLOWS: dict[str, tuple[str, bytes, set[int]]] = {
    "admin": ("ab tcp 10.0.0.1 40000 203.0.113.5 80 2", b"GET /admin HTTP/1.1", {1000001}),
    "admin-8080": ("ab tcp 10.0.0.1 40001 203.0.113.5 8080 2", b"GET /admin HTTP/1.1", set()),
    "admin-case": ("ab tcp 10.0.0.1 40002 203.0.113.5 80 2", b"get /admin HTTP/1.1", set()),
    "dns": ("ab udp 10.0.0.1 5353 192.0.2.53 53 3", b"\x00\x01\x04EVIL\x03com\x00", {1000002}),
    "dns-back": ("ba udp 192.0.2.53 53 10.0.0.1 5354 2", b"\x04evil\x03com", {1000002}),
    "dns-other": ("ab udp 10.0.0.1 5355 198.51.100.53 53 2", b"\x04evil\x03com", set()),
    "words": ("ab udp 172.16.0.1 9 172.16.0.2 9 2", b"NOW we attack", {1000003}),
    "one-word": ("ba udp 172.16.0.2 10 172.16.0.1 10 2", b"attack later", set()),
    "ping-in": ("ab icmp 10.0.0.1 5 203.0.113.5 5 2", b"ping", {1000004}),
    "ping-out": ("ba icmp 203.0.113.5 6 10.0.0.1 6 2", b"pong", set()),
    "ushers": ("ab tcp 10.0.0.7 2525 203.0.113.25 25 2", b"mail ushers", {1000005, 1000006}),
    "clean": ("ab tcp 10.0.0.1 40003 203.0.113.5 80 3", b"GET /index.html", set()),
}


def _mix() -> str:
    return "".join(f"flow {n} {line} {payload.hex()}\n" for n, (line, payload, _) in FLOWS.items())


def _key(proto: str, src: str, sport: int, dst: str, dport: int) -> tuple[str, str, int, str, int]:
    return (proto.upper(), src, sport, dst, dport)


def _run(pname: str, tmp_path: Path, mode: str) -> tuple[dict, list[dict], dict]:
    rules = tmp_path / "ids.rules"
    rules.write_text(RULES)
    eve, stats = tmp_path / "eve.json", tmp_path / "stats.json"
    (a, b), [(i, o)] = nf.ends(pname, 1), nf.hops(pname, 1)
    argv = ["-c", str(rules), "--mode", mode, "--eve", str(eve), "--stats", str(stats)]
    with nf.running("ids", i, o, *argv):
        got = nf.flows(nf.probe(a, b, _mix(), tmp_path))
    alerts = [json.loads(line) for line in eve.read_text().splitlines()] if eve.exists() else []
    return got, alerts, nf.stats(stats)


@pytest.mark.parametrize("mode", ["ids", "ips"])
def test_an_alert_for_every_hit_and_none_otherwise(pname, tmp_path: Path, mode: str):
    got, alerts, stats = _run(pname, tmp_path, mode)
    by_tuple = {}
    for name, (line, _, _) in FLOWS.items():
        w = line.split()
        by_tuple[_key(w[1], w[2], int(w[3]), w[4], int(w[5]))] = name
    seen: dict[str, list[int]] = {n: [] for n in FLOWS}
    for al in alerts:
        assert al["event_type"] == "alert"
        assert al["timestamp"].endswith("+0000") and "T" in al["timestamp"]
        icmp = al["proto"] == "ICMP"
        name = None
        for key, n in by_tuple.items():
            ports = icmp or (key[2], key[4]) == (al["src_port"], al["dest_port"])
            if key[:2] == (al["proto"], al["src_ip"]) and key[3] == al["dest_ip"] and ports:
                name = n
        assert name is not None, al
        assert icmp == ("src_port" not in al), al
        a = al["alert"]
        assert a["action"] == ("blocked" if mode == "ips" else "allowed")
        assert a["gid"] == 1 and set(a) == {
            "action",
            "gid",
            "signature_id",
            "rev",
            "signature",
            "category",
            "severity",
        }
        seen[name].append(a["signature_id"])
        if a["signature_id"] == 1000001:
            assert (a["rev"], a["category"], a["severity"]) == (2, "web-application-attack", 1)
            assert a["signature"] == "HTTP admin path" and al["proto"] == "TCP"
        if a["signature_id"] == 1000002:
            assert a["signature"] == 'DNS "evil" domain' and (a["rev"], a["severity"]) == (1, 2)
    for name, (line, _, sids) in FLOWS.items():
        count = int(line.split()[-1])
        assert sorted(seen[name]) == sorted(list(sids) * count), name
        f = got[name]
        assert f["sent"] == count
        dropped = mode == "ips" and sids
        assert f["received"] == (0 if dropped else count), name
        if not dropped:
            assert f["payload_ok"] and f["csum_ok"] and f["received_as"] == f["sent_as"], name
    ids = stats["ids"]
    assert ids["mode"] == mode and ids["signatures"] == 6
    assert ids["alerts"] == len(alerts)
    assert ids["inspected"] == sum(int(line.split()[-1]) for line, _, _ in FLOWS.values())
    hits = {str(s): 0 for s in range(1000001, 1000007)}
    for line, _, sids in FLOWS.values():
        for s in sids:
            hits[str(s)] += int(line.split()[-1])
    assert ids["hits"] == hits
    blocked = sum(int(line.split()[-1]) for line, _, sids in FLOWS.values() if sids)
    assert ids["blocked"] == (blocked if mode == "ips" else 0)
    assert stats["ports"]["in"]["drop"] + stats["ports"]["out"]["drop"] == ids["blocked"]


def test_a_bad_signature_names_the_line(tmp_path: Path):
    head = "alert tcp any any -> any 80 "
    cases = {
        f'{head}(msg:"x"; sid:1;)\nalert tcp any any => any 80 (msg:"x"; sid:2;)\n': ":2: '=>'",
        f'{head}(msg:"x"; content:"|4|"; sid:1;)\n': "odd number of hex digits",
        f'{head}(msg:"x"; depth:4; sid:1;)\n': ":1: 'depth': unknown option",
        f'{head}(msg:"x";)\n': ":1: no sid",
        'alert sctp any any -> any 80 (msg:"x"; sid:1;)\n': "'sctp'",
        f'{head}(msg:"x"; sid:1;)\nalert udp any any -> any 1 (msg:"y"; sid:1;)\n': ":2: sid 1",
        'drop tcp any any -> any 80 (msg:"x"; sid:1;)\n': ":1: 'drop'",
        f'{head}(msg:"x" sid:1;)\n': "msg: expected ';'",
        f'{head}(msg:"x"; sid:1;)\n' + "#" * 5000 + "\n": ":2: line too long (at most 4094 bytes)",
    }
    for text, where in cases.items():
        rules = tmp_path / "bad.rules"
        rules.write_text(text)
        argv = [str(tool_path("nf-ids")), "-i", "netmap:x{1", "-o", "netmap:y{1", "-c", str(rules)]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        assert r.returncode == 2, (text, r.stderr)
        assert where in r.stderr and len(r.stderr.splitlines()) == 1, (text, r.stderr)
        assert "bad.rules:" in r.stderr
