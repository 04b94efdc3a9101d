"""nf-fw on pipes: first-match rule order, directions, prefixes and port ranges, the policy, the
counters in the stats file, rule file errors (exit 2, the line named) and an idle process that
sleeps in poll().

The tools must be built on the host first (ptnet build tools): the guest sees the cache read-only.
"""

import subprocess
from pathlib import Path

from nm import nf

from ptnet.build.tools import tool_path

RULES = """\
# first match wins
policy accept
drop proto tcp dport 23
drop in proto udp from 10.0.0.0/8 to 192.0.2.0/24 dport 5000-5999
accept proto icmp
drop out proto udp sport 53
drop proto tcp from 198.51.100.0/24
"""

# name: (mix line without the name, frames, passes)
FLOWS = {
    "telnet": ("ab tcp 10.1.1.1 40000 192.0.2.5 23 3", False),
    "web": ("ab tcp 10.1.1.1 40001 192.0.2.5 80 4", True),
    "udp5k": ("ab udp 10.2.2.2 1234 192.0.2.9 5500 5", False),
    "udp5k-back": ("ba udp 10.2.2.2 1234 192.0.2.9 5500 2", True),
    "udp5k-edge": ("ab udp 10.2.2.2 1234 192.0.2.9 6000 2", True),
    "udp-other-net": ("ab udp 172.16.0.1 1234 192.0.2.9 5500 2", True),
    "dns-back": ("ba udp 192.0.2.53 53 10.1.1.1 3333 3", False),
    "ping": ("ab icmp 10.1.1.1 7 192.0.2.5 7 2", True),
    "ping-back": ("ba icmp 198.51.100.7 9 10.1.1.1 9 2", True),
    "bad-net": ("ba tcp 198.51.100.7 80 10.1.1.1 40001 3", False),
}


def _mix() -> str:
    return "".join(f"flow {name} {line} 00112233\n" for name, (line, _) in FLOWS.items())


def _count(name: str) -> int:
    return int(FLOWS[name][0].split()[-1])


def test_rules_decide_each_flow_and_the_counters_add_up(pname, tmp_path: Path):
    rules = tmp_path / "fw.rules"
    rules.write_text(RULES)
    stats = tmp_path / "run" / "stats.json"
    (a, b), [(i, o)] = nf.ends(pname, 1), nf.hops(pname, 1)
    with nf.running("fw", i, o, "-c", str(rules), "--stats", str(stats)):
        got = nf.flows(nf.probe(a, b, _mix(), tmp_path))
    for name, (_, passes) in FLOWS.items():
        f = got[name]
        assert f["sent"] == _count(name), name
        assert f["received"] == (f["sent"] if passes else 0), name
        assert f["wrong_port"] == 0, name
        if passes:
            assert f["received_as"] == f["sent_as"], name
            assert f["csum_ok"] and f["payload_ok"], name
    s = nf.stats(stats)
    assert s["role"] == "fw"
    ab = [n for n, (line, _) in FLOWS.items() if line.startswith("ab")]
    ba = [n for n in FLOWS if n not in ab]
    dropped_ab = sum(_count(n) for n in ab if not FLOWS[n][1])
    dropped_ba = sum(_count(n) for n in ba if not FLOWS[n][1])
    assert s["ports"]["in"]["rx"] == sum(map(_count, ab))
    assert s["ports"]["in"]["drop"] == dropped_ab
    assert s["ports"]["out"]["tx"] == sum(map(_count, ab)) - dropped_ab
    assert s["ports"]["out"]["rx"] == sum(map(_count, ba))
    assert s["ports"]["out"]["drop"] == dropped_ba
    assert s["ports"]["in"]["tx"] == sum(map(_count, ba)) - dropped_ba
    fw = s["fw"]
    assert fw["rules"] == 5
    assert fw["hits"] == [
        _count("telnet"),
        _count("udp5k"),
        _count("ping") + _count("ping-back"),
        _count("dns-back"),
        _count("bad-net"),
    ]
    assert fw["dropped"] == dropped_ab + dropped_ba
    assert fw["policy"] == sum(
        _count(n) for n in ("web", "udp5k-back", "udp5k-edge", "udp-other-net")
    )


def test_policy_drop_and_nonip(pname, tmp_path: Path):
    rules = tmp_path / "fw.rules"
    rules.write_text("policy drop\naccept proto udp dport 53\n")
    (a, b), [(i, o)] = nf.ends(pname, 1), nf.hops(pname, 1)
    mix = "flow dns ab udp 10.0.0.1 999 10.0.0.2 53 2\nflow web ab tcp 10.0.0.1 999 10.0.0.2 80 2\n"
    with nf.running("fw", i, o, "-c", str(rules)):
        got = nf.flows(nf.probe(a, b, mix, tmp_path))
    assert got["dns"]["received"] == 2
    assert got["web"]["received"] == 0


def _bad(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    rules = tmp_path / "bad.rules"
    rules.write_text(text)
    argv = [str(tool_path("nf-fw")), "-i", "netmap:x{1", "-o", "netmap:y{1", "-c", str(rules)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=10)


def test_a_bad_rule_names_the_file_line_and_word(tmp_path: Path):
    cases = {
        "policy accept\n# ok\ndrop proto tcp dport 99999\n": ("3", "'99999'"),
        "drop proto sctp\n": ("1", "'sctp'"),
        "accept from 10.0.0.0/33\n": ("1", "'10.0.0.0/33'"),
        "\n\nreject proto tcp\n": ("3", "'reject'"),
        "drop dport 80\n": ("1", "need proto tcp or udp"),
        "drop proto tcp to\n": ("1", "'to' needs a value"),
        "policy maybe\n": ("1", "'maybe'"),
        "policy accept\n" + "#" * 2000 + "\n": ("2", "line too long (at most 1022 bytes)"),
    }
    for text, (line, word) in cases.items():
        r = _bad(tmp_path, text)
        assert r.returncode == 2, (text, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, r.stderr
        assert f"bad.rules:{line}:" in lines[0] and word in lines[0], (text, lines[0])


def test_bad_command_lines_exit_2(tmp_path: Path):
    for argv in (["-i", "netmap:x{1"], ["-i", "a", "-o", "b", "--stats-interval", "0"], ["--frob"]):
        r = subprocess.run(
            [str(tool_path("nf-fw")), *argv], capture_output=True, text=True, timeout=10
        )
        assert r.returncode == 2, (argv, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = subprocess.run(
        [str(tool_path("nf-fw")), "-i", "a", "-o", "b", "-c", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert r.returncode == 2 and "none" in r.stderr


def test_idle_nf_sleeps_in_poll_and_writes_stats_on_sigterm(pname, tmp_path: Path):
    rules = tmp_path / "fw.rules"
    rules.write_text("policy accept\n")
    stats = tmp_path / "stats.json"
    [(i, o)] = nf.hops(pname, 1)
    with nf.running(
        "fw", i, o, "-c", str(rules), "--stats", str(stats), "--stats-interval", "0.2"
    ) as proc:
        used = nf.idle_cpu(proc, 2.0)
        assert used < 0.1, f"{used:.2f} s of CPU in 2 s idle"
        assert nf.stats(stats)["uptime_s"] > 1.0
    s = nf.stats(stats)
    assert s["ports"]["in"]["rx"] == 0 and s["ports"]["out"]["tx"] == 0
    assert not list(tmp_path.glob("*.tmp"))
