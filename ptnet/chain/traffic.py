"""The traffic `ptnet chain validate` sends through a chain, and its verdict. Pure.

The mix is written against the default configuration of each built-in role, the files under
images/ROLE/files/etc/ptnet/: the firewall's rules look at protocols and destination ports only,
the NAT maps inside flows to OUTSIDE with ports in NAT_PORTS, and the IDS signatures look for
payload strings. So the mix means the same whatever the order of the roles: each flow says what
the firewall and the IDS do to it, and `expected()` walks a chain's roles in the flow's direction
(ingress to egress for "ab" flows, back for "ba" flows) to tell whether it comes out, how, and
which signatures it raises on its way.

nf-probe (kernel/tools/nf-probe.c) sends the mix (`mix_text()`, given to it as a file) into the
ingress port and the egress port, and reports per flow what came out; `judge()` turns that
report into a verdict.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

OUTSIDE = "198.51.100.1"  # images/nat/files/etc/ptnet/nat.conf
NAT_PORTS = (20000, 59999)
PROBE = "nf-probe"
# Roles that filter like nf-fw's default rules: images/nft's ruleset mirrors them.
FILTERS = frozenset({"fw", "nft"})

Direction = Literal["ab", "ba"]
Proto = Literal["tcp", "udp", "icmp"]


@dataclass(frozen=True)
class Flow:
    """One flow of the mix, and what the default configurations do to it."""

    name: str
    direction: Direction  # ab: sent into the ingress, expected at the egress
    proto: Proto
    src: str
    sport: int  # for icmp: the echo identifier (dport equals it)
    dst: str
    dport: int
    count: int
    payload: bytes = b""
    reply_to: str | None = None  # a reply: addressed from what reply_to looked like at its end
    fw_drops: bool = False  # a default fw rule drops it
    sids: tuple[int, ...] = ()  # the default ids signatures it raises
    why: str = ""


# The mix. Inside hosts are 10.0.0.0/24, outside ones 203.0.113.0/24.
FLOWS: tuple[Flow, ...] = (
    Flow("web", "ab", "tcp", "10.0.0.10", 40001, "203.0.113.10", 80, 4,
         b"GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n", why="passes every role"),
    Flow("web-reply", "ba", "tcp", "", 0, "", 0, 4, b"HTTP/1.1 200 OK\r\n\r\n",
         reply_to="web", why="a reply: back through the NAT to the inside host"),
    Flow("dns", "ab", "udp", "10.0.0.10", 40002, "203.0.113.53", 53, 3,
         b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01",
         why="passes every role"),
    Flow("dns-reply", "ba", "udp", "", 0, "", 0, 3, b"\x12\x34\x81\x80", reply_to="dns",
         why="a UDP reply through the NAT"),
    Flow("ping", "ab", "icmp", "10.0.0.10", 4242, "203.0.113.10", 4242, 2, b"ptnet ping",
         why="ICMP echo: the NAT maps its identifier"),
    Flow("ping-reply", "ba", "icmp", "", 0, "", 0, 2, b"ptnet ping", reply_to="ping",
         why="the echo reply back"),
    Flow("telnet", "ab", "tcp", "10.0.0.11", 40003, "203.0.113.10", 23, 3, b"login",
         fw_drops=True, why="fw: drop tcp dport 23"),
    Flow("netbios", "ab", "tcp", "10.0.0.11", 40004, "203.0.113.10", 139, 2,
         fw_drops=True, why="fw: drop tcp dport 135-139"),
    Flow("ssdp", "ab", "udp", "10.0.0.11", 40005, "239.255.255.250", 1900, 2,
         b"M-SEARCH * HTTP/1.1", fw_drops=True, why="fw: drop udp dport 1900"),
    Flow("passwd", "ab", "tcp", "10.0.0.12", 40006, "203.0.113.10", 80, 3,
         b"GET /../../etc/passwd HTTP/1.1\r\n\r\n", sids=(9000001,), why="ids: sid 9000001"),
    Flow("shell", "ab", "tcp", "10.0.0.12", 40007, "203.0.113.10", 8080, 2,
         b"x=1; /bin/sh -i", sids=(9000002,), why="ids: sid 9000002"),
    Flow("badsite", "ab", "udp", "10.0.0.12", 40008, "203.0.113.53", 53, 2,
         b"\x56\x78\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07BadSite\x03COM\x00\x00\x01\x00\x01",
         sids=(9000003,), why="ids: sid 9000003 (nocase)"),
    Flow("eicar", "ba", "tcp", "203.0.113.10", 80, "10.0.0.13", 40009, 2,
         b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*",
         sids=(9000004,), why="ids: sid 9000004, egress to ingress"),
    Flow("telnet-shell", "ab", "tcp", "10.0.0.12", 40010, "203.0.113.10", 23, 2, b"/bin/sh",
         fw_drops=True, sids=(9000002,),
         why="fw drops it; ids alerts only where it comes before fw"),
    Flow("near-miss", "ab", "tcp", "10.0.0.14", 40011, "203.0.113.10", 80, 3,
         b"GET /etc/passwords.html HTTP/1.1\r\n\r\n", why="ids: no alert (/etc/passwo...)"),
    Flow("stray", "ba", "udp", "203.0.113.99", 5000, OUTSIDE, 7, 2, b"unsolicited",
         why="nat: no mapping, dropped; without a NAT it passes"),
)  # fmt: skip


def mix_text(flows: Sequence[Flow] = FLOWS) -> str:
    """The mix as nf-probe reads it (one flow a line)."""
    lines = ["# ptnet chain validate: the traffic mix (ptnet/chain/traffic.py)"]
    for f in flows:
        payload = f.payload.hex() or "-"
        if f.reply_to:
            lines.append(f"reply {f.name} {f.reply_to} {f.count} {payload}")
        else:
            lines.append(
                f"flow {f.name} {f.direction} {f.proto} {f.src} {f.sport} {f.dst} {f.dport} "
                f"{f.count} {payload}"
            )
    return "\n".join(lines) + "\n"


def probe_argv(
    ingress_port: str,
    egress_port: str,
    mix_file: str,
    *,
    probe: str = PROBE,
    repeat: int = 1,
    timeout: float = 10.0,
) -> list[str]:
    """nf-probe's command line: the mix (written from mix_text() to mix_file) between the
    chain's host ends; each flow's frames sent `repeat` times over."""
    return [probe, "-a", ingress_port, "-b", egress_port, "-f", mix_file,
            "--repeat", str(repeat), "--timeout", f"{timeout:g}"]  # fmt: skip


@dataclass(frozen=True)
class Expectation:
    """What a chain of roles does to one flow."""

    passes: bool
    dropped_by: str | None  # the role that drops it
    translated: bool  # a NAT rewrites it (source of ab flows, destination of replies)
    sids: tuple[int, ...] = field(default=())  # signatures raised on its way


def _role(role: str) -> str:
    return role.split(":", 1)[0]


def expected(
    roles: Sequence[str],
    flow: Flow,
    *,
    ips: bool = False,
    by_name: Mapping[str, Flow] | None = None,
) -> Expectation:
    """Walk the roles in the flow's direction. fw and nft filter alike; roles other than those,
    nat and ids (custom ones) forward everything as it is."""
    names = by_name or {f.name: f for f in FLOWS}
    chain = [_role(r) for r in roles]
    order = chain if flow.direction == "ab" else list(reversed(chain))
    origin = names[flow.reply_to] if flow.reply_to else None
    sids: list[int] = []
    translated = False
    for role in order:
        if role in FILTERS and flow.fw_drops:
            return Expectation(False, role, translated, tuple(sids))
        if role == "ids" and flow.sids:
            sids.extend(flow.sids)
            if ips:
                return Expectation(False, "ids", translated, tuple(sids))
        if role == "nat":
            # inside flows leave translated; replies to them come back translated
            if (origin or flow).direction == "ab":
                translated = True
            elif flow.dst == OUTSIDE:
                return Expectation(False, "nat", translated, tuple(sids))
    if origin is not None and not expected(roles, origin, ips=ips, by_name=names).passes:
        return Expectation(False, "the flow it answers", translated, tuple(sids))
    return Expectation(True, None, translated, tuple(sids))


def _outcome(
    flow: Flow, exp: Expectation, got: Mapping[str, Any], origin: Mapping[str, Any] | None
) -> list[str]:
    """What is wrong with one flow of the probe's report."""
    problems = []
    sent, received = int(got["sent"]), int(got["received"])
    if got["wrong_port"]:
        problems.append(f"{got['wrong_port']} frames out of the wrong end")
    if not exp.passes:
        if flow.reply_to and got["skipped"]:
            return problems
        if received:
            problems.append(
                f"{received} of {sent} frames came out; {exp.dropped_by} should drop them"
            )
        return problems
    if got["skipped"]:
        return [*problems, "not sent: nothing of the flow it answers came out in time"]
    if not sent:
        return [*problems, "not sent"]
    if received != sent:
        problems.append(f"{received} of {sent} frames came out")
    if not received:
        return problems
    for key, what in (
        ("csum_ok", "bad checksums"),
        ("payload_ok", "payload changed"),
        ("consistent", "frames out with different addresses"),
    ):
        if not got[key]:
            problems.append(what)
    out, sent_as = got["received_as"], got["sent_as"]
    if flow.reply_to:
        if origin is None:
            return [*problems, f"{flow.reply_to}, the flow it answers, is missing"]
        want = origin["sent_as"]
        if (out["dst"], out["dport"]) != (want["src"], want["sport"]):
            problems.append(
                f"reply to {out['dst']}:{out['dport']}, not back to {want['src']}:{want['sport']}"
            )
        return problems
    if exp.translated:
        lo, hi = NAT_PORTS
        if out["src"] != OUTSIDE or not lo <= out["sport"] <= hi:
            problems.append(f"source {out['src']}:{out['sport']} is not {OUTSIDE}:{lo}-{hi}")
        if out["dst"] != sent_as["dst"] or (
            flow.proto != "icmp" and out["dport"] != sent_as["dport"]
        ):
            problems.append("destination changed")
    elif out != sent_as:
        problems.append(f"changed on the way: {sent_as} came out as {out}")
    return problems


def judge(
    roles: Sequence[str],
    probe_report: Mapping[str, Any],
    *,
    ips: bool = False,
    ids_hits: Mapping[str, int] | None = None,
    flows: Sequence[Flow] = FLOWS,
) -> dict[str, Any]:
    """The verdict on nf-probe's report for a chain of `roles` (in order, ingress first).

    ips: the chain's ids runs with --mode ips. ids_hits: what the ids NF's stats say each
    signature matched during the probe ({"SID": frames}, the difference of the stats "hits"
    before and after); when given, it must be exactly what the mix should raise.
    Returns {"verdict": "pass"|"fail", "flows": [...], "ids": {...} or None}.
    """
    by_name = {f.name: f for f in flows}
    got = {f["name"]: f for f in probe_report.get("flows", [])}
    rows, failed = [], False
    want_hits: dict[str, int] = {}
    for flow in flows:
        exp = expected(roles, flow, ips=ips, by_name=by_name)
        entry = got.get(flow.name)
        if entry is None:
            problems = ["missing from the probe's report"]
        else:
            origin = got.get(flow.reply_to) if flow.reply_to else None
            problems = _outcome(flow, exp, entry, origin)
            for sid in exp.sids:
                want_hits[str(sid)] = want_hits.get(str(sid), 0) + int(entry["sent"])
        failed = failed or bool(problems)
        rows.append({
            "name": flow.name,
            "direction": flow.direction,
            "expect": "pass" if exp.passes else "drop",
            "by": exp.dropped_by,
            "translated": exp.translated,
            "sids": list(exp.sids),
            "sent": entry["sent"] if entry else 0,
            "received": entry["received"] if entry else 0,
            "ok": not problems,
            "problems": problems,
            "why": flow.why,
        })  # fmt: skip
    ids = None
    if ids_hits is not None:
        seen = {k: int(v) for k, v in ids_hits.items() if int(v)}
        ids = {"expected_hits": want_hits, "hits": seen, "ok": seen == want_hits}
        failed = failed or not ids["ok"]
    return {"verdict": "fail" if failed else "pass", "flows": rows, "ids": ids}
